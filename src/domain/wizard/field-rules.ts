// The rules each field of a new container obeys: Proxmox's own (reference/proxmox-api.md §2.2/§3) where it has
// them, a little stricter where a mistake would only surface minutes later inside the build. Every check takes the
// text as typed and returns a message a person can act on, or undefined; parsers return the value or a message.
import { CT_LIMITS } from '../containers/ct-limits.ts';
import { LIMITS as TEMPLATE_LIMITS, checkPackage, checkTag, parseWholeNumber, splitPackageSpec, splitTags } from '../templates/template.ts';

export const FIELD_LIMITS = {
  ...CT_LIMITS,
  /** Proxmox needs 5; we ask for 8. */
  passwordMin: 8,
  passwordMax: 256,
  sshKeysBytes: 16 * 1024,
  extraPackages: 200,
  tags: TEMPLATE_LIMITS.tags,
} as const;

/** Longer than any valid value of any field: a draft never stores more than this per field. */
export const MAX_FIELD_CHARS = 20_000;

const quoted = (text: string, max = 40) => `“${text.length > max ? `${text.slice(0, max)}…` : text}”`;

// --- identity ------------------------------------------------------------------------------------------------------

const DNS_LABEL = /^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/;

export function checkHostname(hostname: string): string | undefined {
  if (!hostname) return 'Give the container a hostname, e.g. web-1.';
  if (hostname.length > 63) return 'Keep the hostname to 63 characters or fewer (one DNS label).';
  if (!DNS_LABEL.test(hostname)) {
    return 'Use letters, digits and hyphens only, starting and ending with a letter or digit (no dots, spaces or underscores).';
  }
  return undefined;
}

export function parseVmid(text: string): number | string {
  if (!/^[1-9][0-9]{2,8}$/.test(text)) {
    return `The VMID must be a whole number from ${FIELD_LIMITS.vmid.min} to ${FIELD_LIMITS.vmid.max}.`;
  }
  return Number(text);
}

export const vmidTakenMessage = (vmid: number) => `VMID ${vmid} is taken on this cluster. Choose another, or leave it empty for the next free one.`;

/** A whole number in the field's range; `what` names it in the message ("Memory (MiB)"). */
export function parseAmount(text: string, field: 'cores' | 'memory' | 'swap' | 'disk', what: string): number | string {
  const parsed = parseWholeNumber(text, FIELD_LIMITS[field]);
  return typeof parsed === 'number' ? parsed : `${what} ${parsed}.`;
}

// --- secrets and keys ----------------------------------------------------------------------------------------------

/** Messages for the password and its confirmation, keyed by field. */
export function checkPassword(password: string, confirmation: string): { password?: string; password_confirm?: string } {
  if (!password) return { password: 'Set a root password (at least 8 characters).' };
  if (password.length < FIELD_LIMITS.passwordMin) return { password: `Use at least ${FIELD_LIMITS.passwordMin} characters.` };
  if (password.length > FIELD_LIMITS.passwordMax) return { password: `Use at most ${FIELD_LIMITS.passwordMax} characters.` };
  // chpasswd reads one "user:password" line: a newline would end it, a NUL would cut it.
  if (/\p{Cc}/u.test(password)) return { password: 'The password cannot contain control characters such as newlines or tabs.' };
  if (password !== confirmation) return { password_confirm: 'The two passwords do not match.' };
  return {};
}

const SSH_KEY_TYPES = [
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
];
const SSH_KEY_LINE = /^(\S+) ([A-Za-z0-9+/]+={0,2})(?: +([^\p{Cc}]*))?$/u;

/** The key blob starts with its own type name (uint32 length + bytes): a pasted private key or a typo fails here. */
function blobNamesType(base64: string, type: string): boolean {
  const blob = Buffer.from(base64, 'base64');
  if (blob.length < 4 + type.length) return false;
  const length = blob.readUInt32BE(0);
  return length === type.length && blob.subarray(4, 4 + length).toString('latin1') === type;
}

/** One or more OpenSSH public key lines; returns them one per line, or a message naming the first bad line. */
export function parseSshPublicKeys(text: string): { keys: string } | { error: string } {
  if (Buffer.byteLength(text) > FIELD_LIMITS.sshKeysBytes) return { error: 'Paste at most 16 KiB of public keys.' };
  const lines = text.split('\n').map((l) => l.replace(/\r$/, '').trim()).filter(Boolean);
  for (const [index, line] of lines.entries()) {
    const where = lines.length > 1 ? `Line ${index + 1}` : 'This';
    if (line.includes('PRIVATE KEY')) return { error: 'That is a private key. Paste the public key (the .pub file) instead.' };
    const m = SSH_KEY_LINE.exec(line);
    if (!m || !SSH_KEY_TYPES.includes(m[1]!)) {
      return { error: `${where} is not an OpenSSH public key: expected “ssh-ed25519 AAAA… comment” (or ssh-rsa, ecdsa-sha2-nistp256 …).` };
    }
    if (!blobNamesType(m[2]!, m[1]!)) return { error: `${where} key’s data is damaged or does not match its type ${m[1]}.` };
  }
  return { keys: lines.join('\n') };
}

// --- network -------------------------------------------------------------------------------------------------------

const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);

/** A dotted-quad IPv4 address as an unsigned 32-bit number, or undefined. */
export function parseIpv4(text: string): number | undefined {
  if (!IPV4.test(text)) return undefined;
  return text.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

const mask = (prefix: number) => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);
const formatIpv4 = (n: number) => [24, 16, 8, 0].map((shift) => (n >>> shift) & 255).join('.');

export interface Ipv4Cidr {
  address: number;
  prefix: number;
}

/** `192.168.1.50/24`, prefix 8..32 (Proxmox's range), not the network or broadcast address of its subnet. */
export function parseCidr(text: string): Ipv4Cidr | string {
  const example = 'Use an IPv4 address with its prefix length, e.g. 192.168.1.50/24.';
  const m = /^([0-9.]{7,15})\/([0-9]{1,2})$/.exec(text);
  const address = m ? parseIpv4(m[1]!) : undefined;
  if (!m || address === undefined) return example;
  const prefix = Number(m[2]);
  if (prefix < 8 || prefix > 32) return 'The prefix length must be from /8 to /32.';
  if (prefix <= 30) {
    const host = address & ~mask(prefix);
    if (host === 0) return `${m[1]} is the network address of its /${prefix} subnet; use a host address such as ${formatIpv4(address + 1)}/${prefix}.`;
    if (host >>> 0 === ~mask(prefix) >>> 0) return `${m[1]} is the broadcast address of its /${prefix} subnet; use a host address.`;
  }
  return { address, prefix };
}

export function checkGateway(gateway: string, cidr: Ipv4Cidr): string | undefined {
  const address = parseIpv4(gateway);
  if (address === undefined) return 'Use an IPv4 address such as 192.168.1.1.';
  const m = mask(cidr.prefix);
  if (((address & m) >>> 0) !== ((cidr.address & m) >>> 0)) {
    return `The gateway must be in the container’s subnet ${formatIpv4((cidr.address & m) >>> 0)}/${cidr.prefix}.`;
  }
  if (address === cidr.address) return 'The gateway cannot be the container’s own address.';
  return undefined;
}

export function checkNameserver(text: string): string | undefined {
  return parseIpv4(text) === undefined ? 'Use one IPv4 address such as 1.1.1.1, or leave it empty to use the node’s DNS settings.' : undefined;
}

/** A Linux bridge name as Proxmox accepts it (at most 15 characters, the kernel's interface name limit). */
export function checkBridge(bridge: string): string | undefined {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/.test(bridge) ? undefined : 'Use a bridge name such as vmbr0 (letters, digits, _ . -; at most 15 characters).';
}

// --- storage -------------------------------------------------------------------------------------------------------

const STORAGE_ID = /^[a-z][a-z0-9_.-]*[a-z0-9]$/i;

export function checkStorageId(storage: string): string | undefined {
  return STORAGE_ID.test(storage) && storage.length <= 64 ? undefined : 'Use a storage id such as local-lvm.';
}

const VOLID = /^([a-z][a-z0-9_.-]*[a-z0-9]):vztmpl\/([A-Za-z0-9][A-Za-z0-9_.+-]*\.(?:tar|tar\.gz|tar\.xz|tar\.zst|tar\.bz2))$/i;

export function checkOsTemplateVolid(volid: string): string | undefined {
  return VOLID.test(volid) && volid.length <= 255
    ? undefined
    : 'Use an OS template volume id such as local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst.';
}

/** The file name part of a volid (`debian-12-standard_12.7-1_amd64.tar.zst`). */
export const volidFile = (volid: string) => volid.slice(volid.indexOf('/') + 1);

/**
 * The node's OS template for a template's `TEMPLATE_OS` (`debian-12` matches `debian-12-standard_…`, not
 * `debian-120…`); the newest version when several match.
 */
export function matchOsTemplate(volids: readonly string[], os: string): string | undefined {
  const matches = volids.filter((v) => {
    const file = volidFile(v);
    return file.startsWith(os) && /^[-_.]/.test(file.slice(os.length));
  });
  return matches.sort((a, b) => volidFile(a).localeCompare(volidFile(b), 'en', { numeric: true })).at(-1);
}

// --- lists ---------------------------------------------------------------------------------------------------------

/** Tags as Proxmox stores them (lower-cased, de-duplicated), or a message naming the first bad one. */
export function parseTags(text: string): { tags: string[] } | { error: string } {
  const tags = splitTags(text);
  if (tags.length > FIELD_LIMITS.tags) return { error: `Use at most ${FIELD_LIMITS.tags} tags.` };
  for (const tag of tags) {
    if (checkTag(tag)) return { error: `${quoted(tag)} is not a valid tag: use lowercase letters, digits and _ + . - (Proxmox tag rules).` };
  }
  return { tags };
}

/** Whitespace-separated apt package names (optionally `name=version`), de-duplicated, in the order typed. */
export function parseExtraPackages(text: string): { packages: string[] } | { error: string } {
  const specs = [...new Set(text.split(/\s+/).filter(Boolean))];
  if (specs.length > FIELD_LIMITS.extraPackages) return { error: `List at most ${FIELD_LIMITS.extraPackages} extra packages.` };
  for (const spec of specs) {
    const { name, version } = splitPackageSpec('apt', spec);
    if (checkPackage('apt', name, version)) {
      return { error: `${quoted(spec)} is not a Debian package name: use lowercase letters, digits and + . - (e.g. curl or nginx=1.22.1-9).` };
    }
  }
  return { packages: specs };
}
