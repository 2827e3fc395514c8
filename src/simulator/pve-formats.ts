// The named `format`s of the Proxmox API schema (pve-common JSONSchema.pm and the verifiers registered by
// pve-container / pve-storage), as the simulator checks them. Each verifier returns the text Proxmox dies with
// (the validator prefixes it with `invalid format - `), or undefined when the value is fine.
import { isIPv4, isIPv6 } from 'node:net';

type Verifier = (value: string) => string | undefined;

const DNS_LABEL = '[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?';
const DNS_NAME_RE = new RegExp(`^${DNS_LABEL}(?:\\.${DNS_LABEL})*$`);
const STORAGE_ID_RE = /^[a-z][a-z0-9\-_.]*[a-z0-9]$/i;
const TAG_RE = /^[a-z0-9_][a-z0-9_\-+.]*$/i;
const CONTENT_TYPES = ['images', 'rootdir', 'vztmpl', 'iso', 'backup', 'snippets', 'import'];

/** Proxmox splits lists on `,`, `;` and whitespace (PVE::Tools::split_list). */
export function splitList(value: string): string[] {
  return value.split(/[;,\s]+/).filter(Boolean);
}

function listOf(each: Verifier): Verifier {
  return (value) => {
    for (const item of splitList(value)) {
      const err = each(item);
      if (err) return err;
    }
    return undefined;
  };
}

function ipv4Cidr(value: string, minPrefix: number): boolean {
  const [addr, prefix, extra] = value.split('/');
  if (extra !== undefined || addr === undefined || prefix === undefined || !/^\d{1,2}$/.test(prefix)) return false;
  const p = Number(prefix);
  return isIPv4(addr) && p >= minPrefix && p <= 32;
}

function ipv6Cidr(value: string): boolean {
  const [addr, prefix, extra] = value.split('/');
  if (extra !== undefined || addr === undefined || prefix === undefined || !/^\d{1,3}$/.test(prefix)) return false;
  return isIPv6(addr) && Number(prefix) <= 128;
}

const dnsName: Verifier = (v) => (DNS_NAME_RE.test(v) ? undefined : 'value does not look like a valid DNS name');
const storageContent: Verifier = (v) => (CONTENT_TYPES.includes(v) ? undefined : `invalid content type '${v}'`);
const configId: Verifier = (v) => (/^[a-z][a-z0-9_]+$/i.test(v) ? undefined : `invalid configuration ID '${v}'`);
const ipWithLinkLocalIface: Verifier = (v) => {
  const [addr = '', iface] = v.split('%');
  const ok = isIPv4(addr) ? iface === undefined : isIPv6(addr) && (iface === undefined || /^fe80:/i.test(addr));
  return ok ? undefined : `'${v}' is not a valid IP address`;
};
const lenient: Verifier = (v) => (v.length > 0 ? undefined : 'value is empty');

export const FORMAT_VERIFIERS: Readonly<Record<string, Verifier>> = {
  'pve-vmid': (v) => (/^[1-9][0-9]{2,8}$/.test(v) ? undefined : 'value does not look like a valid VM ID'),
  'pve-node': (v) => (/^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$/.test(v) ? undefined : 'value does not look like a valid node name'),
  'pve-storage-id': (v) => {
    if (v.length < 2) return `storage ID '${v}' cannot be shorter than 2 characters`;
    return STORAGE_ID_RE.test(v) ? undefined : `storage ID '${v}' contains illegal characters`;
  },
  'dns-name': dnsName,
  'dns-name-list': listOf(dnsName),
  'pve-tag-list': (v) => {
    const tags = splitList(v);
    if (tags.length === 0) return 'no tags given';
    return tags.every((t) => TAG_RE.test(t)) ? undefined : 'invalid characters in tag';
  },
  ipv4: (v) => (isIPv4(v) ? undefined : 'value does not look like a valid IPv4 address'),
  ipv6: (v) => (isIPv6(v) ? undefined : 'value does not look like a valid IPv6 address'),
  'pve-ipv4-config': (v) =>
    v === 'dhcp' || v === 'manual' || ipv4Cidr(v, 8) ? undefined : 'value does not look like a valid ipv4 network configuration',
  'pve-ipv6-config': (v) =>
    ['auto', 'dhcp', 'manual'].includes(v) || ipv6Cidr(v) ? undefined : 'value does not look like a valid ipv6 network configuration',
  'mac-addr': (v) =>
    /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/i.test(v) && (parseInt(v.slice(0, 2), 16) & 1) === 0
      ? undefined
      : 'value does not look like a valid unicast MAC address',
  'pve-storage-content': storageContent,
  'pve-storage-content-list': listOf(storageContent),
  'lxc-ip-with-ll-iface-list': listOf(ipWithLinkLocalIface),
  'disk-size': (v) => (/^\d+(?:\.\d+)?[KMGT]?$/.test(v) ? undefined : `value '${v}' does not look like a valid disk size`),
  'pve-lxc-mp-string': (v) => (/(?:^|\/)\.\.?(?:\/|$)/.test(v) ? `${v} contains illegal character sequences` : undefined),
  'pve-ct-timezone': (v) =>
    v === 'host' || /^[A-Za-z][A-Za-z0-9_+-]*(?:\/[A-Za-z0-9_+-]+)*$/.test(v) ? undefined : `invalid time zone '${v}'`,
  'pve-poolid': (v) => (/^[A-Za-z0-9_-]+$/.test(v) ? undefined : `pool name '${v}' contains illegal characters`),
  'pve-configid': configId,
  'pve-configid-list': listOf(configId),
  'pve-volume-id': (v) => (/^[a-z][a-z0-9\-_.]*[a-z0-9]:.+$/i.test(v) ? undefined : `unable to parse volume ID '${v}'`),
  'pve-realm': (v) => (/^[A-Za-z][A-Za-z0-9.\-_]+$/.test(v) ? undefined : 'value does not look like a valid realm'),
  'pve-priv-list': lenient,
  'pve-startup-order': (v) =>
    /^(?:(?:order=\d+|up=\d+|down=\d+)(?:,|$))+$/.test(v) ? undefined : 'value does not look like a valid startup order',
  'pve-task-status-type-list': lenient,
  'pve-lxc-dev-string': lenient,
};
