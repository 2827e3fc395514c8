// The embedded Proxmox VE simulator in a process of its own (on a real install the node is another machine), so
// its SSH host and sandboxes do not run on the bench client's or the worker's event loop.
import { startSimulator } from '../../src/simulator/index.ts';
import { announce, serveRpc } from './bench-rpc.ts';

const dataDir = process.env.BENCH_SIMULATOR_DIR;
if (!dataDir) throw new Error('BENCH_SIMULATOR_DIR is not set');
const sim = await startSimulator({ dataDir, speed: 50, authDelayMs: 0 });
const stop = async () => {
  await sim.close().catch(() => undefined);
  process.exit(0);
};
// (g) counts what the node was asked: requests per schema route since the start.
serveRpc({ requests: () => sim.requests.length ? { last: sim.requests.at(-1)!.seq, byRoute: countByRoute() } : { last: 0, byRoute: {} } }, () => void stop());
const counted: Record<string, number> = {};
let countedUpTo = 0;
function countByRoute(): Record<string, number> {
  for (const r of sim.requests) {
    if (r.seq <= countedUpTo) continue;
    const key = `${r.method} ${r.route ?? r.path}`;
    counted[key] = (counted[key] ?? 0) + 1;
    countedUpTo = r.seq;
  }
  return { ...counted };
}
process.once('SIGTERM', () => void stop());
// What registerSimulatorNode needs; the token and key travel over the IPC channel, never a command line.
announce({
  nodeName: sim.nodeName,
  apiUrl: sim.apiUrl,
  tokenId: sim.tokenId,
  tokenSecret: sim.tokenSecret,
  tlsFingerprint: sim.tlsFingerprint,
  ssh: sim.ssh,
  sandboxed: sim.sandboxed,
});
