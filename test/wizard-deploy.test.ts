// Deploy: POST /containers from the wizard's Review page and from scripts (the documented form contract). One
// container per deploy id however often it is posted, the root password sealed in the row, and a job whose
// payload (and whole Redis hash) holds ids only.
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ContainerConfig } from '../src/domain/containers/container-config.ts';
import { registerSimulatorNode, SimulatorNodeNameTakenError } from '../src/domain/nodes/simulator-node.ts';
import type { TemplateDefinition } from '../src/domain/templates/template.ts';
import { ProxmoxClient } from '../src/proxmox/api-client.ts';
import { signedInAgent } from './support/session.ts';
import { hashPassword } from '../src/domain/passwords.ts';
import { startTestSimulator } from './support/simulator-fixtures.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';
import { createTestApp } from './support/test-app.ts';
import { CREATE_CONTAINER_JOB } from '../src/jobs/job-types.ts';
import { rootPasswordAad } from '../src/domain/sealed-secrets.ts';

let env: TestEnv;
let app: ReturnType<typeof createTestApp>;
let sim: Awaited<ReturnType<typeof startTestSimulator>>;
let templateId: number;

const DEBIAN = 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst';
const PASSWORD = `s3cret "pass" $(id) \`x\``;

const TEMPLATE: TemplateDefinition = {
  name: 'deploy-app',
  description: 'Deploy tests',
  osTemplate: 'debian-12',
  cores: 2,
  memory: 1024,
  swap: 128,
  disk: 5,
  unprivileged: true,
  nesting: true,
  tags: ['app'],
  scripts: [
    { name: '10-a.sh', position: 1, content: 'echo a\n', enabled: true },
    { name: '20-b.sh', position: 2, content: 'echo b\n', enabled: false },
    { name: '30-c.sh', position: 3, content: 'echo c\n', enabled: true },
  ],
  files: [{ name: 'motd', targetPath: '/etc/motd', content: 'hello\n', mode: '0644', owner: 'root:root', policy: 'replace' }],
  packages: [
    { manager: 'apt', name: 'nginx', version: null },
    { manager: 'pip', name: 'requests', version: '2.32.3' },
  ],
};

beforeAll(async () => {
  env = await createTestEnv();
  app = createTestApp(env);
  sim = await startTestSimulator(env.deps);
  const created = await env.deps.repos.templates.createCustom(TEMPLATE);
  if (created === 'taken') throw new Error('template name taken');
  templateId = created;
});

afterAll(async () => {
  await env?.deps.queue.obliterate({ force: true }).catch(() => undefined);
  await sim?.close();
  await env?.close();
});

type Fields = Record<string, string | string[]>;

function encode(fields: Fields): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(fields)) for (const v of Array.isArray(value) ? value : [value]) params.append(key, v);
  return params.toString();
}

async function browser() {
  const session = await signedInAgent(app, env.deps, { username: 'deployer' });
  const csrf = await session.csrf();
  return {
    agent: session.agent,
    csrf,
    get: (url: string, headers: Record<string, string> = {}) => session.agent.get(url).set(headers),
    post: (url: string, fields: Fields, headers: Record<string, string> = {}) =>
      session.agent.post(url).set(headers).type('form').send(encode({ _csrf: csrf, ...fields })),
  };
}
type Browser = Awaited<ReturnType<typeof browser>>;

const containerCount = async () => Number((await env.deps.knex('containers').count<{ count: string }[]>('* as count'))[0]!.count);
const jobsOf = async (id: string) => (await env.deps.queue.getJobs(['waiting', 'delayed', 'active', 'completed', 'failed', 'prioritized'])).filter((j) => j.data?.containerId === id);
const simClient = () => new ProxmoxClient({ apiUrl: sim.sim.apiUrl, tokenId: sim.sim.tokenId, tokenSecret: sim.sim.tokenSecret, tlsFingerprint: sim.sim.tlsFingerprint });
const errorsIn = (html: string) => [...html.matchAll(/id="e-([^"]+)"[^>]*>([^<]*)</g)].map((m) => `${m[1]}: ${m[2]}`).join('\n');

/** Walks the wizard with plain posts up to Review and returns the deploy id shown there. */
async function toReview(b: Browser, configure: Fields = {}): Promise<string> {
  const steps: Array<[string, Fields]> = [
    ['template', { template: String(templateId) }],
    ['configure', {
      node: 'sim', ostemplate: DEBIAN, storage: 'local-lvm', vmid: '', hostname: 'deploy-1', password: PASSWORD, password_confirm: PASSWORD,
      ssh_public_key: '', cores: '3', memory: '2048', swap: '0', disk: '9', bridge: 'vmbr0', ip_mode: 'static', ip: '10.10.0.7/16',
      gateway: '10.10.0.1', nameserver: '9.9.9.9', unprivileged: ['0', '1'], nesting: '0', destroy_on_failure: ['0', '1'], tags: 'App, Blue', ...configure,
    }],
    ['packages', { package_groups: 'pip', extra_packages: 'htop jq=1.6-2.1' }],
    ['scripts', { order: ['30-c.sh', '20-b.sh', '10-a.sh'], scripts: ['30-c.sh', '20-b.sh'] }],
  ];
  for (const [step, fields] of steps) {
    const res = await b.post(`/containers/new/${step}`, fields);
    expect(res.status, `${step}: ${errorsIn(res.text)}`).toBe(303);
  }
  const review = await b.get('/containers/new/review');
  expect(review.status).toBe(200);
  return /name="deploy_id" value="([0-9a-f-]{36})"/.exec(review.text)![1]!;
}

describe('Deploy from the wizard', () => {
  it('creates the container from the draft, seals the password, enqueues one id-only job and clears the draft', async () => {
    const b = await browser();
    const deployId = await toReview(b);
    const res = await b.post('/containers', { deploy_id: deployId });
    expect(res.status, errorsIn(res.text)).toBe(303);
    expect(res.headers.location).toBe(`/containers/${deployId}`);

    const container = (await env.deps.repos.containers.findById(deployId))!;
    expect(container).toMatchObject({ hostname: 'deploy-1', templateId, lifecycle: 'queued', nodeId: sim.node.id });
    expect(container.vmid).toBeGreaterThanOrEqual(100);
    const config = container.config as unknown as ContainerConfig;
    expect(config).toMatchObject({
      templateName: 'deploy-app', ostemplate: DEBIAN, hostname: 'deploy-1', cores: 3, memory: 2048, swap: 0, disk: 9, storage: 'local-lvm',
      bridge: 'vmbr0', ip: '10.10.0.7/16', gateway: '10.10.0.1', nameserver: '9.9.9.9', unprivileged: true, nesting: false,
      tags: ['app', 'blue'], sshPublicKey: null, packageGroups: ['pip'], extraPackages: ['htop', 'jq=1.6-2.1'],
      scripts: ['30-c.sh', '20-b.sh'], destroyOnFailure: true,
    });
    expect(config.template.scripts.map((s) => s.name)).toEqual(['10-a.sh', '20-b.sh', '30-c.sh']);
    expect(config.template.files).toEqual([TEMPLATE.files[0]]);
    expect(config.template.packages).toEqual(expect.arrayContaining([{ manager: 'pip', name: 'requests', version: '2.32.3' }]));
    expect(JSON.stringify(container.config)).not.toContain('s3cret');
    expect(container.rootPasswordEnc).toMatch(/^v1:/);
    expect(env.deps.secrets.open(container.rootPasswordEnc!, rootPasswordAad(deployId))).toBe(PASSWORD);

    const job = (await env.deps.queue.getJob(deployId))!;
    expect(job.name).toBe(CREATE_CONTAINER_JOB);
    // Ids only: the container, and who deployed it (for its history).
    expect(job.data).toEqual({ containerId: deployId, requestedBy: (await env.deps.repos.users.findByUsername('deployer'))!.id });
    expect(job.opts).toMatchObject({ removeOnComplete: 1000, removeOnFail: 5000 });
    // The whole job hash in Redis, not only the parsed data, carries no secret.
    const hash = await env.deps.redis.hgetall(env.deps.queue.toKey(deployId));
    expect(Object.keys(hash).length).toBeGreaterThan(0);
    // And no key of the queue at all: events, wait lists, metadata.
    const dump: unknown[] = [hash];
    for await (const keys of env.deps.redis.scanStream({ match: `${env.config.queuePrefix}:*`, count: 500 })) {
      for (const key of keys as string[]) {
        const type = await env.deps.redis.type(key);
        if (type === 'hash') dump.push(await env.deps.redis.hgetall(key));
        else if (type === 'list') dump.push(await env.deps.redis.lrange(key, '0', '-1'));
        else if (type === 'zset') dump.push(await env.deps.redis.zrange(key, '0', '-1'));
        else if (type === 'set') dump.push(await env.deps.redis.smembers(key));
        else if (type === 'string') dump.push(await env.deps.redis.get(key));
        else if (type === 'stream') dump.push(await env.deps.redis.xrange(key, '-', '+'));
      }
    }
    expect(dump.length).toBeGreaterThan(2);
    const raw = JSON.stringify(dump);
    expect(raw).toContain(deployId);
    for (const secret of [PASSWORD, 's3cret', JSON.stringify(PASSWORD).slice(1, -1)]) expect(raw).not.toContain(secret);

    // The draft is gone: a new container starts at the first step.
    expect((await b.get('/containers/new')).headers.location).toBe('/containers/new/template');
  });

  it('a second Deploy of the same draft (after the first finished) leads to the same container', async () => {
    const b = await browser();
    const deployId = await toReview(b, { hostname: 'twice-1' });
    const before = await containerCount();
    const first = await b.post('/containers', { deploy_id: deployId });
    const second = await b.post('/containers', { deploy_id: deployId });
    expect([first.status, second.status]).toEqual([303, 303]);
    expect(second.headers.location).toBe(`/containers/${deployId}`);
    expect(await containerCount()).toBe(before + 1);
    expect(await jobsOf(deployId)).toHaveLength(1);
  });

  it('two concurrent Deploys create one row and one job', async () => {
    const b = await browser();
    const deployId = await toReview(b, { hostname: 'race-1', vmid: '3300' });
    const before = await containerCount();
    // Hold every INSERT until all three requests have reached it: the database, not timing, must pick one.
    const repo = env.deps.repos.containers;
    const original = repo.create.bind(repo);
    let arrived = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const safety = setTimeout(() => release(), 5_000);
    repo.create = async (...args) => {
      if (++arrived === 3) release();
      await gate;
      return original(...args);
    };
    try {
      const answers = await Promise.all([1, 2, 3].map(() => b.post('/containers', { deploy_id: deployId })));
      for (const a of answers) {
        expect(a.status, errorsIn(a.text)).toBe(303);
        expect(a.headers.location).toBe(`/containers/${deployId}`);
      }
    } finally {
      clearTimeout(safety);
      repo.create = original;
    }
    expect(arrived).toBe(3);
    expect(await containerCount()).toBe(before + 1);
    expect(await jobsOf(deployId)).toHaveLength(1);
  });

  it('answers htmx with HX-Redirect (a full page load) instead of a redirect it would swap in', async () => {
    const b = await browser();
    const deployId = await toReview(b, { hostname: 'htmx-1' });
    const res = await b.post('/containers', { deploy_id: deployId }, { 'HX-Request': 'true', 'HX-Boosted': 'true' });
    expect(res.status).toBe(200);
    expect(res.headers['hx-redirect']).toBe(`/containers/${deployId}`);
  });

  it('validates again at Deploy: a VMID taken since Configure is refused on the Review page, nothing is created', async () => {
    const b = await browser();
    const deployId = await toReview(b, { hostname: 'late-1', vmid: '3100' });
    const client = simClient();
    await client.createLxc('sim', { vmid: 3100, ostemplate: DEBIAN, hostname: 'squatter', rootfs: { storage: 'local-lvm', sizeGiB: 1 } });
    client.close();
    const before = await containerCount();
    // Redirect-after-POST to the Review step (the address bar then names the page shown), which shows why once.
    const refused = await b.post('/containers', { deploy_id: deployId });
    expect(refused.status).toBe(303);
    expect(refused.headers.location).toBe('/containers/new/review');
    const res = await b.get('/containers/new/review');
    expect(res.status).toBe(200);
    expect(res.text).toContain('The container was not created:');
    expect(res.text).toMatch(/<li id="e-vmid"><span class="font-medium">VMID:<\/span> VMID 3100 is taken on this cluster\. Choose another, or leave it empty for the next free one\. <a href="\/containers\/new\/configure"/);
    expect(res.text).toContain('<div id="wizard"');
    expect(await containerCount()).toBe(before);
    expect(await env.deps.queue.getJob(deployId)).toBeUndefined();
    // Fixing it in Configure and deploying again works, with the same deploy id.
    expect((await b.post('/containers/new/configure', {
      node: 'sim', ostemplate: DEBIAN, storage: 'local-lvm', vmid: '3101', hostname: 'late-1', password: '', password_confirm: '', cores: '1', memory: '512',
      swap: '0', disk: '4', bridge: 'vmbr0', ip_mode: 'dhcp', unprivileged: ['0', '1'], nesting: '0', tags: '',
    })).status).toBe(303);
    const again = await b.post('/containers', { deploy_id: deployId });
    expect(again.status, errorsIn(again.text)).toBe(303);
    expect((await env.deps.repos.containers.findById(deployId))!.vmid).toBe(3101);
  });

  it('an accepted VMID suggestion means “next free”: two drafts shown the same number both deploy; a typed one is exact', async () => {
    const suggestion = async (b: Browser) => {
      await b.post('/containers/new/template', { template: String(templateId) });
      const page = await b.get('/containers/new/configure');
      const vmid = /name="vmid" type="text" value="(\d+)"/.exec(page.text)![1]!;
      expect(page.text).toContain(`name="vmid_suggested" value="${vmid}"`);
      return vmid;
    };
    const [a, c] = [await browser(), await browser()];
    const [va, vc] = [await suggestion(a), await suggestion(c)];
    expect(va).toBe(vc);
    const ids: string[] = [];
    for (const [b, hostname] of [[a, 'same-a'], [c, 'same-c']] as const) {
      const deployId = await toReview(b, { hostname, vmid: va, vmid_suggested: va });
      expect((await b.get('/containers/new/review')).text).toContain(`the next free one (now ${va})`);
      const res = await b.post('/containers', { deploy_id: deployId });
      expect(res.status, errorsIn(res.text)).toBe(303);
      ids.push(deployId);
    }
    const vmids = await Promise.all(ids.map(async (id) => (await env.deps.repos.containers.findById(id))!.vmid));
    expect(new Set(vmids).size).toBe(2);

    // Typing the number a queued container holds (not on the node yet) is refused at Deploy.
    const d = await browser();
    const deployId = await toReview(d, { hostname: 'exact-1', vmid: String(vmids[1]) });
    expect((await d.post('/containers', { deploy_id: deployId })).headers.location).toBe('/containers/new/review');
    const res = await d.get('/containers/new/review');
    expect(res.text).toContain(`VMID ${vmids[1]} is taken on this cluster.`);
    // Shown once: a reload is the plain Review step again.
    expect((await d.get('/containers/new/review')).text).not.toContain('is taken on this cluster');
  });

  it('refuses without a CSRF token', async () => {
    const b = await browser();
    const res = await b.agent.post('/containers').type('form').send(encode({ hostname: 'x' }));
    expect(res.status).toBe(403);
  });
});

describe('Deploy again with the settings of another container', () => {
  const field = (html: string, name: string) => new RegExp(`name="${name}"[^>]*value="([^"]*)"`).exec(html)?.[1];

  it('fills the wizard from a failed build, lets one choice change, and deploys a new container; VMID and password are not copied', async () => {
    const b = await browser();
    const firstId = await toReview(b, { hostname: 'again-1' });
    expect((await b.post('/containers', { deploy_id: firstId })).status).toBe(303);
    await env.deps.queue.remove(firstId);
    await env.deps.repos.containers.update(firstId, { lifecycle: 'failed', currentStep: 'syncing', error: 'E: Unable to locate package jq' });
    const first = (await env.deps.repos.containers.findById(firstId))!;

    // The failed build's panel offers it beside Retry.
    const page = await b.get(`/containers/${firstId}`);
    expect(page.text).toContain(`href="/containers/new?from=${firstId}"`);
    expect(page.text).toContain('Change settings and deploy again');

    const start = await b.get(`/containers/new?from=${firstId}`);
    expect(start.status).toBe(303);
    expect(start.headers.location).toBe('/containers/new/configure');
    const configure = await b.get('/containers/new/configure');
    expect(configure.text).toContain('The settings of again-1 are filled in');
    for (const [name, value] of Object.entries({ hostname: 'again-1', cores: '3', memory: '2048', swap: '0', disk: '9', ip: '10.10.0.7/16', gateway: '10.10.0.1', nameserver: '9.9.9.9' })) {
      expect(field(configure.text, name), name).toBe(value);
    }
    expect(field(configure.text, 'password') ?? '').toBe('');
    // The VMID field holds the node's suggestion (“next free”), not the other container's number.
    expect(field(configure.text, 'vmid')).toBe(field(configure.text, 'vmid_suggested'));

    // Without a password Continue is refused: it was not copied.
    const noPassword = await b.post('/containers/new/configure', {
      node: 'sim', ostemplate: DEBIAN, storage: 'local-lvm', vmid: '', hostname: 'again-2', ssh_public_key: '', cores: '3', memory: '2048', swap: '0', disk: '9',
      bridge: 'vmbr0', ip_mode: 'static', ip: '10.10.0.8/16', gateway: '10.10.0.1', nameserver: '9.9.9.9', unprivileged: ['0', '1'], nesting: '0', destroy_on_failure: ['0', '1'], tags: 'App, Blue',
    });
    expect(noPassword.status).toBe(422);
    const saved = await b.post('/containers/new/configure', {
      node: 'sim', ostemplate: DEBIAN, storage: 'local-lvm', vmid: '', hostname: 'again-2', password: PASSWORD, password_confirm: PASSWORD, ssh_public_key: '', cores: '3', memory: '2048',
      swap: '0', disk: '9', bridge: 'vmbr0', ip_mode: 'static', ip: '10.10.0.8/16', gateway: '10.10.0.1', nameserver: '9.9.9.9', unprivileged: ['0', '1'], nesting: '0', destroy_on_failure: ['0', '1'], tags: 'App, Blue',
    });
    expect(saved.status, errorsIn(saved.text)).toBe(303);

    const packages = await b.get('/containers/new/packages');
    expect(packages.text).toMatch(/name="extra_packages"[^>]*>htop jq=1.6-2.1</);
    expect(packages.text).toMatch(/name="package_groups" value="pip"[^>]*checked/);
    expect((await b.post('/containers/new/packages', { package_groups: 'pip', extra_packages: 'htop jq' })).status).toBe(303);
    const scripts = await b.get('/containers/new/scripts');
    // The scripts that ran, in their order, then the template's other one, switched off.
    expect([...scripts.text.matchAll(/name="order" value="([^"]+)"/g)].map((m) => m[1])).toEqual(['30-c.sh', '20-b.sh', '10-a.sh']);
    expect([...scripts.text.matchAll(/name="scripts" value="([^"]+)"[^>]*checked/g)].map((m) => m[1])).toEqual(['30-c.sh', '20-b.sh']);
    expect((await b.post('/containers/new/scripts', { order: ['30-c.sh', '20-b.sh', '10-a.sh'], scripts: ['30-c.sh', '20-b.sh'] })).status).toBe(303);

    const review = await b.get('/containers/new/review');
    const secondId = /name="deploy_id" value="([0-9a-f-]{36})"/.exec(review.text)![1]!;
    expect(secondId).not.toBe(firstId);
    expect((await b.post('/containers', { deploy_id: secondId })).status).toBe(303);
    const second = (await env.deps.repos.containers.findById(secondId))!;
    const { hostname: _h1, ip: _i1, extraPackages: _e1, resolvedPackages: _r1, ...before } = first.config as unknown as ContainerConfig;
    const { hostname, ip, extraPackages, resolvedPackages, ...after } = second.config as unknown as ContainerConfig;
    expect([hostname, ip, extraPackages]).toEqual(['again-2', '10.10.0.8/16', ['htop', 'jq']]);
    expect(resolvedPackages).toContainEqual({ manager: 'apt', name: 'jq', version: null });
    expect(after).toEqual(before);
    expect(second.vmid).not.toBe(first.vmid);
    expect(env.deps.secrets.open(second.rootPasswordEnc!, rootPasswordAad(secondId))).toBe(PASSWORD);
    expect((await env.deps.repos.containers.findById(firstId))!.lifecycle).toBe('failed');
  });

  it('says why when the container’s template has left the catalogue, and keeps the draft in progress', async () => {
    const b = await browser();
    const created = await env.deps.repos.templates.createCustom({ ...TEMPLATE, name: 'short-lived' });
    if (created === 'taken') throw new Error('template name taken');
    expect((await b.post('/containers/new/template', { template: String(created) })).status).toBe(303);
    const configureFields = {
      node: 'sim', ostemplate: DEBIAN, storage: 'local-lvm', vmid: '', hostname: 'gone-1', password: PASSWORD, password_confirm: PASSWORD, ssh_public_key: '', cores: '1', memory: '512',
      swap: '0', disk: '4', bridge: 'vmbr0', ip_mode: 'dhcp', ip: '', gateway: '', nameserver: '', unprivileged: ['0', '1'], nesting: '0', destroy_on_failure: '0', tags: '',
    };
    expect((await b.post('/containers/new/configure', configureFields)).status).toBe(303);
    expect((await b.post('/containers/new/packages', { package_groups: 'apt' })).status).toBe(303);
    expect((await b.post('/containers/new/scripts', { order: '10-a.sh', scripts: '10-a.sh' })).status).toBe(303);
    const review = await b.get('/containers/new/review');
    const id = /name="deploy_id" value="([0-9a-f-]{36})"/.exec(review.text)![1]!;
    expect((await b.post('/containers', { deploy_id: id })).status).toBe(303);
    await env.deps.queue.remove(id);
    // A template can leave the catalogue once its containers are destroyed.
    await env.deps.repos.containers.update(id, { lifecycle: 'destroyed' });
    expect(await env.deps.repos.templates.deleteUnreferenced(created)).toEqual({ deleted: true });

    await b.post('/containers/new/template', { template: String(templateId) });
    const refused = await b.get(`/containers/new?from=${id}`);
    expect(refused.status).toBe(303);
    expect(refused.headers.location).toBe(`/containers/${id}`);
    expect((await b.get(`/containers/${id}`)).text).toContain('Template “short-lived” is no longer in the catalogue');
    // The draft in progress is untouched.
    expect((await b.get('/containers/new')).headers.location).toBe('/containers/new/configure');
  });

  it('a “Deploy again” link does not replace a draft in progress: it asks, and only the form starts over', async () => {
    const b = await browser();
    const builtId = await toReview(b, { hostname: 'built-1' });
    expect((await b.post('/containers', { deploy_id: builtId })).status).toBe(303);
    await env.deps.queue.remove(builtId);
    await env.deps.repos.containers.update(builtId, { lifecycle: 'ready' });
    // Another container half way through the wizard.
    const pendingId = await toReview(b, { hostname: 'in-progress' });

    const asked = await b.get(`/containers/new?from=${builtId}`);
    expect(asked.status).toBe(200);
    expect(asked.text).toContain('Start over from the settings of built-1?');
    expect(asked.text).toMatch(/Your unfinished draft for <strong>in-progress<\/strong> will be replaced/);
    expect(asked.text).toContain(`name="from" value="${builtId}"`);
    // Nothing was replaced: the same draft, on its Review step, deploys as in-progress.
    const review = await b.get('/containers/new/review');
    expect(review.status).toBe(200);
    expect(review.text).toContain(`name="deploy_id" value="${pendingId}"`);
    expect(field((await b.get('/containers/new/configure')).text, 'hostname')).toBe('in-progress');

    // Without the session's CSRF token (a cross-site form) the start over is refused.
    expect((await b.agent.post('/containers/new').type('form').send({ from: builtId })).status).toBe(403);
    expect((await b.get('/containers/new/review')).text).toContain(`name="deploy_id" value="${pendingId}"`);
    const confirmed = await b.post('/containers/new', { from: builtId });
    expect(confirmed.status).toBe(303);
    expect(confirmed.headers.location).toBe('/containers/new/configure');
    expect(field((await b.get('/containers/new/configure')).text, 'hostname')).toBe('built-1');
  });

  it('is for deployers only, and only for a container that exists', async () => {
    const b = await browser();
    expect((await b.get('/containers/new?from=00000000-0000-0000-0000-000000000000')).status).toBe(404);
    const id = await toReview(b, { hostname: 'looked-at' });
    expect((await b.post('/containers', { deploy_id: id })).status).toBe(303);
    await env.deps.queue.remove(id);
    await env.deps.repos.containers.update(id, { lifecycle: 'ready' });
    expect((await b.get(`/containers/${id}`)).text).toContain(`href="/containers/new?from=${id}"`);

    await env.deps.repos.users.create({ username: 'looker', passwordHash: await hashPassword('correct horse battery staple'), role: 'viewer' });
    const viewer = await signedInAgent(app, env.deps, { username: 'looker' });
    expect((await viewer.agent.get(`/containers/${id}`)).text).not.toContain('/containers/new?from=');
    expect((await viewer.agent.get(`/containers/new?from=${id}`)).status).toBe(403);
  });
});

describe('POST /containers as a form contract (curl)', () => {
  const minimal = (overrides: Fields = {}): Fields => ({
    template: 'deploy-app', node: 'sim', hostname: 'curl-1', password: 'curl-password', password_confirm: 'curl-password', ...overrides,
  });

  it('fills omitted fields from the template and the node', async () => {
    const b = await browser();
    const res = await b.post('/containers', minimal());
    expect(res.status, errorsIn(res.text)).toBe(303);
    const id = /^\/containers\/([0-9a-f-]{36})$/.exec(res.headers.location!)![1]!;
    const container = (await env.deps.repos.containers.findById(id))!;
    const config = container.config as unknown as ContainerConfig;
    expect(config).toMatchObject({
      templateName: 'deploy-app', ostemplate: DEBIAN, cores: 2, memory: 1024, swap: 128, disk: 5, storage: 'local-lvm', bridge: 'vmbr0',
      ip: 'dhcp', gateway: null, nameserver: null, unprivileged: true, nesting: true, tags: ['app'], packageGroups: ['apt', 'pip'],
      extraPackages: [], scripts: ['10-a.sh', '30-c.sh'], destroyOnFailure: false, vmidEntered: false,
    });
    expect(container.vmid).toBeGreaterThanOrEqual(100);
    expect((await env.deps.queue.getJob(id))!.data).toEqual({ containerId: id, requestedBy: (await env.deps.repos.users.findByUsername('deployer'))!.id });
  });

  it('takes every documented field, repeatable ones in order, template and node by id', async () => {
    const b = await browser();
    const { public: key } = (await import('ssh2')).default.utils.generateKeyPairSync('ed25519', { comment: 'ops@example' });
    const res = await b.post('/containers', {
      template: String(templateId), node: String(sim.node.id), ostemplate: 'local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst', hostname: 'curl-full',
      vmid: '2200', password: 'curl-password', password_confirm: 'curl-password', ssh_public_key: key, cores: '4', memory: '4096', swap: '512', disk: '20',
      storage: 'local-lvm', bridge: 'vmbr1', ip: '192.168.50.10/24', gateway: '192.168.50.1', nameserver: '192.168.50.1', unprivileged: '1', nesting: '0', onboot: '1',
      tags: 'prod;db', package_groups: ['apt'], extra_packages: 'tmux', scripts: ['30-c.sh', '20-b.sh', '10-a.sh'], destroy_on_failure: '1',
    });
    expect(res.status, errorsIn(res.text)).toBe(303);
    const id = res.headers.location!.split('/').pop()!;
    const container = (await env.deps.repos.containers.findById(id))!;
    expect(container.vmid).toBe(2200);
    expect(container.config).toMatchObject({
      ostemplate: 'local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst', sshPublicKey: key, cores: 4, memory: 4096, swap: 512, disk: 20, bridge: 'vmbr1',
      ip: '192.168.50.10/24', gateway: '192.168.50.1', nameserver: '192.168.50.1', unprivileged: true, nesting: false, onboot: true, tags: ['prod', 'db'],
      packageGroups: ['apt'], extraPackages: ['tmux'], scripts: ['30-c.sh', '20-b.sh', '10-a.sh'], destroyOnFailure: true, vmidEntered: true,
    });
  });

  it('lets a script say “none” for repeatable fields, and builds from scratch with an empty template', async () => {
    const b = await browser();
    const res = await b.post('/containers', minimal({ template: '', hostname: 'bare-1', package_groups: '', scripts: '', tags: '' }));
    expect(res.status, errorsIn(res.text)).toBe(303);
    const id = res.headers.location!.split('/').pop()!;
    const container = (await env.deps.repos.containers.findById(id))!;
    expect(container.templateId).toBeNull();
    expect(container.config).toMatchObject({
      templateName: null, ostemplate: DEBIAN, cores: 1, memory: 512, disk: 4, tags: [], packageGroups: [], scripts: [],
      template: { scripts: [], files: [], packages: [] },
    });
  });

  it('refuses an OS template whose package manager cannot install the template’s apt packages, naming both; any OS without them', async () => {
    const b = await browser();
    const ALPINE = 'local:vztmpl/alpine-3.20-default_20240908_amd64.tar.xz';
    const before = await containerCount();
    const refused = await b.post('/containers', minimal({ ostemplate: ALPINE, hostname: 'alpine-apt' }), { Accept: 'application/json' });
    expect(refused.status).toBe(422);
    expect(refused.body.fields).toEqual({
      ostemplate: 'Template “deploy-app” installs packages with apt; alpine-3.20 uses apk. Choose a Debian or Ubuntu OS template.',
      package_groups: 'Template “deploy-app” installs packages with apt; alpine-3.20 uses apk. Switch the apt group off, or choose a Debian or Ubuntu OS template.',
    });
    expect(await containerCount()).toBe(before);

    // Its pip packages install anywhere; a container from scratch installs nothing.
    expect((await b.post('/containers', minimal({ ostemplate: ALPINE, hostname: 'alpine-pip', package_groups: 'pip' }))).status).toBe(303);
    expect((await b.post('/containers', minimal({ template: '', ostemplate: ALPINE, hostname: 'alpine-bare' }))).status).toBe(303);

    // Extra packages and a package set's apt packages need apt as much as the template's do.
    const setId = await env.deps.repos.packageSets.create({ name: 'apt-tools', description: '' });
    if (setId === 'taken') throw new Error('set name taken');
    await env.deps.repos.packageSets.addPackages(setId, [{ manager: 'apt', name: 'htop', version: null }]);
    const extras = await b.post('/containers', minimal({ template: '', ostemplate: ALPINE, hostname: 'alpine-extra', extra_packages: 'htop', package_sets: 'apt-tools' }), { Accept: 'application/json' });
    expect(extras.status).toBe(422);
    expect(extras.body.fields).toEqual({
      extra_packages: 'Extra packages are installed with apt; alpine-3.20 uses apk. Remove them, or choose a Debian or Ubuntu OS template.',
      package_sets: 'Package set “apt-tools” installs packages with apt; alpine-3.20 uses apk. Switch it off, or choose a Debian or Ubuntu OS template.',
    });
  });

  it('treats deploy_id as an idempotency key', async () => {
    const b = await browser();
    const key = crypto.randomUUID();
    const before = await containerCount();
    const [one, two] = await Promise.all([b.post('/containers', minimal({ deploy_id: key, hostname: 'idem-1' })), b.post('/containers', minimal({ deploy_id: key, hostname: 'idem-1' }))]);
    expect([one.status, two.status]).toEqual([303, 303]);
    expect(one.headers.location).toBe(`/containers/${key}`);
    expect(two.headers.location).toBe(`/containers/${key}`);
    expect(await containerCount()).toBe(before + 1);
    expect(await jobsOf(key)).toHaveLength(1);
  });

  it('gives consecutive “next free” requests different VMIDs before any CT exists on the node', async () => {
    const b = await browser();
    const ids: string[] = [];
    for (const n of [1, 2, 3]) {
      const res = await b.post('/containers', minimal({ hostname: `seq-${n}` }));
      expect(res.status, errorsIn(res.text)).toBe(303);
      ids.push(res.headers.location!.split('/').pop()!);
    }
    const vmids = await Promise.all(ids.map(async (id) => (await env.deps.repos.containers.findById(id))!.vmid));
    expect(new Set(vmids).size).toBe(3);
  });

  it('answers 422 with every message: an HTML page by default, JSON when asked', async () => {
    const b = await browser();
    const before = await containerCount();
    const bad = minimal({ template: 'no-such-template', hostname: '$(reboot)' });
    const missing = await b.post('/containers', bad);
    expect(missing.status).toBe(422);
    expect(missing.text).toContain('There is no template “no-such-template”');

    const hostile = minimal({
      hostname: 'a`id`', password: 'short', vmid: '12', memory: '-5', ip: '10.0.0.1/33', gateway: '10.0.0.1', nameserver: '"; reboot', tags: 'a\nb$(x)',
      unprivileged: 'maybe', package_groups: ['apt', 'cargo'], extra_packages: 'ok Bad', scripts: ['99-missing.sh'], node: 'nope',
    });
    const page = await b.post('/containers', hostile);
    expect(page.status).toBe(422);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(page.text).toContain('The container was not created');
    // Points at the documentation that exists: the README's section on this endpoint.
    expect(page.text).toContain('README, section “Creating containers from scripts: POST /containers”');
    for (const field of ['node', 'hostname', 'password', 'vmid', 'memory', 'ip', 'nameserver', 'tags', 'unprivileged', 'package_groups', 'extra_packages', 'scripts']) {
      expect(page.text, field).toContain(`data-field="${field}"`);
    }
    expect(page.text).not.toContain('a`id`<');

    const json = await b.post('/containers', hostile, { Accept: 'application/json' });
    expect(json.status).toBe(422);
    expect(json.body.fields).toMatchObject({
      hostname: expect.stringMatching(/letters, digits and hyphens/),
      password: 'Use at least 8 characters.',
      node: 'There is no node “nope”. Choose one of the configured nodes.',
      scripts: 'The template has no script named “99-missing.sh”.',
      package_groups: '“cargo” is not a package group: use apt, npm or pip.',
      unprivileged: 'Use 1 (yes) or 0 (no).',
    });
    expect(await containerCount()).toBe(before);
  });

  it('survives huge and binary input with messages, never a crash', async () => {
    const b = await browser();
    const res = await b.post('/containers', minimal({
      hostname: 'h'.repeat(200_000), password: `${'p'.repeat(300)}\0`, password_confirm: 'x', ssh_public_key: 'ssh-ed25519 '.repeat(5_000), memory: '9'.repeat(50_000),
      tags: 'ü'.repeat(10_000), extra_packages: 'a '.repeat(300),
    }), { Accept: 'application/json' });
    expect(res.status).toBe(422);
    expect(Object.keys(res.body.fields).sort()).toEqual(['extra_packages', 'hostname', 'memory', 'password', 'ssh_public_key', 'tags']);
  });
});

describe('registerSimulatorNode', () => {
  it('updates the simulator’s row on a restart instead of adding one, and never takes over a real node', async () => {
    const moved = { ...sim.sim, apiUrl: 'https://127.0.0.1:1', tokenSecret: 'rotated', ssh: { ...sim.sim.ssh, port: 2 } };
    const again = await registerSimulatorNode(env.deps, moved);
    expect(again.id).toBe(sim.node.id);
    expect(again).toMatchObject({ apiUrl: 'https://127.0.0.1:1', sshPort: 2, isSimulator: true });
    expect(env.deps.secrets.open(again.tokenSecretEnc, `nodes:${again.id}:token_secret`)).toBe('rotated');
    expect((await env.deps.repos.nodes.list()).filter((n) => n.name === 'sim')).toHaveLength(1);
    await registerSimulatorNode(env.deps, sim.sim);

    const real = await registerSimulatorNode(env.deps, { ...sim.sim, nodeName: 'pve-real' });
    await env.deps.repos.nodes.update(real.id, { ...real, isSimulator: false }, () => ({}));
    await expect(registerSimulatorNode(env.deps, { ...sim.sim, nodeName: 'pve-real' })).rejects.toBeInstanceOf(SimulatorNodeNameTakenError);
    await env.deps.repos.nodes.delete(real.id);
  });

  it('gives a node the rest of Launchpad can use: its API answers through the stored, sealed credentials', async () => {
    const res = await supertest(app).get('/healthz');
    expect(res.status).toBe(200);
    const b = await browser();
    await b.post('/containers/new/template', { template: '' });
    const page = await b.get('/containers/new/configure');
    expect(page.text).not.toContain('could not be asked');
    expect(page.text).toContain('sim (simulator)');
  });
});
