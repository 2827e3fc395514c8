// The read side of the simulated node: what the GET endpoints answer, shaped like the real responses
// (reference/proxmox-api.md §3): numbers where Proxmox sends numbers, strings where it sends strings (nextid,
// loadavg), 0/1 flags, `null` interfaces for a stopped CT, `unknown` status before the first stats sample.
import { parseUpid } from '../proxmox/upid.ts';
import type { SimulatorFaults } from './faults.ts';
import { configResponse } from './lxc-config.ts';
import { TIMING } from './lxc-lifecycle.ts';
import { parameterError, serverError } from './pve-error.ts';
import type { ParamValues } from './pve-schema.ts';
import { isTemplate, NETWORK, rootVolumeName, type CtRecord, type OtherGuest, type SimulatorState, type StorageDef, type TaskRecord } from './state.ts';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const HOST_CPUS = 8;
const HOST_MEM = 32 * GiB;

export const PVE_VERSION = { version: '9.2.11', release: '9.2', repoid: '14a22df3' };

type Json = Record<string, unknown>;

/**
 * A running CT's load, invented (the simulator runs no cgroups to measure): CPU between 0.4 % and 4.4 % of its cores
 * and memory 38–70 MiB, each a slow wave shifted by the VMID so graphs move and CTs differ. Status and rrddata agree.
 */
const invented = {
  cpu: (vmid: number, ms: number) => Math.round((0.004 + 0.02 * (1 + Math.sin(ms / 90_000 + vmid))) * 10_000) / 10_000,
  mem: (vmid: number, ms: number) => Math.round(38 * MiB + (vmid % 17) * MiB + 8 * MiB * (1 + Math.sin(ms / 300_000 + vmid * 2))),
};

export class NodeViews {
  constructor(
    private readonly state: SimulatorState,
    private readonly faults: SimulatorFaults,
    private readonly speed: number,
    private readonly tlsFingerprint: string,
  ) {}

  /** The current release, or the older one the pveVersion fault emulates (`8.0.4` → release `8.0`). */
  version(): { version: string; release: string; repoid: string } {
    const older = this.faults.current.pveVersion;
    return older ? { version: older, release: /^\d+\.\d+/.exec(older)?.[0] ?? older, repoid: 'd2a4f9b1' } : { ...PVE_VERSION };
  }

  nodes(): Json[] {
    return [this.nodeEntry()];
  }

  nodeStatus(): Json {
    const used = this.usedMemory();
    return {
      uptime: this.uptime(),
      idle: 0,
      loadavg: ['0.12', '0.10', '0.05'],
      cpu: 0.031,
      wait: 0.0004,
      cpuinfo: { cores: HOST_CPUS / 2, cpus: HOST_CPUS, sockets: 1, model: 'Simulated CPU @ 3.00GHz', mhz: '3000.000', hvm: '1', flags: '' },
      memory: { total: HOST_MEM, used, free: HOST_MEM - used, available: HOST_MEM - used },
      swap: { total: 8 * GiB, used: 0, free: 8 * GiB },
      ksm: { shared: 0 },
      rootfs: { total: 94 * GiB, used: 9 * GiB, avail: 85 * GiB, free: 85 * GiB },
      pveversion: `pve-manager/${this.version().version}/${this.version().repoid}`,
      kversion: 'Linux 6.14.8-2-pve #1 SMP PREEMPT_DYNAMIC PMX 6.14.8-2 (2025-07-22T10:04Z)',
      'current-kernel': { sysname: 'Linux', release: '6.14.8-2-pve', version: '#1 SMP PREEMPT_DYNAMIC PMX 6.14.8-2', machine: 'x86_64' },
      'boot-info': { mode: 'efi', secureboot: 0 },
    };
  }

  /** A string, as real nodes answer; with `vmid` it echoes a free id or fails like Proxmox (400). */
  nextId(params: ParamValues): string {
    if (params.vmid !== undefined) {
      const vmid = Number(params.vmid);
      // pve-manager API2/Cluster.pm nextid: "VM" whatever the guest is.
      if (this.state.vmidInUse(vmid)) throw parameterError({ vmid: `VM ${vmid} already exists` });
      return String(vmid);
    }
    const free = this.state.lowestFreeVmid();
    if (free === undefined) throw serverError('unable to get any free VMID in range [100, 1000000]');
    return String(free);
  }

  clusterResources(params: ParamValues): Json[] {
    const type = params.type === undefined ? undefined : String(params.type);
    const out: Json[] = [];
    if (type === undefined || type === 'vm') {
      for (const ct of this.sortedContainers()) out.push(this.resourceEntry(ct));
      for (const guest of this.state.otherGuests.values()) out.push(otherGuestEntry(guest));
    }
    if (type === undefined || type === 'node') out.push(this.nodeEntry());
    if (type === undefined || type === 'storage') {
      // pve-manager API2/Cluster.pm: every storage.cfg ID (sorted), once per cluster node it is enabled on (the
      // simulated cluster's only node is this one); API2Tools.pm extract_storage_stats: 'unknown' and no sizes
      // unless pvestatd sent stats, which it does only for an active storage.
      const ids = this.state.allStorages().sort((a, b) => (a.storage < b.storage ? -1 : a.storage > b.storage ? 1 : 0));
      for (const def of ids) {
        if (def.nodes && !def.nodes.includes(this.state.node)) continue;
        const entry = {
          id: `storage/${this.state.node}/${def.storage}`,
          type: 'storage',
          storage: def.storage,
          node: this.state.node,
          status: 'unknown',
          plugintype: def.type,
          content: def.content.join(','),
          shared: def.shared ? 1 : 0,
        };
        out.push(this.state.storageUnusable(def) ? entry : { ...entry, status: 'available', disk: this.state.storageUsed(def), maxdisk: def.total });
      }
    }
    return out;
  }

  /**
   * pve-storage's storage_info as API2/Storage/Status.pm lists it: every storage.cfg entry, `enabled: 0` where this
   * node is not among its `nodes`, `active: 0` (no sizes) where it cannot be activated; a `content` filter drops the
   * entries not enabled here, while `enabled=1` only drops storages disabled in storage.cfg (none are here). A
   * `storage` it did not list is a 400 (`raise_param_exc({ storage => "No such storage." })`).
   */
  storages(params: ParamValues): Json[] {
    const wanted = params.content === undefined ? undefined : String(params.content).split(/[,;\s]+/).filter(Boolean);
    const onThisNode = (def: StorageDef) => !def.nodes || def.nodes.includes(this.state.node);
    const info = this.state.allStorages().filter((def) => !wanted || (wanted.some((c) => def.content.includes(c)) && onThisNode(def)));
    // Asked for one storage that storage_info did not list (unknown, or left out by `content`).
    if (params.storage && !info.some((def) => def.storage === params.storage)) throw parameterError({ storage: 'No such storage.' });
    return info.filter((def) => !params.storage || def.storage === params.storage).map((def) => this.storageEntry(def));
  }

  /**
   * The node's interfaces with the `type` filter of pve-manager's API2/Network.pm: a type, or `any_bridge` /
   * `any_local_bridge` for Linux and OVS bridges; `lo` is never listed. The simulator has no SDN, so VNets and
   * fabrics add nothing and `include_sdn` lists everything.
   */
  network(params: ParamValues): Json[] {
    const filter = params.type === undefined ? undefined : String(params.type);
    return NETWORK.filter((def) => {
      if (filter === undefined || filter === 'include_sdn') return true;
      return filter === def.type || (def.type === 'bridge' && /^any(_local)?_bridge$/.test(filter));
    }).map((def) => ({
      iface: def.iface,
      type: def.type,
      active: 1,
      autostart: 1,
      exists: def.type === 'eth' ? 1 : undefined,
      families: def.cidr ? ['inet'] : undefined,
      method: def.cidr ? 'static' : 'manual',
      method6: 'manual',
      cidr: def.cidr,
      gateway: def.gateway,
      bridge_ports: def.type === 'bridge' ? (def.bridgePorts ?? '') : undefined,
      comments: def.comments === undefined ? undefined : `${def.comments}\n`,
      priority: NETWORK.indexOf(def) + 2,
    }));
  }

  storageContent(storageId: string, params: ParamValues): Json[] {
    const def = this.state.storage(storageId);
    if (!def) throw serverError(`storage '${storageId}' does not exist`);
    // volume_list activates the storage first (pve-storage Storage.pm activate_storage).
    const unusable = this.state.storageUnusable(def);
    if (unusable) throw serverError(unusable);
    const content = params.content === undefined ? undefined : String(params.content);
    const vmid = params.vmid === undefined ? undefined : Number(params.vmid);
    const out: Json[] = [];
    if ((content === undefined || content === 'vztmpl') && def.content.includes('vztmpl') && vmid === undefined) {
      for (const t of this.state.templates) {
        if (!t.volid.startsWith(`${def.storage}:`)) continue;
        out.push({ volid: t.volid, content: 'vztmpl', format: templateFormat(t.volid), size: t.size, ctime: t.ctime });
      }
    }
    if ((content === undefined || content === 'rootdir') && def.content.includes('rootdir')) {
      for (const ct of this.sortedContainers()) {
        if (ct.rootStorage !== def.storage || (vmid !== undefined && ct.vmid !== vmid)) continue;
        out.push({
          volid: `${def.storage}:${rootVolumeName(ct)}`,
          content: 'rootdir',
          format: 'raw',
          size: ct.diskGiB * GiB,
          vmid: ct.vmid,
          ctime: Math.floor(ct.statsFrom / 1000),
        });
      }
    }
    return out;
  }

  lxcList(node: string): Json[] {
    return this.sortedContainers().filter((ct) => (ct.node ?? this.state.node) === node).map((ct) => this.vmStatus(ct));
  }

  /** With `ha` as PVE::HA::Config::get_service_status gives it (pve-ha-manager 5: no `group` any more). */
  lxcStatus(record: CtRecord): Json {
    return { ...this.vmStatus(record), ha: record.ha ? { managed: 1, state: record.ha.state } : { managed: 0 } };
  }

  /**
   * `rrddata`: one point per minute (`hour`: 70 points, `day`: 70 points of 20 minutes, as pvestatd's RRAs), the
   * invented load while the CT ran since it started; points before that carry only `time`, as on a real node.
   */
  rrdData(record: CtRecord, params: ParamValues): Json[] {
    const step = params.timeframe === 'day' ? 1200 : params.timeframe === 'week' ? 10800 : 60;
    const now = Math.floor(Date.now() / 1000 / step) * step;
    const since = record.status === 'running' && record.startedAt ? record.startedAt / 1000 : Infinity;
    const c = record.config;
    return Array.from({ length: 70 }, (_, i) => {
      const time = now - (69 - i) * step;
      if (time < since) return { time };
      return { time, cpu: invented.cpu(record.vmid, time * 1000), maxcpu: Number(c.cores ?? HOST_CPUS), mem: invented.mem(record.vmid, time * 1000), maxmem: Number(c.memory ?? 512) * MiB, disk: record.usedBytes, maxdisk: record.diskGiB * GiB, netin: 731, netout: 212, diskread: 0, diskwrite: 4096 };
    });
  }

  lxcConfig(record: CtRecord): Json {
    return configResponse(record.config, record.lock);
  }

  /** `null` while stopped (or missing); lo and link-local at once; the DHCP lease only after a delay. */
  interfaces(vmid: number): Json[] | null {
    const ct = this.state.containers.get(vmid);
    if (!ct || ct.node !== undefined || ct.status !== 'running') return null;
    const out: Json[] = [
      iface('lo', '00:00:00:00:00:00', [
        ['inet', '127.0.0.1', 8],
        ['inet6', '::1', 128],
      ]),
    ];
    const dhcpReady = !this.faults.current.dhcpNever && Date.now() - (ct.startedAt ?? 0) >= TIMING.dhcp / this.speed;
    for (const key of Object.keys(ct.config).filter((k) => /^net\d+$/.test(k)).sort()) {
      const net = Object.fromEntries(
        String(ct.config[key])
          .split(',')
          .map((p) => p.split('=') as [string, string]),
      );
      const mac = String(net.hwaddr ?? '00:00:00:00:00:00').toLowerCase();
      const addresses: [string, string, number][] = [];
      const ip = net.ip;
      if (ip && ip.includes('/')) {
        const [addr = '', prefix = '24'] = ip.split('/');
        addresses.push(['inet', addr, Number(prefix)]);
      } else if (ip === 'dhcp' && key === 'net0' && dhcpReady && ct.lease) {
        const [addr = '', prefix = '24'] = ct.lease.split('/');
        addresses.push(['inet', addr, Number(prefix)]);
      }
      if (net.ip6 && net.ip6.includes('/')) {
        const [addr = '', prefix = '64'] = net.ip6.split('/');
        addresses.push(['inet6', addr, Number(prefix)]);
      }
      addresses.push(['inet6', linkLocal(mac), 64]);
      out.push(iface(net.name ?? key, mac, addresses));
    }
    return out;
  }

  taskStatus(upid: string): Json {
    const task = this.task(upid);
    const [user, tokenid] = task.user.split('!');
    return {
      upid: task.upid,
      node: this.state.node,
      pid: task.pid,
      pstart: task.pstart,
      starttime: task.starttime,
      type: task.type,
      id: task.id,
      user,
      ...(tokenid ? { tokenid } : {}),
      status: task.status,
      ...(task.exitstatus !== undefined ? { exitstatus: task.exitstatus } : {}),
    };
  }

  /** `start` is a 0-based offset, `limit` 0 means to the end; an empty log is the fake line `no content`. */
  taskLog(upid: string, params: ParamValues): { data: Json[]; total: number } {
    const task = this.task(upid);
    const start = Number(params.start ?? 0);
    const limit = Number(params.limit ?? 50);
    if (task.lines.length === 0) return { data: [{ n: 1, t: 'no content' }], total: 1 };
    const slice = task.lines.slice(start, limit === 0 ? undefined : start + limit);
    return { data: slice.map((t, i) => ({ n: start + i + 1, t })), total: task.lines.length };
  }

  tasks(params: ParamValues): Json[] {
    const source = String(params.source ?? 'archive');
    const start = Number(params.start ?? 0);
    const limit = Number(params.limit ?? 50);
    const vmid = params.vmid === undefined ? undefined : String(params.vmid);
    const list = [...this.state.tasks.values()]
      .filter((t) => (source === 'active' ? t.status === 'running' : source === 'archive' ? t.status === 'stopped' : true))
      .filter((t) => vmid === undefined || t.id === vmid)
      .filter((t) => params.typefilter === undefined || t.type === params.typefilter)
      .filter((t) => params.since === undefined || t.starttime >= Number(params.since))
      .filter((t) => params.until === undefined || t.starttime <= Number(params.until))
      .filter((t) => params.errors !== 1 || (t.exitstatus !== undefined && t.exitstatus !== 'OK'))
      .sort((a, b) => b.starttime - a.starttime || b.pid - a.pid);
    return list.slice(start, start + limit).map((t) => ({
      upid: t.upid,
      node: this.state.node,
      pid: t.pid,
      pstart: t.pstart,
      starttime: t.starttime,
      type: t.type,
      id: t.id,
      user: t.user,
      ...(t.endtime !== undefined ? { endtime: t.endtime, status: t.exitstatus } : {}),
    }));
  }

  /** The task, or the 400s Proxmox answers for a malformed or unknown UPID. */
  task(upid: string): TaskRecord {
    const parsed = parseUpid(upid);
    if (!parsed) throw parameterError({ upid: 'unable to parse worker upid' });
    const task = this.state.tasks.get(upid);
    if (!task || parsed.node !== this.state.node) throw parameterError({ upid: 'no such task' });
    return task;
  }

  // --- helpers -------------------------------------------------------------------------------------------------

  private vmStatus(ct: CtRecord): Json {
    const running = ct.status === 'running';
    const c = ct.config;
    const uptime = running ? Math.floor((Date.now() - (ct.startedAt ?? Date.now())) / 1000) : 0;
    return {
      vmid: ct.vmid,
      type: 'lxc',
      status: ct.status,
      name: String(c.hostname ?? `CT${ct.vmid}`).trim(),
      cpus: Number(c.cores ?? HOST_CPUS),
      maxmem: Number(c.memory ?? 512) * MiB,
      maxswap: Number(c.swap ?? 512) * MiB,
      maxdisk: ct.diskGiB * GiB,
      disk: running ? ct.usedBytes : 0,
      mem: running ? invented.mem(ct.vmid, Date.now()) : 0,
      swap: 0,
      cpu: running ? invented.cpu(ct.vmid, Date.now()) : 0,
      uptime,
      netin: running ? uptime * 731 : 0,
      netout: running ? uptime * 212 : 0,
      diskread: running ? 48 * MiB : 0,
      diskwrite: running ? uptime * 4096 : 0,
      ...(running ? { pid: ct.pid } : {}),
      ...(ct.lock ? { lock: ct.lock } : {}),
      ...(c.tags !== undefined ? { tags: c.tags } : {}),
      // pve-container's vmstatus sets it only for a template.
      ...(isTemplate(ct) ? { template: 1 } : {}),
      ...(running ? { pressurecpusome: 0, pressureiosome: 0, pressurememorysome: 0 } : {}),
    };
  }

  private resourceEntry(ct: CtRecord): Json {
    const base = { id: `lxc/${ct.vmid}`, type: 'lxc', vmid: ct.vmid, node: ct.node ?? this.state.node, ...(ct.ha ? { hastate: ct.ha.state } : {}) };
    // Until pvestatd's first sample the guest is listed, but with no stats and no name.
    const template = isTemplate(ct) ? 1 : 0;
    if (Date.now() < ct.statsFrom) return { ...base, status: 'unknown', template };
    const s = this.vmStatus(ct);
    return {
      ...base,
      status: s.status,
      name: s.name,
      uptime: s.uptime,
      cpu: s.cpu,
      maxcpu: s.cpus,
      mem: s.mem,
      maxmem: s.maxmem,
      disk: s.disk,
      maxdisk: s.maxdisk,
      netin: s.netin,
      netout: s.netout,
      diskread: s.diskread,
      diskwrite: s.diskwrite,
      template,
      ...(ct.lock ? { lock: ct.lock } : {}),
      ...(ct.config.tags !== undefined ? { tags: ct.config.tags } : {}),
    };
  }

  private nodeEntry(): Json {
    return {
      id: `node/${this.state.node}`,
      type: 'node',
      node: this.state.node,
      status: 'online',
      cpu: 0.031,
      maxcpu: HOST_CPUS,
      mem: this.usedMemory(),
      maxmem: HOST_MEM,
      disk: 9 * GiB,
      maxdisk: 94 * GiB,
      uptime: this.uptime(),
      level: '',
      ssl_fingerprint: this.tlsFingerprint,
    };
  }

  private storageEntry(def: StorageDef): Json {
    const entry = {
      storage: def.storage,
      type: def.type,
      content: def.content.join(','),
      enabled: !def.nodes || def.nodes.includes(this.state.node) ? 1 : 0,
      active: 0,
      shared: def.shared ? 1 : 0,
      total: 0,
      used: 0,
      avail: 0,
    };
    if (this.state.storageUnusable(def)) return entry;
    const used = this.state.storageUsed(def);
    return { ...entry, active: 1, total: def.total, used, avail: def.total - used, used_fraction: used / def.total };
  }

  private sortedContainers(): CtRecord[] {
    return [...this.state.containers.values()].sort((a, b) => a.vmid - b.vmid);
  }

  private usedMemory(): number {
    let used = 2.1 * GiB;
    for (const ct of this.state.containers.values()) if (ct.status === 'running') used += 40 * MiB;
    return Math.round(used);
  }

  private uptime(): number {
    return Math.floor((Date.now() - this.state.bootTime) / 1000);
  }
}

function templateFormat(volid: string): string {
  if (volid.endsWith('.tar.zst')) return 'tzst';
  if (volid.endsWith('.tar.xz')) return 'txz';
  if (volid.endsWith('.tar.gz') || volid.endsWith('.tgz')) return 'tgz';
  if (volid.endsWith('.tar.bz2')) return 'tbz2';
  return 'tar';
}

function iface(name: string, mac: string, addresses: [string, string, number][]): Json {
  const last = (family: string) => {
    const found = addresses.filter(([f]) => f === family).at(-1);
    return found ? { [family]: `${found[1]}/${found[2]}` } : {};
  };
  return {
    name,
    hwaddr: mac,
    'hardware-address': mac,
    ...last('inet'),
    ...last('inet6'),
    'ip-addresses': addresses.map(([type, address, prefix]) => ({ 'ip-address-type': type, 'ip-address': address, prefix })),
  };
}

/** fe80:: address from the MAC (modified EUI-64), as the kernel assigns it. */
function linkLocal(mac: string): string {
  const b = mac.split(':').map((h) => parseInt(h, 16));
  const bytes = [(b[0] ?? 0) ^ 0x02, b[1] ?? 0, b[2] ?? 0, 0xff, 0xfe, b[3] ?? 0, b[4] ?? 0, b[5] ?? 0];
  const groups = [0, 2, 4, 6].map((i) => ((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return `fe80::${groups.join(':')}`;
}

/** A guest this node does not host (a QEMU VM, or a CT on another node), as cluster/resources lists it: running. */
function otherGuestEntry(guest: OtherGuest): Json {
  return {
    id: `${guest.type}/${guest.vmid}`, type: guest.type, vmid: guest.vmid, node: guest.node, status: 'running', name: guest.name,
    template: 0, uptime: 86_400, cpu: 0.02, maxcpu: 2, mem: GiB, maxmem: 2 * GiB, disk: 0, maxdisk: 32 * GiB,
  };
}
