import type { Knex } from 'knex';

export interface ContainerService {
  name: string;
  kind: string;
  port: number | null;
  url: string | null;
  /** The systemd unit that runs it, as the template's script wrote it (validated before any use); null: none. */
  unit: string | null;
  status: string;
}

export interface SealedCredential {
  key: string;
  valueEnc: string;
}

/** What finalizing learns about a container: its services and (sealed) credentials. */
export class ContainerExtrasRepository {
  constructor(private readonly knex: Knex) {}

  async services(containerId: string): Promise<ContainerService[]> {
    return this.knex('container_services').where({ container_id: containerId }).orderBy('port').select('name', 'kind', 'port', 'url', 'unit', 'status');
  }

  async credentialKeys(containerId: string): Promise<string[]> {
    const rows = await this.knex('container_credentials').where({ container_id: containerId }).orderBy('key').select('key');
    return rows.map((r: { key: string }) => r.key);
  }

  async sealedCredentials(containerId: string): Promise<SealedCredential[]> {
    const rows = await this.knex('container_credentials').where({ container_id: containerId }).orderBy('key').select('key', 'value_enc');
    return rows.map((r: { key: string; value_enc: string }) => ({ key: r.key, valueEnc: r.value_enc }));
  }

  /** Replaces both lists in one transaction (finalizing may run again after a retry). */
  async replace(containerId: string, services: ContainerService[], credentials: SealedCredential[]): Promise<void> {
    await this.knex.transaction(async (trx) => {
      await trx('container_services').where({ container_id: containerId }).delete();
      await trx('container_credentials').where({ container_id: containerId }).delete();
      if (services.length) await trx('container_services').insert(services.map((s) => ({ container_id: containerId, ...s })));
      if (credentials.length) {
        await trx('container_credentials').insert(credentials.map((c) => ({ container_id: containerId, key: c.key, value_enc: c.valueEnc })));
      }
    });
  }
}
