// The simulated node's cluster state: containers, tasks, templates and storages. It lives in memory and is
// written to <dataDir>/state.json after each change, so a restart of `npm start` keeps existing CTs (a running CT
// comes back stopped, as after a node reboot). Each CT's root filesystem is the directory <dataDir>/ct/<vmid>/rootfs.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { SimContainerView, SimulatorStateView } from './types.ts';

export type ConfigValue = string | number;

export interface CtRecord {
  vmid: number;
  /** The config file's keys. While vzcreate runs it is empty (the file then holds only the lock). */
  config: Record<string, ConfigValue>;
  lock?: string;
  status: 'running' | 'stopped';
  /** Epoch ms of the last start. */
  startedAt?: number;
  pid?: number;
  /** Until this epoch ms the node's stats daemon has no sample yet: cluster/resources says `unknown`. */
  statsFrom: number;
  /** The DHCP address (CIDR) the simulated DHCP server hands this CT's MAC. */
  lease?: string;
  /** Epoch ms when the DHCP address appears on eth0 while running; undefined = not (yet) scheduled. */
  dhcpAt?: number;
  /** Root volume size in GiB and its storage. */
  diskGiB: number;
  rootStorage: string;
  /** Uncompressed size of the template it was made from (disk usage shown in status). */
  usedBytes: number;
  /**
   * The other cluster node that holds it now, when someone migrated it away (the simulator is one node: a test sets
   * this with moveToPeer). The cluster's list shows it there and its config and status can be read there; this node
   * answers for it as for a CT it does not hold.
   */
  node?: string;
  /** Set while the CT is a resource of the cluster's HA manager (a test adds it with addToHa). */
  ha?: HaResource;
}

/**
 * A CT as the HA manager (pve-ha-manager) knows it: the CRM's state for it, as `ha-manager status` and the CT's
 * status/current show it. A request changes it only once the HA stack's next round acts on it (`request_stop` while
 * the stop runs); a resource in `error` ignores every request until an admin takes it out of HA.
 */
export interface HaResource {
  state: 'stopped' | 'started' | 'request_stop' | 'error';
}

/**
 * A guest in the cluster's VM list that this node does not host as a CT: a QEMU VM, or a CT on another cluster node.
 * Tests add them (addOtherGuest) to take a VMID the way another admin on the cluster would.
 */
export interface OtherGuest {
  vmid: number;
  type: 'qemu' | 'lxc';
  node: string;
  name: string;
}

export interface TaskRecord {
  upid: string;
  type: string;
  id: string;
  user: string;
  pid: number;
  pstart: number;
  starttime: number;
  lines: string[];
  status: 'running' | 'stopped';
  exitstatus?: string;
  endtime?: number;
}

export interface TemplateFile {
  volid: string;
  /** Compressed size on the storage. */
  size: number;
  /** What `tar --totals` reports when it is extracted. */
  unpackedSize: number;
  ctime: number;
}

export interface StorageDef {
  storage: string;
  type: 'dir' | 'lvmthin' | 'nfs' | 'zfspool';
  content: string[];
  total: number;
  /** Bytes used by things the simulator does not model (ISOs, other volumes). */
  baseUsed: number;
  /** storage.cfg `nodes`: the cluster nodes that have it; undefined = every node (pve-storage storage_check_node). */
  nodes?: string[];
  /** storage.cfg `shared`. */
  shared?: boolean;
  /** Its server does not answer (an NFS/CIFS share gone): activate_storage fails, status lists it `active: 0`. */
  offline?: boolean;
  /** storage.cfg `path` of a file storage; an NFS/CIFS share's default is /mnt/pve/<id> (pve-storage NFSPlugin). */
  path?: string;
}

const GiB = 1024 ** 3;

export const STORAGES: readonly StorageDef[] = [
  { storage: 'local', type: 'dir', content: ['vztmpl', 'iso', 'backup'], total: 94 * GiB, baseUsed: 9 * GiB, path: '/var/lib/vz' },
  { storage: 'local-lvm', type: 'lvmthin', content: ['rootdir', 'images'], total: 200 * GiB, baseUsed: 0 },
];

/** The node's network interfaces as /etc/network/interfaces would declare them (GET /nodes/{node}/network). */
export interface NetworkInterfaceDef {
  iface: string;
  type: 'eth' | 'bridge';
  /** IPv4 CIDR, when the interface has an address. */
  cidr?: string;
  gateway?: string;
  bridgePorts?: string;
  comments?: string;
}

/** A physical port, the default bridge on it, and an internal bridge without ports (a usual NAT setup). */
export const NETWORK: readonly NetworkInterfaceDef[] = [
  { iface: 'eno1', type: 'eth' },
  { iface: 'vmbr0', type: 'bridge', cidr: '10.10.0.2/24', gateway: '10.10.0.1', bridgePorts: 'eno1' },
  { iface: 'vmbr1', type: 'bridge', comments: 'internal (no ports)' },
];

const DEFAULT_TEMPLATES: readonly TemplateFile[] = [
  { volid: 'local:vztmpl/alpine-3.20-default_20240908_amd64.tar.xz', size: 3_252_412, unpackedSize: 9_431_040, ctime: 1_725_800_000 },
  { volid: 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst', size: 126_080_226, unpackedSize: 521_902_080, ctime: 1_728_900_000 },
  { volid: 'local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst', size: 141_572_309, unpackedSize: 612_935_680, ctime: 1_727_300_000 },
];

const KEPT_TASKS = 300;

interface Persisted {
  version: 1;
  containers: CtRecord[];
  tasks: TaskRecord[];
  templates: TemplateFile[];
  otherGuests?: OtherGuest[];
  clusterStorages?: StorageDef[];
}

export class SimulatorState implements SimulatorStateView {
  readonly containers = new Map<number, CtRecord>();
  readonly tasks = new Map<string, TaskRecord>();
  readonly otherGuests = new Map<number, OtherGuest>();
  /** storage.cfg entries besides the node's own two (STORAGES), added by tests with addClusterStorage. */
  readonly clusterStorages: StorageDef[] = [];
  /** The node's own storages (STORAGES) a test took offline: not kept across a restart. */
  private readonly ownOffline = new Set<string>();
  templates: TemplateFile[];
  /** Epoch ms the simulated node "booted" (uptime, UPID pstart). */
  readonly bootTime = Date.now() - 3 * 86_400_000;
  private readonly file: string;

  private constructor(
    readonly node: string,
    readonly dataDir: string,
    persisted: Persisted | undefined,
  ) {
    this.file = join(dataDir, 'state.json');
    this.templates = persisted?.templates ?? DEFAULT_TEMPLATES.map((t) => ({ ...t }));
    for (const ct of persisted?.containers ?? []) {
      // A node restart: nothing runs any more. A create or destroy that was cut short cleans nothing up (only its
      // worker would have): its config stays behind with its lock — `lock: create` alone, or `lock: destroyed` — and
      // every lock-checked operation refuses it until an admin runs pct unlock (pve-container API2/LXC.pm create_vm,
      // destroy_vm; AbstractConfig create_and_lock_config).
      // HA resources come back stopped too (a real HA stack would start them again; this one acts only when asked).
      const ha = ct.ha && { state: ct.ha.state === 'error' ? ct.ha.state : 'stopped' as const };
      this.containers.set(ct.vmid, { ...ct, status: 'stopped', startedAt: undefined, pid: undefined, dhcpAt: undefined, ha });
    }
    for (const guest of persisted?.otherGuests ?? []) this.otherGuests.set(guest.vmid, guest);
    this.clusterStorages.push(...(persisted?.clusterStorages ?? []));
    for (const task of persisted?.tasks ?? []) {
      this.tasks.set(task.upid, task.status === 'running' ? { ...task, status: 'stopped', exitstatus: 'unexpected status' } : task);
    }
  }

  /** Loads <dataDir>/state.json, or starts an empty node with the default templates. */
  static open(dataDir: string, node: string): SimulatorState {
    mkdirSync(join(dataDir, 'ct'), { recursive: true });
    const file = join(dataDir, 'state.json');
    const persisted = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Persisted) : undefined;
    const state = new SimulatorState(node, dataDir, persisted?.version === 1 ? persisted : undefined);
    state.save();
    return state;
  }

  // --- the view the SSH half uses --------------------------------------------------------------------------

  container(vmid: number): SimContainerView | undefined {
    const ct = this.containers.get(vmid);
    if (!ct || ct.node !== undefined) return undefined;
    return { vmid, status: ct.status, hostname: String(ct.config.hostname ?? `CT${vmid}`), rootDir: this.rootDir(vmid), ipv4: ipv4Of(ct) };
  }

  containerWithAddress(ipv4: string): SimContainerView | undefined {
    for (const ct of this.containers.values()) if (ipv4Of(ct) === ipv4) return this.container(ct.vmid);
    return undefined;
  }

  // --- containers --------------------------------------------------------------------------------------------

  rootDir(vmid: number): string {
    return join(this.dataDir, 'ct', String(vmid), 'rootfs');
  }

  /** Deletes the CT's record and its directory <dataDir>/ct/<vmid>. */
  async removeContainer(vmid: number): Promise<void> {
    this.containers.delete(vmid);
    this.save();
    await rm(join(this.dataDir, 'ct', String(vmid)), { recursive: true, force: true });
  }

  /** What a migration outside Launchpad does to the CT: another node of the cluster holds it from now on. */
  moveToPeer(vmid: number, node: string): void {
    const ct = this.containers.get(vmid);
    if (!ct || ct.status !== 'stopped') throw new Error(`CT ${vmid} must exist here and be stopped to move (an offline migration)`);
    ct.node = node;
    this.save();
  }

  /**
   * What an admin does in Datacenter → HA → Add: the CT becomes an HA resource, requested in the state it is in now
   * (`ha-manager add ct:<vmid> --state started|stopped`), so the HA stack has nothing to do until it is asked.
   */
  addToHa(vmid: number): void {
    const ct = this.containers.get(vmid);
    if (!ct || ct.node !== undefined || ct.lock) throw new Error(`CT ${vmid} must exist here, unlocked, to become an HA resource`);
    ct.ha = { state: ct.status === 'running' ? 'started' : 'stopped' };
    this.save();
  }

  /** `ha-manager remove ct:<vmid>`: the CT is an ordinary one again (also the way out of the `error` state). */
  removeFromHa(vmid: number): void {
    const ct = this.containers.get(vmid);
    if (!ct?.ha) throw new Error(`CT ${vmid} is not an HA resource`);
    ct.ha = undefined;
    this.save();
  }

  /**
   * What an admin's `pct template <vmid>` (POST …/lxc/{vmid}/template, task `vztemplate`) does to the CT: its root
   * volume becomes the read-only base `base-<vmid>-disk-0` and its config gets `template: 1`. A template never starts
   * again (only clones of it do). The endpoint is not in the schema subset, so tests reach it here; the refusals are
   * pve-container's (API2/LXC.pm `template`), checked in its order.
   */
  convertToTemplate(vmid: number): void {
    const ct = this.containers.get(vmid);
    if (!ct || ct.node !== undefined) throw new Error(`Configuration file 'nodes/${this.node}/lxc/${vmid}.conf' does not exist`);
    if (ct.lock) throw new Error(`CT is locked (${ct.lock})`);
    if (isTemplate(ct)) throw new Error("you can't convert a template to a template");
    if (ct.status === 'running') throw new Error("you can't convert a CT to template if the CT is running");
    ct.config = { ...ct.config, template: 1, rootfs: String(ct.config.rootfs).replace(`:vm-${vmid}-disk-`, `:base-${vmid}-disk-`) };
    this.save();
  }

  /**
   * What another operation on the node does to the CT's config while it runs — vzdump's `lock: backup`, a snapshot's
   * `snapshot`, an admin's `pct set <vmid> --lock <name>` — and `pct unlock` (lock undefined) when it ends. The config
   * keeps all its keys; lock-checked operations refuse with `CT is locked (<name>)`.
   */
  setLock(vmid: number, lock: 'backup' | 'disk' | 'fstrim' | 'migrate' | 'mounted' | 'rollback' | 'snapshot' | 'snapshot-delete' | undefined): void {
    const ct = this.containers.get(vmid);
    if (!ct || ct.node !== undefined || ct.lock === 'create' || ct.lock === 'destroyed') throw new Error(`CT ${vmid} must exist here, created, to be locked`);
    ct.lock = lock;
    this.save();
  }

  /** The cluster nodes other than this one that hold a CT. */
  peerNodes(): Set<string> {
    return new Set([...this.containers.values()].flatMap((ct) => (ct.node === undefined ? [] : [ct.node])));
  }

  lowestFreeVmid(): number | undefined {
    for (let id = 100; id < 1_000_000; id++) if (this.vmidInUse(id) === undefined) return id;
    return undefined;
  }

  /**
   * What PVE::Cluster::check_vmid_unused dies with when the cluster's VM list has this VMID — `CT 101 already exists
   * on node 'sim'`, `VM 101 already exists on node 'pve2'` for a QEMU guest — or undefined when it is free.
   */
  vmidInUse(vmid: number): string | undefined {
    const ct = this.containers.get(vmid);
    const guest = ct ? { type: 'lxc', node: ct.node ?? this.node } : this.otherGuests.get(vmid);
    return guest && `${guest.type === 'qemu' ? 'VM' : 'CT'} ${vmid} already exists on node '${guest.node}'`;
  }

  /** Puts a guest this node does not host into the cluster's VM list (see OtherGuest). */
  addOtherGuest(guest: OtherGuest): void {
    if (this.vmidInUse(guest.vmid)) throw new Error(this.vmidInUse(guest.vmid));
    this.otherGuests.set(guest.vmid, { ...guest });
    this.save();
  }

  /** The next DHCP lease in 10.10.0.100–249/24 not held by another CT. */
  allocateLease(): string {
    const taken = new Set([...this.containers.values()].map((c) => c.lease));
    for (let host = 100; host < 250; host++) {
      const lease = `10.10.0.${host}/24`;
      if (!taken.has(lease)) return lease;
    }
    return '10.10.1.100/24';
  }

  // --- storage -------------------------------------------------------------------------------------------------

  /** Every storage of the cluster's storage.cfg, whether this node has it or not. */
  allStorages(): StorageDef[] {
    return [...STORAGES.map((s) => (this.ownOffline.has(s.storage) ? { ...s, offline: true } : s)), ...this.clusterStorages];
  }

  storage(id: string): StorageDef | undefined {
    return this.allStorages().find((s) => s.storage === id);
  }

  /**
   * What pve-storage's storage_check_enabled + activate_storage die with when this node asks for the storage's
   * contents or allocates on it, or undefined when it can (storage 'x' is not available on node 'y' / is not online).
   */
  storageUnusable(def: StorageDef): string | undefined {
    if (def.nodes && !def.nodes.includes(this.node)) return `storage '${def.storage}' is not available on node '${this.node}'`;
    if (def.offline) return `storage '${def.storage}' is not online`;
    return undefined;
  }

  /**
   * Adds a storage.cfg entry the way a cluster admin would (Datacenter → Storage → Add): a share restricted to other
   * nodes (`nodes`), or one whose server is down (`offline`). Templates can then be placed on it.
   */
  addClusterStorage(def: StorageDef): void {
    if (this.storage(def.storage)) throw new Error(`storage ID '${def.storage}' already defined`);
    this.clusterStorages.push({ ...def });
    this.save();
  }

  /** The storage's server comes back (or goes away); for the node's own two, its pool or volume group does. */
  setStorageOffline(id: string, offline: boolean): void {
    const def = this.clusterStorages.find((s) => s.storage === id);
    if (def) def.offline = offline;
    else if (STORAGES.some((s) => s.storage === id)) {
      if (offline) this.ownOffline.add(id);
      else this.ownOffline.delete(id);
    } else throw new Error(`no storage '${id}'`);
    this.save();
  }

  storageUsed(def: StorageDef): number {
    let used = def.baseUsed;
    if (def.content.includes('rootdir')) {
      for (const ct of this.containers.values()) if (ct.rootStorage === def.storage) used += ct.diskGiB * GiB;
    }
    if (def.content.includes('vztmpl')) {
      for (const t of this.templates) if (t.volid.startsWith(`${def.storage}:`)) used += t.size;
    }
    return used;
  }

  template(volid: string): TemplateFile | undefined {
    return this.templates.find((t) => t.volid === volid);
  }

  // --- tasks ---------------------------------------------------------------------------------------------------

  addTask(task: TaskRecord): void {
    this.tasks.set(task.upid, task);
    if (this.tasks.size > KEPT_TASKS) {
      for (const [upid, t] of this.tasks) {
        if (this.tasks.size <= KEPT_TASKS) break;
        if (t.status === 'stopped') this.tasks.delete(upid);
      }
    }
  }

  /** Writes state.json atomically (a crash mid-write never leaves half a file). */
  save(): void {
    const persisted: Persisted = {
      version: 1,
      containers: [...this.containers.values()],
      tasks: [...this.tasks.values()],
      templates: this.templates,
      otherGuests: [...this.otherGuests.values()],
      clusterStorages: this.clusterStorages,
    };
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(persisted));
    renameSync(tmp, this.file);
  }
}

/** Whether the CT was converted to a template (`template: 1` in its config). */
export function isTemplate(ct: CtRecord): boolean {
  return ct.config.template === 1;
}

/** The CT's root volume on its storage: `vm-<vmid>-disk-0`, or `base-<vmid>-disk-0` once it is a template. */
export function rootVolumeName(ct: CtRecord): string {
  return `${isTemplate(ct) ? 'base' : 'vm'}-${ct.vmid}-disk-0`;
}

/** A running CT's address on eth0: net0's static ip=, or its DHCP lease. */
function ipv4Of(ct: CtRecord): string | undefined {
  if (ct.status !== 'running') return undefined;
  const net0 = String(ct.config.net0 ?? '');
  const address = /(?:^|,)ip=(\d[^,]*)/.exec(net0)?.[1] ?? (/(?:^|,)ip=dhcp/.test(net0) ? ct.lease : undefined);
  return address?.split('/')[0];
}
