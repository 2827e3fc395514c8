/// <reference lib="dom" />
// The progress page in a real browser: a sample template deployed on the simulator, the page reloaded mid-way,
// the network dropped mid-way — and at the end the DOM holds exactly the lines of log.txt, each once, in order,
// with the stepper showing Ready.
import { describe, expect, it } from 'vitest';
import { getTemplate } from '../../src/domain/templates/catalogue.ts';
import { pageWithSession } from '../support/browser.ts';
import { ensureUser, signIn } from '../support/http-session.ts';
import { insertDeployment } from '../support/simulator-fixtures.ts';
import { useBrowserBuildRig } from '../support/browser-build-rig.ts';
import { CREATE_CONTAINER_JOB } from '../../src/jobs/job-types.ts';

const rig = useBrowserBuildRig();

describe('live progress page', () => {
  it('survives a reload and a dropped connection and ends with exactly the lines of log.txt', async () => {
    const owner = await ensureUser(rig.env.deps, 'watcher', 'watcher-password');
    const template = await getTemplate(rig.env.deps.repos.templates, 'static-web');
    // A chatty extra script keeps the build running long enough to reload and drop mid-way.
    const chatter = { name: '90-chatter.sh', content: 'for i in $(seq 1 120); do printf "\\033[32mok\\033[0m line %s <&>\\n" "$i"; sleep 0.05; done' };
    const c = await insertDeployment(rig.env.deps, { ownerId: owner.id, nodeId: rig.simulator.node.id, template });
    const config = c.config as { scripts: string[]; template: { scripts: Array<{ name: string; content: string }> } };
    await rig.env.deps.knex('containers').where({ id: c.id }).update({
      config: { ...config, scripts: [...config.scripts, chatter.name], template: { ...config.template, scripts: [...config.template.scripts, chatter] } },
    });

    const { cookie } = await signIn(rig.server.baseUrl, 'watcher', 'watcher-password');
    const { context, page } = await pageWithSession(rig.browser, rig.server.baseUrl, cookie);
    const consoleErrors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && !/EventSource|net::ERR_INTERNET_DISCONNECTED|Failed to load resource/.test(m.text()) && consoleErrors.push(m.text()));

    await page.goto(`${rig.server.baseUrl}/containers/${c.id}`);
    await rig.env.deps.queue.add(CREATE_CONTAINER_JOB, { containerId: c.id }, { jobId: c.id });

    // Mid-way: reload once lines are flowing.
    await page.waitForSelector('#log-lines > li[id]', { timeout: 30_000 });
    await page.waitForFunction(() => document.querySelectorAll('#log-lines > li[id]').length > 15, undefined, { timeout: 30_000 });
    await page.reload();
    // Mid-way again: drop the network while the chatty script runs, then come back.
    await page.waitForFunction(() => [...document.querySelectorAll('#log-lines > li[id]')].some((e) => e.textContent?.includes('line 20 ')), undefined, { timeout: 60_000 });
    await context.setOffline(true);
    await page.waitForTimeout(1500);
    await context.setOffline(false);

    await page.waitForSelector('#step-finalizing[data-state="done"]', { timeout: 90_000 });
    await page.waitForSelector('#status-panel >> text=Ready', { timeout: 10_000 });
    await page.waitForTimeout(500);

    const domLines = await page.$$eval('#log-lines > li[id]', (rows) =>
      rows.map((r) => ({ id: r.id, text: r.textContent ?? '' })),
    );
    const logTxt = await (await fetch(`${rig.server.baseUrl}/containers/${c.id}/log.txt`, { headers: { Cookie: cookie } })).text();
    // eslint-disable-next-line no-control-regex -- ANSI colour codes, which the page renders as classes
    const expected = logTxt.split('\n').slice(0, -1).map((l) => l.replace(/\x1b\[[0-9;]*m/g, ''));
    expect(domLines.map((l) => l.text)).toEqual(expected);
    expect(domLines.map((l) => l.id)).toEqual(expected.map((_, i) => `L${i + 1}`));
    expect(new Set(domLines.map((l) => l.id)).size).toBe(domLines.length);
    expect(domLines.some((l) => l.text === 'ok line 120 <&>')).toBe(true);
    // Colour rendered as a class, the stream closed, the stepper at 100 %.
    expect(await page.locator('#log-lines .ansi-green-fg').count()).toBeGreaterThanOrEqual(120);
    expect(await page.getAttribute('progress[role="progressbar"]', 'aria-valuenow')).toBe('100');
    expect(await page.textContent('#stepper [role="status"]')).toMatch(/^Ready/);
    expect(consoleErrors).toEqual([]);
    await context.close();
  }, 180_000);
});
