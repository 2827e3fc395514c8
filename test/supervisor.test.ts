// `npm start` for real (src/start.ts as a process, with its own embedded simulator): a SIGKILLed worker is restarted
// with one log line, the console stays reachable meanwhile, and the build it was running continues within seconds
// (the restarted worker takes its predecessor's job and run lease back at once). A child that keeps crashing at
// start-up makes the supervisor give up and say why. With a real node configured and PVE_SIMULATOR=on, start-up
// says that the simulator runs beside it because it was asked to.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureUser } from './support/http-session.ts';
import { freePort } from './support/free-port.ts';
import { insertDeployment } from './support/simulator-fixtures.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';
import { CREATE_CONTAINER_JOB } from '../src/jobs/job-types.ts';
import { tokenSecretAad } from '../src/domain/sealed-secrets.ts';

let env: TestEnv;

interface Launchpad {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  port: number;
}

function npmStart(port: number, extra: Record<string, string> = {}): Launchpad {
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/start.ts'], {
    env: {
      ...process.env,
      DATABASE_URL: env.config.databaseUrl,
      REDIS_URL: env.config.redisUrl,
      QUEUE_PREFIX: env.config.queuePrefix,
      ENCRYPTION_KEY: env.config.encryptionKey!.toString('base64'),
      SESSION_SECRET: env.config.sessionSecret!,
      PORT: String(port),
      LOG_LEVEL: 'info',
      PVE_POLL_MS: '100',
      SIMULATOR_SPEED: '10',
      SIMULATOR_ROOTFS: 'host',
      ...extra,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, output: () => output, exited, port };
}

const waitUntil = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

/** pids of the workers that said "worker ready", in order (pino puts the pid in every line). */
const workerPids = (output: string) =>
  output
    .split('\n')
    .filter((l) => l.includes('worker ready'))
    .map((l) => (JSON.parse(l) as { pid: number }).pid);

beforeAll(async () => {
  env = await createTestEnv();
}, 60_000);
afterAll(async () => {
  await env?.close();
});

describe('npm start with a real node configured and PVE_SIMULATOR=on', () => {
  let launchpad: Launchpad;
  beforeAll(async () => {
    await env.deps.repos.nodes.create(
      {
        name: 'pve-real',
        apiUrl: 'https://127.0.0.1:1',
        tokenId: 'root@pam!launchpad',
        tlsFingerprint: Array.from({ length: 32 }, () => 'AB').join(':'),
        sshHost: null,
        sshPort: 22,
        sshUser: 'root',
        sshHostKeyFingerprint: null,
        isSimulator: false,
      },
      (id) => ({ tokenSecretEnc: env.deps.secrets.seal('secret', tokenSecretAad(id)) }),
    );
    launchpad = npmStart(await freePort(), { PVE_SIMULATOR: 'on' });
    await waitUntil('web and worker to be up', () => launchpad.output().includes('console listening') && workerPids(launchpad.output()).length === 1, 90_000);
  }, 120_000);
  afterAll(async () => {
    launchpad?.child.kill('SIGTERM');
    await launchpad?.exited;
  });

  it('says the simulator runs beside the configured node because it was asked to', () => {
    const line = launchpad.output().split('\n').find((l) => l.includes('SIMULATOR:') && l.includes('embedded Proxmox VE simulator'))!;
    expect(line).toContain('PVE_SIMULATOR=on, so node \\"sim\\" is the embedded Proxmox VE simulator, running beside the configured node \\"pve-real\\"');
    expect(line).not.toContain('no Proxmox node is configured');
    expect(line).not.toContain('Add a real node under Nodes');
  });

  it('restarts a SIGKILLed worker with one log line; the console stays up and the build continues within 15 s', async () => {
    const owner = await ensureUser(env.deps, 'supervised', 'supervised-password');
    const sim = (await env.deps.repos.nodes.list()).find((n) => n.isSimulator)!;
    const c = await insertDeployment(env.deps, {
      ownerId: owner.id,
      nodeId: sim.id,
      config: {
        scripts: ['10-long.sh'],
        template: { scripts: [{ name: '10-long.sh', content: 'for i in $(seq 1 60); do echo "tick $i"; sleep 0.1; done; echo long-done' }], files: [], packages: [] },
      },
    });
    await env.deps.queue.add(CREATE_CONTAINER_JOB, { containerId: c.id }, { jobId: c.id });
    const events = () => env.deps.repos.events.listAfter(c.id, 0, 100_000);
    await waitUntil('the script to print', async () => (await events()).some((e) => e.text === 'tick 5'), 90_000);

    const [pid] = workerPids(launchpad.output());
    process.kill(pid!, 'SIGKILL');
    const killedAt = Date.now();
    const seqAtKill = (await env.deps.repos.containers.findById(c.id))!.lastSeq;

    // The web process is not affected.
    const health = await fetch(`http://127.0.0.1:${launchpad.port}/healthz`);
    expect(health.status).toBe(200);

    await waitUntil('the build to continue', async () => (await env.deps.repos.events.listAfter(c.id, seqAtKill, 10)).some((e) => e.kind === 'attempt'), 30_000);
    const continuedMs = Date.now() - killedAt;
    console.log(`kill → build continues (Attempt 2 recorded): ${continuedMs} ms`);
    expect(continuedMs).toBeLessThan(15_000);

    await waitUntil('the container to be ready', async () => (await env.deps.repos.containers.findById(c.id))?.lifecycle === 'ready', 90_000);
    const restartLines = launchpad.output().split('\n').filter((l) => l.startsWith('launchpad: the worker process'));
    expect(restartLines).toHaveLength(1);
    expect(restartLines[0]).toMatch(new RegExp(`^launchpad: the worker process \\(pid ${pid}\\) exited \\(SIGKILL\\) after [\\d.]+ s; restarting it in 1 s\\.$`));
    expect(workerPids(launchpad.output())).toHaveLength(2);
    const all = await events();
    expect(all.filter((e) => e.text === 'long-done')).toHaveLength(1);
    expect(all.find((e) => e.kind === 'attempt')?.text).toMatch(/^Attempt 2: resuming at Run Scripts — the previous run stopped before finishing/);
    expect(all.map((e) => e.seq)).toEqual(all.map((_, i) => i + 1));
  }, 180_000);
});

describe('a child that keeps crashing at start-up', () => {
  it('is restarted with backoff, then the supervisor gives up, says why and exits non-zero', async () => {
    // The web process cannot listen: its port is taken.
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '0.0.0.0', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const launchpad = npmStart(port, { PVE_SIMULATOR: 'off' });
      const code = await launchpad.exited;
      expect(code).toBe(1);
      const lines = launchpad.output().split('\n').filter((l) => l.startsWith('launchpad: the web process'));
      expect(lines.slice(0, 4).map((l) => /restarting it in (\d+) s/.exec(l)?.[1])).toEqual(['1', '2', '4', '8']);
      expect(lines.at(-1)).toContain('the web process crashed 5 times in a row while starting (last: exit code 1); giving up and stopping everything.');
    } finally {
      blocker.close();
    }
  }, 120_000);
});
