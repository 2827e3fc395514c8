// A container's History and /activity (issue #17), through the front door: a build that fails and is retried, two
// power actions and a destroy, run by a real worker process against the simulator, then read back as each role
// would. Also: each attempt's own log, pagination, the operator rule on /activity, a job delivered twice writing
// one entry, and the backfill of builds recorded before the history existed.
import type { Express } from 'express';
import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as backfill from '../migrations/20261129000400_backfill_build_history.ts';
import { runCreatePipeline } from '../src/domain/pipeline/pipeline-runner.ts';
import type { HistoryEntry, HistoryKind } from '../src/domain/history/history.ts';
import { HISTORY_PAGE_SIZE } from '../src/domain/history/history-pages.ts';
import { enqueueJob } from '../src/jobs/enqueue.ts';
import { containerJobs } from '../src/jobs/container-jobs.ts';
import { CONTAINER_ACTION_JOB, CREATE_CONTAINER_JOB, actionJobId, type JobDataByName } from '../src/jobs/job-types.ts';
import { insertContainer } from './support/fixtures.ts';
import { ensureUser } from './support/http-session.ts';
import { testPipelineDeps } from './support/pipeline-deps.ts';
import { signedInAgent, type SignedInAgent } from './support/session.ts';
import { insertDeployment, startTestSimulator } from './support/simulator-fixtures.ts';
import { createTestApp } from './support/test-app.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process.ts';

let env: TestEnv;
let simulator: Awaited<ReturnType<typeof startTestSimulator>>;
let app: Express;
let worker: WorkerProcess;
const users = {} as Record<'admin' | 'alice' | 'bob' | 'vera', { id: number; as: SignedInAgent }>;
/** alice's container: attempt 1 fails, attempt 2 (Retry) succeeds, then stop, start, destroy. */
let flaky: { id: string; hostname: string };

const waitUntil = async (what: string, check: () => Promise<boolean>, timeoutMs = 60_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};
const lifecycle = async (id: string) => (await env.deps.repos.containers.findById(id))?.lifecycle;
const entries = (containerId: string, kind?: HistoryKind) => env.deps.repos.history.list({ containerId, kind }, { limit: 1000, offset: 0 });

/** A browser without JavaScript posting a button's form. */
async function post(who: SignedInAgent, path: string, body: Record<string, string> = {}) {
  const res = await who.agent.post(path).type('form').send({ _csrf: await who.csrf(), ...body });
  expect(res.status, res.text.slice(0, 300)).toBe(303);
}

interface ShownEntry {
  kind: string;
  outcome: string;
  attempt?: number;
  at: string;
  by: string;
  summary: string;
  hostname?: string;
}

/** The history entries an HTML page or fragment shows, in order (views/partials/history/entries.eta). */
function shownEntries(html: string): ShownEntry[] {
  return [...html.matchAll(/<li class="[^"]*" data-kind="([^"]+)" data-outcome="([^"]*)"(?: data-attempt="(\d+)")?>([\s\S]*?)<\/li>/g)].map((m) => {
    const body = m[4]!;
    return {
      kind: m[1]!,
      outcome: m[2]!,
      attempt: m[3] ? Number(m[3]) : undefined,
      at: /<time datetime="([^"]+)"/.exec(body)![1]!,
      by: /<span class="flex-none text-slate-500">([^<]*)<\/span>/.exec(body)![1]!,
      summary: /<span class="min-w-0[^"]*">([^<]*)<\/span>/.exec(body)![1]!,
      hostname: /<a href="\/containers\/[^"]+" class="flex-none font-medium[^"]*">([^<]+)<\/a>/.exec(body)?.[1],
    };
  });
}
const historySection = (html: string) => /<section id="history"[\s\S]*?<\/section>/.exec(html)?.[0] ?? '';

beforeAll(async () => {
  env = await createTestEnv();
  simulator = await startTestSimulator(env.deps);
  app = createTestApp(env);
  for (const [name, role] of [['admin', 'admin'], ['alice', 'operator'], ['bob', 'operator'], ['vera', 'viewer']] as const) {
    const user = await ensureUser(env.deps, `hist-${name}`, `${name}-password-long`, role);
    users[name] = { id: user.id, as: await signedInAgent(app, env.deps, { username: user.username, password: `${name}-password-long` }) };
  }
  worker = startWorkerProcess(env.config);
  await worker.ready;

  // alice deploys a container whose last script fails on its first run only.
  const flakyScript = { name: '99-flaky.sh', content: 'set -eu\nif [ ! -e /root/second-run ]; then touch /root/second-run; echo "first run fails" >&2; exit 7; fi\necho "second run works"\n' };
  const row = await insertDeployment(env.deps, {
    ownerId: users.alice.id, nodeId: simulator.node.id, hostname: 'hist-flaky',
    config: { scripts: [flakyScript.name], template: { scripts: [flakyScript], files: [], packages: [] } },
  });
  flaky = { id: row.id, hostname: row.hostname };
  await enqueueJob(env.deps.queue, CREATE_CONTAINER_JOB, { containerId: row.id, requestedBy: users.alice.id }, { jobId: row.id });
  await waitUntil('attempt 1 to fail', async () => (await lifecycle(row.id)) === 'failed');
  await post(users.alice.as, `/containers/${row.id}/retry`);
  await waitUntil('attempt 2 to be ready', async () => (await lifecycle(row.id)) === 'ready');
  for (const action of ['stop', 'start'] as const) {
    const before = (await entries(row.id, 'action')).length;
    await post(users.admin.as, `/containers/${row.id}/${action}`);
    await waitUntil(`the ${action} to end`, async () => (await entries(row.id, 'action')).length > before && (await env.deps.repos.containers.findById(row.id))?.currentAction === null);
  }
  await post(users.alice.as, `/containers/${row.id}/destroy`, { confirm_hostname: row.hostname });
  await waitUntil('the destroy to end', async () => (await lifecycle(row.id)) === 'destroyed');
}, 120_000);
afterAll(async () => {
  if (worker) {
    worker.kill('SIGTERM');
    await worker.exited;
  }
  await simulator?.close();
  await env?.close();
});

describe('the History section of a container page', () => {
  it('lists every build attempt, power action and destroy with who, when and how it ended, newest first', async () => {
    const page = await users.alice.as.agent.get(`/containers/${flaky.id}`).expect(200);
    const shown = shownEntries(historySection(page.text));
    expect(shown.map(({ kind, outcome, attempt, by }) => ({ kind, outcome, attempt, by }))).toEqual([
      { kind: 'destroy', outcome: 'succeeded', attempt: undefined, by: 'by hist-alice' },
      { kind: 'action', outcome: 'succeeded', attempt: undefined, by: 'by hist-admin' },
      { kind: 'action', outcome: 'succeeded', attempt: undefined, by: 'by hist-admin' },
      { kind: 'build', outcome: 'succeeded', attempt: 2, by: 'by hist-alice' },
      { kind: 'build', outcome: 'failed', attempt: 1, by: 'by hist-alice' },
    ]);
    expect(shown[1]!.summary).toMatch(/^Start: CT \d+ is running\.$/);
    expect(shown[2]!.summary).toMatch(/^Stop: CT \d+ is stopped\.$/);
    expect(shown[4]!.summary).toContain('Attempt 1 failed at Run Scripts: Script 99-flaky.sh exited with code 7');
    const times = shown.map((e) => Date.parse(e.at));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    // Each attempt links to its own log.
    for (const n of [1, 2]) expect(page.text).toContain(`href="/containers/${flaky.id}/attempts/${n}"`);
  });

  it('filters by kind, as a page of its own without JavaScript and as the section alone for htmx', async () => {
    const actions = await users.vera.as.agent.get(`/containers/${flaky.id}/history?kind=action`).expect(200);
    expect(actions.text).toContain('<h1 class="text-xl font-semibold">History of hist-flaky</h1>');
    expect(shownEntries(actions.text).map((e) => e.kind)).toEqual(['action', 'action']);
    expect(actions.text).toMatch(/aria-current="page">Power actions</);

    const builds = await users.vera.as.agent.get(`/containers/${flaky.id}/history?kind=build`).set('HX-Request', 'true').expect(200);
    expect(builds.text.trimStart()).toMatch(/^<section id="history"/);
    expect(builds.text).not.toContain('<html');
    expect(shownEntries(builds.text).map((e) => [e.kind, e.attempt])).toEqual([['build', 2], ['build', 1]]);

    const health = await users.vera.as.agent.get(`/containers/${flaky.id}/history?kind=health`).expect(200);
    expect(shownEntries(health.text)).toEqual([]);
    expect(health.text).toContain('No health changes yet.');
  });
});

describe('each build attempt on its own', () => {
  it("keeps attempt 1's log and phases reachable after attempt 2, apart from attempt 2's", async () => {
    const one = await users.vera.as.agent.get(`/containers/${flaky.id}/attempts/1`).expect(200);
    expect(one.text).toContain('Build attempt 1');
    expect(one.text).toMatch(/id="attempt-state" class="badge [^"]*">failed</);
    expect(one.text).toContain('first run fails');
    expect(one.text).not.toContain('second run works');
    expect(one.text).toMatch(/id="step-syncing" data-state="failed"/);

    const two = await users.vera.as.agent.get(`/containers/${flaky.id}/attempts/2`).expect(200);
    expect(two.text).toMatch(/id="attempt-state" class="badge [^"]*">succeeded</);
    expect(two.text).toContain('second run works');
    expect(two.text).not.toContain('first run fails');
    expect(two.text).toMatch(/id="step-syncing" data-state="done"/);

    const raw1 = await users.vera.as.agent.get(`/containers/${flaky.id}/log.txt?attempt=1`).buffer(true).expect(200);
    const raw2 = await users.vera.as.agent.get(`/containers/${flaky.id}/log.txt?attempt=2`).buffer(true).expect(200);
    const all = await users.vera.as.agent.get(`/containers/${flaky.id}/log.txt`).buffer(true).expect(200);
    expect(raw1.text).toContain('first run fails');
    expect(raw1.text).not.toContain('second run works');
    expect(raw2.text).toContain('second run works');
    expect(raw2.text).not.toContain('first run fails');
    // Together they are the build's part of the whole log (the actions and the destroy wrote the rest).
    expect(all.text.startsWith(raw1.text + raw2.text)).toBe(true);

    const missing = await users.vera.as.agent.get(`/containers/${flaky.id}/attempts/3`);
    expect(missing.status).toBe(404);
    expect(missing.text).toContain('Build attempt 3 (this container has had 2) does not exist');
  });
});

describe('pagination', () => {
  it('pages a long history newest first, without gaps or repeats, with and without a kind filter', async () => {
    const many = await insertContainer(env.deps, users.bob.id, simulator.node.id, 'hist-many');
    const base = Date.now() - 3_600_000;
    const total = 3 * HISTORY_PAGE_SIZE + 5; // a third of them health changes: more than a page of those too
    for (let i = 0; i < total; i++) {
      await env.deps.repos.history.record({
        containerId: many.id, at: new Date(base + i * 1000), kind: i % 3 === 0 ? 'health' : 'action', userId: null, username: null,
        attempt: null, outcome: i % 3 === 0 ? 'healthy' : 'succeeded', summary: `entry ${i}`, details: {},
      });
    }
    const pages: string[][] = [];
    for (let page = 1; ; page++) {
      const res = await users.bob.as.agent.get(`/containers/${many.id}/history${page > 1 ? `?page=${page}` : ''}`).expect(200);
      pages.push(shownEntries(res.text).map((e) => e.summary));
      if (!res.text.includes('rel="next"')) break;
      expect(pages.length).toBeLessThan(10);
    }
    expect(pages.map((p) => p.length)).toEqual([HISTORY_PAGE_SIZE, HISTORY_PAGE_SIZE, HISTORY_PAGE_SIZE, 5]);
    expect(pages.flat()).toEqual(Array.from({ length: total }, (_, i) => `entry ${total - 1 - i}`));

    const health = Array.from({ length: total }, (_, i) => i).filter((i) => i % 3 === 0).reverse().map((i) => `entry ${i}`);
    const h1 = await users.bob.as.agent.get(`/containers/${many.id}/history?kind=health`).expect(200);
    expect(h1.text).toContain(`href="/containers/${many.id}/history?kind=health&amp;page=2"`);
    const h2 = await users.bob.as.agent.get(`/containers/${many.id}/history?kind=health&page=2`).expect(200);
    expect([...shownEntries(h1.text), ...shownEntries(h2.text)].map((e) => e.summary)).toEqual(health);
    expect(h2.text).toContain(`href="/containers/${many.id}/history?kind=health"`); // Newer: back to page 1

    // The container page's own section shows the first page and links to the next.
    const page = await users.bob.as.agent.get(`/containers/${many.id}`).expect(200);
    expect(shownEntries(historySection(page.text)).map((e) => e.summary)).toEqual(pages[0]);
    expect(historySection(page.text)).toContain(`href="/containers/${many.id}/history?page=2"`);
  });
});

describe('/activity', () => {
  const hostnamesOn = async (who: SignedInAgent, query = '') => {
    const res = await who.agent.get(`/activity${query}`).expect(200);
    return new Set(shownEntries(res.text).map((e) => e.hostname));
  };

  it('shows every container to admins and viewers, and each operator only their own', async () => {
    // bob's container with a long history exists once the pagination test ran; give him one entry in any case.
    const bobs = (await env.deps.repos.containers.listVisible({ id: users.bob.id, role: 'operator' }))[0] ?? (await insertContainer(env.deps, users.bob.id, simulator.node.id, 'hist-bobs'));
    await env.deps.repos.history.record({ containerId: bobs.id, kind: 'health', userId: null, username: null, attempt: null, outcome: 'down', summary: 'nothing listens on 5432', details: {} });

    for (const who of [users.admin, users.vera]) {
      expect(await hostnamesOn(who.as, '?kind=build')).toEqual(new Set(['hist-flaky']));
      expect(await hostnamesOn(who.as, '?kind=health')).toContain(bobs.hostname);
      expect(await hostnamesOn(who.as, '?kind=destroy')).toEqual(new Set(['hist-flaky']));
    }
    expect(await hostnamesOn(users.alice.as)).toEqual(new Set(['hist-flaky']));
    expect(await hostnamesOn(users.bob.as)).toEqual(new Set([bobs.hostname]));
    const bobsBuilds = await users.bob.as.agent.get('/activity?kind=build').expect(200);
    expect(shownEntries(bobsBuilds.text)).toEqual([]);
    expect(bobsBuilds.text).toContain('No builds yet.');
    expect(bobsBuilds.text).toContain('of your containers');

    // The hostname links to the container; the nav links to /activity.
    const admin = await users.admin.as.agent.get('/activity?kind=build').expect(200);
    expect(admin.text).toContain(`<a href="/containers/${flaky.id}" class="flex-none font-medium`);
    expect(admin.text).toMatch(/<a href="\/activity" class="[^"]*" aria-current="page">Activity<\/a>/);
  });

  it('pages newest first over every entry, and answers scripts in JSON', async () => {
    const [counted] = await env.deps.knex('container_history').count<{ count: string }[]>({ count: '*' });
    const total = Number(counted!.count);
    expect(total).toBeGreaterThan(50);
    const first = await users.admin.as.agent.get('/activity').expect(200);
    const second = await users.admin.as.agent.get('/activity?page=2').expect(200);
    const shown = [...shownEntries(first.text), ...shownEntries(second.text)];
    expect(shownEntries(first.text)).toHaveLength(50);
    expect(shown.length).toBe(Math.min(total, 100));
    const times = shown.map((e) => Date.parse(e.at));
    expect(times).toEqual([...times].sort((a, b) => b - a));

    const json = await users.vera.as.agent.get('/activity?kind=build').set('Accept', 'application/json').expect(200);
    expect(json.body.entries.map((e: { attempt: number; container: { hostname: string } }) => [e.container.hostname, e.attempt])).toEqual([['hist-flaky', 2], ['hist-flaky', 1]]);
  });
});

describe('exactly once', () => {
  const ctx = { shutdown: new AbortController().signal };
  const actionJob = (containerId: string, timestamp: number, attemptsStarted: number) =>
    ({ name: CONTAINER_ACTION_JOB, id: actionJobId(containerId), timestamp, attemptsStarted, data: { containerId, action: 'stop', requestedBy: users.alice.id } }) as unknown as Job<JobDataByName['container-action']>;

  it('a build or action job delivered again after a worker crash writes no second entry', async () => {
    const deps = testPipelineDeps(env);
    const c = await insertDeployment(env.deps, { ownerId: users.alice.id, nodeId: simulator.node.id, hostname: 'hist-once' });
    expect(await runCreatePipeline(deps, c.id, new AbortController().signal, { requestedBy: users.alice.id })).toBe('ready');
    const built = await entries(c.id, 'build');
    expect(built.map((e) => [e.attempt, e.outcome, e.username])).toEqual([[1, 'succeeded', 'hist-alice']]);
    // Delivered again: the build is settled, nothing is written.
    expect(await runCreatePipeline(deps, c.id, new AbortController().signal, { requestedBy: users.alice.id })).toBe('skipped');
    expect(await entries(c.id, 'build')).toEqual(built);
    // A crash between the build's end and its entry: the next delivery writes it, once.
    await env.deps.knex('container_history').where({ container_id: c.id }).del();
    for (let i = 0; i < 2; i++) expect(await runCreatePipeline(deps, c.id, new AbortController().signal, { requestedBy: users.alice.id })).toBe('skipped');
    expect((await entries(c.id, 'build')).map((e) => [e.attempt, e.outcome, e.username])).toEqual([[1, 'succeeded', 'hist-alice']]);

    // A stop whose worker died after writing the entry but before releasing the lock is delivered again.
    const queuedAt = Date.now();
    expect(await env.deps.repos.containers.claimAction(c.id, 'stop', ['ready'], 'admin')).toBeDefined();
    expect(await containerJobs[CONTAINER_ACTION_JOB](env.deps, actionJob(c.id, queuedAt, 1), undefined, ctx)).toBe('done');
    expect(await env.deps.repos.containers.claimAction(c.id, 'stop', ['ready'], 'admin')).toBeDefined();
    expect(await containerJobs[CONTAINER_ACTION_JOB](env.deps, actionJob(c.id, queuedAt, 2), undefined, ctx)).toBe('done');
    expect((await entries(c.id, 'action')).map((e) => [e.outcome, e.username])).toEqual([['succeeded', 'hist-alice']]);
    // A new request is a new entry.
    expect(await env.deps.repos.containers.claimAction(c.id, 'stop', ['ready'], 'admin')).toBeDefined();
    expect(await containerJobs[CONTAINER_ACTION_JOB](env.deps, actionJob(c.id, queuedAt + 1, 1), undefined, ctx)).toBe('done');
    expect(await entries(c.id, 'action')).toHaveLength(2);
  }, 60_000);
});

describe('builds recorded before the history existed', () => {
  it('are backfilled from the event log as the worker would have written them', async () => {
    const live = (await entries(flaky.id, 'build')).reverse();
    await env.deps.knex('container_history').where({ container_id: flaky.id, kind: 'build' }).del();
    await backfill.up(env.deps.knex);
    await backfill.up(env.deps.knex); // twice: still one entry per attempt
    const filled = (await entries(flaky.id, 'build')).reverse();
    const essence = (e: HistoryEntry) => ({ attempt: e.attempt, outcome: e.outcome, username: e.username, userId: e.userId, slice: [e.details.fromSeq, e.details.toSeq] });
    expect(filled.map(essence)).toEqual(live.map(essence));
    expect(filled.map((e) => e.details.backfilled)).toEqual([true, true]);
    const page = await users.alice.as.agent.get(`/containers/${flaky.id}/attempts/1`).expect(200);
    expect(page.text).toContain('first run fails');
    expect(page.text).not.toContain('second run works');
  });
});
