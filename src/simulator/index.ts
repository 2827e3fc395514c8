// The embedded Proxmox VE simulator: one node (default `sim`) with an HTTPS API and an SSH host, speaking the real
// protocols so no client code knows it is there. Used by `npm start` when no node is configured, and by tests.
//
// API endpoints served (all validated against schema/pve-api-schema-subset.json): GET /version, GET /access/domains
// and GET+POST /access/ticket (no auth, like pveproxy; users from pve-users.ts), /nodes,
// /nodes/{node}/status, /cluster/nextid, /cluster/resources, /nodes/{node}/storage, …/storage/{storage}/content,
// GET+POST /nodes/{node}/lxc, GET+DELETE …/lxc/{vmid}, GET+PUT …/config, GET …/status/current, POST
// …/status/{start,stop,shutdown,reboot}, GET …/interfaces, GET /nodes/{node}/tasks, GET+DELETE …/tasks/{upid},
// GET …/tasks/{upid}/{status,log}. Schema paths the product does not use (aplinfo, storage
// allocation, node power) answer 501 like unknown paths. GET /nodes/{node}/network lists a port `eno1`, the bridge
// `vmbr0` on it and `vmbr1` without ports.
//
// Where it differs from a real node: one node (a test may move a stopped CT to a named peer node, as a migration
// outside Launchpad would: the cluster's list then shows it there, and of that peer only its CT list, config and
// status answer — anything else says the simulator is one node), two storages (`local` dir, `local-lvm` thin; a test may
// add storage.cfg entries with state.addClusterStorage — one restricted to other nodes, or one whose server is down,
// listed and refused as pve-storage does) and two bridges
// (`vmbr0`, `vmbr1`; no SDN); API tokens only (a ticket is issued by /access/ticket but accepted nowhere) and the token may do everything a root@pam token
// may; templates are a list, not files; whatever the OS template, the CT root filesystem is either a copy of one real
// Debian 12 image run in its own namespaces (rootfs mode `debian`: debian-rootfs.ts, ct-runtime.ts; no systemd, no
// cgroup limits, a few ports forwarded to 127.0.0.1) or a plain directory with stand-ins (mode `host`: ct-rootfs.ts);
// guests a test adds with state.addOtherGuest (a QEMU VM, a CT "on another node") exist only in the cluster's VM
// list — they hold their VMID (nextid, create, cluster/resources) and nothing else; a CT a test makes an HA resource
// (state.addToHa) is started, stopped and shut down as on a cluster with the HA stack — an `hastart`/`hastop` task
// that only hands the request on, then one round (TIMING.haRound) later the HA stack's own vzstart, vzstop or
// vzshutdown as root@pam — except that a failed start puts it in `error` at once (a real one first retries and tries
// another node), a forced destroy of a running one only requests the HA stop and fails on its disk still in use,
// and after a restart the HA stack does not start it again; POST …/lxc/{vmid}/template (not in the schema subset) is
// a test hook, state.convertToTemplate, with pve-container's refusals and no task; a lock another operation holds
// (vzdump's `backup`, a snapshot's) is a test hook too, state.setLock, with no such task behind it; a CT's DHCP lease
// (10.10.0.100–249/24) is fixed at create time; stats are invented (a slow wave per CT, the same in status and rrddata); an interrupted create or
// destroy leaves its config behind on restart, locked (create/destroyed) as on a real node, and running CTs come back stopped, then those with onboot: 1 are started (startall).
import { join } from 'node:path';
import { TaskRunner } from './task-runner.ts';
import { buildRoutes } from './api-routes.ts';
import { startApiServer, type RecordedRequest } from './api-server.ts';
import { CtRuntime } from './ct-runtime.ts';
import { ensureDebianRootfs, probeDebianRootfs } from './debian-rootfs.ts';
import { SimulatorFaults } from './faults.ts';
import { LxcLifecycle, type DebianRootfsMode } from './lxc-lifecycle.ts';
import { loadOrCreateNodeSecrets } from './node-secrets.ts';
import { NodeViews } from './node-views.ts';
import { loadOrCreatePveUsers, type PveUser } from './pve-users.ts';
import { PveSchema } from './pve-schema.ts';
import { startSshHost, startSshHostWith } from './ssh-host.ts';
import { SimulatorState } from './state.ts';

export { SimulatorFaults, type NodeFaults } from './faults.ts';
export type { RecordedRequest } from './api-server.ts';
export { SimulatorState } from './state.ts';

export interface SimulatorOptions {
  /** Where the certificate, token, SSH keys, state.json and the CT root directories live. */
  dataDir: string;
  /** Divides every simulated delay (SIMULATOR_SPEED; tests use 20–50). */
  speed: number;
  nodeName?: string;
  /** 0 or absent: a free port. */
  apiPort?: number;
  sshPort?: number;
  /** Delay before answering 401, 3000 ms like pveproxy unless set (tests: 0). */
  authDelayMs?: number;
  /**
   * What a CT's root filesystem is (SIMULATOR_ROOTFS). `host` (the default here): a directory with the host's /usr lent
   * read-only and stand-ins that record packages and services. `debian`: a copy of a real Debian 12 image built once
   * into cacheDir, run in its own namespaces with real apt, services and network; throws if this host cannot.
   */
  rootfs?: { mode: 'host' } | { mode: 'debian'; cacheDir: string; onProgress?: (line: string) => void };
  /** false: behave as on a machine without bubblewrap (commands simulated) even where it is installed. */
  sandbox?: false;
  /** Who may sign in with `POST /access/ticket`; default: `<dataDir>/secrets/pve-users.json` (created with one user). */
  pveUsers?: PveUser[];
}

/** Which root filesystem the simulator's CTs have, as every page's badge and the first log line say. */
export type SimulatorRootfsMode = 'debian' | 'host';

/** The HTTPS half alone (what API tests need). */
export interface SimulatorApiHandle {
  nodeName: string;
  /** `https://127.0.0.1:<port>` */
  apiUrl: string;
  tokenId: string;
  tokenSecret: string;
  /** SHA-256 fingerprint of the API certificate, `AB:CD:…`. */
  tlsFingerprint: string;
  faults: SimulatorFaults;
  state: SimulatorState;
  /** Every API request with its schema violations (newest last). */
  requests: readonly RecordedRequest[];
  rootfs: SimulatorRootfsMode;
  /** Debian mode: the host port (on 127.0.0.1) that forwards to `ctPort` of a running CT; undefined otherwise. */
  forwardedPort(vmid: number, ctPort: number): number | undefined;
  /** Debian mode: the CT runtime the SSH host runs `pct exec` in. */
  debian: DebianRootfsMode | undefined;
  /** SSH material kept with the node, for startSimulator. */
  secrets: { sshHostKey: string; sshClientPrivateKey: string; sshClientPublicKey: string };
  close(): Promise<void>;
}

export interface SimulatorHandle extends Omit<SimulatorApiHandle, 'secrets' | 'debian'> {
  ssh: { host: string; port: number; user: 'root'; privateKey: string; hostKeyFingerprint: string };
  /** Every command line run on the node over SSH (newest last), for tests. */
  nodeCommands: readonly string[];
  /** Lets the node's client key sign in as another user too, with this user id (pct refuses it unless 0). */
  addSshLogin(name: string, uid: number): void;
  /** false when bubblewrap is missing and commands inside CTs are only simulated. */
  sandboxed: boolean;
}

export async function startSimulatorApi(options: SimulatorOptions): Promise<SimulatorApiHandle> {
  const nodeName = options.nodeName ?? 'sim';
  const speed = options.speed > 0 ? options.speed : 1;
  const secrets = await loadOrCreateNodeSecrets(options.dataDir, nodeName);
  const state = SimulatorState.open(options.dataDir, nodeName);
  const schema = PveSchema.load();
  const faults = new SimulatorFaults();
  const tasks = new TaskRunner(state, speed);
  let debian: DebianRootfsMode | undefined;
  if (options.rootfs?.mode === 'debian') {
    const capability = await probeDebianRootfs();
    if (!capability.ok) throw new Error(`SIMULATOR_ROOTFS=debian: this machine cannot run Debian-mode CTs — ${capability.reason}`);
    debian = { image: await ensureDebianRootfs({ cacheDir: options.rootfs.cacheDir, onProgress: options.rootfs.onProgress }), runtime: new CtRuntime() };
  }
  const lxc = new LxcLifecycle(state, tasks, faults, speed, schema, debian);
  lxc.startOnBoot();
  const views = new NodeViews(state, faults, speed, secrets.tls.fingerprint);
  const server = await startApiServer({
    schema,
    routes: buildRoutes({ views, lxc, tasks, pveUsers: options.pveUsers ?? loadOrCreatePveUsers(join(options.dataDir, 'secrets')) }),
    faults,
    node: nodeName,
    peerNodes: () => state.peerNodes(),
    tokenId: secrets.token.id,
    tokenSecret: secrets.token.secret,
    tls: secrets.tls,
    port: options.apiPort,
    authDelayMs: options.authDelayMs ?? 3000,
  });
  return {
    nodeName,
    apiUrl: server.url,
    tokenId: secrets.token.id,
    tokenSecret: secrets.token.secret,
    tlsFingerprint: secrets.tls.fingerprint,
    faults,
    state,
    requests: server.requests,
    rootfs: debian ? 'debian' : 'host',
    forwardedPort: (vmid, ctPort) => debian?.runtime.forwardedPort(vmid, ctPort),
    debian,
    secrets: { sshHostKey: secrets.ssh.hostKey, sshClientPrivateKey: secrets.ssh.clientPrivateKey, sshClientPublicKey: secrets.ssh.clientPublicKey },
    async close() {
      await tasks.stopAll();
      await server.close();
      await debian?.runtime.stopAll();
      // The CTs' processes are gone: the node comes back with them stopped, as after a reboot.
      if (debian) for (const ct of state.containers.values()) if (ct.status === 'running') ct.status = 'stopped';
      state.save();
    },
  };
}

/** Starts the simulated node: HTTPS API and SSH host, sharing one state. */
export async function startSimulator(options: SimulatorOptions): Promise<SimulatorHandle> {
  const { secrets, debian, ...api } = await startSimulatorApi(options);
  const sshOptions = {
    runtime: debian?.runtime,
    state: api.state,
    faults: api.faults,
    hostKey: secrets.sshHostKey,
    authorizedPublicKey: secrets.sshClientPublicKey,
    user: 'root',
    port: options.sshPort,
    speed: options.speed > 0 ? options.speed : 1,
  };
  // Debian-mode CTs need no bubblewrap, so `sandbox: false` only changes the host-directory mode.
  const withoutBubblewrap = options.sandbox === false && !debian;
  const sshHost = await (withoutBubblewrap ? startSshHostWith(sshOptions, { sandboxed: false }) : startSshHost(sshOptions)).catch(async (err: unknown) => {
    await api.close();
    throw err;
  });
  return {
    ...api,
    ssh: { host: sshHost.host, port: sshHost.port, user: 'root', privateKey: secrets.sshClientPrivateKey, hostKeyFingerprint: sshHost.hostKeyFingerprint },
    nodeCommands: sshHost.commands,
    addSshLogin: (name, uid) => sshHost.addLogin(name, uid),
    sandboxed: sshHost.sandboxed,
    async close() {
      await sshHost.close();
      await api.close();
    },
  };
}
