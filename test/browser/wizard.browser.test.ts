/// <reference lib="dom" />
// The wizard in a real browser, under the app's CSP: with JavaScript every step swaps only #wizard (no full page
// load, the URL follows the step), the node select refreshes its fieldset, Up/Down swap the script list in place and
// Deploy lands on the container page; with JavaScript off the same pages work as plain forms.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxmoxClient } from '../../src/proxmox/api-client.ts';
import { waitForTask } from '../../src/proxmox/task-waiter.ts';
import { launchBrowser, pageWithSession } from '../support/browser.ts';
import { ensureUser, listen, signIn } from '../support/http-session.ts';
import { startTestSimulator } from '../support/simulator-fixtures.ts';
import { createTestEnv, type TestEnv } from '../support/test-deps.ts';
import { createTestApp } from '../support/test-app.ts';
import { tokenSecretAad } from '../../src/domain/sealed-secrets.ts';

let env: TestEnv;
let sim: Awaited<ReturnType<typeof startTestSimulator>>;
let server: Awaited<ReturnType<typeof listen>>;
let browser: Browser;

beforeAll(async () => {
  env = await createTestEnv();
  sim = await startTestSimulator(env.deps);
  await env.deps.repos.templates.createCustom({
    name: 'browser-web', description: 'Browser test template', osTemplate: 'debian-12', cores: 1, memory: 512, swap: 512, disk: 4,
    unprivileged: true, nesting: true, tags: ['web'],
    scripts: [
      { name: '10-one.sh', position: 1, content: 'echo one\n', enabled: true },
      { name: '20-two.sh', position: 2, content: 'echo two\n', enabled: true },
    ],
    files: [],
    packages: [{ manager: 'apt', name: 'nginx', version: null }],
  });
  await env.deps.repos.nodes.create(
    { name: 'zz-offline', apiUrl: 'https://127.0.0.1:9', tokenId: 'root@pam!x', tlsFingerprint: sim.sim.tlsFingerprint, sshHost: null, sshPort: 22, sshUser: 'root', sshHostKeyFingerprint: null, isSimulator: false },
    (id) => ({ tokenSecretEnc: env.deps.secrets.seal('secret', tokenSecretAad(id)) }),
  );
  // A guest whose name the wizard should ask about.
  const client = new ProxmoxClient({ apiUrl: sim.sim.apiUrl, tokenId: sim.sim.tokenId, tokenSecret: sim.sim.tokenSecret, tlsFingerprint: sim.sim.tlsFingerprint });
  await waitForTask(client, await client.createLxc('sim', { vmid: 333, ostemplate: 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst', hostname: 'taken-1', rootfs: { storage: 'local-lvm', sizeGiB: 1 } }), { pollIntervalMs: 10 });
  client.close();
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

async function signedInPage(options: { javaScriptEnabled: boolean }): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const { cookie } = await signIn(server.baseUrl, 'admin', 'admin-password');
  const { context, page } = await pageWithSession(browser, server.baseUrl, cookie, { javaScriptEnabled: options.javaScriptEnabled });
  const problems: string[] = [];
  page.on('console', (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource') && problems.push(m.text()));
  page.on('pageerror', (err) => problems.push(err.message));
  page.on('response', (r) => r.status() >= 400 && r.status() !== 422 && problems.push(`${r.status()} ${r.url()}`));
  return { context, page, problems };
}

const path = (page: Page) => new URL(page.url()).pathname;
/** htmx answers after a round trip to the simulated node: give polls more than the default second. */
const SLOW = { timeout: 8_000 };
/** Without JavaScript every step is a real page load. */
const landOn = (page: Page, pathname: string) => page.waitForURL((url) => url.pathname === pathname);
/** Presses a button that posts and comes back to the same URL, and waits for the new page. */
async function pressAndReload(page: Page, name: string) {
  const reloaded = page.waitForResponse((r) => r.request().method() === 'GET' && r.request().isNavigationRequest());
  await page.getByRole('button', { name }).click();
  await reloaded;
  await page.waitForLoadState();
}
const scriptOrder = (page: Page) => page.locator('#script-list input[name="order"]').evaluateAll((inputs) => inputs.map((i) => (i as HTMLInputElement).value));

describe('the wizard in a browser', () => {
  it('with htmx: partial swaps, pushed URLs, live node choices, in-place reordering, Deploy to the container page', async () => {
    const { context, page, problems } = await signedInPage({ javaScriptEnabled: true });
    await page.goto(`${server.baseUrl}/containers/new`);
    expect(path(page)).toBe('/containers/new/template');
    // A marker on window survives only if no full page load happens from here on.
    await page.evaluate(() => Object.assign(window, { wizardMarker: 'still here' }));
    const marker = () => page.evaluate(() => (window as unknown as { wizardMarker?: string }).wizardMarker);

    await page.getByRole('button', { name: 'Continue' }).click();
    await expect.poll(() => page.locator('#e-template').textContent(), SLOW).toBe('Choose a template, or start from scratch.');
    await page.locator('label', { hasText: 'browser-web' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect.poll(() => path(page), SLOW).toBe('/containers/new/configure');
    expect(await marker()).toBe('still here');
    expect(await page.locator('#f-ostemplate').inputValue()).toBe('local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst');

    // A hostname a guest already has brings a question beside the field as soon as it is typed, not a refusal.
    await page.fill('#f-hostname', 'taken-1');
    await page.locator('#f-hostname').press('Tab');
    await expect.poll(() => page.locator('#hostname-warning').textContent(), SLOW).toContain('taken-1 already exists on sim as CT 333 — deploy another?');
    // The node select swaps only the dependent fieldset; what was typed elsewhere stays.
    await page.fill('#f-hostname', 'browser-1');
    await page.locator('#f-hostname').press('Tab');
    await expect.poll(() => page.locator('#hostname-warning').textContent(), SLOW).not.toContain('already exists');
    await page.selectOption('#f-node', 'zz-offline');
    await expect.poll(() => page.locator('#node-choices').textContent(), SLOW).toContain('Node zz-offline cannot be reached');
    expect(await page.locator('#f-ostemplate').evaluate((e) => e.tagName)).toBe('INPUT');
    expect(await page.locator('#f-bridge').evaluate((e) => e.tagName)).toBe('INPUT');
    expect(await page.locator('#f-hostname').inputValue()).toBe('browser-1');
    await page.selectOption('#f-node', 'sim');
    await expect.poll(() => page.locator('#f-ostemplate').evaluate((e) => e.tagName), SLOW).toBe('SELECT');
    expect(await page.locator('#f-bridge option').allTextContents()).toEqual(['vmbr0', 'vmbr1 — internal (no ports)']);

    // A rejected form comes back in place with the message next to the field.
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect.poll(() => page.locator('#e-password').textContent(), SLOW).toBe('Set a root password (at least 8 characters).');
    expect(await page.locator('#f-password').getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator('#f-hostname').inputValue()).toBe('browser-1');
    expect(await marker()).toBe('still here');

    await page.getByRole('button', { name: 'Generate a strong password' }).click();
    const generated = await page.locator('#f-password').inputValue();
    expect(generated).toHaveLength(20);
    expect(await page.locator('#f-password_confirm').inputValue()).toBe(generated);
    // One Continue asks the node once per check: a typed VMID is probed once (never by both a boosted and a plain submit).
    await page.fill('#f-vmid', '5678');
    const mark = sim.sim.requests.at(-1)?.seq ?? 0;
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect.poll(() => path(page), SLOW).toBe('/containers/new/packages');
    const asked = sim.sim.requests.filter((r) => r.seq > mark).map((r) => `${r.method} ${r.path}?${new URLSearchParams(r.params as Record<string, string>).toString()}`);
    expect(asked.filter((r) => r.startsWith('GET /cluster/nextid'))).toEqual(['GET /cluster/nextid?vmid=5678']);
    expect(asked.length).toBe(new Set(asked).size);
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect.poll(() => path(page), SLOW).toBe('/containers/new/scripts');

    expect(await scriptOrder(page)).toEqual(['10-one.sh', '20-two.sh']);
    await page.getByRole('button', { name: 'Move 20-two.sh up' }).click();
    await expect.poll(() => scriptOrder(page), SLOW).toEqual(['20-two.sh', '10-one.sh']);
    expect(await marker()).toBe('still here');

    // Back through the stepper and forward again keeps the order.
    await page.getByRole('button', { name: /Configure/ }).click();
    await expect.poll(() => path(page), SLOW).toBe('/containers/new/configure');
    expect(await page.locator('#f-hostname').inputValue()).toBe('browser-1');
    // The browser's Back restores the Scripts step (htmx fetches it again: no history cache).
    await page.goBack();
    await expect.poll(() => path(page), SLOW).toBe('/containers/new/scripts');
    await page.locator('#script-list').waitFor(SLOW);
    expect(await scriptOrder(page)).toEqual(['20-two.sh', '10-one.sh']);
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect.poll(() => path(page), SLOW).toBe('/containers/new/review');
    await page.goto(`${server.baseUrl}/containers/new`);
    expect(path(page)).toBe('/containers/new/review');
    expect(await page.locator('.wizard-summary').textContent()).toMatch(/20-two\.sh\s*10-one\.sh/);

    await page.getByRole('button', { name: 'Deploy' }).click();
    await expect.poll(() => path(page), { timeout: 10_000 }).toMatch(/^\/containers\/[0-9a-f-]{36}$/);
    const id = path(page).split('/').pop()!;
    const container = await env.deps.repos.containers.findById(id);
    expect(container?.hostname).toBe('browser-1');
    expect(container?.config.scripts).toEqual(['20-two.sh', '10-one.sh']);
    // The container page as loaded, not swapped into the wizard's: its own scripts run, so its log viewer is live.
    await page.locator('[data-log-times]').waitFor({ state: 'visible', ...SLOW });
    expect(await page.evaluate(() => [...document.scripts].some((s) => s.src.includes('/log-viewer')))).toBe(true);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('without JavaScript: the same steps as plain forms, “Refresh choices” instead of the live select', async () => {
    const { context, page, problems } = await signedInPage({ javaScriptEnabled: false });
    await page.goto(`${server.baseUrl}/containers/new`);
    await page.locator('label', { hasText: 'From scratch' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
    await landOn(page, '/containers/new/configure');
    await page.fill('#f-hostname', 'nojs-1');
    await page.selectOption('#f-node', 'zz-offline');
    await pressAndReload(page, 'Refresh choices');
    expect(await page.locator('#node-choices').textContent()).toContain('cannot be reached');
    expect(await page.locator('#f-hostname').inputValue()).toBe('nojs-1');
    await page.selectOption('#f-node', 'sim');
    await pressAndReload(page, 'Refresh choices');
    expect(await page.locator('#f-ostemplate').evaluate((e) => e.tagName)).toBe('SELECT');
    await page.fill('#f-password', 'no-js-password');
    await page.fill('#f-password_confirm', 'no-js-password');
    // Enter in a text field presses Continue (the form's default button), not a stepper entry.
    await page.locator('#f-hostname').press('Enter');
    await landOn(page, '/containers/new/packages');
    await page.fill('#f-extra_packages', 'curl');
    await page.getByRole('button', { name: 'Continue' }).click();
    await landOn(page, '/containers/new/scripts');
    await page.getByRole('button', { name: 'Continue' }).click();
    await landOn(page, '/containers/new/review');
    await page.getByRole('button', { name: 'Deploy' }).click();
    await page.waitForURL((url) => /^\/containers\/[0-9a-f-]{36}$/.test(url.pathname));
    const container = await env.deps.repos.containers.findById(path(page).split('/').pop()!);
    expect(container?.config).toMatchObject({ hostname: 'nojs-1', templateName: null, extraPackages: ['curl'] });
    expect(problems).toEqual([]);
    await context.close();
  });
});
