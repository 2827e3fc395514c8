// What ProxmoxClient returns, already normalised: 0/1 flags are booleans, numeric ids are numbers, tag lists are
// arrays. Optional fields are the ones Proxmox omits in some states (stopped CTs, missing privileges, old versions).

export interface PveVersion {
  version: string;
  release: string;
  repoid: string;
}

/** One sign-in realm of `GET /access/domains` (what the Proxmox login window lists). */
export interface PveRealm {
  realm: string;
  type: string;
  comment?: string;
  /** A realm-wide second factor; Launchpad cannot pass one, so such a realm is offered with a warning. */
  tfa?: 'yubico' | 'oath';
}

/** What `POST /access/ticket` said about a user name and password (the ticket itself is never kept). */
export type PveLoginCheck = { ok: true; userid: string } | { ok: false; reason: 'wrong' | 'needs-tfa' };

export interface PveNode {
  node: string;
  status: 'online' | 'offline' | 'unknown';
  cpu?: number;
  maxcpu?: number;
  mem?: number;
  maxmem?: number;
  uptime?: number;
  sslFingerprint?: string;
}

export interface PveNodeStatus {
  uptime: number;
  /** Fraction 0..1. */
  cpu: number;
  loadavg: number[];
  memory: { total: number; used: number; free: number };
  rootfs: { total: number; used: number; avail: number };
  cpuinfo: { cores: number; cpus: number; sockets: number; model: string };
  pveversion: string;
  kversion: string;
}

/** One guest from `GET /cluster/resources?type=vm`. `status` is `unknown` until the node's first stats sample. */
export interface ClusterVmResource {
  id: string;
  type: 'lxc' | 'qemu';
  vmid: number;
  node: string;
  status: string;
  name?: string;
  uptime?: number;
  cpu?: number;
  maxcpu?: number;
  mem?: number;
  maxmem?: number;
  disk?: number;
  maxdisk?: number;
  template: boolean;
  lock?: string;
  tags: string[];
}

export interface PveStorage {
  storage: string;
  type: string;
  /** e.g. ['rootdir', 'images'] or ['vztmpl', 'iso', 'backup']. */
  content: string[];
  enabled: boolean;
  active: boolean;
  shared: boolean;
  total?: number;
  used?: number;
  avail?: number;
}

/** One of the node's bridges (GET /nodes/{node}/network?type=any_bridge): Linux, OVS, or an SDN VNet. */
export interface PveBridge {
  iface: string;
  /** `bridge`, `OVSBridge` or `vnet`. */
  type: string;
  active: boolean;
  /** The comment from /etc/network/interfaces, trimmed; undefined when there is none. */
  comments: string | undefined;
}

export interface StorageVolume {
  /** e.g. `local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst`. */
  volid: string;
  content: string;
  format: string;
  size: number;
  ctime?: number;
  vmid?: number;
}

/** `GET /nodes/{node}/lxc` items and `status/current`. */
export interface LxcStatus {
  vmid: number;
  status: 'running' | 'stopped';
  /** Hostname, or `CT<vmid>` when none is set. */
  name: string;
  /** Set while a task holds the CT, e.g. `create` during vzcreate. */
  lock?: string;
  uptime: number;
  cpus?: number;
  maxmem?: number;
  mem?: number;
  maxdisk?: number;
  disk?: number;
  maxswap?: number;
  swap?: number;
  /** CPU use as a fraction of the CT's `cpus` (0.25 = a quarter of its cores), as the Proxmox UI shows it. */
  cpu?: number;
  /** Bytes received / sent since the CT started (counters: a rate needs two samples). */
  netin?: number;
  netout?: number;
  pid?: number;
  tags: string[];
  template: boolean;
  /** Only from status/current: the CT as a resource of the Proxmox HA manager, or `managed: false`. */
  ha?: LxcHaStatus;
}

/**
 * `ha` of status/current (pve-ha-manager's get_service_status). For a managed CT, start, stop and shutdown only hand
 * the request to the HA stack: their task (`hastart`, `hastop`) ends at once and the CT changes seconds later.
 */
export interface LxcHaStatus {
  managed: boolean;
  /** The HA manager's state for it while managed: `started`, `stopped`, `request_stop`, `error`, `fence`, … */
  state?: string;
}

/** One point of `GET …/lxc/{vmid}/rrddata`; points before the CT existed carry only `time`. */
export interface LxcRrdPoint {
  /** Unix seconds. */
  time: number;
  cpu?: number;
  mem?: number;
  maxmem?: number;
}

/** `GET /nodes/{node}/lxc/{vmid}/config`. While vzcreate runs it holds only `lock` and `digest`. */
export interface LxcConfig {
  digest: string;
  lock?: string;
  hostname?: string;
  ostype?: string;
  arch?: string;
  cores?: number;
  memory?: number;
  swap?: number;
  /** e.g. `local-lvm:vm-101-disk-0,size=8G`. */
  rootfs?: string;
  /** `net0`… as raw property strings. */
  net: Record<string, string>;
  features?: string;
  unprivileged: boolean;
  onboot: boolean;
  /** Proxmox refuses to remove a protected CT (or its disks) until protection is switched off. */
  protection: boolean;
  tags: string[];
  nameserver?: string;
  searchdomain?: string;
  description?: string;
  /** Every key exactly as Proxmox returned it. */
  raw: Readonly<Record<string, unknown>>;
}

export interface LxcAddress {
  family: 'inet' | 'inet6';
  address: string;
  prefix: number;
}

export interface LxcInterface {
  name: string;
  /** Lowercase MAC as the kernel prints it. */
  hwaddr: string;
  addresses: LxcAddress[];
}

export interface TaskStatus {
  upid: string;
  node: string;
  type: string;
  id: string;
  user: string;
  tokenid?: string;
  pid: number;
  starttime: number;
  status: 'running' | 'stopped';
  /** Only once stopped: `OK`, `WARNINGS: n`, or the error text. */
  exitstatus?: string;
}

export interface TaskLogLine {
  /** 1-based line number. */
  n: number;
  t: string;
}

export interface TaskLogPage {
  lines: TaskLogLine[];
  /** Lines in the log file so far. */
  total: number;
}

export interface LxcNetworkConfig {
  /** Interface name inside the CT, e.g. `eth0`. */
  name: string;
  bridge?: string;
  /** `dhcp`, `manual`, or an IPv4 CIDR such as `10.0.0.5/24`. */
  ip?: string;
  /** IPv4 gateway (only with a static ip). */
  gw?: string;
  ip6?: string;
  gw6?: string;
  hwaddr?: string;
  mtu?: number;
  /** VLAN tag. */
  tag?: number;
  firewall?: boolean;
}

/** Parameters of `POST /nodes/{node}/lxc`, in TypeScript names; see lxcCreateParams for the wire form. */
export interface LxcCreateOptions {
  vmid: number;
  /** Template volid, e.g. `local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst`. */
  ostemplate: string;
  hostname?: string;
  /** Root password inside the CT (≥ 5 characters for Proxmox). */
  password?: string;
  /** OpenSSH public keys, one per line, written to root's authorized_keys. */
  sshPublicKeys?: string;
  /** A new root volume `<storage>:<sizeGiB>` (Proxmox's default is 4 GiB on storage `local`). */
  rootfs?: { storage: string; sizeGiB: number };
  cores?: number;
  /** MiB. */
  memory?: number;
  /** MiB. */
  swap?: number;
  cpulimit?: number;
  /** net0, net1, … in order. */
  net?: LxcNetworkConfig[];
  /** Space-separated DNS servers. */
  nameserver?: string;
  searchdomain?: string;
  unprivileged?: boolean;
  /** Tokens may only set `nesting`; other flags need root@pam. */
  features?: { nesting?: boolean; keyctl?: boolean; fuse?: boolean };
  tags?: string[];
  onboot?: boolean;
  /** Start inside the same vzcreate task. */
  start?: boolean;
  description?: string;
  timezone?: string;
}
