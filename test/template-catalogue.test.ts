import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TemplatesRepository } from '../src/db/templates-repository.ts';
import { deleteTemplate, getTemplate, listTemplates, saveCustomTemplate, syncCatalogue } from '../src/domain/templates/catalogue.ts';
import { emptyForm } from '../src/domain/templates/template-form.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';

let env: TestEnv;
let repo: TemplatesRepository;
let dir: string;

beforeAll(async () => {
  env = await createTestEnv();
  repo = env.deps.repos.templates;
  dir = await mkdtemp(path.join(tmpdir(), 'launchpad-catalogue-'));
});
afterAll(async () => {
  await env?.close();
  await rm(dir, { recursive: true, force: true });
});

async function write(rel: string, content: string) {
  await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
  await writeFile(path.join(dir, rel), content);
}

const sync = () => syncCatalogue(repo, dir, env.deps.logger);

/** A container row built from the template, as the wizard would leave it. */
async function containerUsing(templateId: number, lifecycle = 'ready'): Promise<string> {
  const knex = env.deps.knex;
  const user = (await knex('users').first('id')) ?? (await knex('users').insert({ username: `owner-${randomUUID().slice(0, 8)}`, password_hash: 'x', role: 'operator' }).returning('id'))[0];
  const node = (await knex('nodes').first('id')) ?? (await knex('nodes').insert({ name: 'pve1', api_url: 'https://127.0.0.1:8006', token_id: 't@pam!x', token_secret_enc: 'v1:x' }).returning('id'))[0];
  const id = randomUUID();
  await knex('containers').insert({ id, owner_id: user.id, node_id: node.id, template_id: templateId, hostname: 'ct', config: {}, lifecycle });
  return id;
}

describe('syncCatalogue', () => {
  it('adds disk templates, lists broken ones with their error, and skips unchanged ones on a rescan', async () => {
    await write('web/template.conf', 'TEMPLATE_DESCRIPTION="Web server"\nTEMPLATE_TAGS="web"\nTEMPLATE_RAM=256\n');
    await write('web/scripts/10-setup.sh', 'set -euo pipefail\necho setup\n');
    await write('web/packages/web.apt', 'nginx\n');
    await write('web/files/index.html', '<h1>hi</h1>\n');
    await write('web/files/index.html.path', '/var/www/html\n');
    await write('broken/template.conf', 'TEMPLATE_CPU=lots\n');
    await write('_shared/notes.txt', 'not a template\n');
    await write('.hidden/template.conf', '');

    const first = await sync();
    expect(first).toEqual({ loaded: ['web'], updated: ['broken', 'web'], broken: [{ name: 'broken', error: 'broken/template.conf:1: TEMPLATE_CPU must be a whole number from 1 to 8192, got “lots”' }], removed: [] });

    const web = await getTemplate(repo, 'web');
    expect(web).toMatchObject({ source: 'filesystem', path: path.join(dir, 'web'), description: 'Web server', memory: 256, tags: ['web'], loadError: null });
    expect(web.scripts).toEqual([{ name: '10-setup.sh', position: 1, content: 'set -euo pipefail\necho setup\n', enabled: true }]);
    expect(web.files[0]).toMatchObject({ name: 'index.html', targetPath: '/var/www/html/index.html', policy: 'replace', mode: '0644' });
    expect(web.packages).toEqual([{ manager: 'apt', name: 'nginx', version: null }]);

    const listed = await listTemplates(repo);
    expect(listed.map((t) => [t.name, t.loadError !== null, t.scriptCount, t.fileCount, t.packageCount])).toEqual([
      ['broken', true, 0, 0, 0],
      ['web', false, 1, 1, 1],
    ]);

    const again = await sync();
    expect(again.updated).toEqual([]);
    expect((await getTemplate(repo, 'web')).updatedAt).toEqual(web.updatedAt);
  });

  it('picks up changed files and a fixed template, keeping ids', async () => {
    const before = await getTemplate(repo, 'web');
    await write('web/scripts/10-setup.sh', 'set -euo pipefail\necho changed\n');
    await write('web/scripts/05-first.sh', 'echo first\n');
    await write('broken/template.conf', 'TEMPLATE_CPU=2\n');

    const result = await sync();
    expect(result.updated).toEqual(['broken', 'web']);
    expect(result.broken).toEqual([]);
    const after = await getTemplate(repo, 'web');
    expect(after.id).toBe(before.id);
    expect(after.scripts.map((s) => [s.position, s.name, s.content])).toEqual([
      [1, '05-first.sh', 'echo first\n'],
      [2, '10-setup.sh', 'set -euo pipefail\necho changed\n'],
    ]);
    expect(await getTemplate(repo, 'broken')).toMatchObject({ cores: 2, loadError: null });
  });

  it('removes templates gone from disk; their containers keep the record without the link', async () => {
    const broken = await getTemplate(repo, 'broken');
    const containerId = await containerUsing(broken.id);
    await rm(path.join(dir, 'broken'), { recursive: true });

    const result = await sync();
    expect(result.removed).toEqual(['broken']);
    await expect(getTemplate(repo, 'broken')).rejects.toThrow('does not exist');
    const container = await env.deps.knex('containers').where({ id: containerId }).first('template_id', 'hostname');
    expect(container).toEqual({ template_id: null, hostname: 'ct' });
  });

  it('never overwrites or removes a custom template, even one whose name appears on disk', async () => {
    const id = await saveCustomTemplate(repo, { ...emptyForm(), name: 'mine', description: 'Hand-made' });
    await write('mine/template.conf', 'TEMPLATE_DESCRIPTION="From disk"\n');

    const result = await sync();
    expect(result.broken).toEqual([{ name: 'mine', error: 'mine/: a custom template already has this name; rename one of them' }]);
    expect(result.removed).toEqual([]);
    expect(await getTemplate(repo, id)).toMatchObject({ source: 'custom', description: 'Hand-made', path: null });
    await rm(path.join(dir, 'mine'), { recursive: true });
    await sync();
    expect((await getTemplate(repo, id)).name).toBe('mine');
  });

  it('lists a template with an unreadable file as broken instead of failing the sync', async () => {
    await write('dangling/template.conf', '');
    await mkdir(path.join(dir, 'dangling', 'files'), { recursive: true });
    await symlink(path.join(dir, 'nowhere'), path.join(dir, 'dangling', 'files', 'motd'));
    const result = await sync();
    // A (dangling) symbolic link is refused as a link before anything tries to read it (issue 14 finding 3).
    expect(result.broken).toEqual([{ name: 'dangling', error: `dangling/files/motd: is a symbolic link (to ${path.join(dir, 'nowhere')}); a template may only use files inside its own directory — copy the file in instead` }]);
    expect(result.loaded).toEqual(['web']);
    await rm(path.join(dir, 'dangling'), { recursive: true });
    expect((await sync()).removed).toEqual(['dangling']);
  });

  it('treats a missing directory as an empty catalogue', async () => {
    const result = await syncCatalogue(repo, path.join(dir, 'nope'), env.deps.logger);
    expect(result.removed).toEqual(['web']);
    expect((await listTemplates(repo)).map((t) => t.name)).toEqual(['mine']);
  });
});

describe('custom templates', () => {
  it('refuses to delete one a live container uses, and deletes it once that container is destroyed', async () => {
    const id = await saveCustomTemplate(repo, { ...emptyForm(), name: 'used' });
    const containerId = await containerUsing(id);
    await expect(deleteTemplate(repo, id)).rejects.toThrow('“used” cannot be deleted while a container uses it');
    await env.deps.knex('containers').where({ id: containerId }).update({ lifecycle: 'destroyed' });
    await expect(deleteTemplate(repo, id)).resolves.toMatchObject({ name: 'used' });
    await expect(getTemplate(repo, id)).rejects.toThrow('does not exist');
  });

  it('filters by name, description and tag', async () => {
    await saveCustomTemplate(repo, { ...emptyForm(), name: 'cache', description: 'Redis for sessions', tags: 'db; kv' });
    await saveCustomTemplate(repo, { ...emptyForm(), name: 'queue', description: 'Worker at 50% load', tags: 'jobs' });
    const names = async (filter: { q?: string; tag?: string }) => (await listTemplates(repo, filter)).map((t) => t.name);
    expect(await names({ q: 'CACH' })).toEqual(['cache']);
    expect(await names({ q: 'redis' })).toEqual(['cache']);
    expect(await names({ q: '50%' })).toEqual(['queue']);
    expect(await names({ q: '%' })).toEqual(['queue']);
    expect(await names({ q: '_' })).toEqual([]);
    expect(await names({ tag: 'kv' })).toEqual(['cache']);
    expect(await names({ q: 'cache', tag: 'jobs' })).toEqual([]);
    expect(await repo.tags()).toEqual(['db', 'jobs', 'kv']);
  });
});
