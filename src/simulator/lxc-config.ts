// A CT's configuration as pve-container writes it: property strings re-printed in Proxmox's key order (default
// key bare, required keys, then the rest sorted), a generated MAC with Proxmox's `BC:24:11` prefix, tags
// lowercased/sorted/de-duplicated and joined with `;`, and a SHA-1 digest of the file.
import { createHash, randomBytes } from 'node:crypto';
import { splitList } from './pve-formats.ts';
import { parsePropertyString, type ParamSchema, type PropertyStringValues } from './pve-schema.ts';
import type { ConfigValue } from './state.ts';

/** Config keys Proxmox types as `number` come back as strings in GET …/config (e.g. cpulimit "0"). */
const NUMBER_KEYS = new Set(['cpulimit']);

export function randomMac(): string {
  return `BC:24:11:${[...randomBytes(3)].map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join(':')}`;
}

export function normalizeTags(value: string): string {
  return [...new Set(splitList(value).map((t) => t.toLowerCase()))].sort().join(';');
}

/**
 * `description` as Proxmox returns it: the text is stored as `#` comment lines of the config file (Perl's split
 * drops trailing empty lines) and read back one line plus "\n" each, so it always ends with a newline.
 */
export function normalizeDescription(value: string): string {
  return value
    .replace(/\n+$/, '')
    .split('\n')
    .map((line) => `${line}\n`)
    .join('');
}

/** Prints a parsed property string: the default key without `key=`, required keys next, the rest sorted. */
export function printPropertyString(format: Record<string, ParamSchema>, values: PropertyStringValues): string {
  const keys = Object.keys(values);
  const defaultKey = keys.find((k) => format[k]?.default_key);
  const required = keys.filter((k) => k !== defaultKey && !format[k]?.optional).sort();
  const rest = keys.filter((k) => k !== defaultKey && format[k]?.optional).sort();
  return [
    ...(defaultKey ? [String(values[defaultKey])] : []),
    ...[...required, ...rest].map((k) => `${k}=${String(values[k])}`),
  ].join(',');
}

/** Parses an already validated property string (validation happened at the API boundary). */
export function readPropertyString(format: Record<string, ParamSchema>, value: string, key: string): PropertyStringValues {
  return parsePropertyString(format, value, key).values;
}

/** net[n] as stored: a MAC is assigned when none was given and `type=veth` is made explicit. */
export function normalizeNet(format: Record<string, ParamSchema>, value: string, key: string): string {
  const net = readPropertyString(format, value, key);
  net.hwaddr = String(net.hwaddr ?? randomMac()).toUpperCase();
  net.type ??= 'veth';
  return printPropertyString(format, net);
}

/** GET …/config: the keys plus `digest`; during vzcreate only the lock. */
export function configResponse(config: Record<string, ConfigValue>, lock: string | undefined): Record<string, ConfigValue> {
  const out: Record<string, ConfigValue> = {};
  for (const key of Object.keys(config).sort()) {
    const value = config[key]!;
    out[key] = NUMBER_KEYS.has(key) ? String(value) : value;
  }
  if (lock) out.lock = lock;
  out.digest = configDigest(config, lock);
  return out;
}

/** SHA-1 of the config file's text, as Proxmox computes `digest`. */
export function configDigest(config: Record<string, ConfigValue>, lock: string | undefined): string {
  const lines = Object.keys(config)
    .sort()
    .map((k) => `${k}: ${String(config[k])}`);
  if (lock) lines.unshift(`lock: ${lock}`);
  return createHash('sha1').update(`${lines.join('\n')}\n`).digest('hex');
}

/** The distribution a template file name implies, with the systemd version its standard template ships. */
export function templateOs(volid: string): { ostype: string; arch: string; systemd?: number } {
  const file = volid.slice(volid.lastIndexOf('/') + 1);
  const arch = /_(amd64|arm64|i386|armhf)\./.exec(file)?.[1] ?? 'amd64';
  if (file.startsWith('debian-12')) return { ostype: 'debian', arch, systemd: 252 };
  if (file.startsWith('debian-13')) return { ostype: 'debian', arch, systemd: 257 };
  if (file.startsWith('debian-')) return { ostype: 'debian', arch, systemd: 247 };
  if (file.startsWith('ubuntu-24')) return { ostype: 'ubuntu', arch, systemd: 255 };
  if (file.startsWith('ubuntu-')) return { ostype: 'ubuntu', arch, systemd: 249 };
  if (file.startsWith('alpine-')) return { ostype: 'alpine', arch };
  if (file.startsWith('rockylinux-') || file.startsWith('almalinux-') || file.startsWith('centos-')) {
    return { ostype: 'centos', arch, systemd: 252 };
  }
  return { ostype: 'unmanaged', arch };
}
