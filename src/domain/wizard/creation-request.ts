// What asks for a new container, as typed: the documented form contract of POST /containers (README.md, section
// "Creating containers from scripts"), which the wizard's steps post field by field and scripts post all at once.
// Values stay strings until validation, so a rejected form comes back exactly as it was sent.
export interface CreationRequest {
  /** Template id or name; empty = from scratch. */
  template: string;
  /** Node id or name. */
  node: string;
  /** Volid; empty = the template's OS matched on the node. */
  ostemplate: string;
  hostname: string;
  /** Empty = the next free VMID. */
  vmid: string;
  password: string;
  passwordConfirm: string;
  sshPublicKey: string;
  /** Empty = the template's (or the built-in) default. */
  cores: string;
  memory: string;
  swap: string;
  disk: string;
  /** Empty = the node's first storage for container disks. */
  storage: string;
  /** Empty = vmbr0. */
  bridge: string;
  /** `dhcp` (or empty) or an IPv4 CIDR. */
  ip: string;
  gateway: string;
  nameserver: string;
  /** `1`/`0`; empty = the template's default. */
  unprivileged: string;
  nesting: string;
  /** `1`/`0`; empty = off, as in Proxmox. */
  onboot: string;
  destroyOnFailure: string;
  /** Undefined = the template's tags; empty = none. */
  tags: string | undefined;
  /** Undefined = every group the template has; [] = none. */
  packageGroups: string[] | undefined;
  /** Package set names; undefined = the template's sets; [] = none. */
  packageSets: string[] | undefined;
  extraPackages: string;
  /** Script names in run order; undefined = the template's enabled scripts. */
  scripts: string[] | undefined;
  /** Idempotency key, reused as the container id: a second POST with the same id creates nothing. */
  deployId: string;
}

type Body = Record<string, unknown>;

// With extended: false a repeated field arrives as an array: the last value wins (a checkbox after its hidden 0).
export function single(value: unknown): string {
  const v = Array.isArray(value) ? value[value.length - 1] : value;
  // A JSON body may send numbers and booleans where a form sends text: 2 is "2", true/false are the checkbox's 1/0.
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'boolean') return v ? '1' : '0';
  return typeof v === 'string' ? v.replace(/\r\n/g, '\n') : '';
}

/** A repeatable field: undefined when absent, empty values dropped (so `scripts=` alone means "none"). */
export function repeated(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  const values = Array.isArray(value) ? value : [value];
  return values.filter((v): v is string => typeof v === 'string' && v !== '');
}

const trimmed = (value: unknown) => single(value).trim();

/**
 * Every field of the form contract, once: its name on the wire, the label a person knows it by (messages listed away
 * from their field name it), the wizard step that shows it (so a message on the review page links to where it is
 * fixed), and how its value is read from a body.
 * - `text`: trimmed; `asTyped`: as typed (a leading space is part of a password);
 * - `optional`: absent = undefined (the template's choice), present = as typed; `repeated`: see repeated().
 */
export const CREATION_FIELDS = {
  template: { name: 'template', label: 'Template', step: 'template', read: 'text' },
  node: { name: 'node', label: 'Node', step: 'configure', read: 'text' },
  ostemplate: { name: 'ostemplate', label: 'OS template', step: 'configure', read: 'text' },
  hostname: { name: 'hostname', label: 'Hostname', step: 'configure', read: 'text' },
  vmid: { name: 'vmid', label: 'VMID', step: 'configure', read: 'text' },
  password: { name: 'password', label: 'Root password', step: 'configure', read: 'asTyped' },
  passwordConfirm: { name: 'password_confirm', label: 'Password confirmation', step: 'configure', read: 'asTyped' },
  sshPublicKey: { name: 'ssh_public_key', label: 'SSH public key', step: 'configure', read: 'text' },
  cores: { name: 'cores', label: 'Cores', step: 'configure', read: 'text' },
  memory: { name: 'memory', label: 'Memory', step: 'configure', read: 'text' },
  swap: { name: 'swap', label: 'Swap', step: 'configure', read: 'text' },
  disk: { name: 'disk', label: 'Disk', step: 'configure', read: 'text' },
  storage: { name: 'storage', label: 'Root-disk storage', step: 'configure', read: 'text' },
  bridge: { name: 'bridge', label: 'Bridge', step: 'configure', read: 'text' },
  ip: { name: 'ip', label: 'IPv4 address', step: 'configure', read: 'text' },
  gateway: { name: 'gateway', label: 'Gateway', step: 'configure', read: 'text' },
  nameserver: { name: 'nameserver', label: 'DNS server', step: 'configure', read: 'text' },
  unprivileged: { name: 'unprivileged', label: 'Unprivileged', step: 'configure', read: 'text' },
  nesting: { name: 'nesting', label: 'Nesting', step: 'configure', read: 'text' },
  onboot: { name: 'onboot', label: 'Start at boot', step: 'configure', read: 'text' },
  destroyOnFailure: { name: 'destroy_on_failure', label: 'Destroy on failure', step: 'configure', read: 'text' },
  tags: { name: 'tags', label: 'Tags', step: 'configure', read: 'optional' },
  packageGroups: { name: 'package_groups', label: 'Package groups', step: 'packages', read: 'repeated' },
  packageSets: { name: 'package_sets', label: 'Package sets', step: 'packages', read: 'repeated' },
  extraPackages: { name: 'extra_packages', label: 'Extra packages', step: 'packages', read: 'asTyped' },
  scripts: { name: 'scripts', label: 'Scripts', step: 'scripts', read: 'repeated' },
  deployId: { name: 'deploy_id', label: 'Deploy id', step: 'review', read: 'text' },
} as const satisfies Record<keyof CreationRequest, { name: string; label: string; step: 'template' | 'configure' | 'packages' | 'scripts' | 'review'; read: 'text' | 'asTyped' | 'optional' | 'repeated' }>;

type FieldSpec = (typeof CREATION_FIELDS)[keyof CreationRequest];
const FIELD_SPECS = Object.entries(CREATION_FIELDS) as Array<[keyof CreationRequest, FieldSpec]>;

function readField(spec: FieldSpec, value: unknown): string | string[] | undefined {
  switch (spec.read) {
    case 'text': return trimmed(value);
    case 'asTyped': return single(value);
    case 'optional': return value === undefined ? undefined : single(value);
    case 'repeated': return repeated(value);
  }
}

/** Reads the documented contract from a form body; fields a script leaves out stay empty (= defaults). */
export function requestFromBody(body: Body = {}): CreationRequest {
  return Object.fromEntries(FIELD_SPECS.map(([key, spec]) => [key, readField(spec, body[spec.name])])) as unknown as CreationRequest;
}

/** Which wizard step shows each field (by its name on the wire). */
export const FIELD_STEP: Record<string, FieldSpec['step']> = Object.fromEntries(FIELD_SPECS.map(([, spec]) => [spec.name, spec.step]));

/** The label a person knows each field by (by its name on the wire). */
export const FIELD_LABELS: Record<string, string> = Object.fromEntries(FIELD_SPECS.map(([, spec]) => [spec.name, spec.label]));
