// A create cut short by a node restart. pve-container's create_vm writes a config holding only `lock: create` before
// its vzcreate worker starts, and only that worker removes it (with the lock, or the whole config on failure); a node
// restarted mid-create leaves the config behind, locked, and the task ends with `unexpected status` (no final line,
// pve-common UPID.pm read_status). Nothing will ever release that lock: the build must say so and what to run on the
// node, not wait for it and then blame "another operation".
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerSimulatorNode } from '../src/domain/nodes/simulator-node.ts';
import { WorkerShutdown, runCreatePipeline, type PipelineDeps } from '../src/domain/pipeline/pipeline-runner.ts';
import { startSimulator, type SimulatorHandle } from '../src/simulator/index.ts';
import { ensureUser } from './support/http-session.ts';
import { insertDeployment } from './support/simulator-fixtures.ts';
import { testPipelineDeps } from './support/pipeline-deps.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';

let env: TestEnv;
let dataDir: string;
let sim: SimulatorHandle | undefined;
let deps: PipelineDeps;

const start = async () => {
  sim = await startSimulator({ dataDir, speed: 5, authDelayMs: 0, rootfs: { mode: 'host' } });
  return registerSimulatorNode(env.deps, sim);
};

beforeAll(async () => {
  env = await createTestEnv();
  dataDir = await mkdtemp(path.join(tmpdir(), 'launchpad-stale-lock-'));
  deps = testPipelineDeps(env, { pollMs: 50, ipWaitMs: 4000, lockWaitMs: 20_000 });
});
afterAll(async () => {
  await sim?.close();
  await rm(dataDir, { recursive: true, force: true });
  await env?.close();
});

const waitUntil = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('a CT left locked (create) by a node restarted during its create', () => {
  it('a Retry says at once that nothing will release the lock and what to run on the node', async () => {
    const node = await start();
    const ownerId = (await ensureUser(env.deps, 'stale', 'stale-password')).id;
    const c = await insertDeployment(env.deps, { ownerId, nodeId: node.id, vmid: 300 });
    sim!.faults.set({ slowStorage: true });
    const run = new AbortController();
    const building = runCreatePipeline(deps, c.id, run.signal);
    await waitUntil('the create task', async () => sim!.state.containers.get(300)?.lock === 'create' && !!(await env.deps.repos.containers.findById(c.id))?.createUpid);
    // The worker goes (the build resumes later); then the node loses power while vzcreate still runs: its data
    // directory stays as it was at that instant (an orderly close would let the task clean up, as a real reboot does).
    run.abort(new WorkerShutdown());
    expect(await building).toBe('interrupted');
    const stateFile = path.join(dataDir, 'state.json');
    const atCrash = await readFile(stateFile);
    await sim!.close();
    await writeFile(stateFile, atCrash);
    await start();
    expect(sim!.state.containers.get(300)?.lock).toBe('create');
    const upid = (await env.deps.repos.containers.findById(c.id))!.createUpid!;
    expect(sim!.state.tasks.get(upid)).toMatchObject({ status: 'stopped', exitstatus: 'unexpected status' });

    // The next worker follows the task to its end: it ended without finishing.
    expect(await runCreatePipeline(deps, c.id, new AbortController().signal)).toBe('failed');
    // That first failure already says why and what to run, not a bare 'unexpected status — Retry'.
    const first = (await env.deps.repos.containers.findById(c.id))!;
    expect(first.error).toContain('CT 300 on sim is still locked (create), but its create task has ended (unexpected status)');
    expect(first.error).toContain('pct unlock 300 && pct destroy 300');
    // Retry: no waiting for a lock nothing releases, and no "another operation holds it".
    await env.deps.repos.containers.update(c.id, { lifecycle: 'queued' });
    const started = Date.now();
    expect(await runCreatePipeline(deps, c.id, new AbortController().signal)).toBe('failed');
    expect(Date.now() - started).toBeLessThan(10_000);
    const failed = (await env.deps.repos.containers.findById(c.id))!;
    expect(failed.error).toContain('CT 300 on sim is still locked (create), but its create task has ended (unexpected status)');
    expect(failed.error).toContain('pct unlock 300 && pct destroy 300');
    expect(failed.error).not.toContain('another operation holds it');
    // Nothing was sent to the CT but reads.
    expect(sim!.state.containers.get(300)?.lock).toBe('create');
  }, 90_000);
});
