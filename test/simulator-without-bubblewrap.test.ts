// Issue 14 finding 1: on a machine without bubblewrap the simulator told untruths — the first build of the
// postgresql template logged "Helper library already installed", "already pushed — skipped" and "completed in an
// earlier attempt — skipped", and its first line said scripts run in a sandbox. Now every marker check reads
// "not done", each step says its work was simulated, and the first line says commands are not run.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordSimulatorSandbox } from '../src/domain/nodes/simulator-badge.ts';
import { runCreatePipeline, type PipelineDeps } from '../src/domain/pipeline/pipeline-runner.ts';
import { getTemplate, syncCatalogue } from '../src/domain/templates/catalogue.ts';
import { HELPER_LIBRARY_TARGET } from '../src/domain/templates/helper-library.ts';
import { ensureUser } from './support/http-session.ts';
import { insertDeployment, startTestSimulator } from './support/simulator-fixtures.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';
import { testPipelineDeps } from './support/pipeline-deps.ts';
import type { ContainerEvent } from '../src/domain/containers/container-event.ts';

let env: TestEnv;
let simulator: Awaited<ReturnType<typeof startTestSimulator>>;
let deps: PipelineDeps;

beforeAll(async () => {
  env = await createTestEnv();
  simulator = await startTestSimulator(env.deps, { sandbox: false });
  // What `npm start` records after starting the simulator.
  await recordSimulatorSandbox(env.deps.repos.settings, simulator.sim.sandboxed);
  await syncCatalogue(env.deps.repos.templates, path.resolve('templates'), env.deps.logger);
  deps = testPipelineDeps(env);
}, 60_000);
afterAll(async () => {
  await simulator?.close();
  await env?.close();
});

const UNTRUE_SKIPS = /already installed|already pushed — skipped|completed in an earlier attempt|packages already installed/;

const logLines = (events: ContainerEvent[]) => events.filter((e) => e.kind === 'log').map((e) => e.text ?? '');

describe('the simulator without bubblewrap', () => {
  it('says so in every step of a postgresql build, on the first attempt and on a retry, and skips nothing as done', async () => {
    expect(simulator.sim.sandboxed).toBe(false);
    const owner = await ensureUser(env.deps, 'builder', 'builder-password');
    const template = await getTemplate(env.deps.repos.templates, 'postgresql');
    const c = await insertDeployment(env.deps, { ownerId: owner.id, nodeId: simulator.node.id, template });
    expect(await runCreatePipeline(deps, c.id, new AbortController().signal)).toBe('ready');

    const events = await env.deps.repos.events.listAfter(c.id, 0, 100_000);
    const log = logLines(events);
    expect(log[0]).toMatch(/^Node sim is the embedded Proxmox VE simulator without bubblewrap: commands inside the CT are NOT run/);
    expect(log[0]).toContain('apt-get install bubblewrap');
    expect(log.join('\n')).not.toMatch(/scripts run in a sandbox/);
    expect(log.filter((l) => UNTRUE_SKIPS.test(l))).toEqual([]);

    expect(log).toContain(`Installed the helper library at ${HELPER_LIBRARY_TARGET} — simulated: bubblewrap is missing on the Launchpad host, so nothing ran inside the CT.`);
    const pushed = log.filter((l) => /: pushed \(/.test(l));
    expect(pushed).toHaveLength(template.files.length);
    for (const line of pushed) expect(line).toMatch(/— simulated: bubblewrap is missing/);
    for (const script of template.scripts.filter((s) => s.enabled)) {
      expect(log).toContain(`✔ ${script.name}: not run — simulated: bubblewrap is missing on the Launchpad host, so nothing ran inside the CT.`);
    }
    expect(log.some((l) => /^apt packages: not installed — simulated/.test(l))).toBe(true);
    // The script's own output is the node's echo, each line marked.
    expect(log.some((l) => l.startsWith('simulated: '))).toBe(true);
    const ready = (await env.deps.repos.containers.findById(c.id))!;
    expect(events.findLast((e) => e.kind === 'complete')?.text).toMatch(/^Ready — .* \(simulated: no file, package or script reached the CT\)$/);
    // Nothing was written into the CT's directory.
    const ct = simulator.sim.state.container(ready.vmid!)!;
    expect(existsSync(path.join(ct.rootDir, HELPER_LIBRARY_TARGET))).toBe(false);

    // A retry from the deploy phase still finds nothing done.
    await env.deps.repos.containers.update(c.id, { lifecycle: 'queued', currentStep: 'deploying' });
    expect(await runCreatePipeline(deps, c.id, new AbortController().signal)).toBe('ready');
    const retry = logLines((await env.deps.repos.events.listAfter(c.id, events.at(-1)!.seq, 100_000)));
    expect(retry.filter((l) => UNTRUE_SKIPS.test(l))).toEqual([]);
    expect(retry.filter((l) => l.startsWith('Installed the helper library'))).toHaveLength(1);
  }, 120_000);
});
