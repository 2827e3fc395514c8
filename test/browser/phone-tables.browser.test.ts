/// <reference lib="dom" />
// The container list and the audit trail (and the nodes and users tables) on a 390 px phone, with and without
// JavaScript: every row is read without scrolling sideways (not the page, not the table's card), its links and buttons
// are on screen, and the browser still sees a table with its column headers; at desktop width they stay ordinary
// tables. And a running build's page on a phone: its log starts on the first screen. Set SCREENSHOT_DIR to keep
// screenshots.
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, pageWithSession } from '../support/browser.ts';
import { insertContainer, insertNode, recorderFor } from '../support/fixtures.ts';
import { ensureUser, listen, signIn } from '../support/http-session.ts';
import { createTestEnv, type TestEnv } from '../support/test-deps.ts';
import { createTestApp } from '../support/test-app.ts';

let env: TestEnv;
let server: Awaited<ReturnType<typeof listen>>;
let browser: Browser;
let cookie: string;
let readyId: string;

const LONG_HOST = 'a-rather-long-hostname-that-an-admin-might-really-use-db01';

beforeAll(async () => {
  env = await createTestEnv();
  server = await listen(createTestApp(env));
  browser = await launchBrowser();
  const admin = await ensureUser(env.deps, 'phone-admin', 'admin-password', 'admin');
  const operator = await ensureUser(env.deps, 'phone-operator', 'operator-password', 'operator');
  await ensureUser(env.deps, `a${'very-long-name-'.repeat(5)}`.padEnd(64, 'x').slice(0, 64), 'long-name-password', 'viewer');
  const node = await insertNode(env.deps, 'pve-phone');
  // Two owners, so the list has its Owner column too; the node is not reachable, so each row explains its status.
  for (const [owner, hostname, vmid] of [[admin, LONG_HOST, 100], [operator, 'web1', 101]] as const) {
    const c = await insertContainer(env.deps, owner.id, node.id, hostname);
    readyId ??= c.id;
    await env.deps.repos.containers.update(c.id, { vmid });
    await recorderFor(env.deps, c.id).complete({ status: 'Ready', ip: '10.0.0.9' });
    await env.deps.repos.audit.insert({
      userId: owner.id, username: owner.username, remoteAddress: '2001:db8:85a3::8a2e:370:7334', action: 'container.deploy', target: hostname,
      containerId: c.id, outcome: 'success', details: { via: 'session', node: 'pve-phone', template: 'a-custom-template-with-a-long-name', note: 'x'.repeat(80) },
    });
  }
  cookie = (await signIn(server.baseUrl, 'phone-admin', 'admin-password')).cookie;
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await env?.close();
});

async function open(url: string, width: number, javaScriptEnabled: boolean): Promise<{ page: Page; close: () => Promise<void> }> {
  const { context, page } = await pageWithSession(browser, server.baseUrl, cookie, { viewport: { width, height: 844 }, javaScriptEnabled });
  await page.goto(`${server.baseUrl}${url}`);
  if (process.env.SCREENSHOT_DIR) {
    await page.screenshot({ path: path.join(process.env.SCREENSHOT_DIR, `${url.slice(1)}-${width}${javaScriptEnabled ? '' : '-nojs'}.png`), fullPage: true });
  }
  return { page, close: () => context.close() };
}

/** What scrolls sideways: the page, or any box around the table. */
const sidewaysScrollers = (page: Page) =>
  page.evaluate(() => {
    const scrolls = (el: Element) => el.scrollWidth > el.clientWidth + 1;
    const found = scrolls(document.documentElement) ? ['the page'] : [];
    for (let el = document.querySelector('main table')?.parentElement; el && el !== document.body; el = el.parentElement) {
      if (scrolls(el)) found.push(`${el.tagName.toLowerCase()}.${el.className}`);
    }
    return found;
  });

/** Links and buttons in the table that end beyond the right edge of the screen. */
const offScreen = (page: Page) =>
  page.locator('main table tbody').locator('a, button, summary').evaluateAll((els) =>
    els.filter((el) => el.getBoundingClientRect().right > window.innerWidth).map((el) => el.textContent?.trim()),
  );

/** The roles and names Chromium's accessibility tree gives the table (not what the DOM says: what a screen reader gets). */
async function tableRoles(page: Page): Promise<{ headers: string[]; cells: number; rows: number }> {
  const cdp = await page.context().newCDPSession(page);
  const { nodes } = await cdp.send('Accessibility.getFullAXTree');
  const named = (role: string) => nodes.filter((n) => !n.ignored && n.role?.value === role);
  return { headers: named('columnheader').map((n) => String(n.name?.value ?? '')), cells: named('cell').length, rows: named('row').length };
}

describe('at 390 px', () => {
  for (const javaScriptEnabled of [true, false]) {
    const how = javaScriptEnabled ? 'with JavaScript' : 'without JavaScript';

    it(`shows each container as a block to read without scrolling sideways, ${how}`, async () => {
      const { page, close } = await open('/containers', 390, javaScriptEnabled);
      try {
        expect(await page.locator('#container-rows tr').count()).toBe(2);
        expect(await sidewaysScrollers(page)).toEqual([]);
        expect(await offScreen(page)).toEqual([]);
        // The sort links stay on screen (a "Sort by" line), as every link that Tab reaches must.
        const shown = await page.locator('main thead a').evaluateAll((links) =>
          links.filter((a) => {
            const r = a.getBoundingClientRect();
            return a.contains(document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2)); // not clipped away
          }).map((a) => a.textContent?.replace(/\W/g, '')),
        );
        expect(shown).toEqual(['Hostname', 'State', 'Created']);
        const row = page.locator('#container-rows tr', { hasText: 'web1' });
        for (const text of ['web1', 'ready', '101', 'pve-phone', 'phone-operator']) expect(await row.innerText()).toContain(text);
        expect(await row.getByRole('link', { name: 'Destroy web1' }).isVisible()).toBe(true);
        const roles = await tableRoles(page);
        expect(roles.headers).toEqual(expect.arrayContaining(['Hostname', 'VMID', 'Node', 'Owner', 'State']));
        expect(roles.rows).toBe(3);
      } finally {
        await close();
      }
    });

    it(`shows each audit entry as a block to read without scrolling sideways, ${how}`, async () => {
      const { page, close } = await open('/audit', 390, javaScriptEnabled);
      try {
        const entry = page.locator('#audit-rows tr', { hasText: LONG_HOST });
        expect(await entry.count()).toBe(1);
        expect(await sidewaysScrollers(page)).toEqual([]);
        expect(await offScreen(page)).toEqual([]);
        for (const text of ['container.deploy', 'success', 'phone-admin', '2001:db8:85a3::8a2e:370:7334', 'a-custom-template-with-a-long-name']) {
          expect(await entry.innerText()).toContain(text);
        }
        const roles = await tableRoles(page);
        expect(roles.headers).toEqual(['When (UTC)', 'User', 'Address', 'Action', 'Target', 'Outcome', 'Details']);
        expect(roles.cells).toBeGreaterThanOrEqual(7 * 3);
      } finally {
        await close();
      }
    });
  }

  for (const [url, headers] of [['/nodes', ['Name', 'API URL', 'SSH', 'Last test']], ['/users', ['Username', 'Role', 'Proxmox VE user', 'Actions']]] as const) {
    it(`shows ${url} as blocks to read without scrolling sideways`, async () => {
      const { page, close } = await open(url, 390, false);
      try {
        expect(await page.locator('main table tbody tr').count()).toBeGreaterThanOrEqual(1);
        expect(await sidewaysScrollers(page)).toEqual([]);
        expect(await offScreen(page)).toEqual([]);
        expect((await tableRoles(page)).headers).toEqual(expect.arrayContaining([...headers]));
      } finally {
        await close();
      }
    });
  }
});

describe('the container page at 390 px', () => {
  let buildingId: string;
  beforeAll(async () => {
    const owner = (await env.deps.repos.users.findByUsername('phone-admin'))!;
    const node = (await env.deps.repos.nodes.findByName('pve-phone'))!;
    const c = await insertContainer(env.deps, owner.id, node.id, 'building1');
    buildingId = c.id;
    await env.deps.repos.containers.update(c.id, { vmid: 102, lifecycle: 'creating' });
    const recorder = recorderFor(env.deps, c.id);
    await recorder.enterPhase('creating', 'Creating CT 102');
    await recorder.enterPhase('starting', 'Starting CT 102');
    await recorder.enterPhase('deploying', 'Installing packages');
    for (let i = 0; i < 40; i++) recorder.log('stdout', `Setting up package-${i} (1.2.${i}-1) ...`);
    await recorder.close();
  });

  /** Where the page's sections start, from the top of the page (px). */
  const tops = (page: Page) =>
    page.evaluate(() => {
      const top = (selector: string) => document.querySelector(selector)!.getBoundingClientRect().top + window.scrollY;
      return { log: top('[data-log-viewer]'), config: top('#container-config'), history: top('#history'), stepRow: document.querySelector('#step-creating')!.getBoundingClientRect().height };
    });

  for (const javaScriptEnabled of [true, false]) {
    it(`a running build's log starts on the first screen, before the configuration, each phase on one line, ${javaScriptEnabled ? 'with' : 'without'} JavaScript`, async () => {
      const { page, close } = await open(`/containers/${buildingId}`, 390, javaScriptEnabled);
      try {
        const at = await tops(page);
        expect(at.log).toBeLessThan(844 - 100);
        expect(at.config).toBeGreaterThan(at.log);
        expect(at.history).toBeGreaterThan(at.config);
        expect(at.stepRow).toBeLessThan(40);
        expect(await sidewaysScrollers(page)).toEqual([]);
      } finally {
        await close();
      }
    });
  }

  it("a built container's page keeps its configuration before the log", async () => {
    const { page, close } = await open(`/containers/${readyId}`, 390, true);
    try {
      const at = await tops(page);
      expect(at.config).toBeLessThan(at.log);
    } finally {
      await close();
    }
  });
});

describe('at 1280 px', () => {
  it('keeps the tables as tables with a visible header row', async () => {
    for (const url of ['/containers', '/audit', '/nodes', '/users']) {
      const { page, close } = await open(url, 1280, true);
      try {
        expect(await page.locator('main table').evaluate((t) => getComputedStyle(t).display)).toBe('table');
        expect(await page.locator('main thead').isVisible()).toBe(true);
        expect(await page.locator('main thead').boundingBox()).toMatchObject({ height: expect.any(Number) });
        expect((await page.locator('main thead').boundingBox())!.height).toBeGreaterThan(20);
      } finally {
        await close();
      }
    }
  });
});
