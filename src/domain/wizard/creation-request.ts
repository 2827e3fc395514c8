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
  return typeof v === 'string' ? v.replace(/\r\n/g, '\n') : '';
}

/** A repeatable field: undefined when absent, empty values dropped (so `scripts=` alone means "none"). */
export function repeated(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  const values = Array.isArray(value) ? value : [value];
  return values.filter((v): v is string => typeof v === 'string' && v !== '');
}

const trimmed = (value: unknown) => single(value).trim();

/** Reads the documented contract from a form body; fields a script leaves out stay empty (= defaults). */
export function requestFromBody(body: Body = {}): CreationRequest {
  return {
    template: trimmed(body.template),
    node: trimmed(body.node),
    ostemplate: trimmed(body.ostemplate),
    hostname: trimmed(body.hostname),
    vmid: trimmed(body.vmid),
    // Passwords are taken as typed: a leading space is part of the secret.
    password: single(body.password),
    passwordConfirm: single(body.password_confirm),
    sshPublicKey: single(body.ssh_public_key).trim(),
    cores: trimmed(body.cores),
    memory: trimmed(body.memory),
    swap: trimmed(body.swap),
    disk: trimmed(body.disk),
    storage: trimmed(body.storage),
    bridge: trimmed(body.bridge),
    ip: trimmed(body.ip),
    gateway: trimmed(body.gateway),
    nameserver: trimmed(body.nameserver),
    unprivileged: trimmed(body.unprivileged),
    nesting: trimmed(body.nesting),
    destroyOnFailure: trimmed(body.destroy_on_failure),
    tags: body.tags === undefined ? undefined : single(body.tags),
    packageGroups: repeated(body.package_groups),
    packageSets: repeated(body.package_sets),
    extraPackages: single(body.extra_packages),
    scripts: repeated(body.scripts),
    deployId: trimmed(body.deploy_id),
  };
}

/** Which wizard step shows each field, so a message on the review page can link to where it is fixed. */
export const FIELD_STEP: Record<string, 'template' | 'configure' | 'packages' | 'scripts'> = {
  template: 'template',
  package_groups: 'packages',
  package_sets: 'packages',
  extra_packages: 'packages',
  scripts: 'scripts',
};

/** The label a person knows each field by (messages listed away from their field name it). */
export const FIELD_LABELS: Record<string, string> = {
  template: 'Template',
  node: 'Node',
  ostemplate: 'OS template',
  hostname: 'Hostname',
  vmid: 'VMID',
  password: 'Root password',
  password_confirm: 'Password confirmation',
  ssh_public_key: 'SSH public key',
  cores: 'Cores',
  memory: 'Memory',
  swap: 'Swap',
  disk: 'Disk',
  storage: 'Root-disk storage',
  bridge: 'Bridge',
  ip: 'IPv4 address',
  gateway: 'Gateway',
  nameserver: 'DNS server',
  unprivileged: 'Unprivileged',
  nesting: 'Nesting',
  tags: 'Tags',
  destroy_on_failure: 'Destroy on failure',
  package_groups: 'Package groups',
  package_sets: 'Package sets',
  extra_packages: 'Extra packages',
  scripts: 'Scripts',
};
