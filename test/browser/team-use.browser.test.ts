/// <reference lib="dom" />
// What a team using one Launchpad ran into, in a real browser: Deploy pressed on a Review page whose draft another
// tab has replaced or deployed, or after an admin took the operator role away, shows where things stand (never a
// blank page); the role select on /users stays usable at phone width and beside a 64-character username; the
// Destroy confirmation puts the cursor in its hostname field.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, pageWithSession } from '../support/browser.ts';
import { insertContainer, insertNode, recorderFor } from '../support/fixtures.ts';
import { ensureUser, listen, signIn } from '../support/http-session.ts';
import { startTestSimulator } from '../support/simulator-fixtures.ts';
import { createTestEnv, type TestEnv } from '../support/test-deps.ts';
import { createTestApp } from '../support/test-app.ts';

let env: TestEnv;
let sim: Awaited<ReturnType<typeof startTestSimulator>>;
let server: Awaited<ReturnType<typeof listen>>;
let browser: Browser;

const SLOW = { timeout: 8_000 };
const LONG_NAME = `a${'very-long-name-'.repeat(5)}`.padEnd(64, 'x').slice(0, 64);

beforeAll(async () => {
  env = await createTestEnv();
  sim = await startTestSimulator(env.deps);
  await env.deps.repos.templates.createCustom({
    name: 'team-web', description: 'Team use', osTemplate: 'debian-12', cores: 1, memory: 512, swap: 512, disk: 4,
    unprivileged: true, nesting: true, tags: [], scripts: [{ name: '10-one.sh', position: 1, content: 'echo one\n', enabled: true }],
    files: [], packages: [],
  });
  server = await listen(createTestApp(env));
  browser = await launchBrowser();
  await ensureUser(env.deps, 'admin', 'admin-password', 'admin');
  await ensureUser(env.deps, LONG_NAME, 'long-name-password', 'operator');
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await env?.deps.queue.obliterate({ force: true }).catch(() => undefined);
  await sim?.close();
  await env?.close();
});

async function signedInPage(username = 'admin', password = 'admin-password', viewport = { width: 1280, height: 900 }) {
  const { cookie } = await signIn(server.baseUrl, username, password);
  const { context, page } = await pageWithSession(browser, server.baseUrl, cookie, { viewport });
  return { context, page };
}

const pathOf = (page: Page) => new URL(page.url()).pathname;

/** Walks the wizard to Review (JavaScript on: every step an htmx swap of #wizard). */
async function toReview(page: Page, hostname: string) {
  await page.goto(`${server.baseUrl}/containers/new`);
  await page.locator('label', { hasText: 'team-web' }).click();
  await page.getByRole('button', { name: 'Continue' }).click();
  await expect.poll(() => pathOf(page), SLOW).toBe('/containers/new/configure');
  await page.locator('#f-ostemplate').waitFor(SLOW);
  await page.fill('#f-hostname', hostname);
  await page.fill('#f-password', 'team-use-password');
  await page.fill('#f-password_confirm', 'team-use-password');
  for (const next of ['packages', 'scripts', 'review']) {
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect.poll(() => pathOf(page), SLOW).toBe(`/containers/new/${next}`);
  }
}

/** The text the page shows in <main> (a blank page has none). */
const mainText = (page: Page) => page.locator('main').innerText();

describe('Deploy from a Review page that is out of date', () => {
  it('after another tab started over: back in the wizard, told why, nothing deployed', async () => {
    const { context, page } = await signedInPage();
    await toReview(page, 'stale-1');
    const deployId = await page.locator('input[name="deploy_id"]').inputValue();
    // Tab 2 of the same session: "Start over" replaces the one draft.
    const other = await context.newPage();
    await other.goto(`${server.baseUrl}/containers/new/review`);
    other.on('dialog', (d) => void d.accept());
    await other.getByRole('button', { name: 'Start over' }).click();
    await expect.poll(() => pathOf(other), SLOW).toBe('/containers/new/template');

    await page.getByRole('button', { name: 'Deploy' }).click();
    await expect.poll(() => pathOf(page), SLOW).toBe('/containers/new/template');
    await expect.poll(() => page.locator('#wizard [role="status"]').textContent(), SLOW).toContain('replaced in another tab');
    expect(await page.locator('#wizard h1').textContent()).toContain('New container');
    expect(await env.deps.repos.containers.findById(deployId)).toBeUndefined();
    await context.close();
  });

  it('after another tab deployed the same draft: on that container’s page', async () => {
    const { context, page } = await signedInPage();
    await toReview(page, 'stale-2');
    const deployId = await page.locator('input[name="deploy_id"]').inputValue();
    const other = await context.newPage();
    await other.goto(`${server.baseUrl}/containers/new/review`);
    await other.getByRole('button', { name: 'Deploy' }).click();
    await expect.poll(() => pathOf(other), SLOW).toBe(`/containers/${deployId}`);

    await page.getByRole('button', { name: 'Deploy' }).click();
    await expect.poll(() => pathOf(page), SLOW).toBe(`/containers/${deployId}`);
    expect(await page.locator('h1').first().textContent()).toContain('stale-2');
    await context.close();
  });

  it('after an admin made the operator a viewer: the refusal is shown, not a blank page', async () => {
    const operator = await ensureUser(env.deps, 'demoted', 'demoted-password', 'operator');
    const { context, page } = await signedInPage('demoted', 'demoted-password');
    await toReview(page, 'stale-3');
    await env.deps.repos.users.change(operator.id, { role: 'viewer' });
    await page.getByRole('button', { name: 'Deploy' }).click();
    await expect.poll(() => page.locator('#error-panel').count(), SLOW).toBe(1);
    expect(await mainText(page)).toContain('This needs the operator or admin role; you are signed in as a viewer.');
    expect(await page.locator('#error-panel h1').textContent()).toBe('Not allowed');
    await context.close();
  });
});

describe('the users page', () => {
  for (const width of [390, 1280]) {
    it(`keeps each role select wide enough to read at ${width} px, beside a 64-character username`, async () => {
      const { context, page } = await signedInPage('admin', 'admin-password', { width, height: 900 });
      await page.goto(`${server.baseUrl}/users`);
      const long = (await env.deps.repos.users.findByUsername(LONG_NAME))!;
      await page.screenshot({ path: `/tmp/users-${width}.png`, fullPage: true });
      const widths = await page.locator('select[name="role"]').evaluateAll((selects) => selects.map((s) => s.getBoundingClientRect().width));
      expect(widths.length).toBeGreaterThan(1);
      for (const w of widths) expect(w).toBeGreaterThanOrEqual(96);
      // The long name wraps within its cell instead of pushing the table wide (on a phone, the row's first line).
      const nameCell = await page.locator(`#user-${long.id} td`).first().boundingBox();
      if (width >= 640) expect(nameCell!.width).toBeLessThan(300);
      else expect(nameCell!.x + nameCell!.width).toBeLessThanOrEqual(width);
      await context.close();
    });
  }
});

describe('the Destroy confirmation', () => {
  it('puts the cursor in the hostname field', async () => {
    const admin = (await env.deps.repos.users.findByUsername('admin'))!;
    const c = await insertContainer(env.deps, admin.id, (await insertNode(env.deps, 'team-node')).id, 'to-destroy');
    await recorderFor(env.deps, c.id).complete({ status: 'Ready', ip: '10.0.0.9' });
    const { context, page } = await signedInPage();
    await page.goto(`${server.baseUrl}/containers/${c.id}/destroy`);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('f-confirm_hostname');
    await context.close();
  });
});
