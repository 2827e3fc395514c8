// Issue 14 finding 2: a NUL byte anywhere a request is read used to reach Postgres (which refuses 0x00) and answer
// 500. Control characters in the address (path and query) are refused once, by a middleware (400); form fields
// are refused where each form is validated, with the message next to the field (422).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signedInAgent, type SignedInAgent } from './support/session.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';
import { createTestApp } from './support/test-app.ts';

const SAMPLES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../templates');

let env: TestEnv;
let app: ReturnType<typeof createTestApp>;
let session: SignedInAgent;
let csrf: string;

beforeAll(async () => {
  env = await createTestEnv({ TEMPLATES_DIR: SAMPLES });
  app = createTestApp(env, { perAccount: 5 });
  session = await signedInAgent(app, env.deps);
  csrf = await session.csrf('/templates');
});
afterAll(async () => {
  await env?.close();
});

/** A refused request: a 4xx page that says what was wrong and what to do — never a 500. */
function expectRefused(res: { status: number; text: string }, where: RegExp) {
  expect(res.status, res.text.slice(0, 400)).toBe(400);
  expect(res.text).toMatch(/control character/);
  expect(res.text).toMatch(where);
  expect(res.text).toMatch(/Remove it/);
}

describe('control characters in requests', () => {
  it.each([
    ['/templates/%00', /address/],
    ['/templates?q=%00', /“q”/],
    ['/templates/new?from=%00', /“from”/],
    ['/containers/new/configure/choices?node=%00', /“node”/],
    ['/containers/%00', /address/],
    ['/nodes/%00/edit', /address/],
    ['/templates?q=a%0Ab', /“q”/],
  ])('GET %s answers 400 naming the parameter', async (url, where) => {
    expectRefused(await session.agent.get(url), where);
  });

  it('POST /login with a NUL in the username answers 422 with the sign-in form and a message (needs only the login page)', async () => {
    const agent = supertest.agent(app);
    const page = await agent.get('/login');
    const token = /name="_csrf" value="([^"]+)"/.exec(page.text)![1]!;
    const res = await agent.post('/login').type('form').send(`_csrf=${encodeURIComponent(token)}&username=admin%00&password=whatever-it-is`);
    expect(res.status).toBe(422);
    expect(res.text).toContain('A username never contains a control character, and this one has U+0000');
    expect(res.text).toMatch(/name="username"[^>]*value="admin"/);
    expect(res.text).not.toContain('\0');
  });

  it.each([
    ['template=%00', 'template', /There is no template/],
    ['node=%00', 'node', /./],
  ])('POST /containers with %s answers 422 naming the field', async (field, name, message) => {
    const res = await session.agent.post('/containers').set('Accept', 'application/json').type('form')
      .send(`_csrf=${encodeURIComponent(csrf)}&hostname=web1&password=long-enough-1&password_confirm=long-enough-1&${field}`);
    expect(res.status, res.text.slice(0, 300)).toBe(422);
    expect(res.body.fields[name]).toMatch(message);
  });

  it('POST /containers/new/template with a NUL template answers 422 with the message next to the field', async () => {
    const res = await session.agent.post('/containers/new/template').type('form').send(`_csrf=${encodeURIComponent(csrf)}&template=%00`);
    expect(res.status, res.text.slice(0, 300)).toBe(422);
    expect(/id="e-template" class="field-error">([^<]*)</.exec(res.text)?.[1]).toMatch(/There is no template/);
    expect(res.text).not.toContain('\0');
  });

  it('POST /templates with a NUL in the description answers 422 next to the field, and the template is not created', async () => {
    const res = await session.agent.post('/templates').type('form')
      .send(`_csrf=${encodeURIComponent(csrf)}&name=nul-desc&description=before%00after&os_template=debian-12&cores=1&memory=256&swap=0&disk=2&unprivileged=1`);
    expect(res.status, res.text.slice(0, 300)).toBe(422);
    expect(/id="e-description" class="field-error">([^<]*)</.exec(res.text)?.[1]).toContain('contains a control character (U+0000); only tabs and line breaks are allowed');
    expect(await env.deps.repos.templates.findByName('nul-desc')).toBeUndefined();
  });

  it.each([
    'name', 'description', 'tags', 'os_template', 'cores', 'scripts[0][name]', 'scripts[0][content]', 'files[0][target]',
    'files[0][mode]', 'files[0][owner]', 'files[0][policy]', 'files[0][content]', 'packages_apt', 'packages_npm', 'packages_pip',
  ])('POST /templates with a NUL in %s answers 422, never 500', async (field) => {
    const form: Record<string, string> = {
      _csrf: csrf, name: 'sweep', description: 'd', tags: 'a', os_template: 'debian-12', cores: '1', memory: '256', swap: '0', disk: '2',
      unprivileged: '1', 'scripts[0][name]': '10-a.sh', 'scripts[0][content]': 'echo a\n', 'scripts[0][enabled]': '1',
      'files[0][target]': '/etc/a.conf', 'files[0][mode]': '644', 'files[0][owner]': 'root', 'files[0][policy]': 'replace',
      'files[0][content]': 'a\n', packages_apt: 'curl\n', packages_npm: '', packages_pip: '',
    };
    form[field] = `${form[field]}\0x`;
    const res = await session.agent.post('/templates').type('form').send(form);
    expect(res.status, res.text.slice(0, 300)).toBe(422);
    expect(await env.deps.repos.templates.findByName('sweep')).toBeUndefined();
  });

  it.each([
    'template', 'node', 'ostemplate', 'hostname', 'vmid', 'password', 'password_confirm', 'ssh_public_key', 'cores', 'memory',
    'swap', 'disk', 'storage', 'bridge', 'ip', 'gateway', 'nameserver', 'unprivileged', 'nesting', 'tags',
    'destroy_on_failure', 'package_groups', 'extra_packages', 'scripts', 'deploy_id',
  ])('POST /containers with a NUL in %s answers 4xx with a message, never 500', async (field) => {
    const form: Record<string, string> = { _csrf: csrf, template: '', node: 'nowhere', hostname: 'web1', password: 'long-enough-1', password_confirm: 'long-enough-1' };
    form[field] = `${form[field] ?? ''}a\0b`;
    const res = await session.agent.post('/containers').set('Accept', 'application/json').type('form').send(form);
    expect(res.status, `${field}: ${res.text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
    expect(res.status, `${field}: ${res.text.slice(0, 300)}`).toBeLessThan(500);
  });

  it('a htmx request is answered with the explanation swapped into the page', async () => {
    const res = await session.agent.get('/templates?q=%00').set('HX-Request', 'true');
    expectRefused(res, /“q”/);
    expect(res.headers['hx-retarget']).toBe('#main');
  });

  it('tabs and newlines in multi-line form fields still work (a description, a script body)', async () => {
    const res = await session.agent.post('/templates').type('form').send({
      _csrf: csrf, name: 'multi-line', description: 'First line\r\nsecond\tline', tags: '', os_template: 'debian-12',
      cores: '1', memory: '256', swap: '0', disk: '2', unprivileged: '1',
      'scripts[0][name]': '10-a.sh', 'scripts[0][content]': 'set -euo pipefail\n\techo hi\n', 'scripts[0][enabled]': '1',
    });
    expect(res.status, res.text.slice(0, 400)).toBe(303);
    const saved = await env.deps.repos.templates.findByName('multi-line');
    expect(saved?.scripts[0]?.content).toContain('\techo hi');
  });
});
