import type { Knex } from 'knex';

/** A Proxmox node as stored; secrets stay sealed here (src/domain/nodes opens them with the SecretBox). */
export interface NodeRecord {
  id: number;
  name: string;
  apiUrl: string;
  tokenId: string;
  tokenSecretEnc: string;
  tlsFingerprint: string | null;
  sshHost: string | null;
  sshPort: number;
  sshUser: string;
  sshPrivateKeyEnc: string | null;
  sshHostKeyFingerprint: string | null;
  isSimulator: boolean;
  createdAt: Date;
  updatedAt: Date;
}

interface NodeRow {
  id: number;
  name: string;
  api_url: string;
  token_id: string;
  token_secret_enc: string;
  tls_fingerprint: string | null;
  ssh_host: string | null;
  ssh_port: number;
  ssh_user: string;
  ssh_private_key_enc: string | null;
  ssh_host_key_fingerprint: string | null;
  is_simulator: boolean;
  created_at: Date;
  updated_at: Date;
}

const toNode = (r: NodeRow): NodeRecord => ({
  id: r.id,
  name: r.name,
  apiUrl: r.api_url,
  tokenId: r.token_id,
  tokenSecretEnc: r.token_secret_enc,
  tlsFingerprint: r.tls_fingerprint,
  sshHost: r.ssh_host,
  sshPort: r.ssh_port,
  sshUser: r.ssh_user,
  sshPrivateKeyEnc: r.ssh_private_key_enc,
  sshHostKeyFingerprint: r.ssh_host_key_fingerprint,
  isSimulator: r.is_simulator,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export interface NodeInput {
  name: string;
  apiUrl: string;
  tokenId: string;
  tlsFingerprint: string | null;
  sshHost: string | null;
  sshPort: number;
  sshUser: string;
  sshHostKeyFingerprint: string | null;
  isSimulator: boolean;
}

/** Seals secrets with the row id, so the id must exist first: insert, seal, update — in one transaction. */
export type SealWithId = (id: number) => { tokenSecretEnc?: string; sshPrivateKeyEnc?: string | null };

export class NodesRepository {
  constructor(private readonly knex: Knex) {}

  async list(): Promise<NodeRecord[]> {
    return (await this.knex<NodeRow>('nodes').orderBy('name')).map(toNode);
  }

  async count(): Promise<number> {
    const row = await this.knex('nodes').count<{ count: string }[]>('* as count').first();
    return Number(row?.count ?? 0);
  }

  async findById(id: number | null): Promise<NodeRecord | undefined> {
    if (id === null) return undefined;
    const row = await this.knex<NodeRow>('nodes').where({ id }).first();
    return row && toNode(row);
  }

  async findByName(name: string): Promise<NodeRecord | undefined> {
    const row = await this.knex<NodeRow>('nodes').where({ name }).first();
    return row && toNode(row);
  }

  async create(input: NodeInput, seal: SealWithId): Promise<NodeRecord> {
    return this.knex.transaction(async (trx) => {
      const [row] = await trx<NodeRow>('nodes').insert({ ...toRow(input), token_secret_enc: '' }).returning('*');
      const sealed = seal(row!.id);
      const [updated] = await trx<NodeRow>('nodes')
        .where({ id: row!.id })
        .update({ token_secret_enc: sealed.tokenSecretEnc ?? '', ssh_private_key_enc: sealed.sshPrivateKeyEnc ?? null })
        .returning('*');
      return toNode(updated!);
    });
  }

  /** Updates the fields; secrets only when `seal` returns them (an empty secret field in a form keeps the old one). */
  async update(id: number, input: NodeInput, seal: SealWithId): Promise<NodeRecord | undefined> {
    const sealed = seal(id);
    const patch: Partial<NodeRow> = { ...toRow(input), updated_at: new Date() };
    if (sealed.tokenSecretEnc !== undefined) patch.token_secret_enc = sealed.tokenSecretEnc;
    if (sealed.sshPrivateKeyEnc !== undefined) patch.ssh_private_key_enc = sealed.sshPrivateKeyEnc;
    const [row] = await this.knex<NodeRow>('nodes').where({ id }).update(patch).returning('*');
    return row && toNode(row);
  }

  /**
   * Removes the node. Its destroyed containers are detached first and keep the node's name; a live container
   * still pins the node (the foreign key is ON DELETE RESTRICT, so the DELETE fails with 23503).
   */
  async delete(id: number): Promise<void> {
    await this.knex.transaction(async (trx) => {
      await trx('containers')
        .where({ node_id: id, lifecycle: 'destroyed' })
        .update({ node_id: null, removed_node_name: trx('nodes').select('name').where({ id }) });
      await trx('nodes').where({ id }).delete();
    });
  }

  async containerCount(id: number): Promise<number> {
    const row = await this.knex('containers').where({ node_id: id }).whereNot({ lifecycle: 'destroyed' }).count<{ count: string }[]>('* as count').first();
    return Number(row?.count ?? 0);
  }
}

function toRow(input: NodeInput): Partial<NodeRow> {
  return {
    name: input.name,
    api_url: input.apiUrl,
    token_id: input.tokenId,
    tls_fingerprint: input.tlsFingerprint,
    ssh_host: input.sshHost,
    ssh_port: input.sshPort,
    ssh_user: input.sshUser,
    ssh_host_key_fingerprint: input.sshHostKeyFingerprint,
    is_simulator: input.isSimulator,
  };
}
