// The simulator in Debian mode (SIMULATOR_ROOTFS=debian) for tests: real Debian 12 CTs from the image cached in
// SIMULATOR_ROOTFS_CACHE (CI points it at a machine-wide directory so fresh clones reuse one build).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config.ts';
import type { Deps } from '../../src/deps.ts';
import { registerSimulatorNode } from '../../src/domain/nodes/simulator-node.ts';
import { probeDebianRootfs } from '../../src/simulator/debian-rootfs.ts';
import { startSimulator } from '../../src/simulator/index.ts';

export async function startDebianTestSimulator(deps: Deps, options: { speed?: number } = {}) {
  const capability = await probeDebianRootfs();
  if (!capability.ok) throw new Error(`this test needs the simulator's Debian mode, which cannot run here: ${capability.reason}`);
  const cacheDir = path.resolve(loadConfig(process.env).simulatorRootfsCache);
  const dataDir = await mkdtemp(path.join(tmpdir(), 'launchpad-sim-debian-'));
  const progress: string[] = [];
  const started = Date.now();
  const sim = await startSimulator({
    dataDir,
    speed: options.speed ?? 50,
    authDelayMs: 0,
    rootfs: { mode: 'debian', cacheDir, onProgress: (line) => {
      progress.push(line);
      process.stderr.write(`[debian rootfs] ${line}\n`);
    } },
  });
  const node = await registerSimulatorNode(deps, sim);
  return {
    sim,
    node,
    /** The build's progress lines (empty when the cached image was reused) and how long getting the image took. */
    rootfs: { progress, ms: Date.now() - started },
    async close() {
      await sim.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
