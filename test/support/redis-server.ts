// A Redis server the test owns (its own port and data directory), so it can be stopped and restarted mid-run.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './free-port.ts';

async function waitForPort(port: number, up: boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (open === up) return;
    if (Date.now() > deadline) throw new Error(`redis on ${port} did not come ${up ? 'up' : 'down'}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startRedisServer() {
  const port = await freePort();
  const dir = await mkdtemp(path.join(tmpdir(), 'launchpad-redis-'));
  let child: ChildProcess | undefined;
  const start = async () => {
    // Append-only persistence, as a production Redis for a job queue should have: queued jobs survive a restart.
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--dir', dir], { stdio: 'ignore' });
    await waitForPort(port, true);
  };
  const stop = async () => {
    child?.kill('SIGTERM');
    await waitForPort(port, false);
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    stop,
    start,
    async close() {
      child?.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}
