/// <reference lib="dom" />
// The History section in a real browser under the app's CSP: its filter and page links swap the section in place
// (htmx), the address bar stays on the container page, and no swap is refused by the Content-Security-Policy; an
// attempt's page and /activity render at phone width without a horizontal scrollbar. Set SCREENSHOT_DIR to keep
// screenshots of each (desktop and 390 px wide).
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLifecycleAction } from '../../src/domain/pipeline/lifecycle-action-pipeline.ts';
import { runCreatePipeline } from '../../src/domain/pipeline/pipeline-runner.ts';
import { HISTORY_PAGE_SIZE } from '../../src/domain/history/history-pages.ts';
import { launchBrowser, pageWithSession } from '../support/browser.ts';
import { ensureUser, listen, signIn } from '../support/http-session.ts';
import { testPipelineDeps } from '../support/pipeline-deps.ts';
import { insertDeployment, startTestSimulator } from '../support/simulator-fixtures.ts';
import { createTestApp } from '../support/test-app.ts';
import { createTestEnv, type TestEnv } from '../support/test-deps.ts';

let env: TestEnv;
let sim: Awaited<ReturnType<typeof startTestSimulator>>;
let server: Awaited<ReturnType<typeof listen>>;
let browser: Browser;
let cookie: string;
let containerId: string;

beforeAll(async () => {
  env = await createTestEnv();
  sim = await startTestSimulator(env.deps);
  server = await listen(createTestApp(env));
  browser = await launchBrowser();
  const admin = await ensureUser(env.deps, 'hist-admin', 'admin-password-long', 'admin');
  cookie = (await signIn(server.baseUrl, 'hist-admin', 'admin-password-long')).cookie;

  // A build that fails once and succeeds on its second attempt, a stop, and more health changes than fit a page.
  const deps = testPipelineDeps(env);
  const flaky = { name: '99-flaky.sh', content: 'if [ ! -e /root/again ]; then touch /root/again; echo "first run fails" >&2; exit 3; fi\necho "second run works"\n' };
  const c = await insertDeployment(env.deps, {
    ownerId: admin.id, nodeId: sim.node.id, hostname: 'hist-browser',
    config: { scripts: [flaky.name], template: { scripts: [flaky], files: [], packages: [] } },
  });
  containerId = c.id;
  expect(await runCreatePipeline(deps, c.id, new AbortController().signal, { requestedBy: admin.id })).toBe('failed');
  await env.deps.repos.containers.update(c.id, { lifecycle: 'queued' });
  expect(await runCreatePipeline(deps, c.id, new AbortController().signal, { requestedBy: admin.id })).toBe('ready');
  await env.deps.repos.containers.claimAction(c.id, 'stop', ['ready'], 'admin');
  expect(await runLifecycleAction(deps, c.id, 'stop', { request: { requestedBy: admin.id } })).toBe('done');
  for (let i = 0; i < HISTORY_PAGE_SIZE; i++) {
    const down = i % 2 === 0;
    await env.deps.repos.history.record({
      containerId: c.id, kind: 'health', userId: null, username: null, attempt: null, at: new Date(Date.now() - (i + 1) * 60_000),
      outcome: down ? 'down' : 'healthy', summary: down ? 'nginx.service is inactive (failed); nothing listens on 80' : 'all 1 services healthy', details: {},
    });
  }
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await sim?.close();
  await env?.close();
});

async function open(url: string, width: number): Promise<{ page: Page; refused: string[]; close: () => Promise<void> }> {
  const { context, page } = await pageWithSession(browser, server.baseUrl, cookie, { viewport: { width, height: 900 } });
  const refused: string[] = [];
  page.on('console', (msg) => {
    if (/Content[- ]Security[- ]Policy|Refused to/i.test(msg.text())) refused.push(msg.text());
  });
  await page.goto(`${server.baseUrl}${url}`);
  return { page, refused, close: () => context.close() };
}

const shoot = async (page: Page, name: string) => {
  if (process.env.SCREENSHOT_DIR) await page.screenshot({ path: path.join(process.env.SCREENSHOT_DIR, `${name}.png`), fullPage: true });
};

const kindsShown = (page: Page) => page.locator('#history li[data-kind]').evaluateAll((items) => items.map((li) => (li as HTMLElement).dataset.kind));

describe('the History section with JavaScript', () => {
  it('filters and pages in place, on the container page, without a CSP refusal', async () => {
    const { page, refused, close } = await open(`/containers/${containerId}`, 1280);
    try {
      await shoot(page, 'history-container-desktop');
      // Only what the section's swaps cause counts here (the page's other panels have their own tests).
      const beforeSwaps = refused.length;
      expect(new Set(await kindsShown(page))).toEqual(new Set(['health', 'action', 'build']));
      await page.locator('#history nav a', { hasText: 'Builds' }).click();
      await page.locator('#history nav a[aria-current="page"]', { hasText: 'Builds' }).waitFor();
      expect(await kindsShown(page)).toEqual(['build', 'build']);
      await page.locator('#history nav a', { hasText: 'Health changes' }).click();
      await page.locator('#history nav a[aria-current="page"]', { hasText: 'Health changes' }).waitFor();
      expect(await page.locator('#history li[data-kind="health"]').count()).toBe(HISTORY_PAGE_SIZE);
      expect(await page.locator('#history a[rel="next"]').count()).toBe(0);
      await page.locator('#history nav a', { hasText: 'All' }).click();
      await page.locator('#history a[rel="next"]').click();
      await page.locator('#history a[rel="prev"]').waitFor();
      // Page 2 holds what page 1 had no room for: the oldest health changes (recorded as minutes before the build).
      expect(await kindsShown(page)).toEqual(['health', 'health', 'health']);
      expect(new URL(page.url()).pathname).toBe(`/containers/${containerId}`);
      expect(refused.slice(beforeSwaps)).toEqual([]);
    } finally {
      await close();
    }
  });

  it('follows live on the first page of all kinds, and leaves a filtered view as its reader chose it', async () => {
    const { page, close } = await open(`/containers/${containerId}`, 1280);
    try {
      // The page's usage stream is open; count the messages that carry a history section.
      await page.waitForFunction(() => (window as unknown as { launchpadStream?: { state: string } }).launchpadStream?.state === 'live', undefined, { timeout: 15_000 });
      await page.evaluate(() => {
        (window as unknown as { historyMessages: number }).historyMessages = 0;
        document.addEventListener('htmx:sseMessage', (e) => {
          if (String((e as CustomEvent<MessageEvent>).detail.data).includes('id="history"')) (window as unknown as { historyMessages: number }).historyMessages++;
        });
      });
      const container = (await env.deps.repos.containers.findById(containerId))!;
      const announce = async (summary: string) => {
        await env.deps.repos.history.record({ containerId, kind: 'health', userId: null, username: null, attempt: null, outcome: 'degraded', summary, details: {} });
        await env.deps.usage.announce(container);
      };
      const messages = () => page.evaluate(() => (window as unknown as { historyMessages: number }).historyMessages);

      await page.locator('#history nav a', { hasText: 'Builds' }).click();
      await page.locator('#history nav a[aria-current="page"]', { hasText: 'Builds' }).waitFor();
      await announce('degraded while the reader looked at builds');
      await page.waitForFunction(() => (window as unknown as { historyMessages: number }).historyMessages >= 1, undefined, { timeout: 10_000 });
      expect(await kindsShown(page)).toEqual(['build', 'build']);

      await page.locator('#history nav a', { hasText: 'All' }).click();
      await page.locator('#history nav a[aria-current="page"]', { hasText: 'All' }).waitFor();
      expect(await page.locator('#history li').first().textContent()).toContain('degraded while the reader looked at builds');
      const before = await messages();
      await announce('degraded again, shown at once');
      await page.locator('#history li').first().filter({ hasText: 'degraded again, shown at once' }).waitFor({ timeout: 10_000 });
      expect(await messages()).toBeGreaterThan(before);
    } finally {
      await close();
    }
  });

  it("opens attempt 1's own log from its entry, and /activity, at 390 px without sideways scrolling", async () => {
    const { page, refused, close } = await open(`/containers/${containerId}/history?kind=build`, 390);
    try {
      await shoot(page, 'history-container-390');
      await page.locator('a', { hasText: 'Attempt 1: log and phases' }).click();
      await page.waitForURL(`**/containers/${containerId}/attempts/1`);
      expect(await page.locator('#log-lines').innerText()).toContain('first run fails');
      expect(await page.locator('#log-lines').innerText()).not.toContain('second run works');
      expect(await page.locator('#attempt-state').innerText()).toBe('failed');
      await page.locator('[data-log-times]').waitFor({ state: 'visible' }); // the log viewer (log-viewer.js) runs here too
      const scrolls = () => page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);
      expect(await scrolls()).toBe(false);
      await shoot(page, 'history-attempt-390');
      await page.goto(`${server.baseUrl}/activity`);
      expect(await page.locator('li[data-kind]').count()).toBeGreaterThan(HISTORY_PAGE_SIZE);
      expect(await scrolls()).toBe(false);
      await shoot(page, 'history-activity-390');
      // The containers list too (its rows stack on a phone: phone-tables.browser.test.ts), and the account link is there.
      await page.goto(`${server.baseUrl}/containers`);
      expect(await page.locator(`#container-${containerId}`).count()).toBe(1);
      expect(await scrolls()).toBe(false);
      expect(await page.locator('header a[href="/account"]').isVisible()).toBe(true);
      expect(refused).toEqual([]);
    } finally {
      await close();
    }
  });
});
