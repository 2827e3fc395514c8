/// <reference lib="dom" />
// Small things a user saw, checked in a real browser under the app's CSP: a refused wizard step leaves no
// Content-Security-Policy violations in the console; after a refused Deploy the address bar names the page shown
// (the Review step), with and without JavaScript, so a reload shows the same page; a refused form focuses its
// summary of what went wrong, with and without JavaScript; every page has a favicon; the
// first Tab on every page reaches a "Skip to content" link, out of sight until then, that leads into <main>; after a
// power action (start, stop…) the focus is on its result on the page the action returns to.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { markedDescription } from '../../src/domain/pipeline/ct-mark.ts';
import { ProxmoxClient } from '../../src/proxmox/api-client.ts';
import { waitForTask } from '../../src/proxmox/task-waiter.ts';
import { launchBrowser, pageWithSession } from '../support/browser.ts';
import { recorderFor } from '../support/fixtures.ts';
import { ensureUser, listen, signIn } from '../support/http-session.ts';
import { insertDeployment, startTestSimulator } from '../support/simulator-fixtures.ts';
import { createTestEnv, type TestEnv } from '../support/test-deps.ts';
import { createTestApp } from '../support/test-app.ts';

let env: TestEnv;
let sim: Awaited<ReturnType<typeof startTestSimulator>>;
let server: Awaited<ReturnType<typeof listen>>;
let browser: Browser;

const DEBIAN = 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst';
const SLOW = { timeout: 8_000 };

beforeAll(async () => {
  env = await createTestEnv();
  sim = await startTestSimulator(env.deps);
  await env.deps.repos.templates.createCustom({
    name: 'small-web', description: 'Small things', osTemplate: 'debian-12', cores: 1, memory: 512, swap: 512, disk: 4,
    unprivileged: true, nesting: true, tags: [], scripts: [{ name: '10-one.sh', position: 1, content: 'echo one\n', enabled: true }],
    files: [], packages: [{ manager: 'apt', name: 'nginx', version: null }],
  });
  server = await listen(createTestApp(env));
  browser = await launchBrowser();
  await ensureUser(env.deps, 'admin', 'admin-password', 'admin');
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await env?.deps.queue.obliterate({ force: true }).catch(() => undefined);
  await sim?.close();
  await env?.close();
});

/** A signed-in page that records every console message of type error and every CSP violation the document reports. */
async function signedInPage(javaScriptEnabled: boolean) {
  const { cookie } = await signIn(server.baseUrl, 'admin', 'admin-password');
  const { context, page } = await pageWithSession(browser, server.baseUrl, cookie, { javaScriptEnabled });
  const consoleErrors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  page.on('pageerror', (err) => consoleErrors.push(err.message));
  await context.exposeBinding('reportViolation', (_source, text: string) => void consoleErrors.push(text));
  // CSP reports reach the DevTools log, not the page's console API: read them there too.
  const cdp = await context.newCDPSession(page);
  cdp.on('Log.entryAdded', ({ entry }) => entry.level === 'error' && consoleErrors.push(`[${entry.source}] ${entry.text}`));
  await cdp.send('Log.enable');
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      (window as unknown as { reportViolation(t: string): void }).reportViolation(`CSP ${e.violatedDirective}: ${e.blockedURI} ${e.sample}`);
    });
  });
  return { context, page, consoleErrors };
}

const pathOf = (page: Page) => new URL(page.url()).pathname;

/** Walks the wizard to Review with VMID `vmid` typed in Configure. */
async function toReview(page: Page, vmid: string, hostname: string) {
  await page.goto(`${server.baseUrl}/containers/new`);
  await page.locator('label', { hasText: 'small-web' }).click();
  await page.getByRole('button', { name: 'Continue' }).click();
  await expect.poll(() => pathOf(page), SLOW).toBe('/containers/new/configure');
  await page.locator('#f-ostemplate').waitFor(SLOW);
  await page.fill('#f-hostname', hostname);
  await page.fill('#f-vmid', vmid);
  await page.fill('#f-password', 'small-things-password');
  await page.fill('#f-password_confirm', 'small-things-password');
  await page.getByRole('button', { name: 'Continue' }).click();
  await expect.poll(() => pathOf(page), SLOW).toBe('/containers/new/packages');
  await page.getByRole('button', { name: 'Continue' }).click();
  await expect.poll(() => pathOf(page), SLOW).toBe('/containers/new/scripts');
  await page.getByRole('button', { name: 'Continue' }).click();
  await expect.poll(() => pathOf(page), SLOW).toBe('/containers/new/review');
}

async function takeVmid(vmid: number) {
  const client = new ProxmoxClient({ apiUrl: sim.sim.apiUrl, tokenId: sim.sim.tokenId, tokenSecret: sim.sim.tokenSecret, tlsFingerprint: sim.sim.tlsFingerprint });
  try {
    await client.createLxc('sim', { vmid, ostemplate: DEBIAN, hostname: `squatter-${vmid}`, rootfs: { storage: 'local-lvm', sizeGiB: 1 } });
  } finally {
    client.close();
  }
}

describe('small things in a browser', () => {
  it('a refused wizard step logs no Content-Security-Policy errors', async () => {
    const { context, page, consoleErrors } = await signedInPage(true);
    await page.goto(`${server.baseUrl}/containers/new`);
    // Refused: nothing chosen.
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect.poll(() => page.locator('#e-template').textContent(), SLOW).toBe('Choose a template, or start from scratch.');
    await page.locator('label', { hasText: 'small-web' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect.poll(() => pathOf(page), SLOW).toBe('/containers/new/configure');
    await page.locator('#f-ostemplate').waitFor(SLOW);
    // Refused: a hostname with an underscore and no password. Password managers and autofill decorate inputs with
    // inline styles (through the CSSOM, which the CSP allows); the swapped-in form must not copy them as attributes.
    await page.fill('#f-hostname', 'bad_name');
    const decorated = await page.locator('#wizard input[id]').evaluateAll((inputs) => {
      for (const input of inputs) (input as HTMLElement).style.backgroundImage = 'none';
      return inputs.length;
    });
    expect(decorated).toBeGreaterThan(5);
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect.poll(() => page.locator('#e-password').textContent(), SLOW).toBe('Set a root password (at least 8 characters).');
    await page.waitForTimeout(300);
    // A refused step answers 422 (which Chromium logs as a failed load); nothing else may be logged.
    expect(consoleErrors.filter((e) => !e.includes('Failed to load resource: the server responded with a status of 422'))).toEqual([]);
    await context.close();
  });

  for (const javaScriptEnabled of [true, false]) {
    it(`after a refused Deploy the address bar shows the Review step, and a reload shows it again (JavaScript ${javaScriptEnabled ? 'on' : 'off'})`, async () => {
      const vmid = javaScriptEnabled ? 4100 : 4101;
      const { context, page, consoleErrors } = await signedInPage(javaScriptEnabled);
      await toReview(page, String(vmid), `refused-${vmid}`);
      await takeVmid(vmid);
      await page.getByRole('button', { name: 'Deploy' }).click();
      await expect.poll(() => page.locator('#e-vmid').textContent(), SLOW).toContain(`VMID ${vmid} is taken on this cluster.`);
      expect(pathOf(page)).toBe('/containers/new/review');
      await page.reload();
      expect(pathOf(page)).toBe('/containers/new/review');
      await expect.poll(() => page.locator('h1, h2').first().textContent(), SLOW).toBeTruthy();
      expect(await page.getByRole('button', { name: 'Deploy' }).count()).toBe(1);
      expect(await env.deps.repos.containers.findById((await page.locator('input[name="deploy_id"]').inputValue()))).toBeUndefined();
      expect(consoleErrors).toEqual([]);
      await context.close();
    });
  }

  for (const javaScriptEnabled of [true, false]) {
    it(`a refused form puts the focus on what went wrong, and Tab goes on into the form (JavaScript ${javaScriptEnabled ? 'on' : 'off'})`, async () => {
      const { context, page } = await signedInPage(javaScriptEnabled);
      const focused = () => page.evaluate(() => ({ role: document.activeElement?.getAttribute('role'), text: document.activeElement?.textContent?.trim() }));
      await page.goto(`${server.baseUrl}/containers/new`);
      await page.locator('label', { hasText: 'small-web' }).click();
      await page.getByRole('button', { name: 'Continue' }).click();
      await expect.poll(() => pathOf(page), SLOW).toBe('/containers/new/configure');
      await page.locator('#f-ostemplate').waitFor(SLOW);
      await page.fill('#f-hostname', 'bad_name');
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.locator('#e-hostname').waitFor(SLOW);
      await expect.poll(focused, SLOW).toEqual({ role: 'alert', text: 'Some fields need attention; each message is next to its field.' });
      await page.keyboard.press('Tab');
      expect(await page.evaluate(() => document.activeElement?.closest('form')?.id)).toBe('wizard-form');

      // A form outside the wizard, with the same summary.
      await page.goto(`${server.baseUrl}/nodes/new`);
      await page.locator('main form[action="/nodes"]').evaluate((form) => void ((form as HTMLFormElement).noValidate = true)); // past the browser's own checks
      await page.getByRole('button', { name: 'Save node' }).click();
      await page.locator('#e-name').waitFor(SLOW);
      await expect.poll(focused, SLOW).toEqual({ role: 'alert', text: 'Some fields need attention; each message is next to its field.' });
      await context.close();
    });
  }

  it('every page links a favicon that is served', async () => {
    const { context, page } = await signedInPage(true);
    for (const url of ['/login', '/containers', '/containers/new/template', '/templates', '/nodes']) {
      await page.goto(`${server.baseUrl}${url}`);
      expect(await page.locator('link[rel="icon"]').count(), url).toBe(1);
      const href = await page.locator('link[rel="icon"]').getAttribute('href');
      expect(href, url).toBeTruthy();
      const icon = await page.request.get(new URL(href!, page.url()).toString());
      expect(icon.status(), url).toBe(200);
      expect(icon.headers()['content-type']).toMatch(/^image\//);
    }
    // The conventional path (asked for by a browser showing log.txt) leads to the same icon.
    const ico = await page.request.get(`${server.baseUrl}/favicon.ico`);
    expect(ico.status()).toBe(200);
    expect(ico.headers()['content-type']).toMatch(/^image\//);
    await context.close();
  });

  it('the first Tab reaches "Skip to content", hidden until focused, and it leads into the main landmark', async () => {
    const { context, page } = await signedInPage(true);
    const skip = page.getByRole('link', { name: 'Skip to content' });
    const onScreen = async () => {
      const box = (await skip.boundingBox())!;
      return box.y + box.height > 0 && box.width > 1 && box.height > 1;
    };
    for (const url of ['/containers', '/templates', '/account']) {
      await page.goto(`${server.baseUrl}${url}`);
      expect(await skip.getAttribute('href'), url).toBe('#main');
      expect(await page.locator('main#main').count(), url).toBe(1);
      expect(await onScreen(), url).toBe(false);
      await page.keyboard.press('Tab');
      expect(await page.evaluate(() => document.activeElement?.textContent?.trim()), url).toBe('Skip to content');
      expect(await onScreen(), url).toBe(true);
      await page.keyboard.press('Enter');
      expect(new URL(page.url()).hash).toBe('#main');
      expect(await onScreen(), url).toBe(false);
      // Focus carries on from <main>: the next Tab lands inside it, past the header's links.
      await page.keyboard.press('Tab');
      expect(await page.evaluate(() => Boolean(document.activeElement?.closest('main'))), url).toBe(true);
    }
    // Signed out too: the sign-in page's layout starts with it (its username field has autofocus, so the first
    // Tab goes on from there; Shift+Tab goes back past the logo to the link).
    const anonymous = await browser.newPage();
    await anonymous.goto(`${server.baseUrl}/login`);
    const firstFocusable = () => anonymous.evaluate(() => {
      const first = document.querySelector('a[href], button, input:not([type="hidden"]), select, textarea, [tabindex]');
      return [first?.textContent?.trim(), first?.getAttribute('href')];
    });
    expect(await firstFocusable()).toEqual(['Skip to content', '#main']);
    await anonymous.keyboard.press('Shift+Tab');
    await anonymous.keyboard.press('Shift+Tab');
    expect(await anonymous.evaluate(() => document.activeElement?.textContent?.trim())).toBe('Skip to content');
    await anonymous.close();
    await context.close();
  });

  for (const javaScriptEnabled of [true, false]) {
    it(`after a power action the focus is on its result, not lost at the top of the page (JavaScript ${javaScriptEnabled ? 'on' : 'off'})`, async () => {
      const vmid = javaScriptEnabled ? 4301 : 4302;
      const hostname = `power-${vmid}`;
      const admin = (await env.deps.repos.users.findByUsername('admin'))!;
      const c = await insertDeployment(env.deps, { ownerId: admin.id, nodeId: sim.node.id, hostname, vmid });
      await recorderFor(env.deps, c.id).complete({ status: 'Ready', vmid });
      const client = new ProxmoxClient({ apiUrl: sim.sim.apiUrl, tokenId: sim.sim.tokenId, tokenSecret: sim.sim.tokenSecret, tlsFingerprint: sim.sim.tlsFingerprint });
      try {
        await waitForTask(client, await client.createLxc('sim', { vmid, ostemplate: DEBIAN, hostname, rootfs: { storage: 'local-lvm', sizeGiB: 1 } }));
        await client.updateLxcConfig('sim', vmid, { description: markedDescription(c.id) });
      } finally {
        client.close();
      }
      const { context, page } = await signedInPage(javaScriptEnabled);
      await page.goto(`${server.baseUrl}/containers/${c.id}`);
      const start = page.locator('#container-actions').getByRole('button', { name: 'Start' });
      await start.focus();
      await page.keyboard.press('Enter');
      await page.locator('#container-actions >> text=is in progress').waitFor(SLOW);
      const focused = () => page.evaluate(() => ({ role: document.activeElement?.getAttribute('role'), text: document.activeElement?.textContent?.trim() }));
      await expect.poll(focused, SLOW).toEqual({ role: 'status', text: 'Start requested: follow it in the log below.' });
      await context.close();
    });
  }
});
