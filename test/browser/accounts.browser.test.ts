// Accounts in a real browser: signing in from a fresh browser lands on the page asked for (never on the favicon),
// and after a wrong password the cursor waits in the password field;
// an admin creates a user and hands over the invite link, the person sets their own password there; a new link
// resets it, and the browser still signed in with the old password is signed out.
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../support/browser.ts';
import { ensureUser, listen } from '../support/http-session.ts';
import { createTestEnv, type TestEnv } from '../support/test-deps.ts';
import { createTestApp } from '../support/test-app.ts';

let env: TestEnv;
let server: Awaited<ReturnType<typeof listen>>;
let browser: Browser;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  env = await createTestEnv();
  server = await listen(createTestApp(env));
  browser = await launchBrowser();
  await ensureUser(env.deps, 'admin', 'admin-password', 'admin');
});
afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await browser?.close();
  await server?.close();
  await env?.close();
});

async function freshPage() {
  const context = await browser.newContext();
  contexts.push(context);
  return context.newPage();
}

const path = (url: string) => new URL(url).pathname + new URL(url).search;

describe('accounts in the browser', () => {
  it('after Sign out, Back shows no signed-in page from the cache', async () => {
    const page = await freshPage();
    await page.goto(`${server.baseUrl}/login`);
    await page.fill('input[name="username"]', 'admin');
    await page.fill('input[name="password"]', 'admin-password');
    await page.click('button:has-text("Sign in")');
    await page.waitForURL((u) => u.pathname === '/containers');
    await page.goto(`${server.baseUrl}/templates`);
    expect(await page.locator('nav >> text=Users').count()).toBe(1);
    await page.click('button:has-text("Sign out")');
    await page.waitForURL((u) => u.pathname === '/login');
    await page.goBack();
    await page.waitForLoadState('load');
    // Fetched again, it sends the browser to sign in; nothing of the admin's page is shown.
    expect(path(page.url())).toMatch(/^\/login/);
    expect(await page.locator('nav >> text=Users').count()).toBe(0);
  });

  it('puts the cursor in Username on the sign-in page, and in Password after a wrong password (username kept)', async () => {
    const page = await freshPage();
    await page.goto(`${server.baseUrl}/login`);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('f-username');
    await page.fill('input[name="username"]', 'admin');
    await page.fill('input[name="password"]', 'not-the-password');
    await page.click('button:has-text("Sign in")');
    await page.locator('[role="alert"]', { hasText: 'Wrong username or password.' }).waitFor();
    expect(await page.inputValue('input[name="username"]')).toBe('admin');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('f-password');
  });

  it('invite, set the password, reset it with a new link', async () => {
    // A fresh browser asks for a page, signs in, and lands there (its favicon request is no way back).
    const adminPage = await freshPage();
    await adminPage.goto(`${server.baseUrl}/templates?q=x`);
    expect(path(adminPage.url())).toBe('/login?next=%2Ftemplates%3Fq%3Dx');
    await adminPage.fill('input[name="username"]', 'Admin');
    await adminPage.fill('input[name="password"]', 'admin-password');
    await adminPage.click('button:has-text("Sign in")');
    await adminPage.waitForURL((u) => u.pathname === '/templates');
    expect(path(adminPage.url())).toBe('/templates?q=x');

    // The admin creates a viewer and reads the link off the page.
    await adminPage.click('nav >> text=Users');
    await adminPage.fill('input[name="username"]', 'ivy');
    await adminPage.selectOption('#f-role', 'viewer');
    await adminPage.click('button:has-text("Create and get the invite link")');
    const link = (await adminPage.textContent('#invite-link'))!.trim();
    expect(link).toMatch(/\/invite\/[A-Za-z0-9_-]{43}$/);
    expect((await env.deps.repos.users.findByUsername('ivy'))?.role).toBe('viewer');

    // Ivy opens it in her own browser and sets her password: she is signed in as a viewer.
    const ivy = await freshPage();
    await ivy.goto(link);
    await ivy.fill('input[name="password"]', 'ivy-password-one');
    await ivy.fill('input[name="password_confirm"]', 'ivy-password-one');
    await ivy.click('button:has-text("Set password and sign in")');
    await ivy.waitForURL((u) => u.pathname === '/containers');
    expect(await ivy.textContent('header')).toContain('ivy');
    expect(await ivy.locator('a[href="/containers/new"]').count()).toBe(0);
    // The link worked once.
    const again = await (await freshPage()).goto(link);
    expect(again!.status()).toBe(404);

    // Reset: the admin issues a new link; setting the password there signs out Ivy's other browser.
    await adminPage.goto(`${server.baseUrl}/users`);
    await adminPage.locator('tr', { hasText: 'ivy' }).locator('button:has-text("New link")').click();
    const resetLink = (await adminPage.textContent('#invite-link'))!.trim();
    expect(resetLink).not.toBe(link);
    const ivyElsewhere = await freshPage();
    await ivyElsewhere.goto(resetLink);
    await ivyElsewhere.fill('input[name="password"]', 'ivy-password-two');
    await ivyElsewhere.fill('input[name="password_confirm"]', 'ivy-password-two');
    await ivyElsewhere.click('button:has-text("Set password and sign in")');
    await ivyElsewhere.waitForURL((u) => u.pathname === '/containers');

    await ivy.reload();
    expect(new URL(ivy.url()).pathname).toBe('/login');
    await ivy.fill('input[name="username"]', 'ivy');
    await ivy.fill('input[name="password"]', 'ivy-password-two');
    await ivy.click('button:has-text("Sign in")');
    await ivy.waitForURL((u) => u.pathname === '/containers');
  }, 60_000);
});
