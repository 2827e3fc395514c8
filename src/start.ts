// `npm start`: one command for a working console. Prepares the database, starts the embedded Proxmox simulator
// when no real node is configured, then runs the web server and a worker as two child processes (the same entry
// points `npm run web` / `npm run worker` use) and stops everything together.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, supervisedChildEnv } from './config.ts';
import { buildDeps } from './deps.ts';
import { recordSimulatorRootfs, recordSimulatorSandbox } from './domain/nodes/simulator-badge.ts';
import { registerSimulatorNode } from './domain/nodes/simulator-node.ts';
import { runMain } from './lib/main.ts';
import { probeDebianRootfs } from './simulator/debian-rootfs.ts';
import { startSimulator, type SimulatorHandle } from './simulator/index.ts';

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
    await recordSimulatorSandbox(deps.repos.settings, simulator.sandboxed);
    await recordSimulatorRootfs(deps.repos.settings, simulator.rootfs === 'debian' ? 'debian' : `host: ${capability.ok ? 'SIMULATOR_ROOTFS=host' : capability.reason}`);
    deps.logger.warn(
      { api: simulator.apiUrl, ssh: `${simulator.ssh.host}:${simulator.ssh.port}`, sandboxed: simulator.sandboxed },
      simulator.rootfs === 'debian'
        ? `SIMULATOR: no Proxmox node is configured, so node "${simulator.nodeName}" is the embedded Proxmox VE simulator (each CT is a Debian 12 root filesystem under .data/simulator running in its own namespaces). Add a real node under Nodes and restart to use a cluster.`
        : simulator.sandboxed
        ? `SIMULATOR: no Proxmox node is configured, so node "${simulator.nodeName}" is the embedded Proxmox VE simulator (scripts run in bubblewrap sandboxes under .data/simulator). Add a real node under Nodes and restart to use a cluster.`
        : `SIMULATOR: node "${simulator.nodeName}" is the embedded Proxmox VE simulator and bubblewrap is missing: commands are NOT run, every line of their output says "simulated". Install bubblewrap (apt-get install bubblewrap) to run template scripts for real.`,
    );
  }
  await deps.close();

  const children = new Map<string, ChildProcess>();
  let stopping = false;
  const stopAll = (code: number) => {
    if (stopping) return;
    stopping = true;
    for (const child of children.values()) child.kill('SIGTERM');
    const exited = [...children.values()].map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r))));
    setTimeout(() => process.exit(code), 15_000).unref();
    void Promise.all(exited)
      .then(() => simulator?.close())
      .finally(() => process.exit(code));
  };

  for (const [name, entry] of [['web', 'src/server.ts'], ['worker', 'worker.ts']] as const) {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, entry)], {
      stdio: 'inherit',
      // The children share this terminal; start-up warnings were printed once, above.
      env: supervisedChildEnv(),
    });
    children.set(name, child);
    child.on('exit', (code, signal) => {
      if (stopping) return;
      process.stderr.write(`launchpad: the ${name} process exited (${signal ?? `code ${code}`}); stopping the others\n`);
      stopAll(code || 1);
    });
  }
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => stopAll(0));
});
