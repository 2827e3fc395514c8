// What the simulated node does when asked to create, start, stop, shut down, reboot, reconfigure or destroy a
// CT. Each operation first runs the checks Proxmox runs synchronously (their failures are the HTTP answer, no task
// is created — reference/proxmox-api.md §3.7, §3.9, §3.10), then starts a worker task whose log grows the way the
// real one does (§5) and whose failures end in `TASK ERROR: …` with the real texts (§5.4).
import { randomBytes, randomUUID } from 'node:crypto';
import { prepareRootfs } from './ct-rootfs.ts';
import type { CtRuntime } from './ct-runtime.ts';
import { createDebianCtRootfs } from './debian-rootfs.ts';
import type { SimulatorFaults } from './faults.ts';
import { configDigest, normalizeNet, normalizeDescription, normalizeTags, printPropertyString, readPropertyString, templateOs } from './lxc-config.ts';
import { parameterError, permissionError, PveHttpError, serverError } from './pve-error.ts';
import type { ParamSchema, ParamValues, PveSchema } from './pve-schema.ts';
import { isTemplate, rootVolumeName, type CtRecord, type HaResource, type SimulatorState, type StorageDef } from './state.ts';
import type { TaskContext, TaskRunner, TaskWork } from './task-runner.ts';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** Simulated durations in ms at speed 1 (divided by SIMULATOR_SPEED). */
export const TIMING = {
  lvcreate: 400,
  mkfs: 300,
  /** Template extraction throughput, MiB/s (real logs show ~46–365). */
  extractMiBps: 190,
  slowExtractMiBps: 12,
  hostKey: 250,
  createFinish: 200,
  createLockWait: 5000,
  startLockWait: 10_000,
  start: 1200,
  stop: 500,
  shutdown: 1500,
  destroy: 600,
  /** After a start, how long until the DHCP lease shows on eth0. */
  dhcp: 4000,
  /** After a create begins, how long cluster/resources reports `unknown`. */
  statsSample: 3000,
  /**
   * After an HA request, until the HA stack acts on it. The real CRM and LRM each loop every 10 s, so a request
   * waits up to a round of each; here one shorter round stands for both.
   */
  haRound: 5000,
};

const BRIDGES = ['vmbr0'];

/** SIMULATOR_ROOTFS=debian: CTs are copies of a real Debian 12 image, run as namespaces by the runtime. */
export interface DebianRootfsMode {
  image: string;
  runtime: CtRuntime;
}

interface CreatePlan {
  vmid: number;
  ostemplate: string;
  hostname: string | undefined;
  password: string | undefined;
  sshPublicKeys: string | undefined;
  rootStorage: StorageDef;
  diskGiB: number;
  rootfsOptions: Record<string, string | number>;
  config: Record<string, string | number>;
  unprivileged: boolean;
  nesting: boolean;
  start: boolean;
}

export class LxcLifecycle {
  private readonly netFormat: Record<string, ParamSchema>;
  private readonly rootfsFormat: Record<string, ParamSchema>;
  private readonly featuresFormat: Record<string, ParamSchema>;

  constructor(
    private readonly state: SimulatorState,
    private readonly tasks: TaskRunner,
    private readonly faults: SimulatorFaults,
    private readonly speed: number,
    schema: PveSchema,
    private readonly debian?: DebianRootfsMode,
  ) {
    this.netFormat = schema.propertyFormat('/nodes/{node}/lxc', 'POST', 'net[n]');
    this.rootfsFormat = schema.propertyFormat('/nodes/{node}/lxc', 'POST', 'rootfs');
    this.featuresFormat = schema.propertyFormat('/nodes/{node}/lxc', 'POST', 'features');
  }

  // --- create ----------------------------------------------------------------------------------------------------

  /** POST /nodes/{node}/lxc: synchronous checks, then the `vzcreate` task. Returns the UPID. */
  create(params: ParamValues, user: string): string {
    const vmid = Number(params.vmid);
    const inUse = this.state.vmidInUse(vmid);
    if (inUse) throw serverError(inUse);
    const plan = this.planCreate(vmid, params);

    const record: CtRecord = {
      vmid,
      config: {},
      lock: 'create',
      status: 'stopped',
      statsFrom: Date.now() + TIMING.statsSample / this.speed,
      lease: this.state.allocateLease(),
      diskGiB: plan.diskGiB,
      rootStorage: plan.rootStorage.storage,
      usedBytes: 0,
    };
    this.state.containers.set(vmid, record);
    this.state.save();
    return this.tasks.start('vzcreate', String(vmid), user, (ctx) => this.vzcreate(ctx, record, plan));
  }

  private planCreate(vmid: number, params: ParamValues): CreatePlan {
    const sshPublicKeys = optional(params['ssh-public-keys']);
    if (sshPublicKeys !== undefined && !validSshKeys(sshPublicKeys)) throw serverError('SSH public key validation error');
    if (params.pool !== undefined) throw permissionError(`pool '${params.pool}' does not exist`);
    // Without VM.Allocate on /vms/<vmid> (and no pool) create_vm calls raise_perm_exc() with nothing to name.
    if (this.faults.current.deniedPrivileges.includes(`/vms/${vmid}, VM.Allocate`)) throw new PveHttpError(403, 'Permission check failed');

    let nesting = false;
    if (params.features !== undefined) {
      const features = readPropertyString(this.featuresFormat, String(params.features), 'features');
      if (Object.keys(features).some((k) => k !== 'nesting')) {
        throw permissionError('changing feature flags (except nesting) is only allowed for root@pam');
      }
      nesting = features.nesting === 1;
    }

    const ostemplate = String(params.ostemplate);
    const volid = /^([a-z][a-z0-9\-_.]*[a-z0-9]):(.+)$/i.exec(ostemplate);
    if (!volid) throw serverError(`unable to parse volume ID '${ostemplate}'`);
    if (!this.state.storage(volid[1]!)) throw serverError(`storage '${volid[1]}' does not exist`);
    if (!volid[2]!.startsWith('vztmpl/')) {
      throw serverError(`unable to use volume ${ostemplate} - content type needs to be 'vztmpl'`);
    }

    const { storageId, diskGiB, rootfsOptions } = this.planRootfs(params);
    const rootStorage = this.state.storage(storageId);
    if (!rootStorage) throw serverError(`storage '${storageId}' does not exist`);
    // create_vm's check_and_activate_storage: storage_check_enabled for this node, the rootdir check, activate_storage.
    const unusable = this.state.storageUnusable(rootStorage);
    if (unusable && !unusable.endsWith('is not online')) throw serverError(unusable);
    if (!rootStorage.content.includes('rootdir')) {
      throw parameterError({ storage: `storage '${storageId}' does not support container directories` });
    }
    this.checkPrivilege(`/storage/${storageId}`, 'Datastore.AllocateSpace');
    if (unusable) throw serverError(unusable);

    const os = templateOs(ostemplate);
    const unprivileged = params.unprivileged === undefined ? true : params.unprivileged === 1;
    const config: Record<string, string | number> = {
      arch: String(params.arch ?? os.arch),
      hostname: String(params.hostname ?? `CT${vmid}`),
      memory: Number(params.memory ?? 512),
      ostype: String(params.ostype ?? os.ostype),
      swap: Number(params.swap ?? 512),
      unprivileged: unprivileged ? 1 : 0,
    };
    for (const key of ['cores', 'cpuunits', 'onboot', 'protection', 'tty', 'console', 'cmode', 'timezone', 'description', 'nameserver', 'searchdomain', 'cpulimit', 'startup']) {
      if (params[key] !== undefined) config[key] = params[key];
    }
    if (params.tags !== undefined) config.tags = normalizeTags(String(params.tags));
    if (params.description !== undefined) config.description = normalizeDescription(String(params.description));
    if (params.features !== undefined) {
      config.features = printPropertyString(this.featuresFormat, readPropertyString(this.featuresFormat, String(params.features), 'features'));
    }
    for (const [key, value] of Object.entries(params)) {
      if (/^net\d+$/.test(key)) config[key] = normalizeNet(this.netFormat, String(value), key);
    }

    return {
      vmid,
      ostemplate,
      hostname: optional(params.hostname),
      password: optional(params.password),
      sshPublicKeys,
      rootStorage,
      diskGiB,
      rootfsOptions,
      config,
      unprivileged,
      nesting,
      start: params.start === 1,
    };
  }

  /** `rootfs` may be `<storage>:<GiB>`, a bare size (on `storage`, default `local`), or absent (4 GiB). */
  private planRootfs(params: ParamValues): { storageId: string; diskGiB: number; rootfsOptions: Record<string, string | number> } {
    const defaultStorage = String(params.storage ?? 'local');
    if (params.rootfs === undefined) return { storageId: defaultStorage, diskGiB: 4, rootfsOptions: {} };
    const { volume, size: _size, ...rootfsOptions } = readPropertyString(this.rootfsFormat, String(params.rootfs), 'rootfs');
    const text = String(volume ?? '');
    const bare = /^(\d+(?:\.\d+)?)$/.exec(text);
    if (bare) return { storageId: defaultStorage, diskGiB: Number(bare[1]), rootfsOptions };
    const alloc = /^([a-z][a-z0-9\-_.]*[a-z0-9]):(\d+(?:\.\d+)?)$/i.exec(text);
    if (alloc) return { storageId: alloc[1]!, diskGiB: Number(alloc[2]), rootfsOptions };
    if (text.startsWith('/')) throw serverError('Only root can pass arbitrary filesystem paths.');
    throw serverError(`unable to parse volume ID '${text}'`);
  }

  private async vzcreate(ctx: TaskContext, record: CtRecord, plan: CreatePlan): Promise<void> {
    const { vmid } = plan;
    try {
      if (this.faults.current.lockTimeout) {
        ctx.log('trying to acquire lock...');
        await ctx.sleep(TIMING.createLockWait);
        throw new Error(`can't lock file '/run/lock/lxc/pve-config-${vmid}.lock' - got timeout`);
      }
      // Reading the archive activates its storage (pve-storage abs_filesystem_path → activate_volumes).
      const templateStorage = this.state.storage(plan.ostemplate.slice(0, plan.ostemplate.indexOf(':')));
      const unreadable = templateStorage && this.state.storageUnusable(templateStorage);
      if (unreadable) throw new Error(unreadable);
      const template = this.faults.current.missingTemplate ? undefined : this.state.template(plan.ostemplate);
      if (!template) throw new Error(`can't find file '${plan.ostemplate}'`);

      await ctx.sleep(TIMING.lvcreate);
      this.allocateVolume(plan);
      ctx.log(`  Logical volume "vm-${vmid}-disk-0" created.`);
      await ctx.sleep(TIMING.mkfs);
      const blocks = Math.round(plan.diskGiB * 262_144);
      ctx.log(`Creating filesystem with ${blocks} 4k blocks and ${Math.round(plan.diskGiB * 65_536)} inodes`);
      ctx.log(`Filesystem UUID: ${randomUUID()}`);
      ctx.log('Superblock backups stored on blocks: ');
      ctx.log(`\t${superblockBackups(blocks).join(', ')}`);

      // restore_archive prints abs_filesystem_path of the volid: <storage path>/template/cache/<file> (Create.pm).
      const file = plan.ostemplate.slice(plan.ostemplate.indexOf('/') + 1);
      const storagePath = templateStorage?.path ?? `/mnt/pve/${plan.ostemplate.slice(0, plan.ostemplate.indexOf(':'))}`;
      ctx.log(`extracting archive '${storagePath}/template/cache/${file}'`);
      const dhcp = !/(?:^|,)ip=\d/.test(String(plan.config.net0 ?? ''));
      if (this.debian) {
        ctx.log('simulator: the root filesystem is a copy of a real Debian 12 (bookworm) image built with mmdebstrap');
        const network = ctNetwork(plan.config, record.lease);
        await createDebianCtRootfs(this.debian.image, this.state.rootDir(vmid), {
          hostname: String(plan.config.hostname),
          password: plan.password,
          sshPublicKeys: plan.sshPublicKeys,
          ipv4: network.address,
          gateway: network.gateway,
          dhcp,
        });
      } else {
        await prepareRootfs(this.state.rootDir(vmid), {
          hostname: String(plan.config.hostname),
          password: plan.password,
          sshPublicKeys: plan.sshPublicKeys,
          ipv4: dhcp ? record.lease : /(?:^|,)ip=([^,]+)/.exec(String(plan.config.net0))?.[1],
          dhcp,
        });
      }
      const rate = this.faults.current.slowStorage ? TIMING.slowExtractMiBps : TIMING.extractMiBps;
      const mib = Math.round(template.unpackedSize / MiB);
      await ctx.sleep((mib / rate) * 1000);
      ctx.log(`Total bytes read: ${template.unpackedSize} (${mib}MiB, ${rate}MiB/s)`);
      ctx.log(`Detected container architecture: ${plan.config.arch}`);

      const os = templateOs(plan.ostemplate);
      if (os.ostype === 'debian' || os.ostype === 'ubuntu' || os.ostype === 'centos') {
        for (const key of ['ssh_host_rsa_key', 'ssh_host_ecdsa_key', 'ssh_host_ed25519_key']) {
          ctx.log(`Creating SSH host key '${key}' - this may take some time ...`);
          await ctx.sleep(TIMING.hostKey);
          ctx.log(`done: SHA256:${randomBytes(32).toString('base64').replace(/=+$/, '')} root@${plan.config.hostname}`);
        }
      }
      if (os.ostype === 'debian' || os.ostype === 'ubuntu') {
        ctx.log("Setting up 'proxmox-regenerate-snakeoil.service' to regenerate snakeoil certificate..");
      }
      if (os.systemd !== undefined && os.systemd > 241 && plan.unprivileged && !plan.nesting) {
        ctx.warn(`Systemd ${os.systemd} detected. You may need to enable nesting.`);
      }
      await ctx.sleep(TIMING.createFinish);

      record.config = { ...plan.config, rootfs: this.rootfsValue(plan) };
      record.lock = undefined;
      record.usedBytes = template.unpackedSize;
      this.state.save();
    } catch (err) {
      // The worker removes what it created (volumes, config), then fails with the cause.
      if (this.state.containers.get(vmid) === record) await this.state.removeContainer(vmid);
      throw new Error(`unable to create CT ${vmid} - ${(err as Error).message}`, { cause: err });
    }
    // Starting is part of the same task, but a start failure leaves the created CT in place.
    if (plan.start) await this.startWork(ctx, record);
  }

  /** PVE::RPCEnvironment::check: 403 `Permission check failed (<path>, <priv>)` when the token lacks it. */
  private checkPrivilege(path: string, privilege: string): void {
    if (this.faults.current.deniedPrivileges.includes(`${path}, ${privilege}`)) throw permissionError(`${path}, ${privilege}`);
  }

  private allocateVolume(plan: CreatePlan): void {
    const def = plan.rootStorage;
    const usedByOthers = this.state.storageUsed(def) - plan.diskGiB * GiB;
    const freeExtents = Math.max(0, Math.floor((def.total - usedByOthers) / (4 * MiB)));
    const required = Math.ceil((plan.diskGiB * GiB) / (4 * MiB));
    if (this.faults.current.storageFull || required > freeExtents) {
      const free = Math.min(freeExtents, Math.floor(required * 0.93));
      throw new Error(
        `lvcreate 'pve/vm-${plan.vmid}-disk-0' error:   Volume group "pve" has insufficient free space (${free} extents): ${required} required.`,
      );
    }
  }

  private rootfsValue(plan: CreatePlan): string {
    return printPropertyString(this.rootfsFormat, {
      volume: `${plan.rootStorage.storage}:vm-${plan.vmid}-disk-0`,
      ...plan.rootfsOptions,
      size: `${plan.diskGiB}G`,
    });
  }

  // --- power ---------------------------------------------------------------------------------------------------

  start(vmid: number, user: string): string {
    const record = this.existing(vmid);
    if (record.status === 'running') throw serverError(`CT ${vmid} already running`);
    if (record.ha) return this.requestHa('hastart', record, user, () => this.haStart(record));
    return this.tasks.start('vzstart', String(vmid), user, (ctx) => this.startWork(ctx, record));
  }

  stop(vmid: number, user: string): string {
    const record = this.existing(vmid);
    if (record.status !== 'running') throw serverError(`CT ${vmid} not running`);
    // `ha-manager crm-command stop ct:<vmid> 0`: a timeout of 0 makes the HA stack stop it hard.
    if (record.ha) return this.requestHa('hastop', record, user, () => this.haStop(record, 0));
    return this.tasks.start('vzstop', String(vmid), user, (ctx) => this.stopWork(ctx, record));
  }

  /** `timeout` (s) only matters to an HA resource here: a simulated shutdown always takes as long. */
  shutdown(vmid: number, user: string, timeout: number): string {
    const record = this.existing(vmid);
    if (record.status !== 'running') throw serverError(`CT ${vmid} not running`);
    if (record.ha) return this.requestHa('hastop', record, user, () => this.haStop(record, timeout));
    return this.tasks.start('vzshutdown', String(vmid), user, (ctx) => this.shutdownWork(ctx, record));
  }

  reboot(vmid: number, user: string): string {
    const record = this.existing(vmid);
    if (record.status !== 'running') throw serverError(`VM ${vmid} not running`);
    // vm_reboot (LXC.pm) checks no lock: it stops the CT, then vm_start runs the prestart hook, whose check_lock
    // (except `mounted`) makes the start fail — the CT stays stopped (src/lxc-pve-prestart-hook; monitor_start).
    return this.tasks.start('vzreboot', String(vmid), user, async (ctx) => {
      await ctx.sleep(TIMING.shutdown);
      await this.markStopped(record);
      if (record.lock && record.lock !== 'mounted') throw new Error(`startup for container '${vmid}' failed`);
      await this.startWork(ctx, record);
    });
  }

  /**
   * The node has booted: pve-guests runs a `startall` task (as root@pam) that starts every guest with `onboot: 1`, one
   * after the other. A CT that fails to start is logged and the rest still start.
   */
  startOnBoot(): string | undefined {
    const due = [...this.state.containers.values()].filter((ct) => ct.node === undefined && ct.config.onboot === 1 && ct.status !== 'running' && !ct.lock);
    if (due.length === 0) return undefined;
    return this.tasks.start('startall', '', 'root@pam', async (ctx) => {
      for (const record of due.sort((a, b) => a.vmid - b.vmid)) {
        ctx.log(`Starting CT ${record.vmid}`);
        await this.startWork(ctx, record).catch((err: unknown) => ctx.log(`Starting CT ${record.vmid} failed: ${(err as Error).message}`));
      }
    });
  }

  private async stopWork(ctx: TaskContext, record: CtRecord): Promise<void> {
    // vm_stop's worker checks the lock (except `mounted`) under the config lock (API2/LXC/Status.pm); so does the LRM's.
    if (record.lock && record.lock !== 'mounted') throw new Error(`CT is locked (${record.lock})`);
    await ctx.sleep(TIMING.stop);
    await this.markStopped(record);
  }

  private async shutdownWork(ctx: TaskContext, record: CtRecord): Promise<void> {
    if (record.lock) throw new Error(`CT is locked (${record.lock})`);
    await ctx.sleep(TIMING.shutdown);
    await this.markStopped(record);
  }

  private async startWork(ctx: TaskContext, record: CtRecord): Promise<void> {
    // Checked inside the task, before the lock, as vm_start's worker does (API2/LXC/Status.pm).
    if (isTemplate(record)) throw new Error("you can't start a CT if it's a template");
    if (record.lock && record.lock !== 'mounted') throw new Error(`CT is locked (${record.lock})`);
    if (this.faults.current.lockTimeout) {
      ctx.log('trying to acquire lock...');
      await ctx.sleep(TIMING.startLockWait);
      throw new Error(`can't lock file '/run/lock/lxc/pve-config-${record.vmid}.lock' - got timeout`);
    }
    await ctx.sleep(TIMING.start);
    for (const [key, value] of Object.entries(record.config)) {
      const bridge = /^net\d+$/.test(key) ? /(?:^|,)bridge=([^,]+)/.exec(String(value))?.[1] : undefined;
      if (bridge && !BRIDGES.includes(bridge)) throw new Error(`bridge '${bridge}' does not exist`);
    }
    if (this.faults.current.startFailure) throw new Error(`startup for container '${record.vmid}' failed`);
    if (this.debian) {
      const network = ctNetwork(record.config, record.lease);
      const ports = await this.debian.runtime.start(record.vmid, this.state.rootDir(record.vmid), String(record.config.hostname ?? `CT${record.vmid}`), network)
        .catch((error: unknown) => {
          throw new Error(`startup for container '${record.vmid}' failed - ${(error as Error).message}`);
        });
      ctx.log(`simulator: CT ${record.vmid} runs in its own namespaces with ${network.address} on eth0 (outbound traffic through the host)`);
      ctx.log(`simulator: ports forwarded to this machine: ${[...ports].map(([ct, host]) => `${ct} → 127.0.0.1:${host}`).join(', ')}`);
    }
    record.status = 'running';
    record.startedAt = Date.now();
    record.pid = 100_000 + Math.floor(Math.random() * 900_000);
    this.state.save();
  }

  private async markStopped(record: CtRecord): Promise<void> {
    await this.debian?.runtime.stop(record.vmid);
    record.status = 'stopped';
    record.startedAt = undefined;
    record.pid = undefined;
    this.state.save();
  }

  // --- HA resources ----------------------------------------------------------------------------------------------

  /**
   * A power request for an HA resource (pve-container's Status.pm): the task only hands it to the HA manager and ends
   * OK at once; the HA stack acts on its next round, with an ordinary task of its own.
   */
  private requestHa(type: 'hastart' | 'hastop', record: CtRecord, user: string, round: () => void): string {
    return this.tasks.start(type, String(record.vmid), user, async (ctx) => {
      ctx.log(`Requesting HA ${type === 'hastart' ? 'start' : 'stop'} for CT ${record.vmid}`);
      this.tasks.later(TIMING.haRound, round);
    });
  }

  /** The HA stack's round after a start request: the CRM marks the resource started and the LRM starts the CT. */
  private haStart(record: CtRecord): void {
    const ha = this.haResource(record);
    if (!ha || ha.state === 'error') return;
    ha.state = 'started';
    this.state.save();
    if (record.status !== 'running') this.lrmTask('vzstart', record, ha, 'started', (ctx) => this.startWork(ctx, record));
  }

  /** …after a stop request (pve-ha-manager's PVECT.pm): a timeout of 0 is a vzstop, any other a vzshutdown. */
  private haStop(record: CtRecord, timeout: number): void {
    const ha = this.haResource(record);
    if (!ha || ha.state === 'error') return;
    ha.state = record.status === 'running' ? 'request_stop' : 'stopped';
    this.state.save();
    if (record.status !== 'running') return;
    if (timeout === 0) this.lrmTask('vzstop', record, ha, 'stopped', (ctx) => this.stopWork(ctx, record));
    else this.lrmTask('vzshutdown', record, ha, 'stopped', (ctx) => this.shutdownWork(ctx, record));
  }

  /** The LRM's own task, owned by root@pam: when it ends the resource is `reached`, or in `error` if it failed. */
  private lrmTask(type: string, record: CtRecord, ha: HaResource, reached: HaResource['state'], work: TaskWork): void {
    this.tasks.start(type, String(record.vmid), 'root@pam', async (ctx) => {
      try {
        await work(ctx);
        ha.state = reached;
      } catch (err) {
        ha.state = 'error';
        throw err;
      } finally {
        this.state.save();
      }
    });
  }

  /** The CT's HA entry, unless the CT was removed from HA or destroyed while the request waited for its round. */
  private haResource(record: CtRecord): HaResource | undefined {
    return this.state.containers.get(record.vmid) === record ? record.ha : undefined;
  }

  // --- destroy and reconfigure ---------------------------------------------------------------------------------

  destroy(vmid: number, params: ParamValues, user: string): string {
    // destroy_vm's `check => ['perm', '/vms/{vmid}', ['VM.Allocate']]`, made before the handler runs.
    this.checkPrivilege(`/vms/${vmid}`, 'VM.Allocate');
    const record = this.existing(vmid);
    if (record.config.protection === 1) throw serverError(`can't remove CT ${vmid} - protection mode enabled`);
    if (record.lock) throw serverError(`CT is locked (${record.lock})`);
    if (record.ha && params.purge !== 1) throw serverError(`unable to remove CT ${vmid} - used in HA resources and purge parameter not set.`);
    const force = params.force === 1;
    if (record.status === 'running' && !force) throw serverError(`unable to destroy CT ${vmid} - container is running`);
    return this.tasks.start('vzdestroy', String(vmid), user, async (ctx) => {
      if (record.status === 'running') {
        ctx.log(`forced to stop CT ${vmid} before destroying!`);
        if (record.ha) {
          // pve-container only asks the HA manager (`crm-command stop ct:<vmid> 120`) and goes on: the disk of a CT
          // still running is in use.
          this.tasks.later(TIMING.haRound, () => this.haStop(record, 120));
          throw new Error(`lvremove 'pve/${rootVolumeName(record)}' error:   Logical volume pve/${rootVolumeName(record)} in use.`);
        }
        await ctx.sleep(TIMING.stop);
        await this.markStopped(record);
      }
      record.lock = 'destroyed';
      await ctx.sleep(TIMING.destroy);
      ctx.log(`  Logical volume "${rootVolumeName(record)}" successfully removed.`);
      if (params.purge === 1) ctx.log(`purging CT ${vmid} from related configurations..`);
      if (params.purge === 1 && record.ha) ctx.log(`NOTE: removed CT ${vmid} from HA resource configuration.`);
      await this.state.removeContainer(vmid);
    });
  }

  /** PUT …/config: applies the given keys, removes the `delete` list; returns nothing (synchronous). */
  updateConfig(vmid: number, params: ParamValues): void {
    const record = this.existing(vmid);
    if (record.lock) throw serverError(`CT is locked (${record.lock})`);
    if (params.digest !== undefined && params.digest !== configDigest(record.config, record.lock)) {
      throw serverError('detected modified configuration - file changed by other user? Try again.');
    }
    const skip = new Set(['node', 'vmid', 'digest', 'delete', 'revert']);
    const next = { ...record.config };
    for (const key of String(params.delete ?? '').split(/[,;\s]+/).filter(Boolean)) delete next[key];
    for (const [key, value] of Object.entries(params)) {
      if (skip.has(key)) continue;
      if (key === 'rootfs') throw new PveHttpError(400, 'Parameter verification failed.', { rootfs: 'changing the rootfs is not supported by the simulator' });
      if (/^net\d+$/.test(key)) next[key] = normalizeNet(this.netFormat, String(value), key);
      else if (key === 'tags') next[key] = normalizeTags(String(value));
      else if (key === 'description') next[key] = normalizeDescription(String(value));
      else if (key === 'features') {
        next[key] = printPropertyString(this.featuresFormat, readPropertyString(this.featuresFormat, String(value), key));
      } else next[key] = value;
    }
    record.config = next;
    this.state.save();
  }

  /** The CT that `node` (this one unless said) holds at `vmid`: pmxcfs keeps each config under its node's directory. */
  existing(vmid: number, node = this.state.node): CtRecord {
    const record = this.state.containers.get(vmid);
    if (!record || (record.node ?? this.state.node) !== node) throw serverError(`Configuration file 'nodes/${node}/lxc/${vmid}.conf' does not exist`);
    return record;
  }
}

/** The address and gateway a CT has on eth0: its DHCP lease (gateway .1), or net0's static ip= and gw=. */
function ctNetwork(config: Record<string, string | number>, lease: string | undefined): { address: string; gateway: string } {
  const net0 = String(config.net0 ?? '');
  const ip = /(?:^|,)ip=(\d[^,]*)/.exec(net0)?.[1];
  const address = ip ? (ip.includes('/') ? ip : `${ip}/24`) : (lease ?? '10.10.0.100/24');
  const gateway = /(?:^|,)gw=([^,]+)/.exec(net0)?.[1] ?? address.replace(/\.\d+\/\d+$/, '.1');
  return { address, gateway };
}

function optional(value: string | number | undefined): string | undefined {
  return value === undefined ? undefined : String(value);
}

/** What `ssh-keygen -l` would accept, roughly: `<type> <base64> [comment]` per non-empty line. */
function validSshKeys(text: string): boolean {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .every((l) => /^(?:ssh-(?:ed25519|rsa|dss)|ecdsa-sha2-nistp(?:256|384|521)|sk-\S+)\s+[A-Za-z0-9+/]+={0,3}(?:\s.*)?$/.test(l));
}

/** ext4's superblock backup locations for a filesystem of `blocks` 4k blocks (powers of 3, 5, 7 per group). */
function superblockBackups(blocks: number): number[] {
  const groups = Math.ceil(blocks / 32_768);
  const out = new Set<number>();
  for (const base of [3, 5, 7]) for (let g = 1; g < groups; g *= base) out.add(g);
  return [...out].sort((a, b) => a - b).map((g) => g * 32_768);
}
