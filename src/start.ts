// `npm start`: one command for a working console. Prepares the database, starts the embedded Proxmox simulator
// when no real node is configured (or PVE_SIMULATOR=on), then runs the web server and a worker as two supervised
// child processes (the same entry points `npm run web` / `npm run worker` use): a crashed child is restarted with
// backoff while the other keeps running, and everything stops together on SIGTERM/SIGINT.
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from './config.ts';
import { buildDeps } from './deps.ts';
import { recordSimulatorRootfs, recordSimulatorSandbox, simulatorStartupMessage } from './domain/nodes/simulator-badge.ts';
import { registerSimulatorNode } from './domain/nodes/simulator-node.ts';
import { runMain } from './lib/main.ts';
import { probeDebianRootfs } from './simulator/debian-rootfs.ts';
import { PVE_USERS_FILE } from './simulator/pve-users.ts';
import { startSimulator, type SimulatorHandle } from './simulator/index.ts';
import { Supervisor } from './supervisor.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

runMain('launchpad', async () => {
  const config = loadConfig();
  // Creates the database, runs migrations and generates boot secrets before either child starts.
  const deps = await buildDeps(config, 'launchpad');
  let simulator: SimulatorHandle | undefined;
  const realNodes = (await deps.repos.nodes.list()).filter((n) => !n.isSimulator);
  if (config.simulator === 'on' || (config.simulator === 'auto' && realNodes.length === 0)) {
    // SIMULATOR_ROOTFS: debian where this machine can run it (or when asked: then a reason to refuse stops start-up).
    const capability = config.simulatorRootfs === 'host' ? { ok: false as const, reason: 'SIMULATOR_ROOTFS=host' } : await probeDebianRootfs();
    const mode = config.simulatorRootfs === 'debian' || capability.ok ? 'debian' : 'host';
    const rootfsLine = mode === 'debian'
      ? `SIMULATOR: CTs are real Debian 12 root filesystems (image cached in ${path.resolve(root, config.simulatorRootfsCache)}); apt-get installs for real from the host's Debian mirror and services really run.`
      : `SIMULATOR: CTs are host-mode stand-ins (${capability.ok ? 'SIMULATOR_ROOTFS=host' : capability.reason}): packages are recorded, not installed, and services are simulated.`;
    deps.logger.warn({ rootfs: mode }, rootfsLine);
    simulator = await startSimulator({
      dataDir: path.join(root, '.data/simulator'),
      speed: config.simulatorSpeed,
      rootfs: mode === 'debian'
        ? { mode, cacheDir: path.resolve(root, config.simulatorRootfsCache), onProgress: (line) => deps.logger.info(`SIMULATOR: ${line}`) }
        : { mode },
    });
    await registerSimulatorNode(deps, simulator);
    deps.logger.info(
      `SIMULATOR: its Proxmox VE users (for "Sign-in with Proxmox VE accounts" under Users) and their passwords are in ${path.join(root, '.data/simulator/secrets', PVE_USERS_FILE)}`,
    );
    await recordSimulatorSandbox(deps.repos.settings, simulator.sandboxed);
    await recordSimulatorRootfs(deps.repos.settings, simulator.rootfs === 'debian' ? 'debian' : `host: ${capability.ok ? 'SIMULATOR_ROOTFS=host' : capability.reason}`);
    deps.logger.warn(
      { api: simulator.apiUrl, ssh: `${simulator.ssh.host}:${simulator.ssh.port}`, sandboxed: simulator.sandboxed },
      simulatorStartupMessage({ nodeName: simulator.nodeName, sandboxed: simulator.sandboxed, rootfs: simulator.rootfs === 'debian' ? 'debian' : 'host', realNodes: realNodes.map((n) => n.name) }),
    );
  }
  await deps.close();

  const supervisor = new Supervisor((line) => process.stderr.write(`launchpad: ${line}\n`), (code) => {
    void Promise.resolve(simulator?.close()).finally(() => process.exit(code));
    setTimeout(() => process.exit(code), 15_000).unref();
  });
  supervisor.start('web', [process.execPath, '--import', 'tsx', path.join(root, 'src/server.ts')], {});
  // The slot lets a restarted worker take its predecessor's jobs back at once (src/jobs/worker-slot.ts).
  supervisor.start('worker', [process.execPath, '--import', 'tsx', path.join(root, 'worker.ts')], { WORKER_SLOT: `${os.hostname()}:${process.pid}:worker` });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => supervisor.stopAll(0));
});
