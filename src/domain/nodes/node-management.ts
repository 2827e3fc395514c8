// Adding, changing and removing Proxmox connections. Secrets are sealed with the row id as AAD (node-access.ts opens
// them); fingerprints are pinned only as typed by the user or, after "Fetch fingerprints", once the user confirmed them.
import type { NodeRecord, NodesRepository } from '../../db/nodes-repository.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../lib/errors.ts';
import type { SecretBox } from '../../lib/secret-box.ts';
import { fetchCertificateFingerprint } from '../../proxmox/tls.ts';
import { checkApiUrl, checkHost, validateNodeForm, type NodeForm, type ValidNode } from './node-form.ts';
import { sshKeyAad, tokenSecretAad } from '../sealed-secrets.ts';

export interface NodeManagementDeps {
  repos: { nodes: NodesRepository };
  secrets: SecretBox;
}

export interface NodeSummary {
  node: NodeRecord;
  /** Containers not yet destroyed on this node. */
  containers: number;
  pinned: boolean;
}

const PROBE_TIMEOUT_MS = 8_000;

export async function listNodes(repo: NodesRepository): Promise<NodeSummary[]> {
  const nodes = await repo.list();
  return Promise.all(nodes.map(async (node) => ({
    node,
    containers: await repo.containerCount(node.id),
    pinned: Boolean(node.tlsFingerprint && node.sshHostKeyFingerprint),
  })));
}

export async function getNode(repo: NodesRepository, rawId: string | number): Promise<NodeRecord> {
  const id = Number(rawId);
  const node = Number.isSafeInteger(id) && id > 0 && id <= 2 ** 31 - 1 ? await repo.findById(id) : undefined;
  if (!node) throw new NotFoundError('That node');
  return node;
}

export async function createNode(deps: NodeManagementDeps, form: NodeForm): Promise<NodeRecord> {
  const valid = await validateNodeForm(form);
  await assertNameFree(deps.repos.nodes, valid.input.name);
  return uniqueName(valid.input.name, () => deps.repos.nodes.create(valid.input, sealer(deps.secrets, valid)));
}

export async function updateNode(deps: NodeManagementDeps, node: NodeRecord, form: NodeForm): Promise<NodeRecord> {
  const valid = await validateNodeForm(form, node);
  await assertNameFree(deps.repos.nodes, valid.input.name, node.id);
  const updated = await uniqueName(valid.input.name, () => deps.repos.nodes.update(node.id, valid.input, sealer(deps.secrets, valid)));
  if (!updated) throw new NotFoundError('That node');
  return updated;
}

export async function deletionCheck(repo: NodesRepository, rawId: string | number): Promise<{ node: NodeRecord; containers: number }> {
  const node = await getNode(repo, rawId);
  return { node, containers: await repo.containerCount(node.id) };
}

export async function deleteNode(repo: NodesRepository, rawId: string | number): Promise<NodeRecord> {
  const { node, containers } = await deletionCheck(repo, rawId);
  if (containers > 0) {
    throw new ConflictError(`${containers === 1 ? 'A container still runs' : `${containers} containers still run`} on “${node.name}”. Destroy ${containers === 1 ? 'it' : 'them'} first.`, 'rule');
  }
  try {
    await repo.delete(node.id);
  } catch (err) {
    // A container was created on the node between the check and the delete (the foreign key is ON DELETE RESTRICT).
    if (pgCode(err) === '23503') throw new ConflictError(`A container was just created on “${node.name}”. Destroy it first.`);
    throw err;
  }
  return node;
}

export interface FingerprintFetch {
  form: NodeForm;
  /** Keyed by form field: why a fingerprint could not be read. */
  errors: Record<string, string>;
  /** Said when there was nothing to fetch. */
  note?: string;
}

/**
 * Trust on first use, step one: reads the certificate and host-key fingerprints the node presents right now, for
 * each fingerprint field left empty. Nothing is stored; the form shows them and asks for an explicit confirmation.
 */
/**
 * One message per fingerprint whatever went wrong: telling a closed port from a filtered or reset one would make
 * this form a port scanner for whoever can reach it (it is admin-only and rate-limited as well).
 */
export const FINGERPRINT_FAILED = {
  tls: 'Could not read a certificate at that address. Check the API URL and that Launchpad can reach the node.',
  ssh: 'Could not read an SSH host key at that address. Check the SSH host and port and that Launchpad can reach the node.',
};

export async function fetchFingerprints(form: NodeForm): Promise<FingerprintFetch> {
  const errors: Record<string, string> = {};
  const fetched: NodeForm['fetched'] = {};
  const wantTls = !form.tlsFingerprint;
  const wantHostKey = !form.sshHostKeyFingerprint;
  if (!wantTls && !wantHostKey) {
    return { form: { ...form, fetched, trustFetched: false }, errors, note: 'Both fingerprints are filled in. To read one again from the node, clear its field first.' };
  }
  const api = checkApiUrl(form.apiUrl);
  const sshHost = (form.sshHost || api.host || '').replace(/^\[|\]$/g, '');
  const sshPort = /^\d{1,5}$/.test(form.sshPort) ? Number(form.sshPort) : 0;

  await Promise.all([
    wantTls && (async () => {
      if (!api.value) return void (errors.tls_fingerprint = `Fix the API URL first: ${api.error}`);
      try {
        fetched.tls = await fetchCertificateFingerprint(api.value, { timeoutMs: PROBE_TIMEOUT_MS });
      } catch {
        errors.tls_fingerprint = FINGERPRINT_FAILED.tls;
      }
    })(),
    wantHostKey && (async () => {
      if (!sshHost || checkHost(sshHost) || sshPort < 1 || sshPort > 65_535) {
        return void (errors.ssh_host_key_fingerprint = 'Fill in the SSH host and port (or the API URL, whose host is the default) first.');
      }
      try {
        // Loaded on first use: ssh2 stays out of the web process until someone fetches a host key.
        const { fetchHostKeyFingerprint } = await import('../../proxmox/node-shell.ts');
        fetched.sshHostKey = await fetchHostKeyFingerprint(sshHost, sshPort, { timeoutMs: PROBE_TIMEOUT_MS });
      } catch {
        errors.ssh_host_key_fingerprint = FINGERPRINT_FAILED.ssh;
      }
    })(),
  ]);
  return { form: { ...form, fetched, trustFetched: false }, errors };
}

function sealer(secrets: SecretBox, valid: ValidNode) {
  return (id: number) => ({
    tokenSecretEnc: valid.tokenSecret === undefined ? undefined : secrets.seal(valid.tokenSecret, tokenSecretAad(id)),
    sshPrivateKeyEnc: valid.sshPrivateKey === undefined ? undefined : secrets.seal(valid.sshPrivateKey, sshKeyAad(id)),
  });
}

const nameTaken = (name: string) => new ValidationError({ name: `Another connection is already called “${name}”.` });

async function assertNameFree(repo: NodesRepository, name: string, ownId?: number): Promise<void> {
  const other = await repo.findByName(name);
  if (other && other.id !== ownId) throw nameTaken(name);
}

/** The check above can lose a race; the unique index cannot. */
async function uniqueName<T>(name: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    if (pgCode(err) === '23505') throw nameTaken(name);
    throw err;
  }
}

function pgCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
