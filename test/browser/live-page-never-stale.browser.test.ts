/// <reference lib="dom" />
// A live container page never goes stale (issue 17): followed in a real browser from the queued build to Ready, and
// then through a Stop clicked on the page, every element that shows the container's state — heading line (VMID),
// header badge, stepper, status panel with its actions, service health, history, configuration, the log's line
// count — is, once the stream has ended, the same DOM a fresh reload renders; the page then watches the CT's live
// usage on its one stream. When the worker's periodic health sweep finds the web server dead, the open page's health
// and history follow without a reload. A stopped container offers Start, not Stop, Shut down or Reboot. On the list,
// the row offers the same, and the filter counts follow a CT started behind Launchpad's back. A failed build's page
// left open by a teammate follows the owner's Retry — its progress and log lines — without a reload.
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { proxmoxClientFor } from '../../src/domain/nodes/node-access.ts';
import { getTemplate } from '../../src/domain/templates/catalogue.ts';
import { waitForTask } from '../../src/proxmox/task-waiter.ts';
import { pageWithSession } from '../support/browser.ts';
import { recorderFor } from '../support/fixtures.ts';
import { ensureUser, signIn } from '../support/http-session.ts';
import { insertDeployment } from '../support/simulator-fixtures.ts';
import { useBrowserBuildRig } from '../support/browser-build-rig.ts';
import { CREATE_CONTAINER_JOB, HEALTH_SWEEP_JOB } from '../../src/jobs/job-types.ts';
import { NodeShell } from '../../src/proxmox/node-shell.ts';
import { shellTargetFor } from '../../src/domain/nodes/node-access.ts';

const rig = useBrowserBuildRig();

/** The elements of the container page that show its state; each has one partial and one render function. */
const STATE_ELEMENTS = ['#container-heading', '#lifecycle-badge', '#stepper', '#status-panel', '#health-panel', '#history', '#container-config', '#log-count'];

/** The elements' HTML, without htmx's transient swap classes (the usage stream swaps the status badge every poll). */
const stateDom = (page: Page) =>
  page.evaluate(
    (selectors) => Object.fromEntries(selectors.map((s) => [s, (document.querySelector(s)?.outerHTML ?? '(missing)').replace(/ class="htmx-added htmx-settling"| ?htmx-(added|settling|swapping)/g, '')])),
    STATE_ELEMENTS,
  );

type StreamHealth = { state: string; opened: number };
const opened = (page: Page) => page.evaluate(() => (window as unknown as { launchpadStream: StreamHealth }).launchpadStream.opened);

/**
 * Waits until the page's progress stream has delivered its final message, handed over to the usage stream (a stream
 * opened after `openedBefore`, ending on the usage stream), and every swap has settled.
 */
async function streamEnded(page: Page, openedBefore: number) {
  await page.waitForFunction(
    (before) => {
      const h = (window as unknown as { launchpadStream?: StreamHealth }).launchpadStream;
      return !!h && h.opened >= before + 1 && document.querySelector('#usage-stream') !== null && h.state === 'live';
    },
    openedBefore,
    { timeout: 90_000 },
  );
  await page.waitForFunction(() => document.querySelector('.htmx-settling, .htmx-swapping, .htmx-added') === null);
  await page.waitForTimeout(300);
}

/** The state elements as the stream left them, then after a reload: they must be identical. */
async function expectSameAfterReload(page: Page) {
  const live = await stateDom(page);
  await page.reload();
  await page.waitForLoadState('load');
  const reloaded = await stateDom(page);
  expect(Object.values(live)).not.toContain('(missing)');
  expect(live).toEqual(reloaded);
}

/** Runs a command inside the CT over the node's SSH (pct exec), as an admin at the node's shell would. */
async function inCt(vmid: number, argv: string[]): Promise<number> {
  const shell = await NodeShell.connect(shellTargetFor(rig.simulator.node, rig.env.deps.secrets));
  try {
    return (await shell.pctExec(vmid, argv, { timeoutMs: 20_000 })).exitCode;
  } finally {
    await shell.close();
  }
}

const buttonsIn = (page: Page, selector: string) => page.$$eval(`${selector} button, ${selector} a.btn-danger`, (els) => els.map((e) => e.textContent?.trim() ?? ''));

async function signedInPage() {
  const { cookie } = await signIn(rig.server.baseUrl, 'viewer', 'viewer-password');
  return (await pageWithSession(rig.browser, rig.server.baseUrl, cookie)).page;
}

describe('the live container page', () => {
  it('ends a build and a Stop with the state elements a reload shows; a stopped CT offers Start only; the list follows', async () => {
    const owner = await ensureUser(rig.env.deps, 'viewer', 'viewer-password');
    const template = await getTemplate(rig.env.deps.repos.templates, 'static-web');
    const c = await insertDeployment(rig.env.deps, { ownerId: owner.id, nodeId: rig.simulator.node.id, template });
    const page = await signedInPage();

    // As after Deploy: the page of a queued build, then a worker takes it.
    await page.goto(`${rig.server.baseUrl}/containers/${c.id}`);
    expect(await page.textContent('#lifecycle-badge')).toBe('queued');
    expect(await page.textContent('#log-count')).toBe('0 lines');
    const atStart = await opened(page);
    await rig.env.deps.queue.add(CREATE_CONTAINER_JOB, { containerId: c.id }, { jobId: c.id });

    await page.waitForSelector('#status-panel >> text=Ready', { timeout: 90_000 });
    await streamEnded(page, atStart);
    expect(await page.textContent('#lifecycle-badge')).toBe('ready');
    const lines = await page.locator('#log-lines > li[id]').count();
    expect(lines).toBeGreaterThan(0);
    expect(await page.textContent('#log-count')).toBe(`${lines} lines`);
    expect(await buttonsIn(page, '#container-actions')).toEqual(['Shut down', 'Reboot', 'Stop', 'Destroy…']);
    // Live usage arrives through the page's one stream: figures, then (after two polls) the sparklines.
    await page.waitForSelector('#usage-panel [data-usage="cpu"] dd >> text=/% of 1 core/', { timeout: 15_000 });
    await page.waitForSelector('#usage-panel polyline', { state: 'attached', timeout: 15_000 });
    const streams = await page.$$eval('[sse-connect]', (els) => els.map((e) => e.getAttribute('sse-connect')));
    expect(streams).toHaveLength(1);
    expect(streams[0]).toMatch(new RegExp(`^/containers/${c.id}/live\\?history=\\d+&seen=\\d+$`));
    // Swapped at every poll, the panel and the badge leave nothing behind (no stray text nodes piling up).
    const around = () => page.evaluate(() => [document.getElementById('usage-panel')!.parentElement!.childNodes.length, document.getElementById('live-status')!.parentElement!.childNodes.length]);
    const nodesBefore = await around();
    await page.waitForTimeout(1600);
    expect(await around()).toEqual(nodesBefore);
    await expectSameAfterReload(page);
    // For the docs (a full-page screenshot resizes the page, so only after the comparison).
    if (process.env.SCREENSHOT_DIR) {
      await page.waitForSelector('#usage-panel polyline', { state: 'attached', timeout: 15_000 });
      await page.screenshot({ path: `${process.env.SCREENSHOT_DIR}/container-ready-usage.png`, fullPage: true });
    }

    // The worker's periodic sweep (queued here rather than waiting 5 minutes) finds nginx dead: the open page's health
    // section and its history follow on the usage stream, with no reload and no second connection.
    expect(await page.getAttribute('#health-panel [data-health-state]', 'data-health-state')).toBe('healthy');
    expect(await page.locator('#history li[data-kind="health"][data-outcome="down"]').count()).toBe(0);
    const vmid = (await rig.env.deps.repos.containers.findById(c.id))!.vmid!;
    expect(await inCt(vmid, ['systemctl', 'kill', '--signal=KILL', 'nginx'])).toBe(0);
    const streamsBeforeSweep = await opened(page);
    await rig.env.deps.queue.add(HEALTH_SWEEP_JOB, {});
    await page.waitForSelector('#health-panel [data-health-state="down"]', { timeout: 30_000 });
    await page.waitForSelector('#history li[data-kind="health"][data-outcome="down"]', { timeout: 10_000 });
    expect(await page.textContent('#health-panel')).toContain('nginx.service is inactive (failed)');
    expect(await opened(page)).toBe(streamsBeforeSweep);
    await page.waitForFunction(() => document.querySelector('.htmx-settling, .htmx-swapping, .htmx-added') === null);
    // As the stream left it (caret: 'initial' — hiding the caret would mark the page's inputs with a style attribute).
    if (process.env.SCREENSHOT_DIR) await page.screenshot({ path: `${process.env.SCREENSHOT_DIR}/container-health-down-live.png`, fullPage: true, caret: 'initial' });
    await expectSameAfterReload(page);

    // Stop, clicked on the page: the page is loaded afresh (its log viewer set up on the new elements, not holding
    // the replaced ones), follows the action live, and its end offers what a reload offers.
    const reloaded = page.waitForEvent('domcontentloaded');
    await page.click('#container-actions button:text-is("Stop")');
    await reloaded;
    // The action's progress stream (if the page came before the stop ended) hands over to the usage stream when the
    // CT has stopped.
    await streamEnded(page, 0);
    await page.locator('[data-log-times]').waitFor({ state: 'visible' });
    expect(await page.locator('#log-lines > li:not([id]):not(.log-marker)').count()).toBe(0);
    expect(await page.textContent('#log-count')).toBe(`${await page.locator('#log-lines > li[id]').count()} lines`);
    expect(rig.simulator.sim.state.container(vmid)?.status).toBe('stopped');
    expect(await buttonsIn(page, '#container-actions')).toEqual(['Start', 'Destroy…']);
    await page.waitForSelector('#usage-panel >> text=/Stopped since/', { timeout: 15_000 });
    await expectSameAfterReload(page);
    expect(await buttonsIn(page, '#container-actions')).toEqual(['Start', 'Destroy…']);
    if (process.env.SCREENSHOT_DIR) await page.screenshot({ path: `${process.env.SCREENSHOT_DIR}/container-stopped.png`, fullPage: true });

    // The list: the stopped row offers what its page offers, and the filter counts follow the CT when it is
    // started behind Launchpad's back (the table's next poll brings the row and the counts).
    await page.goto(`${rig.server.baseUrl}/containers`);
    const count = (filter: string) => page.textContent(`#container-filters a[href^="/containers?filter=${filter}&"] span`);
    expect(await count('stopped')).toBe('1');
    expect(await count('running')).toBe('0');

    const row = page.locator(`#container-${c.id}`);
    expect(await row.locator('button, a.btn-danger').allTextContents()).toEqual(['Start', 'Destroy…']);
    const api = proxmoxClientFor(rig.simulator.node, rig.env.deps.secrets);
    try {
      await waitForTask(api, await api.startLxc(rig.simulator.node.name, vmid), { pollIntervalMs: 20 });
    } finally {
      api.close();
    }
    await page.waitForFunction(() => document.querySelector('#container-filters a[href^="/containers?filter=running&"] span')?.textContent === '1', undefined, { timeout: 15_000 });
    expect(await count('stopped')).toBe('0');
    expect(await row.locator('button, a.btn-danger').allTextContents()).toEqual(['Shut down', 'Reboot', 'Stop', 'Destroy…']);
    await page.context().close();
  }, 180_000);

  it('a failed build’s page left open follows a teammate’s Retry: its state, progress and log lines, no reload', async () => {
    const owner = await ensureUser(rig.env.deps, 'retrier', 'retrier-password');
    await ensureUser(rig.env.deps, 'onlooker', 'onlooker-password', 'viewer');
    const template = await getTemplate(rig.env.deps.repos.templates, 'static-web');
    const c = await insertDeployment(rig.env.deps, { ownerId: owner.id, nodeId: rig.simulator.node.id, template });
    // The first attempt failed while creating the CT (none was made): the Retry builds it for real.
    const rec = recorderFor(rig.env.deps, c.id);
    await rec.enterPhase('creating', 'Creating CT');
    rec.log('task', 'first attempt: storage local-lvm is full');
    await rec.fail('Create Container failed: storage local-lvm is full.');

    // Page A: someone watching (a viewer). Page B: the owner, who presses Retry.
    const pageOf = async (user: string, password: string) =>
      (await pageWithSession(rig.browser, rig.server.baseUrl, (await signIn(rig.server.baseUrl, user, password)).cookie)).page;
    const a = await pageOf('onlooker', 'onlooker-password');
    const b = await pageOf('retrier', 'retrier-password');
    await a.goto(`${rig.server.baseUrl}/containers/${c.id}`);
    expect(await a.textContent('#lifecycle-badge')).toBe('failed');
    // Its quiet stream is open (live) before anything happens.
    await a.waitForFunction(() => (window as unknown as { launchpadStream: StreamHealth }).launchpadStream.state === 'live', undefined, { timeout: 10_000 });
    expect(await a.$$eval('[sse-connect]', (els) => els.map((e) => e.getAttribute('sse-connect')))).toEqual([`/containers/${c.id}/watch?seen=${(await rig.env.deps.repos.containers.findById(c.id))!.lastSeq}`]);
    const linesBefore = await a.locator('#log-lines > li').count();

    await b.goto(`${rig.server.baseUrl}/containers/${c.id}`);
    const reloaded = b.waitForEvent('domcontentloaded');
    await b.click('#container-actions button:text-matches("^Retry")');
    await reloaded;

    // Page A hears it at once: no Retry left to press, the build under way, then its lines.
    await a.waitForFunction(() => document.querySelector('#lifecycle-badge')?.textContent !== 'failed', undefined, { timeout: 10_000 });
    expect(['queued', 'creating']).toContain(await a.textContent('#lifecycle-badge'));
    expect(await a.locator('#status-panel button:text-matches("^Retry")').count()).toBe(0);
    await a.waitForSelector('#log-lines > li >> text=/^Creating CT \\d+ \\(/', { timeout: 30_000 });
    await a.waitForFunction((before) => document.querySelectorAll('#log-lines > li').length > before + 3, linesBefore, { timeout: 30_000 });
    await a.waitForSelector('#status-panel >> text=Ready', { timeout: 90_000 });
    await streamEnded(a, 0);
    expect(await a.textContent('#lifecycle-badge')).toBe('ready');
    // Every line of the log once, in order, as log.txt has it: the retry's lines followed without a gap or a repeat.
    const shown = await a.$$eval('#log-lines > li:not(.log-marker)', (els) => els.map((e) => e.textContent ?? ''));
    const logTxt = await (await fetch(`${rig.server.baseUrl}/containers/${c.id}/log.txt`, { headers: { Cookie: (await signIn(rig.server.baseUrl, 'onlooker', 'onlooker-password')).cookie } })).text();
    // eslint-disable-next-line no-control-regex -- the colour codes log.txt keeps and the page renders
    expect(shown).toEqual(logTxt.split('\n').slice(0, -1).map((l) => l.replace(/\x1b\[[\d;]*m/g, '')));
    // The attempt's history entry is written just after its last event, so it reaches the page a moment after the
    // build's end, on the usage stream (a busy machine stretches that moment): the page must show it, as a reload does.
    await a.waitForSelector('#history li[data-kind="build"][data-outcome="succeeded"]', { timeout: 15_000 });
    await expectSameAfterReload(a);
    await a.context().close();
    await b.context().close();
  }, 180_000);
});
