// The node form: what a browser posts, kept as typed so a rejected form comes back intact — except the two secrets,
// which are never sent back to the browser — and validated into a NodeInput plus the secrets to seal.
import { isIP } from 'node:net';
import type { NodeInput, NodeRecord } from '../../db/nodes-repository.ts';
import { ValidationError } from '../../lib/errors.ts';
import { normalizeFingerprint } from '../../proxmox/tls.ts';

export interface NodeForm {
  name: string;
  apiUrl: string;
  tokenId: string;
  /** Write-only: empty on every render. */
  tokenSecret: string;
  tlsFingerprint: string;
  sshHost: string;
  sshPort: string;
  sshUser: string;
  /** Write-only: empty on every render. */
  sshPrivateKey: string;
  sshHostKeyFingerprint: string;
  /** What "Fetch fingerprints" read from the node; pinned only when `trustFetched` was ticked. */
  fetched: { tls?: string; sshHostKey?: string };
  trustFetched: boolean;
}

/** What a valid form becomes: the row's fields, and each secret only when one was entered. */
export interface ValidNode {
  input: NodeInput;
  tokenSecret?: string;
  sshPrivateKey?: string;
}

export const NODE_NAME_PATTERN = /^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/;
const TOKEN_ID_PATTERN = /^[A-Za-z0-9._+-]{1,64}@[A-Za-z][A-Za-z0-9._-]{1,31}![A-Za-z][A-Za-z0-9._-]{0,63}$/;
const TOKEN_SECRET_PATTERN = /^[A-Za-z0-9][A-Za-z0-9-]{7,127}$/;
const SSH_USER_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;
const HOST_LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const HOSTNAME_PATTERN = new RegExp(`^${HOST_LABEL}(?:\\.${HOST_LABEL})*\\.?$`);
/** `SHA256:<43 base64>`, alone or inside a line of `ssh-keygen -lf` output (`256 SHA256:… root@pve (ED25519)`). */
const HOST_KEY_FINGERPRINT = /^(?:\d+\s+)?SHA256:([A-Za-z0-9+/]{43})=?(?:\s+.*)?$/;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/** Proxmox's own API port, assumed when the URL names none. */
export const DEFAULT_API_PORT = 8006;
const MAX_KEY_LENGTH = 16_384;
// Longer input is cut before it is kept for re-display; validation still sees it is too long.
const KEPT_TEXT = 4_096;
const KEPT_KEY = 4 * MAX_KEY_LENGTH;

export function emptyNodeForm(): NodeForm {
  return {
    name: '', apiUrl: '', tokenId: '', tokenSecret: '', tlsFingerprint: '',
    sshHost: '', sshPort: '22', sshUser: 'root', sshPrivateKey: '', sshHostKeyFingerprint: '',
    fetched: {}, trustFetched: false,
  };
}

export function formFromNode(node: NodeRecord): NodeForm {
  return {
    name: node.name,
    apiUrl: node.apiUrl,
    tokenId: node.tokenId,
    tokenSecret: '',
    tlsFingerprint: node.tlsFingerprint ?? '',
    sshHost: node.sshHost ?? '',
    sshPort: String(node.sshPort),
    sshUser: node.sshUser,
    sshPrivateKey: '',
    sshHostKeyFingerprint: node.sshHostKeyFingerprint ?? '',
    fetched: {},
    trustFetched: false,
  };
}

// A repeated field arrives as an array with extended: false; the last value wins, like a browser's own form state.
const text = (value: unknown, keep = KEPT_TEXT): string => {
  const v = Array.isArray(value) ? value[value.length - 1] : value;
  return typeof v === 'string' ? v.slice(0, keep) : '';
};

/** Reads a posted form. Fetched fingerprints travel in hidden fields; anything malformed there is dropped. */
export function nodeFormFromBody(body: Record<string, unknown> = {}): NodeForm {
  const fetchedTls = tlsFingerprintOf(text(body.fetched_tls_fingerprint).trim());
  const fetchedHostKey = hostKeyFingerprintOf(text(body.fetched_ssh_host_key_fingerprint).trim());
  return {
    name: text(body.name).trim(),
    apiUrl: text(body.api_url).trim(),
    tokenId: text(body.token_id).trim(),
    tokenSecret: text(body.token_secret).trim(),
    tlsFingerprint: text(body.tls_fingerprint).trim(),
    sshHost: text(body.ssh_host).trim(),
    sshPort: text(body.ssh_port).trim(),
    sshUser: text(body.ssh_user).trim(),
    sshPrivateKey: text(body.ssh_private_key, KEPT_KEY).replace(/\r\n?/g, '\n').trim(),
    sshHostKeyFingerprint: text(body.ssh_host_key_fingerprint).trim(),
    fetched: { tls: fetchedTls, sshHostKey: fetchedHostKey },
    trustFetched: text(body.trust_fingerprints) === '1',
  };
}

/** The form with both secrets blanked: what may be rendered back to the browser. */
export function withoutSecrets(form: NodeForm): NodeForm {
  return { ...form, tokenSecret: '', sshPrivateKey: '' };
}

/**
 * Validates the form for a new node (`existing` undefined) or an update. Secrets are required only when there is
 * no stored one to keep. Throws a ValidationError keyed by the form's field names.
 */
export async function validateNodeForm(form: NodeForm, existing?: NodeRecord): Promise<ValidNode> {
  const errors: Record<string, string> = {};
  const note = (field: string, message: string | undefined) => {
    if (message && !errors[field]) errors[field] = message;
  };

  note('name', checkNodeName(form.name));
  const api = checkApiUrl(form.apiUrl);
  note('api_url', api.error);
  note('token_id', checkTokenId(form.tokenId));
  if (form.tokenSecret) note('token_secret', checkTokenSecret(form.tokenSecret));
  else if (!existing) note('token_secret', 'Enter the token secret (the UUID Proxmox showed once when the token was created).');

  const sshHost = form.sshHost ? form.sshHost.replace(/^\[|\]$/g, '') : (api.host ?? '');
  if (form.sshHost) note('ssh_host', checkHost(form.sshHost));
  const sshPort = parsePort(form.sshPort);
  if (sshPort === undefined) note('ssh_port', 'Use a port between 1 and 65535 (SSH listens on 22 unless changed).');
  if (!SSH_USER_PATTERN.test(form.sshUser)) note('ssh_user', 'Use a user name of letters, digits, _ . - (on Proxmox this is normally root).');
  if (form.sshPrivateKey.length > MAX_KEY_LENGTH) note('ssh_private_key', 'That is far longer than any SSH private key; paste just the key.');
  // Loaded on first use: ssh2 stays out of the web process until someone saves a key.
  else if (form.sshPrivateKey) note('ssh_private_key', (await import('../../lib/ssh-keys.ts')).privateKeyProblem(form.sshPrivateKey));
  else if (!existing?.sshPrivateKeyEnc) note('ssh_private_key', 'Paste the private key Launchpad signs in with (its public half must be in the node’s authorized_keys).');

  // A stored secret never follows a changed address: whoever points a node elsewhere must know its secrets, or a
  // changed API URL would carry the stored token to a server of their choosing (issue #16).
  if (existing && api.value && api.value !== existing.apiUrl && !form.tokenSecret) {
    note('token_secret', 'The API URL changed: enter the token secret again (a stored secret is never sent to a new address).');
  }
  if (existing?.sshPrivateKeyEnc && (sshHost !== (existing.sshHost ?? '') || (sshPort !== undefined && sshPort !== existing.sshPort)) && !form.sshPrivateKey) {
    note('ssh_private_key', 'The SSH host or port changed: paste the private key again (a stored key is never used on a new address).');
  }

  const tlsFingerprint = pinnedValue(form.tlsFingerprint, form.fetched.tls, form.trustFetched, tlsFingerprintOf);
  if (tlsFingerprint === INVALID) note('tls_fingerprint', 'Use the SHA-256 fingerprint: 32 hex bytes separated by colons, as `pvenode cert info` shows it.');
  const hostKeyFingerprint = pinnedValue(form.sshHostKeyFingerprint, form.fetched.sshHostKey, form.trustFetched, hostKeyFingerprintOf);
  if (hostKeyFingerprint === INVALID) note('ssh_host_key_fingerprint', 'Use the form SHA256:… (43 characters after the colon), as `ssh-keygen -lf` shows it.');
  if (tlsFingerprint === UNCONFIRMED || hostKeyFingerprint === UNCONFIRMED) {
    note('trust_fingerprints', 'Compare the fetched fingerprints with the node and tick the box, or fetch them again.');
  }

  if (Object.keys(errors).length) throw new ValidationError(errors);
  return {
    input: {
      name: form.name,
      apiUrl: api.value!,
      tokenId: form.tokenId,
      tlsFingerprint: tlsFingerprint as string | null,
      sshHost,
      sshPort: sshPort!,
      sshUser: form.sshUser,
      sshHostKeyFingerprint: hostKeyFingerprint as string | null,
      isSimulator: existing?.isSimulator ?? false,
    },
    tokenSecret: form.tokenSecret || undefined,
    sshPrivateKey: form.sshPrivateKey ? `${form.sshPrivateKey}\n` : undefined,
  };
}

const INVALID = Symbol('invalid');
const UNCONFIRMED = Symbol('unconfirmed');

/** A typed fingerprint wins; an empty field takes the fetched one only when the user confirmed it. */
function pinnedValue(typed: string, fetched: string | undefined, confirmed: boolean, parse: (raw: string) => string | undefined) {
  if (typed) return parse(typed) ?? INVALID;
  if (fetched) return confirmed ? fetched : UNCONFIRMED;
  return null;
}

export function checkNodeName(name: string): string | undefined {
  if (!name) return 'Enter the node’s name as Proxmox knows it (e.g. pve1).';
  if (name.length > 63 || !NODE_NAME_PATTERN.test(name)) {
    return 'Use the Proxmox node name: letters, digits and inner hyphens, at most 63 characters (e.g. pve1).';
  }
  return undefined;
}

/** The URL reduced to its origin (`https://host:port`), the form the API client and the fingerprint probe share. */
export function checkApiUrl(raw: string): { value?: string; host?: string; error?: string } {
  if (!raw) return { error: 'Enter the address of the node’s API, e.g. https://pve1.example.com:8006' };
  if (raw.length > 2048 || CONTROL_CHARS.test(raw) || /\s/.test(raw)) return { error: 'Enter a URL without spaces or control characters, e.g. https://pve1.example.com:8006' };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { error: 'That is not a URL; use the form https://pve1.example.com:8006' };
  }
  if (url.protocol !== 'https:') return { error: 'Use https:// — Launchpad sends the API token only over TLS.' };
  if (url.username || url.password) return { error: 'Leave user name and password out of the URL; the token fields below hold the credentials.' };
  if (url.search || url.hash || !['/', '/api2/json', '/api2/json/'].includes(url.pathname)) {
    return { error: 'Use the node’s address only, e.g. https://pve1.example.com:8006 (an /api2/json path is fine, nothing else).' };
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!(isIP(host) || HOSTNAME_PATTERN.test(host))) return { error: 'The host name in the URL is not valid.' };
  // `new URL` drops :443 as the scheme's default, so look at what was typed to tell "no port" from ":443".
  const authority = raw.replace(/^https:\/\//i, '').split(/[/?#]/)[0] ?? '';
  if (!/:\d+$/.test(authority)) url.port = String(DEFAULT_API_PORT);
  return { value: url.origin, host };
}

export function checkTokenId(tokenId: string): string | undefined {
  if (!tokenId) return 'Enter the token id, e.g. root@pam!launchpad.';
  if (tokenId.length > 160 || !TOKEN_ID_PATTERN.test(tokenId)) {
    return 'Use the full token id user@realm!tokenid, e.g. root@pam!launchpad (Datacenter → Permissions → API Tokens).';
  }
  return undefined;
}

function checkTokenSecret(secret: string): string | undefined {
  if (secret.length > 128 || !TOKEN_SECRET_PATTERN.test(secret)) {
    return 'The secret is the UUID Proxmox showed once when the token was created (letters, digits and hyphens only).';
  }
  return undefined;
}

export function checkHost(host: string): string | undefined {
  const bare = host.replace(/^\[|\]$/g, '');
  if (host.length > 253 || !(isIP(bare) || HOSTNAME_PATTERN.test(bare))) return 'Enter a host name or IP address, e.g. pve1.example.com.';
  return undefined;
}

function parsePort(raw: string): number | undefined {
  if (!/^\d{1,5}$/.test(raw)) return undefined;
  const port = Number(raw);
  return port >= 1 && port <= 65_535 ? port : undefined;
}

/** `AB:CD:…` or undefined; accepts what normalizeFingerprint accepts (lowercase, no colons, spaces). */
function tlsFingerprintOf(raw: string): string | undefined {
  if (!raw || raw.length > 200) return undefined;
  try {
    return normalizeFingerprint(raw);
  } catch {
    return undefined;
  }
}

/** `SHA256:<43 base64>` or undefined. */
function hostKeyFingerprintOf(raw: string): string | undefined {
  if (!raw || raw.length > 300 || CONTROL_CHARS.test(raw)) return undefined;
  const match = HOST_KEY_FINGERPRINT.exec(raw);
  return match ? `SHA256:${match[1]}` : undefined;
}

