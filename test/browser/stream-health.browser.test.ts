/// <reference lib="dom" />
// Issue 22: the live page says how its stream is doing (Live / Reconnecting… / Offline / nothing once ended) and
// recovers from a connection that died silently. The browser talks to the app through a TCP proxy the test
// controls; the build's events come from a recorder, as the worker writes them. Every recovery must end with the
// DOM holding exactly the lines of log.txt.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.ts';
import type { EventRecorder } from '../../src/domain/progress/event-recorder.ts';
import { launchBrowser, pageWithSession } from '../support/browser.ts';
import { insertContainer, insertNode, recorderFor } from '../support/fixtures.ts';
import { ensureUser, listen, signIn } from '../support/http-session.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';
import { createTestEnv, type TestEnv } from '../support/test-deps.ts';

const HEARTBEAT_MS = 1000;
// Screenshots of each state for the integrator (set SHOTS_DIR to keep them).
const SHOTS_DIR = process.env.SHOTS_DIR;

let env: TestEnv;
let server: Awaited<ReturnType<typeof listen>>;
let proxy: Awaited<ReturnType<typeof startTcpProxy>>;
let browser: Browser;
let cookie: string;
let ownerId: number;
let nodeId: number;
let baseUrl: string;

beforeAll(async () => {
  env = await createTestEnv({ SSE_HEARTBEAT_MS: String(HEARTBEAT_MS) });
  server = await listen(createApp(env.deps));
  proxy = await startTcpProxy('127.0.0.1', Number(new URL(server.baseUrl).port));
  baseUrl = `http://127.0.0.1:${proxy.port}`;
  ownerId = (await ensureUser(env.deps, 'watcher', 'watcher-password')).id;
  nodeId = (await insertNode(env.deps)).id;
  cookie = (await signIn(server.baseUrl, 'watcher', 'watcher-password')).cookie;
  browser = await launchBrowser();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await proxy?.close();
  await server?.close();
  await env?.close();
});

interface HealthReport {
  state: string;
  attempt: number;
  caughtUp: number;
  at: number;
}

/** A running build with `lines` log lines, and a browser page open on it (through the proxy) once it is Live. */
async function liveBuild(lines: number, options: { javaScriptEnabled?: boolean } = {}) {
  const container = await insertContainer(env.deps, ownerId, nodeId);
  const rec = recorderFor(env.deps, container.id);
  await rec.enterPhase('syncing', 'Running scripts…');
  let written = 0;
  const log = async (n: number) => {
    for (let i = 0; i < n; i++) rec.log('stdout', `line ${++written} <&>`);
    await rec.flush();
  };
  await log(lines);
  const { context, page } = await pageWithSession(browser, baseUrl, cookie, { javaScriptEnabled: options.javaScriptEnabled ?? true, locale: 'en-US' });
  // Every state the page reports, with the time it did (Date.now() here and in the test share one clock).
  await page.addInitScript(() => {
    const w = window as unknown as { healthLog: unknown[] };
    w.healthLog = [];
    document.addEventListener('stream:health', (e) => w.healthLog.push({ ...(e as CustomEvent).detail, at: Date.now() }));
  });
  await page.goto(`${baseUrl}/containers/${container.id}`);
  if (options.javaScriptEnabled !== false) await waitForState(page, 'live');
  return { container, rec, log, page, context, written: () => written };
}

const waitForState = (page: Page, state: string, timeout = 15_000) => page.waitForSelector(`#stream-health[data-state="${state}"]`, { state: 'attached', timeout });
const label = (page: Page) => page.textContent('#stream-health [role="status"]');
const healthLog = (page: Page) => page.evaluate(() => (window as unknown as { healthLog: HealthReport[] }).healthLog);

async function shot(page: Page, state: string) {
  if (!SHOTS_DIR) return;
  mkdirSync(SHOTS_DIR, { recursive: true });
  await page.locator('main').screenshot({ path: path.join(SHOTS_DIR, `stream-health-${state}.png`) });
}

/** The DOM holds exactly the lines of log.txt: each once, in order, numbered 1..N. */
async function expectDomEqualsLogTxt(page: Page, containerId: string, lines: number) {
  await page.waitForFunction((n) => document.querySelectorAll('#log-lines > li[id]').length >= n, lines, { timeout: 15_000 });
  await page.waitForTimeout(300);
  const dom = await page.$$eval('#log-lines > li[id]', (rows) => rows.map((r) => ({ id: r.id, text: r.textContent ?? '' })));
  const logTxt = await (await fetch(`${server.baseUrl}/containers/${containerId}/log.txt`, { headers: { Cookie: cookie } })).text();
  const expected = logTxt.split('\n').slice(0, -1);
  expect(expected).toHaveLength(lines);
  expect(dom.map((l) => l.text)).toEqual(expected);
  expect(dom.map((l) => l.id)).toEqual(expected.map((_, i) => `L${i + 1}`));
}

async function finish(rec: EventRecorder, page: Page, context: BrowserContext) {
  await rec.complete({ status: 'Ready at 10.0.0.5', ip: '10.0.0.5' });
  await waitForState(page, 'ended');
  // Nothing once the build has ended.
  expect(await page.isVisible('#stream-health')).toBe(false);
  await shot(page, 'ended');
  await context.close();
}

describe('the stream health indicator', () => {
  it('is server-rendered as a polite status; without JavaScript it says when the page was rendered', async () => {
    const { container, rec, page, context } = await liveBuild(3, { javaScriptEnabled: false });
    const html = await (await fetch(`${server.baseUrl}/containers/${container.id}`, { headers: { Cookie: cookie } })).text();
    expect(html).toMatch(/<div id="stream-health"[^>]*data-state="connecting"/);
    expect(html).toMatch(/<span role="status" aria-live="polite"[^>]*>Rendered at <time datetime="\d{4}-\d\d-\d\dT[\d:.]+Z">\d\d:\d\d:\d\d UTC<\/time><\/span>/);
    expect(html).toMatch(/data-heartbeat-ms="1000"/);
    expect(html).toContain('<noscript><meta http-equiv="refresh" content="5"></noscript>');
    // Without JavaScript: the render time and the promise to reload, nothing about a connection.
    const text = (await page.textContent('#stream-health'))!.replace(/\s+/g, ' ').trim();
    expect(text).toMatch(/^Rendered at \d\d:\d\d:\d\d UTC · this page reloads every 5 s$/);
    await shot(page, 'no-javascript');
    await context.close();

    // A finished build's page has no indicator at all.
    await rec.complete({ status: 'Ready', ip: '10.0.0.5' });
    const done = await (await fetch(`${server.baseUrl}/containers/${container.id}`, { headers: { Cookie: cookie } })).text();
    expect(done).not.toContain('id="stream-health"');
  });

  it('stays Live through a quiet build: the heartbeat is heard, and the age says when', async () => {
    const { rec, page, context } = await liveBuild(3);
    const since = Date.now();
    await page.waitForTimeout(HEARTBEAT_MS * 3.5);
    const reports = (await healthLog(page)).filter((h) => h.at >= since);
    expect(reports.map((h) => h.state)).not.toContain('reconnecting');
    expect(reports.filter((h) => h.state === 'live').length).toBeGreaterThanOrEqual(3);
    expect(await page.getAttribute('#stream-health', 'data-state')).toBe('live');
    expect(await page.textContent('#stream-health [role="status"] + span')).toMatch(/^updated (just now|[12] s ago)$/);
    await finish(rec, page, context);
  }, 30_000);

  it('goes Live → Reconnecting… → Live when the connection drops, backing off 1 s, 2 s, 5 s, and loses no line', async () => {
    const { container, rec, log, page, context, written } = await liveBuild(20);
    expect(await label(page)).toBe('Live');
    await page.waitForFunction(() => /^updated (just now|\d+ s ago)$/.test(document.querySelector('#stream-health [role="status"] + span')?.textContent ?? ''));
    await shot(page, 'live');

    proxy.cut();
    await waitForState(page, 'reconnecting');
    // In UTC, as every other time on the page (the browser's own clock would say e.g. 5:57:21 PM).
    expect(await label(page)).toMatch(/^Reconnecting… \(attempt 1, disconnected since \d\d:\d\d:\d\d UTC\)$/);
    await shot(page, 'reconnecting');
    await log(30);
    // Attempts 2, 3 and 4 fail too (the proxy refuses), each after its backoff.
    await page.waitForFunction(() => (window as unknown as { healthLog: HealthReport[] }).healthLog.some((h) => h.attempt === 4), undefined, { timeout: 15_000 });
    const reports = await healthLog(page);
    const firstAt = (n: number) => reports.find((h) => h.attempt === n && h.state === 'reconnecting')!.at;
    const gaps = [firstAt(2) - firstAt(1), firstAt(3) - firstAt(2), firstAt(4) - firstAt(3)];
    expect(gaps[0]).toBeGreaterThanOrEqual(1000);
    expect(gaps[0]).toBeLessThan(1800);
    expect(gaps[1]).toBeGreaterThanOrEqual(2000);
    expect(gaps[1]).toBeLessThan(2800);
    expect(gaps[2]).toBeGreaterThanOrEqual(5000);
    expect(gaps[2]).toBeLessThan(5800);
    expect(await label(page)).toMatch(/^Reconnecting… \(attempt 4, /);

    proxy.restore();
    await waitForState(page, 'live', 20_000);
    expect(await label(page)).toBe('Live — caught up 30 lines');
    await log(10);
    await expectDomEqualsLogTxt(page, container.id, written());
    await finish(rec, page, context);
  }, 60_000);

  it('detects a black-holed stream within 2 × heartbeat and recovers it with the DOM equal to log.txt', async () => {
    const { container, rec, log, page, context, written } = await liveBuild(25);
    // Listen a moment, so the last thing heard is a heartbeat rather than the replay.
    await page.waitForTimeout(HEARTBEAT_MS * 1.5);
    const blackholedAt = Date.now();
    proxy.blackhole();
    await log(40);
    await waitForState(page, 'reconnecting', HEARTBEAT_MS * 4);
    const reports = await healthLog(page);
    const detected = reports.find((h) => h.state === 'reconnecting' && h.at >= blackholedAt)!;
    const lastHeard = reports.filter((h) => h.state === 'live' && h.at < detected.at).at(-1)!.at;
    const detectionMs = detected.at - blackholedAt;
    console.log(`black-holed stream detected ${detectionMs} ms after the black hole began, ${detected.at - lastHeard} ms after the last message heard (heartbeat ${HEARTBEAT_MS} ms)`);
    expect(detectionMs).toBeLessThanOrEqual(2 * HEARTBEAT_MS + 250);
    // It waited out the whole silence (2 × heartbeat since the last thing heard), no more than timer slack longer.
    expect(detected.at - lastHeard).toBeGreaterThanOrEqual(2 * HEARTBEAT_MS);
    expect(detected.at - lastHeard).toBeLessThanOrEqual(2 * HEARTBEAT_MS + 250);
    // The socket is still open: nothing but the watchdog could have noticed.
    expect(detected.attempt).toBe(1);

    proxy.restore();
    await waitForState(page, 'live', 20_000);
    expect(await label(page)).toBe('Live — caught up 40 lines');
    await expectDomEqualsLogTxt(page, container.id, written());
    await finish(rec, page, context);
  }, 60_000);

  it('says Connecting… until the stream answers, and gives up on one that never does after 2 × heartbeat', async () => {
    const container = await insertContainer(env.deps, ownerId, nodeId);
    const rec = recorderFor(env.deps, container.id);
    await rec.enterPhase('syncing', 'Running scripts…');
    rec.log('stdout', 'line 1 <&>');
    await rec.flush();
    const { context, page } = await pageWithSession(browser, baseUrl, cookie, { locale: 'en-US' });
    // The first stream request is held unanswered; later ones go through.
    let held = 0;
    await page.route('**/events?*', (route) => (held++ === 0 ? undefined : route.continue()));
    await page.goto(`${baseUrl}/containers/${container.id}`);
    await waitForState(page, 'connecting');
    await page.waitForFunction(() => document.querySelector('#stream-health [role="status"]')?.textContent === 'Connecting…');
    await shot(page, 'connecting');
    const shownAt = Date.now();
    await waitForState(page, 'reconnecting', HEARTBEAT_MS * 4);
    expect(Date.now() - shownAt).toBeLessThanOrEqual(2 * HEARTBEAT_MS + 500);
    await waitForState(page, 'live', 10_000);
    expect(held).toBe(2);
    await expectDomEqualsLogTxt(page, container.id, 1);
    await finish(rec, page, context);
  }, 30_000);

  it('shows Offline while the browser has no network and resumes at once when it is back', async () => {
    const { container, rec, log, page, context, written } = await liveBuild(10);
    await context.setOffline(true);
    await waitForState(page, 'offline', 5000);
    expect(await label(page)).toBe('Offline — the browser reports no network; reconnecting when it is back');
    await shot(page, 'offline');
    await log(15);
    // Offline, the page does not try (and fail) to reconnect.
    await page.waitForTimeout(2500);
    expect(await page.getAttribute('#stream-health', 'data-state')).toBe('offline');

    const onlineAt = Date.now();
    await context.setOffline(false);
    await waitForState(page, 'live', 5000);
    const back = (await healthLog(page)).find((h) => h.state === 'live' && h.at >= onlineAt)!;
    // At once: no backoff wait (the first one would be 1 s).
    expect(back.at - onlineAt).toBeLessThan(900);
    expect(await label(page)).toBe('Live — caught up 15 lines');
    await expectDomEqualsLogTxt(page, container.id, written());
    await finish(rec, page, context);
  }, 60_000);

  it('reconnects at once when the tab becomes visible again instead of waiting out the backoff', async () => {
    const { container, rec, log, page, context, written } = await liveBuild(5);
    proxy.cut();
    await log(12);
    // Attempt 3 comes 5 s after attempt 2 fails.
    await page.waitForFunction(() => (window as unknown as { healthLog: HealthReport[] }).healthLog.some((h) => h.attempt === 3), undefined, { timeout: 15_000 });
    proxy.restore();
    const visibleAt = Date.now();
    // Headless Chromium never hides a tab (bringToFront and minimising leave it visible), so the test emulates what
    // the browser does when a tab is hidden and shown again: visibilityState changes, then `visibilitychange`.
    await page.evaluate(() => {
      const show = (hidden: boolean) => {
        Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
        Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (hidden ? 'hidden' : 'visible') });
        document.dispatchEvent(new Event('visibilitychange'));
      };
      show(true);
      show(false);
    });
    await waitForState(page, 'live', 4000);
    const back = (await healthLog(page)).find((h) => h.state === 'live' && h.at >= visibleAt)!;
    expect(back.at - visibleAt).toBeLessThan(1500);
    expect(await label(page)).toBe('Live — caught up 12 lines');
    await expectDomEqualsLogTxt(page, container.id, written());
    await finish(rec, page, context);
  }, 60_000);

  it('catches up 1,000 missed lines in one replay after a reconnect, then goes live', async () => {
    const { container, rec, log, page, context, written } = await liveBuild(5);
    proxy.cut();
    await waitForState(page, 'reconnecting');
    await log(1000);
    proxy.restore();
    await waitForState(page, 'live', 20_000);
    expect(await label(page)).toBe('Live — caught up 1,000 lines');
    await shot(page, 'caught-up');
    // One reconnect, and it was live right after its replay.
    const reports = await healthLog(page);
    const states = reports.filter((h, i) => i === 0 || h.state !== reports[i - 1]!.state);
    expect(states.map((h) => h.state)).toEqual(['live', 'reconnecting', 'live']);
    expect(states.map((h) => h.caughtUp)).toEqual([0, 0, 1000]);
    await log(5);
    await expectDomEqualsLogTxt(page, container.id, written());
    await finish(rec, page, context);
  }, 60_000);

  it('sends someone whose session ended (password changed elsewhere) to sign in, and back to the page', async () => {
    await ensureUser(env.deps, 'leaver', 'leaver-password', 'viewer');
    const here = await signIn(server.baseUrl, 'leaver', 'leaver-password');
    const elsewhere = await signIn(server.baseUrl, 'leaver', 'leaver-password');
    const container = await insertContainer(env.deps, ownerId, nodeId);
    const rec = recorderFor(env.deps, container.id);
    await rec.enterPhase('syncing', 'Running scripts…');
    rec.log('stdout', 'line 1');
    await rec.flush();
    const { context, page } = await pageWithSession(browser, baseUrl, here.cookie, { locale: 'en-US' });
    await page.goto(`${baseUrl}/containers/${container.id}`);
    await waitForState(page, 'live');

    // The other browser changes the password: this one's session ends and its stream closes.
    const changed = await fetch(`${server.baseUrl}/account/password`, {
      method: 'POST',
      redirect: 'manual',
      headers: { Cookie: elsewhere.cookie, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: elsewhere.csrf, current_password: 'leaver-password', password: 'leaver-password-2', password_confirm: 'leaver-password-2' }),
    });
    expect(changed.status).toBe(303);
    await page.waitForURL((u) => u.pathname === '/login', { timeout: 10_000 });
    const at = new URL(page.url());
    expect(at.searchParams.get('next')).toBe(`/containers/${container.id}`);
    expect(at.searchParams.get('session')).toBe('ended');
    expect(await page.textContent('main [role="status"]')).toBe('Your session ended; sign in again.');
    await shot(page, 'signed-out');

    await page.fill('input[name="username"]', 'leaver');
    await page.fill('input[name="password"]', 'leaver-password-2');
    await page.click('button:has-text("Sign in")');
    await page.waitForURL((u) => u.pathname === `/containers/${container.id}`);
    await waitForState(page, 'live');
    await finish(rec, page, context);
  }, 30_000);

  it('says so, and stops reconnecting, when a role change hides the container from the person watching it', async () => {
    await ensureUser(env.deps, 'boss', 'boss-password', 'admin');
    const admin = await signIn(server.baseUrl, 'boss', 'boss-password');
    const demoted = await ensureUser(env.deps, 'demoted', 'demoted-password', 'viewer');
    const viewer = await signIn(server.baseUrl, 'demoted', 'demoted-password');
    // Someone else's container: a viewer sees it, an operator would not.
    const container = await insertContainer(env.deps, ownerId, nodeId);
    const rec = recorderFor(env.deps, container.id);
    await rec.enterPhase('syncing', 'Running scripts…');
    rec.log('stdout', 'line 1');
    await rec.flush();
    const { context, page } = await pageWithSession(browser, baseUrl, viewer.cookie, { locale: 'en-US' });
    const streamRequests: number[] = [];
    page.on('request', (r) => r.url().includes('/events') && streamRequests.push(Date.now()));
    await page.goto(`${baseUrl}/containers/${container.id}`);
    await waitForState(page, 'live');

    const changed = await fetch(`${server.baseUrl}/users/${demoted.id}/role`, {
      method: 'POST',
      redirect: 'manual',
      headers: { Cookie: admin.cookie, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: admin.csrf, role: 'operator' }),
    });
    expect(changed.status).toBe(303);
    await page.waitForSelector('main [role="alert"]', { timeout: 10_000 });
    expect((await page.textContent('main [role="alert"]'))!.replace(/\s+/g, ' ')).toContain('That container does not exist, or you may not see it.');
    // The stale page is gone, its buttons with it, and nothing reconnects any more.
    expect(await page.locator('#stream-health, #stream-slot, #log-lines').count()).toBe(0);
    expect(new URL(page.url()).pathname).toBe(`/containers/${container.id}`);
    await shot(page, 'gone');
    const requestsSoFar = streamRequests.length;
    await page.waitForTimeout(3500);
    expect(streamRequests.length).toBe(requestsSoFar);
    await context.close();
    await rec.complete({ status: 'Ready', ip: '10.0.0.5' });
  }, 30_000);
});
