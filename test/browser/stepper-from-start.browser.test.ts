// A page opened before its container's first event (the wizard's redirect) gets only what changes in the stepper:
// the stream assumes the untouched stepper the page rendered. Mid-build — before the final message, which re-sends
// every state element — the stepper must already be what a reload shows.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.ts';
import { launchBrowser, pageWithSession } from '../support/browser.ts';
import { insertContainer, insertNode, recorderFor } from '../support/fixtures.ts';
import { ensureUser, listen, signIn } from '../support/http-session.ts';
import { createTestEnv, type TestEnv } from '../support/test-deps.ts';

let env: TestEnv;
let server: Awaited<ReturnType<typeof listen>>;
let browser: Browser;

beforeAll(async () => {
  env = await createTestEnv();
  server = await listen(createApp(env.deps));
  browser = await launchBrowser();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await server?.close();
  await env?.close();
});

/** What the stepper shows: each phase's state, the status sentence, the bar, and the header badge. */
const stepperState = (page: Page) =>
  page.evaluate(() => ({
    phases: [...document.querySelectorAll('#stepper li[id^="step-"]')].map((li) => `${li.id}:${li.getAttribute('data-state')}`),
    status: document.querySelector('#stepper [role="status"]')?.textContent?.trim(),
    percent: document.querySelector('#stepper progress')?.getAttribute('value'),
    badge: document.querySelector('#lifecycle-badge')?.textContent?.trim(),
  }));

describe('the stepper of a page opened before the first event', () => {
  it('follows the build with changes only and shows mid-build what a reload shows', async () => {
    const owner = await ensureUser(env.deps, 'early', 'early-password');
    const c = await insertContainer(env.deps, owner.id, (await insertNode(env.deps)).id);
    const { cookie } = await signIn(server.baseUrl, 'early', 'early-password');
    const { context, page } = await pageWithSession(browser, server.baseUrl, cookie);
    await page.goto(`${server.baseUrl}/containers/${c.id}`);
    await page.waitForSelector('#stream-health[data-state="live"]', { timeout: 10_000 });
    expect((await stepperState(page)).badge).toBe('queued');

    const rec = recorderFor(env.deps, c.id);
    const sameAsReload = async (lines: number) => {
      await page.waitForFunction((n) => document.querySelectorAll('#log-lines > li:not(.log-marker)').length === n, lines, { timeout: 10_000 });
      await page.waitForFunction(() => document.querySelector('.htmx-settling, .htmx-swapping, .htmx-added') === null);
      const live = await stepperState(page);
      const fresh = await context.newPage();
      await fresh.goto(`${server.baseUrl}/containers/${c.id}`);
      expect(live).toEqual(await stepperState(fresh));
      await fresh.close();
      return live;
    };
    // The first message is the one that relies on what the page rendered.
    await rec.enterPhase('creating', 'Creating CT');
    rec.log('stdout', 'one');
    await rec.flush();
    const first = await sameAsReload(1);
    expect(first.badge).toBe('creating');
    expect(first.phases).toContain('step-creating:active');

    await rec.enterPhase('starting', 'Starting CT');
    await rec.advance(0.5, 'Starting (1/2)');
    rec.log('stdout', 'two');
    await rec.flush();
    const later = await sameAsReload(2);
    expect(later.phases).toContain('step-creating:done');
    expect(later.phases).toContain('step-starting:active');
    await context.close();
  });
});
