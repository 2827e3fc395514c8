import { randomUUID } from 'node:crypto';
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

const idOf = async (name: string) => (await env.deps.repos.templates.findByName(name))!.id;
/** The text of the field-error paragraph with this id, if any. */
const fieldError = (html: string, id: string) => new RegExp(`<p id="${id.replace(/[[\]]/g, '\\$&')}" class="field-error">([^<]*)</p>`).exec(html)?.[1];

const validForm = (overrides: Record<string, string> = {}) => ({
  _csrf: csrf,
  name: 'redis-cache',
  description: 'Redis <b>for</b> sessions',
  tags: 'db, cache',
  os_template: 'debian-12',
  cores: '1',
  memory: '256',
  swap: '0',
  disk: '2',
  unprivileged: '1',
  'scripts[0][name]': '10-redis.sh',
  'scripts[0][content]': 'set -euo pipefail\nsystemctl enable --now redis-server\nregister_service redis 6379\n',
  'scripts[0][enabled]': '1',
  'files[0][target]': '/etc/redis/redis.conf.d/launchpad.conf',
  'files[0][mode]': '640',
  'files[0][owner]': 'redis:redis',
  'files[0][policy]': 'backup',
  'files[0][content]': 'maxmemory 128mb\n',
  packages_apt: '# server\nredis-server\nredis-tools=5:7.0.15-1~deb12u1\n',
  packages_npm: '',
  packages_pip: 'redis==5.0.1\n',
  ...overrides,
});

describe('template pages', () => {
  it('need a session', async () => {
    const res = await supertest(app).get('/templates');
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/login');
  });

  it('rescan loads the sample catalogue and lists it with counts and sources', async () => {
    const res = await session.agent.post('/templates/rescan').type('form').send({ _csrf: csrf });
    expect(res.status).toBe(303);
    const page = await session.agent.get('/templates');
    expect(page.status).toBe(200);
    expect(page.text).toContain('Rescanned');
    expect(page.text).toContain('aria-current="page">Templates');
    for (const name of ['static-web', 'postgresql', 'dev-box']) expect(page.text).toContain(`data-template="${name}"`);
    expect(page.text).toMatch(/debian-12 · 2 scripts · 2 files · 2 packages/);
    expect(page.text).toContain('>disk</span>');
    expect(page.text).toContain('hx-trigger="input changed delay:300ms, search"');
  });

  it('refuses a rescan without the CSRF token', async () => {
    const res = await session.agent.post('/templates/rescan').type('form').send({});
    expect(res.status).toBe(403);
  });

  it('filters by name and tag, as a page and as an htmx fragment', async () => {
    const byName = await session.agent.get('/templates?q=postgres');
    expect(byName.text).toContain('data-template="postgresql"');
    expect(byName.text).not.toContain('data-template="static-web"');
    expect(byName.text).toContain('value="postgres"');

    const byTag = await session.agent.get('/templates?tag=web');
    expect(byTag.text).toContain('data-template="static-web"');
    expect(byTag.text).not.toContain('data-template="dev-box"');
    expect(byTag.text).toMatch(/<option value="web" selected>/);

    const fragment = await session.agent.get('/templates?q=dev').set('HX-Request', 'true').set('HX-Target', 'template-results');
    expect(fragment.status).toBe(200);
    expect(fragment.text.trimStart()).toMatch(/^<div id="template-results"/);
    expect(fragment.text).not.toContain('<html');
    expect(fragment.text).toContain('data-template="dev-box"');
    expect(fragment.text).not.toContain('data-template="postgresql"');
    expect(fragment.headers.vary).toContain('HX-Target');

    const none = await session.agent.get('/templates?q=zzz-nothing');
    expect(none.text).toContain('No template matches “zzz-nothing”');
  });

  it('shows a disk template read-only, with defaults, scripts, files and grouped packages', async () => {
    const id = await idOf('postgresql');
    const res = await session.agent.get(`/templates/${id}`);
    expect(res.status).toBe(200);
    expect(res.text).toContain('Read-only: this template comes from');
    expect(res.text).toContain('/opt/launchpad/postgresql/launchpad.conf');
    expect(res.text).toMatch(/<pre[^>]*><code>#!\/usr\/bin\/env bash/);
    expect(res.text).toContain('20-app-database.sh');
    expect(res.text).toMatch(/apt <span[^>]*>\(1\)<\/span>/);
    expect(res.text).toContain('1024 MiB');
    expect(res.text).not.toContain(`/templates/${id}/edit`);

    expect((await session.agent.get('/templates/static-web')).text).toContain('/etc/nginx/sites-available/launchpad');
    const edit = await session.agent.get(`/templates/${id}/edit`);
    expect(edit.status).toBe(403);
    expect(edit.text).toContain('read-only here');
    const post = await session.agent.post(`/templates/${id}`).type('form').send(validForm({ name: 'postgresql' }));
    expect(post.status).toBe(403);
    expect((await session.agent.get('/templates/999999')).status).toBe(404);
  });

  it('re-renders an invalid form with 422, messages next to fields and the input kept', async () => {
    const res = await session.agent.post('/templates').type('form').send(validForm({
      name: '9 lives',
      cores: '0',
      memory: 'lots',
      tags: 'ok, Not!Valid',
      'scripts[0][name]': '',
      'files[0][target]': 'relative/path.conf',
      'files[0][mode]': '999',
      packages_apt: 'nginx\n\nbad package\n',
    }));
    expect(res.status).toBe(422);
    expect(fieldError(res.text, 'e-name')).toContain('starting with a letter');
    expect(fieldError(res.text, 'e-cores')).toBe('Cores must be a whole number from 1 to 8192.');
    expect(fieldError(res.text, 'e-memory')).toContain('Memory (MiB) must be a whole number');
    expect(fieldError(res.text, 'e-tags')).toContain('not!valid');
    expect(fieldError(res.text, 'script-0-name-error')).toBe('Name the script, e.g. 10-setup.sh.');
    expect(fieldError(res.text, 'file-0-target-error')).toContain('absolute path');
    expect(fieldError(res.text, 'file-0-mode-error')).toContain('octal');
    expect(fieldError(res.text, 'e-packages_apt')).toBe('Line 3: one package per line, found “bad package”');
    expect(res.text).toContain('value="9 lives"');
    expect(res.text).toContain('aria-invalid="true" aria-describedby="e-name"');
    expect(res.text).toContain('systemctl enable --now redis-server');
    expect(res.text).toContain('Redis &lt;b&gt;for&lt;/b&gt; sessions');
    expect(await env.deps.repos.templates.findByName('9 lives')).toBeUndefined();
  });

  it('adds an empty script row without saving', async () => {
    const res = await session.agent.post('/templates').type('form').send(validForm({ _action: 'add_script' }));
    expect(res.status).toBe(200);
    expect(res.text).toContain('name="scripts[1][name]"');
    expect(res.text).not.toContain('name="scripts[2][name]"');
    expect(await env.deps.repos.templates.findByName('redis-cache')).toBeUndefined();
  });

  it('creates a custom template, shows it, and refuses a second one with the same name', async () => {
    const res = await session.agent.post('/templates').type('form').send(validForm());
    expect(res.status).toBe(303);
    const id = await idOf('redis-cache');
    expect(res.headers.location).toBe(`/templates/${id}`);

    const saved = await env.deps.repos.templates.findById(id);
    expect(saved).toMatchObject({ source: 'custom', tags: ['db', 'cache'], memory: 256, swap: 0, unprivileged: true, nesting: false });
    expect(saved!.files).toEqual([{ name: 'launchpad.conf', targetPath: '/etc/redis/redis.conf.d/launchpad.conf', content: 'maxmemory 128mb\n', mode: '0640', owner: 'redis:redis', policy: 'backup' }]);
    expect(saved!.packages).toEqual([
      { manager: 'apt', name: 'redis-server', version: null },
      { manager: 'apt', name: 'redis-tools', version: '5:7.0.15-1~deb12u1' },
      { manager: 'pip', name: 'redis', version: '5.0.1' },
    ]);

    const page = await session.agent.get(res.headers.location!);
    expect(page.text).toContain('Template “redis-cache” saved.');
    expect(page.text).toContain('Redis &lt;b&gt;for&lt;/b&gt; sessions');
    expect(page.text).toContain(`/templates/${id}/edit`);
    expect(page.text).toContain('policy backup · mode 0640 · owner redis:redis');

    const list = await session.agent.get('/templates?tag=cache');
    expect(list.text).toContain('data-template="redis-cache"');
    expect(list.text).toContain('>custom</span>');

    const again = await session.agent.post('/templates').type('form').send(validForm());
    expect(again.status).toBe(422);
    expect(fieldError(again.text, 'e-name')).toContain('already exists');
    const clash = await session.agent.post('/templates').type('form').send(validForm({ name: 'static-web' }));
    expect(fieldError(clash.text, 'e-name')).toContain('already exists');
  });

  it('edits a custom template: the form is pre-filled, removed rows go, validation keeps the edit', async () => {
    const id = await idOf('redis-cache');
    const form = await session.agent.get(`/templates/${id}/edit`);
    expect(form.status).toBe(200);
    expect(form.text).toContain(`action="/templates/${id}"`);
    expect(form.text).toContain('redis-tools=5:7.0.15-1~deb12u1');

    const bad = await session.agent.post(`/templates/${id}`).type('form').send(validForm({ disk: '0' }));
    expect(bad.status).toBe(422);
    expect(fieldError(bad.text, 'e-disk')).toContain('Disk (GiB) must be a whole number');

    const res = await session.agent.post(`/templates/${id}`).type('form').send(validForm({
      name: 'redis',
      nesting: '1',
      'files[0][remove]': '1',
      'scripts[1][name]': '20-check.sh',
      'scripts[1][content]': 'redis-cli ping\n',
    }));
    expect(res.status).toBe(303);
    const saved = await env.deps.repos.templates.findById(id);
    expect(saved).toMatchObject({ name: 'redis', nesting: true, files: [] });
    expect(saved!.scripts.map((s) => [s.position, s.name, s.enabled])).toEqual([[1, '10-redis.sh', true], [2, '20-check.sh', false]]);
  });

  it('refuses to delete a template a container uses, and deletes it otherwise', async () => {
    const id = await idOf('redis');
    const knex = env.deps.knex;
    const user = await knex('users').first('id');
    const [node] = await knex('nodes').insert({ name: `pve-${randomUUID().slice(0, 6)}`, api_url: 'https://127.0.0.1:8006', token_id: 'a@pam!b', token_secret_enc: 'v1:x' }).returning('id');
    const containerId = randomUUID();
    await knex('containers').insert({ id: containerId, owner_id: user.id, node_id: node.id, template_id: id, hostname: 'cache1', config: {}, lifecycle: 'ready' });

    const confirm = await session.agent.get(`/templates/${id}/delete`);
    expect(confirm.status).toBe(200);
    expect(confirm.text).toContain('A container was built from this template, so it cannot be deleted.');
    expect(confirm.text).not.toContain('Delete template</button>');

    const refused = await session.agent.post(`/templates/${id}/delete`).type('form').send({ _csrf: csrf });
    expect(refused.status).toBe(409);
    expect(refused.text).toContain('“redis” cannot be deleted while a container uses it');
    expect(await env.deps.repos.templates.findById(id)).toBeDefined();

    await knex('containers').where({ id: containerId }).delete();
    const page = await session.agent.get(`/templates/${id}/delete`);
    expect(page.text).toContain('Delete template</button>');
    const res = await session.agent.post(`/templates/${id}/delete`).type('form').send({ _csrf: csrf });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/templates');
    expect(await env.deps.repos.templates.findById(id)).toBeUndefined();
    expect((await session.agent.get(`/templates/${id}`)).status).toBe(404);

    const disk = await session.agent.post(`/templates/${await idOf('dev-box')}/delete`).type('form').send({ _csrf: csrf });
    expect(disk.status).toBe(403);
  });

  it('copies a disk template into a new custom-template form', async () => {
    const res = await session.agent.get(`/templates/new?from=${await idOf('static-web')}`);
    expect(res.status).toBe(200);
    expect(res.text).toContain('value="static-web-copy"');
    expect(res.text).toContain('/etc/nginx/sites-available/launchpad');
    expect(res.text).toContain('name="scripts[1][content]"');
  });
});
