/// <reference lib="dom" />
// Issue 14 finding 1: without bubblewrap the fix (apt-get install bubblewrap) was only in the log of `npm start`.
// Every page now shows a banner saying commands are not run and how to fix it; with bubblewrap there is none.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordSimulatorSandbox } from '../../src/domain/nodes/simulator-badge.ts';
import { launchBrowser, pageWithSession } from '../support/browser.ts';
import { ensureUser, listen, signIn } from '../support/http-session.ts';
import { startTestSimulator } from '../support/simulator-fixtures.ts';
import { createTestEnv, type TestEnv } from '../support/test-deps.ts';
import { createTestApp } from '../support/test-app.ts';

let env: TestEnv;
let simulator: Awaited<ReturnType<typeof startTestSimulator>>;
let browser: Browser;

beforeAll(async () => {
  env = await createTestEnv();
  simulator = await startTestSimulator(env.deps, { sandbox: false });
  await ensureUser(env.deps, 'admin', 'admin-password', 'admin');
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await simulator?.close();
  await env?.close();
});

/** A fresh web process (its badge is read at its first request) and a signed-in page on `path`. */
async function openPage(path: string) {
  const server = await listen(createTestApp(env, { perAccount: 5 }));
  const { cookie } = await signIn(server.baseUrl, 'admin', 'admin-password');
  const { context, page } = await pageWithSession(browser, server.baseUrl, cookie);
  await page.goto(`${server.baseUrl}${path}`);
  return { page, close: async () => (await context.close(), await server.close()) };
}

describe('the simulator banner', () => {
  it('without bubblewrap, every page says commands are not run and offers apt-get install bubblewrap', async () => {
    expect(simulator.sim.sandboxed).toBe(false);
    await recordSimulatorSandbox(env.deps.repos.settings, simulator.sim.sandboxed); // as `npm start` does
    const { page, close } = await openPage('/containers');
    try {
      const banner = page.locator('#simulator-banner');
      expect(await banner.isVisible()).toBe(true);
      expect(await banner.getAttribute('role')).toBe('status');
      const text = (await banner.innerText()).replace(/\s+/g, ' ');
      expect(text).toContain('Commands are not run');
      expect(text).toContain(`node ${simulator.node.name} is the embedded simulator and bubblewrap is missing`);
      expect(await banner.locator('code').first().innerText()).toBe('apt-get install bubblewrap');
      expect(await page.locator('header .badge', { hasText: 'Simulator' }).innerText()).toBe('Simulator · commands simulated');
      await page.click('text=Templates');
      await page.waitForURL(/\/templates$/);
      expect(await page.locator('#simulator-banner').isVisible()).toBe(true);
    } finally {
      await close();
    }
  });

  it('with bubblewrap, the badge alone (no banner)', async () => {
    await recordSimulatorSandbox(env.deps.repos.settings, true);
    const { page, close } = await openPage('/containers');
    try {
      expect(await page.locator('header .badge', { hasText: 'Simulator' }).innerText()).not.toContain('commands simulated');
      expect(await page.locator('#simulator-banner').count()).toBe(0);
    } finally {
      await close();
    }
  });
});
