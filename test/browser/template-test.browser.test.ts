// "Test in the simulator" in a real browser: an admin clicks the button on a template's page, the run's page shows
// the log as the worker runs the template in a throw-away Debian-mode CT, and the report replaces the status line
// when the run ends — the live page then equals a reload.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getTemplate, syncCatalogue } from '../../src/domain/templates/catalogue.ts';
import { templateTestCapability } from '../../src/tools/template-test-run.ts';
import { launchBrowser, pageWithSession } from '../support/browser.ts';
import { ensureUser, listen, signIn } from '../support/http-session.ts';
import { createTestApp } from '../support/test-app.ts';
import { createTestEnv, type TestEnv } from '../support/test-deps.ts';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process.ts';

const capable = (await templateTestCapability()).ok;
let env: TestEnv;
let worker: WorkerProcess;
let server: Awaited<ReturnType<typeof listen>>;
let browser: Awaited<ReturnType<typeof launchBrowser>>;

beforeAll(async () => {
  // A short heartbeat: the stream sends none while lines flow, so the page must count the lines as hearing it.
  env = await createTestEnv({ TEMPLATES_DIR: path.resolve('templates'), SSE_HEARTBEAT_MS: '2000' });
  await syncCatalogue(env.deps.repos.templates, path.resolve('templates'), env.deps.logger);
  worker = startWorkerProcess(env.deps.config, { SIMULATOR_ROOTFS_CACHE: process.env.SIMULATOR_ROOTFS_CACHE ?? path.resolve('.data/simulator/rootfs') });
  await worker.ready;
  server = await listen(createTestApp(env));
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  worker?.kill();
  await worker?.exited;
  await server?.close();
  await env?.close();
});

describe.skipIf(!capable)('Test in the simulator, in a browser', () => {
  it('follows a run from the click to its report, and the live page equals a reload', async () => {
    await ensureUser(env.deps, 'admin', 'admin-password', 'admin');
    const { cookie } = await signIn(server.baseUrl, 'admin', 'admin-password');
    const { page } = await pageWithSession(browser, server.baseUrl, cookie);
    const template = await getTemplate(env.deps.repos.templates, 'static-web');
    await page.goto(`${server.baseUrl}/templates/${template.id}`);
    await Promise.all([page.waitForURL(/\/tests\//), page.click('button:has-text("Test in the simulator")')]);
    // Lines appear while the run is going, before any report.
    await page.waitForSelector('#log-lines li[id]', { timeout: 120_000 });
    expect(await page.textContent('#test-report')).toMatch(/Queued|Running/);
    // The connection drops once mid-run (the browser says it went offline and came back): the page reconnects from
    // the last line it has, so no line shows twice (checked against a reload below).
    await page.evaluate(() => {
      window.dispatchEvent(new Event('offline'));
      window.dispatchEvent(new Event('online'));
    });
    await page.waitForSelector('#test-report:has-text("Passed: the build ended Ready.")', { timeout: 300_000 });
    for (const script of template.scripts.filter((s) => s.enabled)) {
      expect(await page.textContent('#test-report')).toContain(script.name);
    }
    // Two connections for the whole run, the second after the drop: the page never took the busy stream for a dead one.
    expect(await page.evaluate(() => (window as unknown as { launchpadStream: { opened: number } }).launchpadStream.opened)).toBe(2);
    const live = { report: await page.innerHTML('#test-report'), lines: await page.locator('#log-lines li[id]').allTextContents() };
    await page.reload();
    expect(await page.innerHTML('#test-report')).toBe(live.report);
    expect(await page.locator('#log-lines li[id]').allTextContents()).toEqual(live.lines);
    expect(live.lines.length).toBeGreaterThan(20);
  }, 360_000);
});
