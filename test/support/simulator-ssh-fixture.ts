// A simulated Proxmox node's SSH side for tests: a tiny SimulatorStateView over a Map, CT roots prepared in a temp
// directory, fresh host and client keys.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { NodeShellTarget } from '../../src/proxmox/node-shell.ts';
import { prepareRootfs } from '../../src/simulator/ct-rootfs.ts';
import { startSshHost, startSshHostWith } from '../../src/simulator/ssh-host.ts';
import type { SimContainerView, SshHostHandle } from '../../src/simulator/types.ts';

export interface SimNode {
  host: SshHostHandle;
  containers: Map<number, SimContainerView>;
  clientKey: { private: string; public: string };
  target: NodeShellTarget;
  addContainer(vmid: number, hostname?: string): Promise<SimContainerView>;
  close(): Promise<void>;
}

export async function startSimNode(opts: { sandboxed?: boolean; speed?: number } = {}): Promise<SimNode> {
  const dataDir = await mkdtemp(join(tmpdir(), 'launchpad-sim-test-'));
  const hostKey = ssh2.utils.generateKeyPairSync('ed25519');
  const clientKey = ssh2.utils.generateKeyPairSync('ed25519');
  const containers = new Map<number, SimContainerView>();
  const options = {
    state: { node: 'sim', container: (vmid: number) => containers.get(vmid), containerWithAddress: (ip: string) => [...containers.values()].find((c) => c.ipv4 === ip) },
    hostKey: hostKey.private,
    authorizedPublicKey: clientKey.public,
    user: 'root',
    speed: opts.speed ?? 50,
  };
  const host = opts.sandboxed === undefined ? await startSshHost(options) : await startSshHostWith(options, { sandboxed: opts.sandboxed });
  return {
    host,
    containers,
    clientKey,
    target: { host: host.host, port: host.port, username: 'root', privateKey: clientKey.private, hostKeyFingerprint: host.hostKeyFingerprint },
    async addContainer(vmid, hostname = `ct${vmid}`) {
      const rootDir = join(dataDir, 'ct', String(vmid), 'rootfs');
      await prepareRootfs(rootDir, { hostname, ipv4: '10.0.0.42/24' });
      const ct: SimContainerView = { vmid, status: 'running', hostname, rootDir };
      containers.set(vmid, ct);
      return ct;
    },
    async close() {
      await host.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
