// The Proxmox VE REST client: API-token auth, TLS pinned by certificate fingerprint, typed errors, retries for
// idempotent reads only. Every call maps to one endpoint of reference/pve-api-schema-subset.json; results are
// normalised (see api-types.ts). Create/start/stop/delete POSTs are never retried here: a 596 or a reset can
// mean the node did the work, so the caller checks the real state before trying again.
import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  ClusterVmResource,
  LxcAddress,
  LxcConfig,
  LxcCreateOptions,
  LxcInterface,
  LxcNetworkConfig,
  LxcRrdPoint,
  LxcStatus,
  PveBridge,
  PveLoginCheck,
  PveNode,
  PveNodeStatus,
  PveRealm,
  PveStorage,
  PveVersion,
  StorageVolume,
  TaskLogPage,
  TaskStatus,
} from './api-types.ts';
import {
  ProxmoxApiError,
  ProxmoxAuthError,
  ProxmoxConnectionError,
  ProxmoxError,
  ProxmoxNotImplementedError,
  ProxmoxParameterError,
  ProxmoxPermissionError,
  ProxmoxTransientError,
} from './errors.ts';
import { PinnedHttpsAgent } from './tls.ts';
import { parseUpid } from './upid.ts';

export interface ProxmoxConnection {
  /** `https://host:8006` (a trailing `/api2/json` is accepted too). */
  apiUrl: string;
  /** `USER@REALM!TOKENID`. */
  tokenId: string;
  tokenSecret: string;
  /** Pinned SHA-256 fingerprint of the node's API certificate. */
  tlsFingerprint: string;
}

export interface ProxmoxClientOptions extends ProxmoxConnection {
  /** Per request, from sending to the last body byte. Default 30 s (pveproxy's own proxy timeout). */
  requestTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Idempotent calls: total attempts and the first backoff delay (doubled each time, ±25 % jitter). */
  retry?: { attempts?: number; baseDelayMs?: number };
  /** Free keep-alive sockets are dropped after this; pveproxy closes idle connections after 5 s. Default 3 s. */
  keepAliveIdleMs?: number;
  /** Observes each HTTP exchange (no parameters: they may hold secrets). */
  onExchange?: (exchange: { method: string; path: string; status: number | undefined; attempt: number; ms: number }) => void;
}

type ParamValue = string | number | boolean | undefined;
type Params = Record<string, ParamValue>;
type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

interface Envelope {
  data: unknown;
  total?: number;
}

export class ProxmoxClient {
  readonly apiUrl: string;
  private readonly base: URL;
  private readonly authorization: string;
  private readonly agent: PinnedHttpsAgent;
  private readonly requestTimeoutMs: number;
  private readonly attempts: number;
  private readonly baseDelayMs: number;
  private readonly onExchange: ProxmoxClientOptions['onExchange'];

  constructor(options: ProxmoxClientOptions) {
    const url = new URL(options.apiUrl);
    if (url.protocol !== 'https:') throw new Error('The Proxmox API URL must start with https://');
    this.apiUrl = url.origin;
    this.base = new URL('/api2/json/', url.origin);
    this.authorization = `PVEAPIToken=${options.tokenId}=${options.tokenSecret}`;
    this.agent = new PinnedHttpsAgent({
      fingerprint: options.tlsFingerprint,
      apiUrl: this.apiUrl,
      keepAliveIdleMs: options.keepAliveIdleMs,
      connectTimeoutMs: options.connectTimeoutMs,
    });
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.attempts = Math.max(1, options.retry?.attempts ?? 4);
    this.baseDelayMs = options.retry?.baseDelayMs ?? 250;
    this.onExchange = options.onExchange;
  }

  /** Closes idle keep-alive sockets. */
  close(): void {
    this.agent.destroy();
  }

  // --- access ------------------------------------------------------------------------------------------------

  /** The realms a person may sign in with (no auth needed; the token is sent anyway and accepted). */
  async listRealms(): Promise<PveRealm[]> {
    return list(await this.get('/access/domains')).map((d) => ({
      realm: str(d.realm),
      type: str(d.type),
      comment: optStr(d.comment),
      tfa: d.tfa === 'yubico' || d.tfa === 'oath' ? d.tfa : undefined,
    }));
  }

  /**
   * Checks a Proxmox VE user's password with `POST /access/ticket`, sent without the API token (the endpoint refuses
   * tokens). Proxmox's answer names the canonical `user@realm`; the ticket and CSRF token in it are dropped here.
   * Not retried: every failed attempt counts against the user on the node.
   */
  async checkLogin(input: { username: string; realm: string; password: string }): Promise<PveLoginCheck> {
    try {
      const d = obj((await this.call('POST', '/access/ticket', { username: input.username, realm: input.realm, password: input.password }, false, false)).data);
      if (num(d.NeedTFA) === 1) return { ok: false, reason: 'needs-tfa' };
      return { ok: true, userid: str(d.username) };
    } catch (err) {
      if (err instanceof ProxmoxAuthError) return { ok: false, reason: 'wrong' };
      throw err;
    }
  }

  // --- cluster and nodes -------------------------------------------------------------------------------------

  async getVersion(): Promise<PveVersion> {
    const d = obj(await this.get('/version'));
    return { version: str(d.version), release: str(d.release), repoid: str(d.repoid) };
  }

  async listNodes(): Promise<PveNode[]> {
    return list(await this.get('/nodes')).map((n) => ({
      node: str(n.node),
      status: (str(n.status) || 'unknown') as PveNode['status'],
      cpu: optNum(n.cpu),
      maxcpu: optNum(n.maxcpu),
      mem: optNum(n.mem),
      maxmem: optNum(n.maxmem),
      uptime: optNum(n.uptime),
      sslFingerprint: optStr(n.ssl_fingerprint),
    }));
  }

  async getNodeStatus(node: string): Promise<PveNodeStatus> {
    const d = obj(await this.get(path`/nodes/${node}/status`));
    const memory = obj(d.memory);
    const rootfs = obj(d.rootfs);
    const cpuinfo = obj(d.cpuinfo);
    return {
      uptime: num(d.uptime),
      cpu: num(d.cpu),
      loadavg: Array.isArray(d.loadavg) ? d.loadavg.map(num) : [],
      memory: { total: num(memory.total), used: num(memory.used), free: num(memory.free) },
      rootfs: { total: num(rootfs.total), used: num(rootfs.used), avail: num(rootfs.avail) },
      cpuinfo: { cores: num(cpuinfo.cores), cpus: num(cpuinfo.cpus), sockets: num(cpuinfo.sockets), model: str(cpuinfo.model) },
      pveversion: str(d.pveversion),
      kversion: str(d.kversion),
    };
  }

  /** The lowest free VMID (Proxmox returns it as a string). Not a reservation: a parallel creator can take it. */
  async nextId(): Promise<number> {
    return num(await this.get('/cluster/nextid'));
  }

  /** Whether `vmid` is free right now (`?vmid=` answers 400 `VM N already exists` when taken). */
  async isVmidFree(vmid: number): Promise<boolean> {
    try {
      await this.get('/cluster/nextid', { vmid });
      return true;
    } catch (err) {
      if (err instanceof ProxmoxParameterError && /already exists/.test(err.errors.vmid ?? '')) return false;
      throw err;
    }
  }

  /** All guests of the cluster in one call (what list pages merge with the database). */
  async listClusterVms(): Promise<ClusterVmResource[]> {
    return list(await this.get('/cluster/resources', { type: 'vm' })).map((r) => ({
      id: str(r.id),
      type: str(r.type) as ClusterVmResource['type'],
      vmid: num(r.vmid),
      node: str(r.node),
      status: str(r.status) || 'unknown',
      name: optStr(r.name),
      uptime: optNum(r.uptime),
      cpu: optNum(r.cpu),
      maxcpu: optNum(r.maxcpu),
      mem: optNum(r.mem),
      maxmem: optNum(r.maxmem),
      disk: optNum(r.disk),
      maxdisk: optNum(r.maxdisk),
      template: bool(r.template),
      lock: optStr(r.lock),
      tags: tagList(r.tags),
    }));
  }

  /**
   * The bridges a container's network device may use, sorted by name: `type=any_bridge` is what the Proxmox GUI's
   * bridge selector asks for (Linux and OVS bridges, plus SDN VNets the token may use).
   */
  async listBridges(node: string): Promise<PveBridge[]> {
    return list(await this.get(path`/nodes/${node}/network`, { type: 'any_bridge' }))
      .map((n) => ({ iface: str(n.iface), type: str(n.type), active: bool(n.active), comments: optStr(n.comments)?.trim() || undefined }))
      .sort((a, b) => a.iface.localeCompare(b.iface));
  }

  // --- storage -----------------------------------------------------------------------------------------------

  /** Storages of a node; `content: 'rootdir'` for CT disks, `'vztmpl'` for OS templates. */
  async listStorages(node: string, filter: { content?: string; enabled?: boolean } = {}): Promise<PveStorage[]> {
    const rows = list(await this.get(path`/nodes/${node}/storage`, { content: filter.content, enabled: filter.enabled }));
    return rows.map((s) => ({
      storage: str(s.storage),
      type: str(s.type),
      content: str(s.content).split(',').filter(Boolean),
      enabled: s.enabled === undefined ? true : bool(s.enabled),
      active: bool(s.active),
      shared: bool(s.shared),
      total: optNum(s.total),
      used: optNum(s.used),
      avail: optNum(s.avail),
    }));
  }

  async listStorageContent(node: string, storage: string, content = 'vztmpl'): Promise<StorageVolume[]> {
    const rows = list(await this.get(path`/nodes/${node}/storage/${storage}/content`, { content }));
    return rows.map((v) => ({
      volid: str(v.volid),
      content: str(v.content),
      format: str(v.format),
      size: num(v.size),
      ctime: optNum(v.ctime),
      vmid: optNum(v.vmid),
    }));
  }

  /**
   * Every downloaded OS template on the node, across all storages that hold `vztmpl` and are active: a share whose
   * server is down is listed `active: 0`, and asking it for its contents would fail the whole list (a 500
   * `storage 'x' is not online` from pve-storage's activate_storage).
   */
  async listOsTemplates(node: string): Promise<StorageVolume[]> {
    const storages = (await this.listStorages(node, { content: 'vztmpl', enabled: true })).filter((s) => s.active);
    const volumes = await Promise.all(storages.map((s) => this.listStorageContent(node, s.storage, 'vztmpl')));
    return volumes.flat().sort((a, b) => a.volid.localeCompare(b.volid));
  }

  // --- containers --------------------------------------------------------------------------------------------

  /** Starts a `vzcreate` task and returns its UPID. Never retried (see the file comment). */
  async createLxc(node: string, options: LxcCreateOptions): Promise<string> {
    return str(await this.send('POST', path`/nodes/${node}/lxc`, lxcCreateParams(options)));
  }

  async listLxc(node: string): Promise<LxcStatus[]> {
    return list(await this.get(path`/nodes/${node}/lxc`)).map(toLxcStatus).sort((a, b) => a.vmid - b.vmid);
  }

  async getLxcConfig(node: string, vmid: number): Promise<LxcConfig> {
    const raw = obj(await this.get(path`/nodes/${node}/lxc/${vmid}/config`));
    const net: Record<string, string> = {};
    for (const [key, value] of Object.entries(raw)) if (/^net\d+$/.test(key)) net[key] = str(value);
    return {
      digest: str(raw.digest),
      lock: optStr(raw.lock),
      hostname: optStr(raw.hostname),
      ostype: optStr(raw.ostype),
      arch: optStr(raw.arch),
      cores: optNum(raw.cores),
      memory: optNum(raw.memory),
      swap: optNum(raw.swap),
      rootfs: optStr(raw.rootfs),
      net,
      features: optStr(raw.features),
      unprivileged: bool(raw.unprivileged),
      onboot: bool(raw.onboot),
      protection: bool(raw.protection),
      tags: tagList(raw.tags),
      nameserver: optStr(raw.nameserver),
      searchdomain: optStr(raw.searchdomain),
      description: optStr(raw.description),
      raw,
    };
  }

  /**
   * PUT …/config (synchronous, no task). `digest` refuses the change if the config changed since it was read.
   * Only the keys Launchpad changes: tags and description. No tags at all is sent as `delete=tags` (Proxmox refuses
   * an empty tag list).
   */
  async updateLxcConfig(node: string, vmid: number, changes: { tags?: string[]; description?: string; digest?: string }): Promise<void> {
    const noTags = changes.tags !== undefined && changes.tags.length === 0;
    await this.send('PUT', path`/nodes/${node}/lxc/${vmid}/config`, {
      tags: noTags ? undefined : changes.tags?.join(';'),
      delete: noTags ? 'tags' : undefined,
      description: changes.description,
      digest: changes.digest,
    });
  }

  /** The node's RRD statistics of one CT: one point per minute over the last ~70 minutes for `hour`. */
  async getLxcRrdData(node: string, vmid: number, timeframe: 'hour' | 'day' = 'hour'): Promise<LxcRrdPoint[]> {
    return list(await this.get(path`/nodes/${node}/lxc/${vmid}/rrddata`, { timeframe, cf: 'AVERAGE' })).map((d) => ({
      time: num(d.time),
      cpu: optNum(d.cpu),
      mem: optNum(d.mem),
      maxmem: optNum(d.maxmem),
    }));
  }

  async getLxcStatus(node: string, vmid: number): Promise<LxcStatus> {
    return toLxcStatus(obj(await this.get(path`/nodes/${node}/lxc/${vmid}/status/current`)));
  }

  /** Returns the `vzstart` UPID; 500 `CT N already running` if it is. */
  async startLxc(node: string, vmid: number): Promise<string> {
    return str(await this.send('POST', path`/nodes/${node}/lxc/${vmid}/status/start`));
  }

  /** Hard stop (`vzstop`). */
  async stopLxc(node: string, vmid: number): Promise<string> {
    return str(await this.send('POST', path`/nodes/${node}/lxc/${vmid}/status/stop`));
  }

  /** Clean shutdown (`vzshutdown`); with forceStop the CT is killed after `timeout` seconds. */
  async shutdownLxc(node: string, vmid: number, options: { timeout?: number; forceStop?: boolean } = {}): Promise<string> {
    return str(await this.send('POST', path`/nodes/${node}/lxc/${vmid}/status/shutdown`, options));
  }

  async rebootLxc(node: string, vmid: number, options: { timeout?: number } = {}): Promise<string> {
    return str(await this.send('POST', path`/nodes/${node}/lxc/${vmid}/status/reboot`, options));
  }

  /** Starts a `vzdestroy` task. `purge` also removes the CT from backup/replication/HA configuration. */
  async deleteLxc(
    node: string,
    vmid: number,
    options: { purge?: boolean; force?: boolean; destroyUnreferencedDisks?: boolean } = {},
  ): Promise<string> {
    return str(
      await this.send('DELETE', path`/nodes/${node}/lxc/${vmid}`, {
        purge: options.purge,
        force: options.force,
        'destroy-unreferenced-disks': options.destroyUnreferencedDisks,
      }),
    );
  }

  /** The CT's interfaces, or null while it is stopped (Proxmox answers `data: null`, not an error). */
  async getLxcInterfaces(node: string, vmid: number): Promise<LxcInterface[] | null> {
    const data = await this.get(path`/nodes/${node}/lxc/${vmid}/interfaces`);
    if (data === null || data === undefined) return null;
    return list(data).map(toLxcInterface);
  }

  // --- tasks (the node is part of the UPID) --------------------------------------------------------------------

  async getTaskStatus(upid: string): Promise<TaskStatus> {
    const d = obj(await this.get(path`/nodes/${upidNode(upid)}/tasks/${upid}/status`));
    return {
      upid: str(d.upid),
      node: str(d.node),
      type: str(d.type),
      id: str(d.id),
      user: str(d.user),
      tokenid: optStr(d.tokenid),
      pid: num(d.pid),
      starttime: num(d.starttime),
      status: str(d.status) === 'stopped' ? 'stopped' : 'running',
      exitstatus: optStr(d.exitstatus),
    };
  }

  /**
   * UPIDs of the node's tasks of one type for one guest, started at or after `since` (Unix seconds), newest first:
   * finds a task whose UPID the caller never got to store (the process died as the node answered).
   */
  async findTasks(node: string, filter: { vmid: number; type: string; since: number }): Promise<string[]> {
    const data = await this.get(path`/nodes/${node}/tasks`, { vmid: filter.vmid, typefilter: filter.type, since: filter.since, source: 'all' });
    return list(data).map((t) => str(t.upid));
  }

  /** Log lines from the 0-based offset `start` (so the first line returned is n = start + 1). */
  async getTaskLog(upid: string, options: { start?: number; limit?: number } = {}): Promise<TaskLogPage> {
    const { data, total } = await this.call(
      'GET',
      path`/nodes/${upidNode(upid)}/tasks/${upid}/log`,
      { start: options.start ?? 0, limit: options.limit ?? 500 },
      true,
    );
    const lines = list(data).map((l) => ({ n: num(l.n), t: str(l.t) }));
    return { lines, total: total ?? lines.length };
  }

  /** Asks the node to kill the task; it then ends with `received interrupt`. Safe to repeat. */
  async stopTask(upid: string): Promise<void> {
    await this.call('DELETE', path`/nodes/${upidNode(upid)}/tasks/${upid}`, {}, true);
  }

  // --- transport -----------------------------------------------------------------------------------------------

  private async get(apiPath: string, params: Params = {}): Promise<unknown> {
    return (await this.call('GET', apiPath, params, true)).data;
  }

  private async send(method: Method, apiPath: string, params: Params = {}): Promise<unknown> {
    return (await this.call(method, apiPath, params, false)).data;
  }

  private async call(method: Method, apiPath: string, params: Params, idempotent: boolean, withToken = true): Promise<Envelope> {
    for (let attempt = 1; ; attempt++) {
      const started = Date.now();
      let status: number | undefined;
      try {
        const response = await this.exchange(method, apiPath, params, withToken);
        status = response.status;
        return response.envelope;
      } catch (err) {
        if (err instanceof ProxmoxError) status = err.status;
        const retry = idempotent && err instanceof ProxmoxError && err.transient && attempt < this.attempts;
        if (!retry) throw err;
        const delay = this.baseDelayMs * 2 ** (attempt - 1);
        await sleep(delay * (0.75 + Math.random() * 0.5));
      } finally {
        this.onExchange?.({ method, path: apiPath, status, attempt, ms: Date.now() - started });
      }
    }
  }

  private exchange(method: Method, apiPath: string, params: Params, withToken: boolean): Promise<{ status: number; envelope: Envelope }> {
    const url = new URL(apiPath.replace(/^\//, ''), this.base);
    const form = encodeParams(params);
    const hasBody = method === 'POST' || method === 'PUT';
    if (!hasBody && form.size > 0) url.search = form.toString();
    const body = hasBody ? form.toString() : undefined;
    const headers: Record<string, string> = { Accept: 'application/json', ...(withToken ? { Authorization: this.authorization } : {}) };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
      headers['Content-Length'] = String(Buffer.byteLength(body));
    }

    return new Promise((resolve, reject) => {
      const req = https.request(url, { method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err: NodeJS.ErrnoException) => reject(new ProxmoxConnectionError(this.apiUrl, err.code, err)));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            resolve({ status, envelope: parseResponse(status, res.statusMessage ?? '', text) });
          } catch (err) {
            reject(err);
          }
        });
      });
      req.setTimeout(this.requestTimeoutMs, () => {
        req.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' }));
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        reject(err instanceof ProxmoxError ? err : new ProxmoxConnectionError(this.apiUrl, err.code, err));
      });
      req.end(body);
    });
  }
}

/** Builds the form parameters of `POST /nodes/{node}/lxc`, in the exact formats Proxmox validates. */
export function lxcCreateParams(o: LxcCreateOptions): Record<string, string | number> {
  const params: Params = {
    vmid: o.vmid,
    ostemplate: o.ostemplate,
    hostname: o.hostname,
    password: o.password,
    'ssh-public-keys': o.sshPublicKeys?.trim() || undefined,
    rootfs: o.rootfs ? `${o.rootfs.storage}:${o.rootfs.sizeGiB}` : undefined,
    cores: o.cores,
    memory: o.memory,
    swap: o.swap,
    cpulimit: o.cpulimit,
    nameserver: o.nameserver,
    searchdomain: o.searchdomain,
    unprivileged: o.unprivileged,
    features: o.features ? formatFeatures(o.features) : undefined,
    tags: o.tags && o.tags.length > 0 ? o.tags.join(';') : undefined,
    onboot: o.onboot,
    start: o.start,
    description: o.description,
    timezone: o.timezone,
  };
  o.net?.forEach((n, i) => {
    params[`net${i}`] = formatNetConfig(n);
  });
  return Object.fromEntries(encodeParams(params));
}

/** `name=eth0,bridge=vmbr0,ip=dhcp` — keys in Proxmox's order (name first). */
export function formatNetConfig(n: LxcNetworkConfig): string {
  const parts: [string, ParamValue][] = [
    ['name', n.name],
    ['bridge', n.bridge],
    ['firewall', n.firewall],
    ['gw', n.gw],
    ['gw6', n.gw6],
    ['hwaddr', n.hwaddr],
    ['ip', n.ip],
    ['ip6', n.ip6],
    ['mtu', n.mtu],
    ['tag', n.tag],
  ];
  return parts
    .flatMap(([k, v]) => (v === undefined || v === '' ? [] : [`${k}=${wire(v)}`]))
    .join(',');
}

function formatFeatures(f: NonNullable<LxcCreateOptions['features']>): string | undefined {
  const parts = (['fuse', 'keyctl', 'nesting'] as const).filter((k) => f[k] !== undefined).map((k) => `${k}=${f[k] ? 1 : 0}`);
  return parts.length > 0 ? parts.join(',') : undefined;
}

/** Splits a property string (`name=eth0,bridge=vmbr0,ip=dhcp`) into its keys; a bare first part becomes `volume`. */
export function parsePropertyString(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of value.split(',')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    if (eq === -1) out.volume = part;
    else out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

/** The CT's first global IPv4 address (not loopback, not link-local), or undefined while it has none. */
export function findIpv4(interfaces: readonly LxcInterface[] | null): string | undefined {
  for (const iface of interfaces ?? []) {
    if (iface.name === 'lo') continue;
    const v4 = iface.addresses.find((a) => a.family === 'inet' && !a.address.startsWith('127.') && !a.address.startsWith('169.254.'));
    if (v4) return v4.address;
  }
  return undefined;
}

// --- response decoding ---------------------------------------------------------------------------------------

function parseResponse(status: number, reason: string, text: string): Envelope {
  let body: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = text ? JSON.parse(text) : undefined;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
  } catch {
    body = undefined;
  }
  if (status >= 200 && status < 300) {
    if (!body) throw new ProxmoxApiError(`Proxmox sent an unreadable answer (HTTP ${status})`, { status });
    return { data: body.data, total: typeof body.total === 'number' ? body.total : undefined };
  }
  // PVE ≥ 8.4 repeats the full error text in `message`; older versions only have the (first-line) reason phrase.
  const detail = (typeof body?.message === 'string' ? body.message : reason).trim() || `HTTP ${status}`;
  if (status === 400) {
    const errors = body?.errors && typeof body.errors === 'object' ? (body.errors as Record<string, unknown>) : {};
    return throwing(new ProxmoxParameterError(reason || detail, Object.fromEntries(Object.entries(errors).map(([k, v]) => [k, String(v)]))));
  }
  if (status === 401) return throwing(new ProxmoxAuthError(detail));
  if (status === 403) return throwing(new ProxmoxPermissionError(detail));
  if (status === 501) return throwing(new ProxmoxNotImplementedError(detail));
  if ((status >= 595 && status <= 599) || status === 502 || status === 503 || status === 504) {
    return throwing(new ProxmoxTransientError(status, reason || detail));
  }
  return throwing(new ProxmoxApiError(detail.split('\n')[0] ?? detail, { status, detail }));
}

function throwing(err: Error): never {
  throw err;
}

function toLxcStatus(d: Record<string, unknown>): LxcStatus {
  return {
    vmid: num(d.vmid),
    status: str(d.status) === 'running' ? 'running' : 'stopped',
    name: str(d.name) || `CT${str(d.vmid)}`,
    lock: optStr(d.lock),
    uptime: optNum(d.uptime) ?? 0,
    cpus: optNum(d.cpus),
    maxmem: optNum(d.maxmem),
    mem: optNum(d.mem),
    maxdisk: optNum(d.maxdisk),
    disk: optNum(d.disk),
    maxswap: optNum(d.maxswap),
    swap: optNum(d.swap),
    cpu: optNum(d.cpu),
    netin: optNum(d.netin),
    netout: optNum(d.netout),
    pid: optNum(d.pid),
    tags: tagList(d.tags),
    template: bool(d.template),
    ha: d.ha === undefined ? undefined : { managed: bool(obj(d.ha).managed), state: optStr(obj(d.ha).state) },
  };
}

function toLxcInterface(d: Record<string, unknown>): LxcInterface {
  let addresses: LxcAddress[];
  if (Array.isArray(d['ip-addresses'])) {
    addresses = (d['ip-addresses'] as Record<string, unknown>[]).map((a) => ({
      family: str(a['ip-address-type']) === 'inet6' ? 'inet6' : 'inet',
      address: str(a['ip-address']),
      prefix: num(a.prefix),
    }));
  } else {
    // Before PVE 8.4 only the last address of each family was reported, as `inet` / `inet6` CIDR strings.
    addresses = (['inet', 'inet6'] as const).flatMap((family) => {
      const cidr = optStr(d[family]);
      if (!cidr) return [];
      const [address = '', prefix = '0'] = cidr.split('/');
      return [{ family, address, prefix: Number(prefix) }];
    });
  }
  return { name: str(d.name), hwaddr: str(d.hwaddr ?? d['hardware-address']).toLowerCase(), addresses };
}

// --- small coercions: Proxmox mixes numbers, numeric strings and 0/1 flags ----------------------------------------

function obj(v: unknown): Record<string, unknown> {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function list(v: unknown): Record<string, unknown>[] {
  return Array.isArray(v) ? v.map(obj) : [];
}

function str(v: unknown): string {
  return v === undefined || v === null ? '' : String(v);
}

function optStr(v: unknown): string | undefined {
  return v === undefined || v === null || v === '' ? undefined : String(v);
}

function num(v: unknown): number {
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : 0;
}

function optNum(v: unknown): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

function bool(v: unknown): boolean {
  return v === true || v === 1 || v === '1';
}

function tagList(v: unknown): string[] {
  return typeof v === 'string' ? v.split(/[;,\s]+/).filter(Boolean) : [];
}

/** Proxmox wants booleans as 0/1 (`true` fails `type check ('boolean')`). */
function wire(v: Exclude<ParamValue, undefined>): string {
  return typeof v === 'boolean' ? (v ? '1' : '0') : String(v);
}

function encodeParams(params: Params): URLSearchParams {
  const form = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined) form.set(key, wire(value));
  return form;
}

/** Tagged template that percent-encodes each interpolated path segment (UPIDs contain `:` `@` `!`). */
function path(strings: TemplateStringsArray, ...values: (string | number)[]): string {
  return strings.reduce((acc, s, i) => acc + s + (i < values.length ? encodeURIComponent(String(values[i])) : ''), '');
}

function upidNode(upid: string): string {
  const parsed = parseUpid(upid);
  if (!parsed) throw new ProxmoxParameterError('Parameter verification failed.', { upid: 'unable to parse worker upid' });
  return parsed.node;
}
