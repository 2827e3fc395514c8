// Package sets (issue 20): the library page (admins edit, everyone reads), previewed bulk import, references from
// disk and custom templates, the wizard's Packages step and resolution (pin conflicts name both sources), the form
// contract's package_sets, and a simulator build that installs what a set holds — recorded as it was at Deploy.
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerConfig } from '../src/domain/containers/container-config.ts';
import { runCreatePipeline, type PipelineDeps } from '../src/domain/pipeline/pipeline-runner.ts';
import type { TemplatePackage } from '../src/domain/templates/template.ts';
import { ensureUser } from './support/http-session.ts';
import { signedInAgent } from './support/session.ts';
import { startTestSimulator } from './support/simulator-fixtures.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';
import { createTestApp } from './support/test-app.ts';
import { testPipelineDeps } from './support/pipeline-deps.ts';

let env: TestEnv;
let app: ReturnType<typeof createTestApp>;
let sim: Awaited<ReturnType<typeof startTestSimulator>>;
let templatesDir: string;

const DEBIAN = 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst';
const PASSWORD = 'root-password-1';

type Fields = Record<string, string | string[]>;
function encode(fields: Fields): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(fields)) for (const v of Array.isArray(value) ? value : [value]) params.append(key, v);
  return params.toString();
}

async function browser(username: string) {
  const session = await signedInAgent(app, env.deps, { username });
  const csrf = await session.csrf();
  return {
    get: (url: string) => session.agent.get(url),
    post: (url: string, fields: Fields, headers: Record<string, string> = {}) =>
      session.agent.post(url).set(headers).type('form').send(encode({ _csrf: csrf, ...fields })),
  };
}
type Browser = Awaited<ReturnType<typeof browser>>;

const unescape = (s: string) => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
const errorOf = (html: string, field: string) => {
  const m = new RegExp(`id="e-${field}" class="field-error">([^<]*)<`).exec(html);
  return m ? unescape(m[1]!) : undefined;
};
const errorsIn = (html: string) => [...html.matchAll(/id="e-([^"]+)"[^>]*>([^<]*)</g)].map((m) => `${m[1]}: ${m[2]}`).join('\n');
const section = (html: string, id: string) => new RegExp(`id="${id}"[\\s\\S]*?</(?:ul|div|section)>`).exec(html)?.[0] ?? '';
const items = (html: string) => [...html.matchAll(/<li[^>]*>([\s\S]*?)<\/li>/g)].map((m) => unescape(m[1]!.replace(/<[^>]+>/g, '').replace(/\s+/g, ' ').trim()));
const setId = async (name: string) => (await env.deps.repos.packageSets.findByNames([name]))[0]!.id;
const setPackages = async (name: string) => (await env.deps.repos.packageSets.findByNames([name]))[0]!.packages;
const spec = (p: TemplatePackage) => `${p.manager} ${p.name}${p.version ? ` ${p.version}` : ''}`;

async function makeSet(name: string, packages: TemplatePackage[]) {
  const id = await env.deps.repos.packageSets.create({ name, description: '' });
  if (id === 'taken') throw new Error(`set ${name} exists`);
  await env.deps.repos.packageSets.addPackages(id, packages);
  return id;
}

async function diskTemplate(name: string, files: Record<string, string>) {
  for (const [file, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(templatesDir, name, file)), { recursive: true });
    await writeFile(path.join(templatesDir, name, file), content);
  }
}

let admin: Browser;
let reader: Browser;

beforeAll(async () => {
  templatesDir = await mkdtemp(path.join(tmpdir(), 'launchpad-sets-'));
  await diskTemplate('kit', {
    'template.conf': 'TEMPLATE_DESCRIPTION="A kit with package sets"\n',
    'packages/base.apt': 'nginx\ncurl\n',
    'packages/shared.sets': '# our standard tools\nbase-tools\n',
  });
  await diskTemplate('ghost-kit', { 'template.conf': '', 'packages/x.sets': 'no-such-set\n' });
  env = await createTestEnv({ TEMPLATES_DIR: templatesDir });
  app = createTestApp(env);
  sim = await startTestSimulator(env.deps);
  await makeSet('base-tools', [
    { manager: 'apt', name: 'htop', version: null },
    { manager: 'apt', name: 'curl', version: null },
    { manager: 'npm', name: 'typescript', version: '5.6.3' },
  ]);
  await makeSet('py-tools', [
    { manager: 'pip', name: 'requests', version: '2.32.3' },
    { manager: 'apt', name: 'jq', version: '1.6-2.1' },
  ]);
  await makeSet('pinned-curl', [{ manager: 'apt', name: 'curl', version: '7.88.1-10+deb12u12' }]);
  await makeSet('old-curl', [{ manager: 'apt', name: 'curl', version: '7.74.0-1.3' }]);
  admin = await browser('sets-admin');
  await ensureUser(env.deps, 'sets-reader', 'correct horse battery staple', 'operator');
  reader = await browser('sets-reader');
  expect((await admin.post('/templates/rescan', {})).status).toBe(303);
}, 60_000);

afterAll(async () => {
  await env?.deps.queue.obliterate({ force: true }).catch(() => undefined);
  await sim?.close();
  await env?.close();
  await rm(templatesDir, { recursive: true, force: true });
});

describe('the Package sets page', () => {
  it('lets an admin create, rename, describe and delete a set, and add and remove packages one at a time', async () => {
    const badName = await admin.post('/package-sets', { name: 'my tools', description: '' });
    expect(badName.status).toBe(422);
    expect(errorOf(badName.text, 'name')).toMatch(/^“my tools” is not a package set name/);

    const created = await admin.post('/package-sets', { name: 'web-tools', description: 'What every web box gets' });
    expect(created.status, errorsIn(created.text)).toBe(303);
    const url = created.headers.location!;
    expect(url).toMatch(/^\/package-sets\/\d+$/);
    const again = await admin.post('/package-sets', { name: 'web-tools', description: '' });
    expect(errorOf(again.text, 'name')).toBe('A package set named “web-tools” already exists. Choose another name.');

    for (const fields of [
      { manager: 'apt', package: 'nginx', version: '' },
      { manager: 'apt', package: 'jq', version: '1.6-2.1' },
      { manager: 'npm', package: '@scope/cli@2.0.0', version: '' },
      { manager: 'pip', package: 'requests==2.32.3', version: '' },
    ]) {
      const res = await admin.post(`${url}/packages`, fields);
      expect(res.status, errorsIn(res.text)).toBe(303);
    }
    expect((await setPackages('web-tools')).map(spec)).toEqual(['apt jq 1.6-2.1', 'apt nginx', 'npm @scope/cli 2.0.0', 'pip requests 2.32.3']);

    const invalid = await admin.post(`${url}/packages`, { manager: 'apt', package: 'Bad_Name', version: '' });
    expect(invalid.status).toBe(422);
    expect(errorOf(invalid.text, 'package')).toBe('“Bad_Name” is not a valid apt package name (e.g. nginx or nginx=1.22.1-9).');
    expect(invalid.text).toContain('value="Bad_Name"'); // kept as typed
    const badVersion = await admin.post(`${url}/packages`, { manager: 'pip', package: 'flask', version: '$(reboot)' });
    expect(errorOf(badVersion.text, 'package')).toBe('“$(reboot)” is not a valid version for flask.');
    const duplicate = await admin.post(`${url}/packages`, { manager: 'apt', package: 'nginx', version: '1.22.1-9' });
    expect(errorOf(duplicate.text, 'package')).toBe('nginx is already in the set (apt). Remove it first to change the version.');

    const removed = await admin.post(`${url}/packages/remove`, { manager: 'apt', package: 'jq' });
    expect(removed.status).toBe(303);
    expect((await setPackages('web-tools')).map(spec)).toEqual(['apt nginx', 'npm @scope/cli 2.0.0', 'pip requests 2.32.3']);

    const renamed = await admin.post(url, { name: 'web-kit', description: 'Web <b>essentials</b>' });
    expect(renamed.status).toBe(303);
    const page = await admin.get(url);
    expect(page.text).toContain('<h1 class="text-xl font-semibold">web-kit</h1>');
    expect(page.text).toContain('Web &lt;b&gt;essentials&lt;/b&gt;');
    expect(page.text).toContain('Package set “web-kit” saved.');
    const list = await admin.get('/package-sets');
    expect(list.text).toMatch(/web-kit<\/a><p class="text-slate-500">Web &lt;b&gt;essentials&lt;\/b&gt;<\/p><\/td>\s*<td[^>]*>1 apt · 1 npm · 1 pip<\/td>/);

    const confirm = await admin.get(`${url}/delete`);
    expect(confirm.text).toContain('Delete package set');
    expect((await admin.post(`${url}/delete`, {})).status).toBe(303);
    expect((await admin.get(url)).status).toBe(404);
  });

  it('is readable by everyone signed in; every change needs an admin (403)', async () => {
    const id = await setId('base-tools');
    const list = await reader.get('/package-sets');
    expect(list.status).toBe(200);
    expect(list.text).toContain('base-tools');
    expect(list.text).not.toContain('New package set');
    const page = await reader.get(`/package-sets/${id}`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('typescript');
    expect(page.text).not.toContain('Add a package');
    expect(page.text).not.toContain('Bulk import');
    for (const [url, fields] of [
      ['/package-sets', { name: 'mine' }],
      [`/package-sets/${id}`, { name: 'hijacked' }],
      [`/package-sets/${id}/packages`, { manager: 'apt', package: 'sl' }],
      [`/package-sets/${id}/packages/remove`, { manager: 'apt', package: 'htop' }],
      [`/package-sets/${id}/import`, { manager: 'apt', lines: 'sl', _action: 'save' }],
      [`/package-sets/${id}/delete`, {}],
    ] as const) {
      const res = await reader.post(url, fields);
      expect(res.status, url).toBe(403);
      expect(res.text).toContain('This needs the admin role; you are signed in as an operator.');
    }
    expect((await reader.get(`/package-sets/${id}/delete`)).status).toBe(403);
    expect((await setPackages('base-tools')).map(spec)).toEqual(['apt curl', 'apt htop', 'npm typescript 5.6.3']);
  });
});

describe('bulk import', () => {
  it('previews what will be added, what is a duplicate and which lines are invalid (and why); saves only on confirm', async () => {
    const id = await makeSet('imported', [{ manager: 'apt', name: 'htop', version: null }]);
    const lines = [
      '# everyday tools',
      'htop',
      'curl   # the usual',
      'curl',
      'nginx=1.22.1-9',
      'Bad_Name',
      'npm:typescript@5.6.3',
      'pip:requests==2.32.3',
      'vim tmux',
      'jq=latest!',
      'pip:requests==2.31.0',
      '',
    ].join('\n');
    const preview = await admin.post(`/package-sets/${id}/import`, { manager: 'apt', lines, _action: 'preview' });
    expect(preview.status).toBe(200);
    expect(items(section(preview.text, 'preview-add'))).toEqual(['3: apt curl', '5: apt nginx 1.22.1-9', '7: npm typescript 5.6.3', '8: pip requests 2.32.3']);
    expect(items(section(preview.text, 'preview-duplicates'))).toEqual([
      '2: apt htop — Already in the set.',
      '4: apt curl — Listed already on line 3.',
      '11: pip requests 2.31.0 — Listed already on line 8 as requests==2.32.3; keep one of the two.',
    ]);
    expect(items(section(preview.text, 'preview-invalid'))).toEqual([
      '6: Bad_Name — “Bad_Name” is not a valid apt package name (e.g. nginx or nginx=1.22.1-9).',
      '9: vim tmux — One package per line, found “vim tmux”.',
      '10: jq=latest! — “latest!” is not a valid version for jq.',
    ]);
    // Nothing is saved by a preview.
    expect((await setPackages('imported')).map(spec)).toEqual(['apt htop']);

    // Confirming posts the lines the preview carries (newlines intact) and adds exactly what it listed.
    const carried = /name="lines" value="([^"]*)"/.exec(preview.text)![1]!;
    expect(unescape(carried)).toBe(lines);
    const saved = await admin.post(`/package-sets/${id}/import`, { manager: 'apt', lines: unescape(carried), _action: 'save' });
    expect(saved.status).toBe(303);
    expect((await setPackages('imported')).map(spec)).toEqual(['apt curl', 'apt htop', 'apt nginx 1.22.1-9', 'npm typescript 5.6.3', 'pip requests 2.32.3']);
    expect((await admin.get(saved.headers.location!)).text).toContain('Imported 4 packages into “imported” (6 lines skipped as shown in the preview).');

    // The same paste again: everything is a duplicate now, nothing to add.
    const twice = await admin.post(`/package-sets/${id}/import`, { manager: 'apt', lines, _action: 'preview' });
    expect(items(section(twice.text, 'preview-add'))).toEqual(['nothing']);
    expect(twice.text).toContain('Nothing new to add.');
  });

  it('reads unprefixed lines with the chosen manager’s syntax', async () => {
    const id = await makeSet('npm-import', []);
    const preview = await admin.post(`/package-sets/${id}/import`, { manager: 'npm', lines: '@types/node@20.11.0\neslint\nrequests==2.32.3\n', _action: 'preview' });
    expect(items(section(preview.text, 'preview-add'))).toEqual(['1: npm @types/node 20.11.0', '2: npm eslint']);
    expect(items(section(preview.text, 'preview-invalid'))).toEqual(['3: requests==2.32.3 — “requests==2.32.3” is not a valid npm package name (e.g. typescript or typescript@5.6.3).']);
  });
});

describe('templates and package sets', () => {
  it('a disk template names sets in packages/*.sets; its page shows what each set contributes, and a set that does not exist', async () => {
    const kit = (await env.deps.repos.templates.findByName('kit'))!;
    expect(kit.loadError).toBeNull();
    expect(kit.packageSets).toEqual(['base-tools']);
    expect(kit.packages.map(spec)).toEqual(['apt curl', 'apt nginx']); // the .sets file is not read as a package list
    const page = await admin.get(`/templates/${kit.id}`);
    const sets = section(page.text, 'template-sets').replace(/\s+/g, ' ');
    expect(sets).toContain('base-tools</a>');
    expect(sets).toContain('apt:</span> <span class="font-mono">curl, htop</span>');
    expect(sets).toContain('npm:</span> <span class="font-mono">typescript 5.6.3</span>');

    const ghost = (await env.deps.repos.templates.findByName('ghost-kit'))!;
    expect((await admin.get(`/templates/${ghost.id}`)).text).toContain('no-such-set</span> <span class="font-normal text-red-700">does not exist');
  });

  it('a bad set name in a .sets file marks the template as not loadable, with file and line', async () => {
    await diskTemplate('bad-sets', { 'template.conf': '', 'packages/a.sets': 'ok-set\nnot a name\n' });
    await admin.post('/templates/rescan', {});
    expect((await env.deps.repos.templates.findByName('bad-sets'))!.loadError).toMatch(/^bad-sets\/packages\/a\.sets:2: “not a name” is not a package set name/);
    await rm(path.join(templatesDir, 'bad-sets'), { recursive: true });
    await admin.post('/templates/rescan', {});
  });

  it('custom templates pick sets in the editor; one that does not exist is refused next to the field', async () => {
    const form = await admin.get('/templates/new');
    expect(form.text).toContain('name="package_sets" value="base-tools"');
    expect(form.text).toContain('name="package_sets" value="py-tools"');
    const fields = { name: 'custom-kit', os_template: 'debian-12', cores: '1', memory: '512', swap: '0', disk: '2', unprivileged: '1', packages_apt: 'git\n' };
    const refused = await admin.post('/templates', { ...fields, package_sets: ['py-tools', 'nope'] });
    expect(refused.status).toBe(422);
    expect(errorOf(refused.text, 'package_sets')).toBe('There is no package set “nope”. Create it on the Package sets page, or untick it.');
    expect(refused.text).toContain('name="package_sets" value="py-tools" checked');
    const saved = await admin.post('/templates', { ...fields, package_sets: ['py-tools', 'base-tools'] });
    expect(saved.status, errorsIn(saved.text)).toBe(303);
    expect((await env.deps.repos.templates.findByName('custom-kit'))!.packageSets).toEqual(['py-tools', 'base-tools']);
    const edit = await admin.get(`${saved.headers.location!}/edit`);
    expect(edit.text).toContain('name="package_sets" value="base-tools" checked');
  });

  it('a set in use cannot be deleted: the page and the refusal name the templates; a rename follows into them', async () => {
    const id = await makeSet('shared-set', [{ manager: 'apt', name: 'tmux', version: null }]);
    const fields = { os_template: 'debian-12', cores: '1', memory: '512', swap: '0', disk: '2', unprivileged: '1', package_sets: 'shared-set' };
    for (const name of ['alpha-app', 'beta-app']) expect((await admin.post('/templates', { ...fields, name })).status).toBe(303);

    const confirm = await admin.get(`/package-sets/${id}/delete`);
    expect(items(section(confirm.text, 'used-by'))).toEqual(['alpha-app (custom)', 'beta-app (custom)']);
    expect(confirm.text).not.toContain('Delete package set</button>');
    const refused = await admin.post(`/package-sets/${id}/delete`, {});
    expect(refused.status).toBe(409);
    expect(unescape(refused.text)).toContain('“shared-set” cannot be deleted while templates “alpha-app”, “beta-app” use it.');
    expect(await setPackages('shared-set')).toHaveLength(1);
    expect(items(section((await admin.get(`/package-sets/${id}`)).text, 'used-by'))).toEqual(['alpha-app (custom)', 'beta-app (custom)']);

    expect((await admin.post(`/package-sets/${id}`, { name: 'team-set', description: '' })).status).toBe(303);
    expect((await env.deps.repos.templates.findByName('alpha-app'))!.packageSets).toEqual(['team-set']);

    // The disk template "kit" names base-tools: the set page lists it too.
    const base = await admin.get(`/package-sets/${await setId('base-tools')}`);
    expect(items(section(base.text, 'used-by'))).toContain('kit (disk)');
  });
});

async function throughConfigure(b: Browser, template: string, hostname: string) {
  const id = (await env.deps.repos.templates.findByName(template))!.id;
  await b.post('/containers/new/reset', {});
  expect((await b.post('/containers/new/template', { template: String(id) })).status).toBe(303);
  const configure = await b.post('/containers/new/configure', {
    node: 'sim', ostemplate: DEBIAN, storage: 'local-lvm', vmid: '', hostname, password: PASSWORD, password_confirm: PASSWORD,
    cores: '1', memory: '512', swap: '0', disk: '4', bridge: 'vmbr0', ip_mode: 'dhcp', unprivileged: ['0', '1'], nesting: '0', tags: '',
  });
  expect(configure.status, errorsIn(configure.text)).toBe(303);
}

const summaryLine = (html: string, manager: string) =>
  new RegExp(`<span class="font-medium">${manager}:</span> <span class="font-mono text-xs">([^<]*)</span>`).exec(html)?.[1]?.split(' ').sort();

describe('the wizard', () => {
  it('Packages shows the template’s groups and sets, each switchable, and further sets; Review lists the resolved packages per manager', async () => {
    const b = await browser('sets-wizard');
    await throughConfigure(b, 'kit', 'kit-1');
    const page = await b.get('/containers/new/packages');
    expect(page.status).toBe(200);
    expect(page.text).toMatch(/name="package_groups" value="apt" checked>/);
    const own = section(page.text, 'template-sets');
    expect(own).toContain('name="package_sets" value="base-tools" checked>');
    const more = page.text.slice(page.text.indexOf('id="more-sets"'));
    expect(more).toContain('name="package_sets" value="py-tools">');
    expect(more).toContain('name="package_sets" value="pinned-curl">');

    // Two sets pinning curl differently: refused, naming both.
    const clash = await b.post('/containers/new/packages', { package_groups: 'apt', package_sets: ['base-tools', 'pinned-curl', 'old-curl'], extra_packages: '' });
    expect(clash.status).toBe(422);
    expect(errorOf(clash.text, 'package_sets')).toBe('curl (apt): set “pinned-curl” pins 7.88.1-10+deb12u12 but set “old-curl” pins 7.74.0-1.3. Remove one pin, or turn one of them off.');
    expect(clash.text).toContain('name="package_sets" value="old-curl" checked'); // kept as chosen
    // A pin in the extra packages against a set's: the message sits at the extra packages and names both.
    const extraClash = await b.post('/containers/new/packages', { package_groups: 'apt', package_sets: ['pinned-curl'], extra_packages: 'curl=8.0.0-1' });
    expect(errorOf(extraClash.text, 'extra_packages')).toBe('curl (apt): set “pinned-curl” pins 7.88.1-10+deb12u12 but the extra packages pins 8.0.0-1. Remove one pin, or turn one of them off.');

    const ok = await b.post('/containers/new/packages', { package_groups: 'apt', package_sets: ['base-tools', 'py-tools', 'pinned-curl'], extra_packages: 'htop tmux' });
    expect(ok.status, errorsIn(ok.text)).toBe(303);
    expect((await b.post('/containers/new/scripts', {})).status).toBe(303);
    const review = await b.get('/containers/new/review');
    expect(review.status).toBe(200);
    const text = review.text.replace(/\s+/g, ' ');
    // Each package once; the unpinned curl of the template and base-tools takes pinned-curl's pin.
    expect(summaryLine(text, 'apt')).toEqual(['curl=7.88.1-10+deb12u12', 'htop', 'jq=1.6-2.1', 'nginx', 'tmux']);
    expect(summaryLine(text, 'npm')).toEqual(['typescript@5.6.3']);
    expect(summaryLine(text, 'pip')).toEqual(['requests==2.32.3']);
    expect(unescape(text)).toContain('From template “kit”, set “base-tools”, set “py-tools”, set “pinned-curl”, the extra packages.');

    const deployId = /name="deploy_id" value="([0-9a-f-]{36})"/.exec(review.text)![1]!;
    const deployed = await b.post('/containers', { deploy_id: deployId });
    expect(deployed.status, errorsIn(deployed.text)).toBe(303);
    const container = (await env.deps.repos.containers.findById(deployId))!;
    const config = container.config as unknown as ContainerConfig;
    expect(config.packageSets).toEqual(['base-tools', 'py-tools', 'pinned-curl']);
    expect(config.resolvedPackages!.map(spec).sort()).toEqual([
      'apt curl 7.88.1-10+deb12u12', 'apt htop', 'apt jq 1.6-2.1', 'apt nginx', 'apt tmux', 'npm typescript 5.6.3', 'pip requests 2.32.3',
    ]);
  });

  it('a template’s set can be switched off; a set that no longer exists sends Review back to Packages with the reason', async () => {
    const b = await browser('sets-wizard-2');
    await throughConfigure(b, 'kit', 'kit-2');
    expect((await b.post('/containers/new/packages', { package_groups: 'apt', extra_packages: '' })).status).toBe(303);
    expect((await b.post('/containers/new/scripts', {})).status).toBe(303);
    const review = (await b.get('/containers/new/review')).text.replace(/\s+/g, ' ');
    expect(summaryLine(review, 'apt')).toEqual(['curl', 'nginx']); // base-tools switched off: no htop, no npm
    expect(summaryLine(review, 'npm')).toBeUndefined();

    // A set chosen in the wizard is deleted before Deploy: Review sends the person back to Packages, which says why.
    const tempId = await makeSet('temp-set', [{ manager: 'apt', name: 'sl', version: null }]);
    expect((await b.post('/containers/new/packages', { package_groups: 'apt', package_sets: 'temp-set', extra_packages: '' })).status).toBe(303);
    expect((await b.post('/containers/new/scripts', {})).status).toBe(303);
    expect(summaryLine((await b.get('/containers/new/review')).text, 'apt')).toEqual(['curl', 'nginx', 'sl']);
    expect((await admin.post(`/package-sets/${tempId}/delete`, {})).status).toBe(303);
    const back = await b.get('/containers/new/review');
    expect(back.status).toBe(303);
    expect(back.headers.location).toBe('/containers/new/packages');
    const again = await b.post('/containers/new/packages', { package_groups: 'apt', package_sets: 'temp-set', extra_packages: '' });
    expect(errorOf(again.text, 'package_sets')).toBe('There is no package set “temp-set”. Create it on the Package sets page, or switch it off.');

    await throughConfigure(b, 'ghost-kit', 'ghost-1');
    const page = await b.get('/containers/new/packages');
    expect(section(page.text, 'template-sets')).toContain('No such set exists');
    const refused = await b.post('/containers/new/packages', { package_sets: 'no-such-set', extra_packages: '' });
    expect(refused.status).toBe(422);
    expect(errorOf(refused.text, 'package_sets')).toBe('There is no package set “no-such-set” (template “ghost-kit” names it). Create it on the Package sets page, or switch it off.');
  });
});

describe('POST /containers: package_sets', () => {
  const minimal = (fields: Fields = {}): Fields => ({
    template: 'kit', node: 'sim', hostname: `api-${Math.random().toString(36).slice(2, 8)}`, password: PASSWORD, password_confirm: PASSWORD, ...fields,
  });
  const configOf = async (res: { headers: Record<string, string> }) =>
    (await env.deps.repos.containers.findById(res.headers.location!.split('/').pop()!))!.config as unknown as ContainerConfig;

  it('defaults to the template’s sets, takes a repeatable list, and `package_sets=` means none', async () => {
    const b = await browser('sets-api');
    const byDefault = await b.post('/containers', minimal());
    expect(byDefault.status, errorsIn(byDefault.text)).toBe(303);
    expect((await configOf(byDefault)).packageSets).toEqual(['base-tools']);
    expect((await configOf(byDefault)).resolvedPackages!.map(spec)).toEqual(['apt curl', 'apt nginx', 'apt htop', 'npm typescript 5.6.3']);

    const chosen = await b.post('/containers', minimal({ package_sets: ['py-tools', 'pinned-curl'], package_groups: '' }));
    expect(chosen.status, errorsIn(chosen.text)).toBe(303);
    expect((await configOf(chosen)).resolvedPackages!.map(spec)).toEqual(['apt jq 1.6-2.1', 'apt curl 7.88.1-10+deb12u12', 'pip requests 2.32.3']);

    const none = await b.post('/containers', minimal({ package_sets: '' }));
    expect((await configOf(none)).packageSets).toEqual([]);
    expect((await configOf(none)).resolvedPackages!.map(spec)).toEqual(['apt curl', 'apt nginx']);
  });

  it('answers 422 naming an unknown set, or both sources of a conflicting pin', async () => {
    const b = await browser('sets-api');
    const json = { Accept: 'application/json' };
    const unknown = await b.post('/containers', minimal({ package_sets: ['base-tools', 'nope'] }), json);
    expect(unknown.status).toBe(422);
    expect(unknown.body.fields).toEqual({ package_sets: 'There is no package set “nope”. Create it on the Package sets page, or switch it off.' });
    const conflict = await b.post('/containers', minimal({ package_sets: ['old-curl', 'pinned-curl'] }), json);
    expect(conflict.status).toBe(422);
    expect(conflict.body.fields.package_sets).toBe('curl (apt): set “old-curl” pins 7.74.0-1.3 but set “pinned-curl” pins 7.88.1-10+deb12u12. Remove one pin, or turn one of them off.');
    const badName = await b.post('/containers', minimal({ package_sets: 'a b' }), json);
    expect(badName.body.fields.package_sets).toMatch(/^“a b” is not a package set name/);
  });
});

describe('a build from a package set', () => {
  it('installs the set’s packages on the simulator; editing the set later does not rewrite what the container records', async () => {
    const setIdValue = await makeSet('build-set', [
      { manager: 'apt', name: 'htop', version: null },
      { manager: 'apt', name: 'jq', version: '1.6-2.1' },
      { manager: 'npm', name: 'typescript', version: '5.6.3' },
      { manager: 'pip', name: 'requests', version: '2.32.3' },
    ]);
    const b = await browser('sets-builder');
    const res = await b.post('/containers', { template: '', node: 'sim', hostname: 'set-build-1', password: PASSWORD, password_confirm: PASSWORD, package_sets: 'build-set' });
    expect(res.status, errorsIn(res.text)).toBe(303);
    const id = res.headers.location!.split('/').pop()!;

    const deps: PipelineDeps = testPipelineDeps(env);
    expect(await runCreatePipeline(deps, id, new AbortController().signal)).toBe('ready');
    const built = (await env.deps.repos.containers.findById(id))!;
    const root = sim.sim.state.rootDir(built.vmid!);
    const dpkg = await readFile(path.join(root, 'var/lib/dpkg/status'), 'utf8');
    expect(dpkg).toMatch(/Package: htop\n/);
    expect(dpkg).toMatch(/Package: jq\n(?:[^\n]+\n)*?Version: 1\.6-2\.1\n/);
    expect(JSON.parse(await readFile(path.join(root, 'usr/local/lib/node_modules/typescript/package.json'), 'utf8'))).toMatchObject({ version: '5.6.3' });
    expect((await stat(path.join(root, 'usr/local/lib/python3.11/dist-packages/requests-2.32.3.dist-info'))).isDirectory()).toBe(true);
    const log = (await env.deps.repos.events.listAfter(id, 0, 100_000)).filter((e) => e.kind === 'log').map((e) => e.text).join('\n');
    expect(log).toContain('$ apt-get install -y --no-install-recommends -o Dpkg::Options::=--force-confold -- htop jq=1.6-2.1');
    // apt-get runs with the noninteractive debconf frontend: no complaint about a missing terminal, no question waiting.
    expect(log).not.toContain('debconf: unable to initialize frontend');

    // The set changes afterwards: the container's record (and page) still say what it was built with.
    expect((await admin.post(`/package-sets/${setIdValue}/packages`, { manager: 'apt', package: 'tmux', version: '' })).status).toBe(303);
    expect((await admin.post(`/package-sets/${setIdValue}/packages/remove`, { manager: 'apt', package: 'htop' })).status).toBe(303);
    const config = (await env.deps.repos.containers.findById(id))!.config as unknown as ContainerConfig;
    expect(config.resolvedPackages!.map(spec)).toEqual(['apt htop', 'apt jq 1.6-2.1', 'npm typescript 5.6.3', 'pip requests 2.32.3']);
    const page = (await b.get(`/containers/${id}`)).text.replace(/\s+/g, ' ');
    expect(page).toContain('<dt class="w-28 flex-none text-slate-500">Package sets</dt><dd class="min-w-0 break-words font-medium text-slate-800">build-set</dd>');
    expect(page).toContain('<dt class="w-28 flex-none text-slate-500">apt packages</dt><dd class="min-w-0 break-words font-medium text-slate-800">htop jq=1.6-2.1</dd>');
    expect(page).toContain('npm packages</dt><dd class="min-w-0 break-words font-medium text-slate-800">typescript@5.6.3</dd>');
    expect(page).not.toContain('tmux');
  }, 120_000);
});
