/// <reference lib="dom" />
// Package sets in a real browser under the app's CSP: the bulk import's preview and confirm as plain forms, and the
// wizard's Packages step (htmx-boosted) switching a template's set off and adding another, through to Review.
// Screenshots of the page, the preview and the Packages step go to /work/briefs/shots/package-sets-*.png.
import { mkdir } from 'node:fs/promises';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, pageWithSession } from '../support/browser.ts';
import { ensureUser, listen, signIn } from '../support/http-session.ts';
import { startTestSimulator } from '../support/simulator-fixtures.ts';
import { createTestEnv, type TestEnv } from '../support/test-deps.ts';
import { createTestApp } from '../support/test-app.ts';

const SHOTS = process.env.SHOTS_DIR ?? '/work/briefs/shots';
const DEBIAN = 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst';

let env: TestEnv;
let sim: Awaited<ReturnType<typeof startTestSimulator>>;
let server: Awaited<ReturnType<typeof listen>>;
let browser: Browser;
let setId: number;
let templateId: number;

beforeAll(async () => {
  env = await createTestEnv();
  sim = await startTestSimulator(env.deps);
  const sets = env.deps.repos.packageSets;
  const created = await sets.create({ name: 'base-tools', description: 'What every container gets' });
  if (created === 'taken') throw new Error('taken');
  setId = created;
  await sets.addPackages(setId, [{ manager: 'apt', name: 'htop', version: null }, { manager: 'apt', name: 'curl', version: null }]);
  const py = await sets.create({ name: 'py-tools', description: 'Python helpers' });
  if (py === 'taken') throw new Error('taken');
  await sets.addPackages(py, [{ manager: 'pip', name: 'requests', version: '2.32.3' }, { manager: 'apt', name: 'python3-pip', version: null }]);
  const id = await env.deps.repos.templates.createCustom({
    name: 'set-web', description: 'A template naming a package set', osTemplate: 'debian-12', cores: 1, memory: 512, swap: 512, disk: 4,
    unprivileged: true, nesting: true, tags: [], scripts: [], files: [],
    packages: [{ manager: 'apt', name: 'nginx', version: null }],
    packageSets: ['base-tools'],
  });
  if (id === 'taken') throw new Error('taken');
  templateId = id;
  server = await listen(createTestApp(env));
  browser = await launchBrowser();
  await ensureUser(env.deps, 'admin', 'admin-password', 'admin');
  await mkdir(SHOTS, { recursive: true });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await sim?.close();
  await env?.close();
});

async function signedInPage(): Promise<{ context: BrowserContext; page: Page; problems: string[]; csrf: string }> {
  const { cookie, csrf } = await signIn(server.baseUrl, 'admin', 'admin-password');
  const { context, page } = await pageWithSession(browser, server.baseUrl, cookie, { viewport: { width: 1280, height: 900 } });
  const problems: string[] = [];
  page.on('console', (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource') && problems.push(m.text()));
  page.on('pageerror', (err) => problems.push(err.message));
  page.on('response', (r) => r.status() >= 400 && r.status() !== 422 && problems.push(`${r.status()} ${r.url()}`));
  return { context, page, problems, csrf };
}

describe('package sets in a browser', () => {
  it('bulk import: Preview shows what will be added, the duplicates and the invalid lines; Add saves them', async () => {
    const { context, page, problems } = await signedInPage();
    await page.goto(`${server.baseUrl}/package-sets/${setId}`);
    await page.selectOption('#f-import-manager', 'apt');
    await page.fill('#f-lines', '# from the old bucket\nhtop\njq=1.6-2.1\nvim\nvim\nNot_Valid\nnpm:typescript@5.6.3\npip:requests==2.32.3\n');
    await page.getByRole('button', { name: 'Preview' }).click();
    await page.locator('#import-preview').waitFor();
    expect(await page.locator('#preview-add li').allTextContents()).toHaveLength(4);
    expect((await page.locator('#preview-duplicates li').allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim())).toEqual([
      '2: apt htop — Already in the set.',
      '5: apt vim — Listed already on line 4.',
    ]);
    expect(await page.locator('#preview-invalid li').count()).toBe(1);
    await page.locator('#import-heading').scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${SHOTS}/package-sets-import-preview.png`, fullPage: true });
    expect((await env.deps.repos.packageSets.findById(setId))!.packages).toHaveLength(2); // nothing saved yet

    await page.getByRole('button', { name: 'Add 4 packages' }).click();
    await page.getByText('Imported 4 packages into “base-tools”').waitFor();
    expect(await page.locator('#set-packages li').count()).toBe(6);
    await page.screenshot({ path: `${SHOTS}/package-sets-page.png`, fullPage: true });
    await page.goto(`${server.baseUrl}/package-sets`);
    await page.screenshot({ path: `${SHOTS}/package-sets-list.png`, fullPage: true });
    expect(problems).toEqual([]);
    await context.close();
  });

  it('wizard: the template’s set can be switched off and another added; Review lists what resolves', async () => {
    const { context, page, problems, csrf } = await signedInPage();
    const post = (step: string, form: Record<string, string>) =>
      context.request.post(`${server.baseUrl}/containers/new/${step}`, { form: { _csrf: csrf, ...form }, maxRedirects: 0 });
    expect((await post('template', { template: String(templateId) })).status()).toBe(303);
    const configure = await post('configure', {
      node: 'sim', ostemplate: DEBIAN, storage: 'local-lvm', vmid: '', hostname: 'sets-1', password: 'root-password-1', password_confirm: 'root-password-1',
      cores: '1', memory: '512', swap: '0', disk: '4', bridge: 'vmbr0', ip_mode: 'dhcp', unprivileged: '1', nesting: '1', tags: '',
    });
    expect(configure.status()).toBe(303);

    await page.goto(`${server.baseUrl}/containers/new/packages`);
    const own = page.locator('#template-sets input[name="package_sets"][value="base-tools"]');
    const more = page.locator('#more-sets input[name="package_sets"][value="py-tools"]');
    expect(await own.isChecked()).toBe(true);
    expect(await more.isChecked()).toBe(false);
    await page.screenshot({ path: `${SHOTS}/package-sets-wizard.png`, fullPage: true });

    await own.uncheck();
    await more.check();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL((url) => url.pathname === '/containers/new/scripts');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL((url) => url.pathname === '/containers/new/review');
    const packages = page.locator('dt:text-is("Packages") + dd');
    await packages.waitFor();
    const text = (await packages.innerText()).replace(/\s+/g, ' ').trim();
    expect(text).toBe('apt: nginx python3-pip pip: requests==2.32.3 From template “set-web”, set “py-tools”.');
    expect(problems).toEqual([]);
    await context.close();
  });
});
