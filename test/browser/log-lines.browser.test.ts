// The slim log line (issue 21) in a real browser: the number drawn by CSS is the line's permalink when clicked, and
// the timestamp toggle shows each line's time from its data-t attribute. Lines from the live stream carry no id and no
// count: the log viewer gives them the ids their place implies, and the header's count follows.
import type { Browser } from 'playwright-core';
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

describe('log lines', () => {
  it('a click on a line number makes its permalink; the toggle shows the times; a marker does not count as a line', async () => {
    const owner = await ensureUser(env.deps, 'reader', 'reader-password');
    const c = await insertContainer(env.deps, owner.id, (await insertNode(env.deps)).id);
    const rec = recorderFor(env.deps, c.id);
    await rec.enterPhase('creating', 'Creating CT');
    for (const text of ['one', 'two', 'three']) rec.log('stdout', text);
    await rec.attempt(2, 'creating', 'the worker restarted');
    rec.log('stderr', 'four');
    await rec.complete({ status: 'Ready' });

    const { cookie } = await signIn(server.baseUrl, 'reader', 'reader-password');
    const { context, page } = await pageWithSession(browser, server.baseUrl, cookie);
    await page.goto(`${server.baseUrl}/containers/${c.id}`);
    await page.evaluate(() => localStorage.removeItem('launchpad.logTimes'));
    await page.reload();

    const lines = page.locator('#log-lines > li[id]');
    expect(await lines.evaluateAll((rows) => rows.map((r) => `${r.id}:${r.textContent}`))).toEqual(['L1:one', 'L2:two', 'L3:three', 'L4:four']);
    // The numbering is the list's own counter; the marker between L3 and L4 is not a list item that counts.
    expect(await page.locator('#log-lines > .log-marker').evaluate((m) => getComputedStyle(m).display)).toBe('block');

    // Click in the gutter, where the number is drawn.
    await lines.nth(1).click({ position: { x: 30, y: 5 } });
    expect(new URL(page.url()).hash).toBe('#L2');
    expect(await page.locator('#L2').evaluate((li) => li.matches(':target'))).toBe(true);
    // A click on the text leaves the address alone.
    await lines.nth(2).click({ position: { x: 200, y: 5 } });
    expect(new URL(page.url()).hash).toBe('#L2');

    const timeOf = (i: number) => lines.nth(i).evaluate((li) => getComputedStyle(li, '::after').content);
    expect(await timeOf(0)).toBe('none');
    await page.getByRole('button', { name: 'Show timestamps' }).click();
    const stored = await lines.nth(0).getAttribute('data-t');
    expect(stored).toMatch(/^\d\d:\d\d:\d\d$/);
    expect(await timeOf(0)).toBe(`"${stored}"`);
    await context.close();
  });

  it('numbers the lines that arrive live, across an attempt marker, and keeps the count while the build runs', async () => {
    const owner = await ensureUser(env.deps, 'watcher', 'watcher-password');
    const c = await insertContainer(env.deps, owner.id, (await insertNode(env.deps)).id);
    const rec = recorderFor(env.deps, c.id);
    await rec.enterPhase('creating', 'Creating CT');
    rec.log('stdout', 'before the page');
    await rec.flush();

    const { cookie } = await signIn(server.baseUrl, 'watcher', 'watcher-password');
    const { context, page } = await pageWithSession(browser, server.baseUrl, cookie);
    await page.goto(`${server.baseUrl}/containers/${c.id}`);
    const lines = page.locator('#log-lines > li:not(.log-marker)');
    await page.waitForSelector('#stream-health[data-state="live"]', { timeout: 10_000 });
    expect(await lines.evaluateAll((rows) => rows.map((r) => r.id))).toEqual(['L1']);
    for (const text of ['two', 'three']) rec.log('stdout', text);
    await rec.flush();
    await rec.attempt(2, 'creating', 'the worker restarted');
    rec.log('stderr', 'four');
    await rec.flush();
    await page.waitForFunction(() => document.querySelectorAll('#log-lines > li:not(.log-marker)').length === 4, undefined, { timeout: 10_000 });
    expect(await lines.evaluateAll((rows) => rows.map((r) => `${r.id}:${r.textContent}`))).toEqual(['L1:before the page', 'L2:two', 'L3:three', 'L4:four']);
    expect(await page.locator('#log-lines > .log-marker').count()).toBe(1);
    expect(await page.textContent('#log-count')).toBe('4 lines');
    // A live line's permalink, as for the page's own lines.
    await lines.nth(3).click({ position: { x: 30, y: 5 } });
    expect(new URL(page.url()).hash).toBe('#L4');
    await rec.complete({ status: 'Ready' });
    await page.waitForFunction(() => document.querySelector('#lifecycle-badge')?.textContent?.includes('ready'), undefined, { timeout: 10_000 });
    expect(await page.textContent('#log-count')).toBe('4 lines');
    await context.close();
  });
});
