/// <reference lib="dom" />
// The node form in a real browser: "Fetch fingerprints" swaps only its own section (the secrets typed so far stay
// in the form), the confirmation box must be ticked before Save goes through, and "Test connection" swaps its
// result into the edit page — all under the app's CSP, without a console error.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.ts';
import { launchBrowser, pageWithSession } from '../support/browser.ts';
import { ensureUser, listen, signIn } from '../support/http-session.ts';
import { createTestEnv, type TestEnv } from '../support/test-deps.ts';
import { createTestApp } from '../support/test-app.ts';

let env: TestEnv;
let sim: SimulatorHandle;
let simDir: string;
let server: Awaited<ReturnType<typeof listen>>;
let browser: Browser;

beforeAll(async () => {
  env = await createTestEnv();
  simDir = await mkdtemp(path.join(tmpdir(), 'launchpad-nodes-browser-'));
  sim = await startSimulator({ dataDir: simDir, speed: 50, authDelayMs: 0, nodeName: 'pve1' });
  server = await listen(createTestApp(env, { perAccount: 5 }));
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
  await sim?.close();
  await env?.close();
  if (simDir) await rm(simDir, { recursive: true, force: true });
});

describe('node form in a browser', () => {
  it('fetches fingerprints in place, pins them only once confirmed, and tests the saved connection', async () => {
    await ensureUser(env.deps, 'admin', 'admin-password', 'admin');
    const { cookie } = await signIn(server.baseUrl, 'admin', 'admin-password');
    const { context, page } = await pageWithSession(browser, server.baseUrl, cookie);
    const consoleErrors: string[] = [];
    // Chromium's own /favicon.ico request 404s; every response the page itself asked for is checked below.
    page.on('console', (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource') && consoleErrors.push(m.text()));
    page.on('response', (r) => r.status() >= 400 && consoleErrors.push(`${r.status()} ${r.url()}`));

    await page.goto(`${server.baseUrl}/nodes/new`);
    await page.fill('#f-name', 'pve1');
    await page.fill('#f-api_url', sim.apiUrl);
    await page.fill('#f-token_id', sim.tokenId);
    await page.fill('#f-token_secret', sim.tokenSecret);
    await page.fill('#f-ssh_port', String(sim.ssh.port));
    await page.fill('#f-ssh_private_key', sim.ssh.privateKey);

    await page.click('text=Fetch fingerprints from the node');
    await expect.poll(() => page.locator('[data-fetched="tls"]').textContent()).toBe(sim.tlsFingerprint);
    expect(await page.locator('[data-fetched="ssh"]').textContent()).toBe(sim.ssh.hostKeyFingerprint);
    expect(page.url()).toBe(`${server.baseUrl}/nodes/new`);
    // Only the fingerprint section was swapped: the secrets typed above are still in the form.
    expect(await page.inputValue('#f-token_secret')).toBe(sim.tokenSecret);
    expect(await page.inputValue('#f-ssh_private_key')).toBe(sim.ssh.privateKey);

    // The required box keeps Save from submitting until the user confirms.
    await page.click('button:text("Save node")');
    expect(page.url()).toBe(`${server.baseUrl}/nodes/new`);
    expect(await env.deps.repos.nodes.findByName('pve1')).toBeUndefined();

    await page.check('input[name="trust_fingerprints"]');
    await Promise.all([page.waitForURL(/\/nodes\/\d+\/edit$/), page.click('button:text("Save node")')]);
    const stored = (await env.deps.repos.nodes.findByName('pve1'))!;
    expect(stored.tlsFingerprint).toBe(sim.tlsFingerprint);
    expect(stored.sshHostKeyFingerprint).toBe(sim.ssh.hostKeyFingerprint);

    await page.click('button:text("Test connection")');
    await expect.poll(() => page.locator('#test-result [data-outcome]').getAttribute('data-outcome')).toBe('ok');
    expect(await page.locator('#test-result').textContent()).toContain('pve1 · online · this node');
    expect(page.url()).toBe(`${server.baseUrl}/nodes/${stored.id}/edit`);
    expect(consoleErrors).toEqual([]);
    await context.close();
  });
});
