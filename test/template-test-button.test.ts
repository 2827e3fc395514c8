// "Test in the simulator" on a template's page: an admin's click queues a run, a real worker process runs the template
// in a throw-away Debian-mode CT of a private simulator, the run's stream carries the log live and ends with the
// report (each script's exit and time). A deliberately broken template fails with its script's message; a second
// click while a run is live is refused; a non-admin is refused.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getTemplate, syncCatalogue } from '../src/domain/templates/catalogue.ts';
import { templateTestCapability } from '../src/tools/template-test-run.ts';
import { connectSse, type SseConnection } from './support/sse-client.ts';
import { ensureUser, listen, signIn } from './support/http-session.ts';
import { createTestApp } from './support/test-app.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process.ts';

const MINUTES = 60_000;
const capable = (await templateTestCapability()).ok;
let env: TestEnv;
let app: ReturnType<typeof createTestApp>;
let admin: { cookie: string; csrf: string };
let worker: WorkerProcess;
let server: Awaited<ReturnType<typeof listen>>;

beforeAll(async () => {
  env = await createTestEnv({ TEMPLATES_DIR: path.resolve('templates') });
  app = createTestApp(env);
  await syncCatalogue(env.deps.repos.templates, path.resolve('templates'), env.deps.logger);
  // A copy of static-web whose second script fails, as an author's mistake would.
  const good = await getTemplate(env.deps.repos.templates, 'static-web');
  await env.deps.repos.templates.createCustom({
    ...good, name: 'broken-web', packageSets: [],
    scripts: [good.scripts[0]!, { name: '20-broken.sh', position: 2, enabled: true, content: 'echo "about to fail" >&2\necho "config/site.conf is missing" >&2\nexit 3\n' }],
  });
  worker = startWorkerProcess(env.deps.config, { SIMULATOR_ROOTFS_CACHE: process.env.SIMULATOR_ROOTFS_CACHE ?? path.resolve('.data/simulator/rootfs') });
  await worker.ready;
  server = await listen(app);
  await ensureUser(env.deps, 'admin', 'admin-password', 'admin');
  admin = await signIn(server.baseUrl, 'admin', 'admin-password');
}, 2 * MINUTES);

afterAll(async () => {
  worker?.kill();
  await worker?.exited;
  await server?.close();
  await env?.close();
});

async function startTest(name: string, as = admin): Promise<{ status: number; location: string }> {
  const template = await getTemplate(env.deps.repos.templates, name);
  const res = await fetch(`${server.baseUrl}/templates/${template.id}/test`, {
    method: 'POST', redirect: 'manual',
    headers: { Cookie: as.cookie, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: as.csrf }),
  });
  return { status: res.status, location: res.headers.get('location') ?? '' };
}

async function get(location: string, as = admin): Promise<{ status: number; text: string }> {
  const res = await fetch(`${server.baseUrl}${location}`, { headers: { Cookie: as.cookie } });
  return { status: res.status, text: await res.text() };
}

const follow = (location: string): Promise<SseConnection> => connectSse(`${server.baseUrl}${location}/events`, { cookie: admin.cookie });

describe.skipIf(!capable)('Test in the simulator', () => {
  it('runs a template in a throw-away CT, streams its log live and reports each script', async () => {
    const started = await startTest('static-web');
    expect(started.status).toBe(303);
    expect(started.location).toMatch(/^\/templates\/\d+\/tests\/[0-9a-f-]{36}$/);

    const page = await get(started.location);
    expect(page.status).toBe(200);
    expect(page.text).toContain('Test of static-web in the simulator');
    expect(page.text).toMatch(/sse-connect="\/templates\/\d+\/tests\/[0-9a-f-]{36}\/events\?after=\d+"/);

    const stream = await follow(started.location);
    const done = await stream.waitFor((e) => e.event === 'done', 5 * MINUTES);
    const lines = stream.events.filter((e) => e.event === 'lines').map((e) => e.data).join('\n');
    // Lines arrived as they happened (several batches), in the container log's markup.
    expect(stream.events.filter((e) => e.event === 'lines').length).toBeGreaterThan(1);
    expect(lines).toMatch(/<li id="L1" data-t="\d\d:\d\d:\d\d"/);
    expect(lines).toContain('real Debian 12');
    const report = stream.events.find((e) => e.event === 'done')!.data;
    expect(report).toContain('Passed: the build ended Ready.');
    for (const script of (await getTemplate(env.deps.repos.templates, 'static-web')).scripts.filter((s) => s.enabled)) {
      expect(report).toMatch(new RegExp(`${script.name.replace('.', '\\.')}</td><td class="py-1">exit 0</td><td class="py-1 text-right tabular-nums">\\d+\\.\\d s`));
    }
    expect(report).toContain('The throw-away CT and its data were removed.');
    expect(Number(done.id)).toBeGreaterThan(10);

    // A reload shows the same report and every line (what the stream carried is what the page has).
    const reload = await get(started.location);
    expect(reload.text).toContain('Passed: the build ended Ready.');
    expect(reload.text).not.toContain('sse-connect=');
    expect((reload.text.match(/<li id="L\d+"/g) ?? []).length).toBe(Number(done.id) - (lines.match(/class="log-marker"/g) ?? []).length);
    // Nothing of the run is left in the console's own data.
    expect(await env.deps.repos.containers.listVisible({ id: 0, role: 'admin' })).toEqual([]);
  }, 6 * MINUTES);

  it('fails a broken template with its script\'s exit and message', async () => {
    const started = await startTest('broken-web');
    const stream = await follow(started.location);
    await stream.waitFor((e) => e.event === 'done', 5 * MINUTES);
    const report = stream.events.find((e) => e.event === 'done')!.data;
    expect(report).toContain('Failed.');
    expect(report).toMatch(/20-broken\.sh<\/td><td class="py-1">exit 3<\/td>/);
    expect(report).toContain('Script 20-broken.sh exited with code 3');
    const lines = stream.events.filter((e) => e.event === 'lines').map((e) => e.data).join('\n');
    expect(lines).toContain('config/site.conf is missing');
  }, 6 * MINUTES);

  it('refuses a second run of the same template while one is live, and non-admins', async () => {
    const first = await startTest('static-web');
    const second = await startTest('static-web');
    expect(second.status).toBe(303);
    expect(second.location).toMatch(/^\/templates\/\d+$/);
    const page = await get(second.location);
    expect(page.text).toContain('A test of “static-web” is already');

    await ensureUser(env.deps, 'someone', 'someone-password', 'operator');
    const other = await signIn(server.baseUrl, 'someone', 'someone-password');
    const template = await getTemplate(env.deps.repos.templates, 'static-web');
    expect((await get(`/templates/${template.id}`, other)).text).not.toContain('Test in the simulator');
    expect((await startTest('static-web', other)).status).toBe(403);
    expect((await get(first.location, other)).status).toBe(403);
    expect((await get(`${first.location}/events`, other)).status).toBe(403);

    const stream = await follow(first.location);
    await stream.waitFor((e) => e.event === 'done', 5 * MINUTES);
  }, 6 * MINUTES);
});
