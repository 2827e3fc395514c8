// Fault switches for the simulated node, set by tests (or a developer) to make the failures users meet on real
// clusters happen on demand. Node-wide switches stay on until reset; request faults fire a given number of times.

export interface NodeFaults {
  /** vzcreate fails at lvcreate with LVM's "insufficient free space". */
  storageFull: boolean;
  /** vzcreate fails with `can't find file '<volid>'` whatever template is asked for. */
  missingTemplate: boolean;
  /** vzcreate/vzstart wait for the config lock and fail with `can't lock file … - got timeout`. */
  lockTimeout: boolean;
  /**
   * vzstart (and create with start=1) fails with `startup for container 'N' failed` — also the HA stack's, which puts
   * an HA resource in the `error` state.
   */
  startFailure: boolean;
  /** Started CTs keep only lo + a link-local IPv6 address: no DHCP lease ever arrives. */
  dhcpNever: boolean;
  /** Template extraction runs at a crawl (slow disk / busy storage). */
  slowStorage: boolean;
  /** Error bodies without `message`, as PVE before 8.4 sent them. */
  legacyErrorBodies: boolean;
  /** The API drops every request's connection without an answer, as a node that went down or was firewalled. */
  unreachable: boolean;
  /** Web services of host-mode CTs answer HTTP 502 (a proxy whose backend is gone) to the node's health check. */
  serviceErrors: boolean;
  /**
   * Answer as an older Proxmox VE release, e.g. `8.0.4` or `7.4-17`: /version and the node status report it,
   * endpoints that release did not have yet (api-routes.ts ROUTES_SINCE) answer 501 like an unknown path, and before
   * 8.4 error bodies have no `message` (as with legacyErrorBodies).
   */
  pveVersion: string | undefined;
  /**
   * ACL entries the API token lacks, as `<path>, <privilege>` (e.g. `/storage/local-lvm, Datastore.AllocateSpace`): a
   * privilege-separated token without them. The create's checks that need one answer 403 as RPCEnvironment's check does.
   */
  deniedPrivileges: string[];
}

export interface RequestFault {
  method: string;
  path: RegExp;
  status: number;
  remaining: number;
}

/** Whether `version` (e.g. `8.0.4`, `7.4-17`; undefined = the current release) is older than `major.minor`. */
export function isOlderRelease(version: string | undefined, [major, minor]: readonly [number, number]): boolean {
  const running = version === undefined ? undefined : /^(\d+)\.(\d+)/.exec(version);
  if (!running) return false;
  const [runningMajor, runningMinor] = [Number(running[1]), Number(running[2])];
  return runningMajor < major || (runningMajor === major && runningMinor < minor);
}

const REASONS: Record<number, string> = {
  595: 'Connection refused',
  596: 'Connection timed out',
  597: 'Connection reset by peer',
  598: 'Broken pipe',
  599: 'Too many redirections',
};

const NONE: NodeFaults = {
  storageFull: false,
  missingTemplate: false,
  lockTimeout: false,
  startFailure: false,
  dhcpNever: false,
  slowStorage: false,
  legacyErrorBodies: false,
  unreachable: false,
  serviceErrors: false,
  pveVersion: undefined,
  deniedPrivileges: [],
};

export class SimulatorFaults {
  private node: NodeFaults = { ...NONE };
  private readonly requestFaults: RequestFault[] = [];

  /** Turns node-wide faults on or off, e.g. `faults.set({ storageFull: true })`. */
  set(changes: Partial<NodeFaults>): void {
    this.node = { ...this.node, ...changes };
  }

  get current(): Readonly<NodeFaults> {
    return this.node;
  }

  /** Clears every switch and pending request fault. */
  reset(): void {
    this.node = { ...NONE };
    this.requestFaults.length = 0;
  }

  /**
   * The next `times` requests matching method and path (below /api2/json) get `status` (default 596
   * `Connection timed out`, what pveproxy answers when pvedaemon is busy) instead of being handled.
   */
  failNextRequest(method: string, path: RegExp | string, status = 596, times = 1): void {
    const regex = typeof path === 'string' ? new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) : path;
    this.requestFaults.push({ method: method.toUpperCase(), path: regex, status, remaining: times });
  }

  /** Consumes a matching request fault, if any. */
  takeRequestFault(method: string, path: string): { status: number; reason: string } | undefined {
    const fault = this.requestFaults.find((f) => f.method === method && f.path.test(path));
    if (!fault) return undefined;
    fault.remaining--;
    if (fault.remaining <= 0) this.requestFaults.splice(this.requestFaults.indexOf(fault), 1);
    return { status: fault.status, reason: REASONS[fault.status] ?? 'Simulated failure' };
  }
}
