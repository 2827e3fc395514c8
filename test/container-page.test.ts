import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { createContainerFragments } from '../src/http/container-fragments.ts';
import type { ProgressSnapshot } from '../src/domain/progress/phases.ts';
import { createViews } from '../src/views.ts';
import { insertContainer, insertNode, lineIdsIn, recorderFor } from './support/fixtures.ts';
import { ensureUser } from './support/http-session.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';

let env: TestEnv;
let agent: ReturnType<typeof request.agent>;
let ownerId: number;
let nodeId: number;

beforeAll(async () => {
  env = await createTestEnv();
  const app = createApp(env.deps);
  ownerId = (await ensureUser(env.deps, 'pageuser', 'pageuser-password')).id;
  nodeId = (await insertNode(env.deps, 'pve1')).id;
  agent = request.agent(app);
  const login = await agent.get('/login');
  const csrf = /name="_csrf" value="([^"]+)"/.exec(login.text)![1];
  await agent.post('/login').type('form').send({ _csrf: csrf, username: 'pageuser', password: 'pageuser-password' }).expect(303);
});
afterAll(() => env.close());

describe('GET /containers/:id', () => {
  it('renders a running build server-side and connects the stream after the last seq it rendered', async () => {
    const c = await insertContainer(env.deps, ownerId, nodeId, 'web-01');
    const rec = recorderFor(env.deps, c.id);
    await rec.enterPhase('creating', 'Creating CT');
    await rec.enterPhase('starting', 'Waiting for an IPv4 address (DHCP)…');
    rec.log('task', 'extracting archive');
    rec.log('stderr', '\x1b[31mwarning\x1b[0m');
    await rec.flush();
    const latest = (await env.deps.repos.containers.findById(c.id))!;

    const res = await agent.get(`/containers/${c.id}`).expect(200);
    expect(res.text).toContain('hx-history="false"');
    expect(res.text).toContain(`sse-connect="/containers/${c.id}/events?after=${latest.lastSeq}"`);
    expect(res.text).toContain('sse-close="done"');
    expect(res.text).toContain('<noscript><meta http-equiv="refresh" content="5"></noscript>');
    expect(res.text).toMatch(/role="progressbar"[^>]*aria-valuenow="20"/);
    expect(res.text).toMatch(/<p role="status"[^>]*>Waiting for an IPv4 address \(DHCP\)…<\/p>/);
    expect(res.text).toMatch(/id="step-creating" data-state="done"/);
    expect(res.text).toMatch(/id="step-starting" data-state="active"/);
    expect(res.text).toMatch(/id="step-deploying" data-state="pending"/);
    expect(lineIdsIn(res.text)).toEqual([1, 2]);
    expect(res.text).toContain('<span class="ansi-red-fg">warning</span>');
    expect(res.text).toMatch(/<ol id="log-lines"><li id="L1" data-t="[\d:]{8}" class="t">extracting archive<\/li>/);
    expect(res.text).toContain(`action="/containers/${c.id}/cancel"`);
  });

  it('renders a finished container completely, with no stream', async () => {
    const c = await insertContainer(env.deps, ownerId, nodeId, 'db-01');
    const rec = recorderFor(env.deps, c.id);
    await rec.enterPhase('creating', 'Creating CT');
    rec.log('stdout', 'hello');
    await rec.complete({ status: 'Ready', ip: '10.10.0.7' });
    await env.deps.repos.containerExtras.replace(c.id, [{ name: 'postgresql', kind: 'tcp', port: 5432, url: null, unit: 'postgresql', status: 'listening' }], [{ key: 'DB_PASSWORD', valueEnc: 'v1:x:y:z' }]);

    const res = await agent.get(`/containers/${c.id}`).expect(200);
    expect(res.text).not.toContain('sse-connect');
    expect(res.text).not.toContain('http-equiv="refresh"');
    expect(res.text).toContain('10.10.0.7');
    expect(res.text).toContain('postgresql');
    expect(res.text).toContain('Reveal credentials (DB_PASSWORD)');
    expect(res.text).not.toContain('v1:x:y:z');
    expect(res.text).toMatch(/aria-valuenow="100"/);
  });

  it('shows a failure with its phase, message, last lines, Retry and Destroy', async () => {
    const c = await insertContainer(env.deps, ownerId, nodeId, 'broken');
    const rec = recorderFor(env.deps, c.id);
    await rec.enterPhase('creating', 'Creating CT');
    await rec.enterPhase('syncing', 'Running 10-install.sh');
    rec.log('stdout', 'Reading package lists...');
    rec.log('stdout', 'Building dependency tree...');
    rec.log('stderr', 'E: Unable to locate package nginxx');
    await rec.fail('Script 10-install.sh exited with code 100.');
    const res = await agent.get(`/containers/${c.id}`).expect(200);
    // The failure panel's "Last lines of output" keeps one line per line (a <pre>: newlines are the line breaks).
    const lastLines = /<summary[^>]*>Last lines of output<\/summary>\s*<pre[^>]*>([\s\S]*?)<\/pre>/.exec(res.text)?.[1];
    expect(lastLines).toBe('Reading package lists...\nBuilding dependency tree...\nE: Unable to locate package nginxx');
    expect(res.text).toContain('Failed during “Run Scripts”');
    expect(res.text).toContain('Script 10-install.sh exited with code 100.');
    expect(res.text).toContain('E: Unable to locate package nginxx');
    expect(res.text).toContain(`action="/containers/${c.id}/retry"`);
    expect(res.text).toContain(`href="/containers/${c.id}/destroy"`);
    expect(res.text).toMatch(/id="step-syncing" data-state="failed"/);
    // No progress to follow, but a quiet stream that hears a teammate's Retry or Destroy (test/live-watch.test.ts).
    expect(res.text).toContain(`sse-connect="/containers/${c.id}/watch?seen=${(await env.deps.repos.containers.findById(c.id))!.lastSeq}"`);
    expect(res.text).not.toContain('id="progress-stream"');
  });

  it('offers new settings, not Retry, for a failure only they can mend; Retry again once a later failure can be retried', async () => {
    const c = await insertContainer(env.deps, ownerId, nodeId, 'typo-pkg');
    const rec = recorderFor(env.deps, c.id);
    await rec.enterPhase('syncing', 'Installing packages');
    await rec.fail('apt has no package “nginxx”. Retry would ask for it again: use “Change settings and deploy again…”.', 'settings');
    const res = await agent.get(`/containers/${c.id}`).expect(200);
    expect(res.text).not.toContain(`action="/containers/${c.id}/retry"`);
    expect(res.text).toMatch(new RegExp(`<a class="btn-primary" href="/containers/new\\?from=${c.id}">Change settings and deploy again…</a>`));
    expect(res.text).toContain(`href="/containers/${c.id}/destroy"`);
    // Scripts read the same: the failure's kind beside its message.
    const json = await agent.get(`/containers/${c.id}`).set('Accept', 'application/json').expect(200);
    expect(json.body).toMatchObject({ lifecycle: 'failed', failure_kind: 'settings' });

    // A Retry's new attempt clears the kind with the error; a transient failure offers Retry again.
    await rec.queued('Queued for retry');
    await rec.enterPhase('syncing', 'Installing packages');
    await rec.fail('Script 10-install.sh exited with code 100.');
    const again = await agent.get(`/containers/${c.id}`).expect(200);
    expect(again.text).toContain(`action="/containers/${c.id}/retry"`);
    expect((await agent.get(`/containers/${c.id}`).set('Accept', 'application/json').expect(200)).body.failure_kind).toBeNull();
  });

  it('shows a destroyed container’s stepper grey, saying it is destroyed, not green as if it were ready — and so does the stream', async () => {
    const c = await insertContainer(env.deps, ownerId, nodeId, 'gone-01');
    const rec = recorderFor(env.deps, c.id);
    await rec.enterPhase('creating', 'Creating CT');
    await rec.complete({ status: 'Ready', ip: '10.10.0.8' });
    const readySeq = (await env.deps.repos.containers.findById(c.id))!.lastSeq;
    const ready = await agent.get(`/containers/${c.id}`).expect(200);
    expect(ready.text).toContain('<section id="stepper" class="card p-5" data-lifecycle="ready"');
    expect(ready.text).not.toContain('stepper-destroyed');

    await rec.destroying('Destroying CT 123…');
    await rec.destroyed('Destroyed CT 123.');
    const res = await agent.get(`/containers/${c.id}`).expect(200);
    expect(res.text).toContain('<section id="stepper" class="card p-5" data-lifecycle="destroyed"');
    expect(res.text).toContain('This container is destroyed; these were the phases of its last build.');
    expect(res.text).toMatch(/<ol class="[^"]*stepper-destroyed">/);
    expect(res.text).toContain('progress-destroyed');

    // A viewer who had the ready page open gets the whole stepper, grey, from the stream's batch.
    const events = await env.deps.repos.events.listAfter(c.id, readySeq, 100);
    const readyProgress = (await env.deps.repos.events.listAfter(c.id, readySeq - 1, 1))[0]!.data!.progress as ProgressSnapshot;
    const fragments = createContainerFragments(createViews({ cache: false, asset: (name) => `/static/${name}` }), { heartbeatMs: 15_000 });
    const batch = fragments.streamBatch(events, readyProgress).html;
    expect(batch).toContain('<section id="stepper" class="card p-5" data-lifecycle="destroyed" hx-swap-oob="true">');
    expect(batch).toMatch(/<ol class="[^"]*stepper-destroyed">/);
  });

  it('keeps at most 5,000 lines in the page, links to earlier ones, and log.txt has them all', async () => {
    const c = await insertContainer(env.deps, ownerId, nodeId, 'chatty');
    const rec = recorderFor(env.deps, c.id);
    await rec.enterPhase('syncing', 'Running scripts');
    for (let i = 1; i <= 6200; i++) rec.log('stdout', `n=${i}`);
    await rec.flush();
    const res = await agent.get(`/containers/${c.id}`).expect(200);
    const ids = lineIdsIn(res.text);
    expect(ids).toHaveLength(5000);
    expect(ids[0]).toBe(1201);
    expect(ids.at(-1)).toBe(6200);
    expect(res.text).toContain('Lines before 1201 are not shown.');
    expect(res.text).toContain(`href="/containers/${c.id}?from=1#L1200"`);

    const earlier = await agent.get(`/containers/${c.id}?from=1`).expect(200);
    expect(lineIdsIn(earlier.text)[0]).toBe(1);
    expect(earlier.text).not.toContain('sse-connect');

    const log = await agent.get(`/containers/${c.id}/log.txt`).expect(200);
    expect(log.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(log.headers['x-content-type-options']).toBe('nosniff');
    expect(log.text.split('\n').slice(0, -1)).toEqual(Array.from({ length: 6200 }, (_, i) => `n=${i + 1}`));
  });

  it('answers 404 for a made-up id', async () => {
    await agent.get('/containers/not-a-uuid').expect(404);
    await agent.get('/containers/7d9c1b7e-0000-4000-8000-000000000000').expect(404);
  });
});
