// The wizard and the node: how politely it asks (every request counted at the simulator, step by step, for one
// complete walk-through as a browser without JavaScript makes it; concurrent pages sharing one call), what it offers
// from the node (bridges), what it warns about (a hostname a guest already has) and what POST /containers answers
// while the node cannot be reached.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TemplateDefinition } from '../src/domain/templates/template.ts';
import { ProxmoxClient } from '../src/proxmox/api-client.ts';
import { waitForTask } from '../src/proxmox/task-waiter.ts';
import type { RecordedRequest } from '../src/simulator/index.ts';
import { signedInAgent } from './support/session.ts';
import { startTestSimulator } from './support/simulator-fixtures.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';
import { createTestApp } from './support/test-app.ts';
import { tokenSecretAad } from '../src/domain/sealed-secrets.ts';

let env: TestEnv;
let app: ReturnType<typeof createTestApp>;
let sim: Awaited<ReturnType<typeof startTestSimulator>>;
let templateId: number;
/** A CT that is on the node before the first page is shown (so no cached guest list can miss it). */
let occupant: { vmid: number; hostname: string };

const DEBIAN = 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst';

const TEMPLATE: TemplateDefinition = {
  name: 'polite-web',
  description: 'Counting node calls',
  osTemplate: 'debian-12',
  cores: 1,
  memory: 512,
  swap: 512,
  disk: 4,
  unprivileged: true,
  nesting: false,
  tags: [],
  scripts: [{ name: '10-a.sh', position: 1, content: 'echo a\n', enabled: true }],
  files: [],
  packages: [{ manager: 'apt', name: 'nginx', version: null }],
};

beforeAll(async () => {
  env = await createTestEnv();
  app = createTestApp(env);
  sim = await startTestSimulator(env.deps);
  const created = await env.deps.repos.templates.createCustom(TEMPLATE);
  if (created === 'taken') throw new Error('template name taken');
  templateId = created;
  const client = new ProxmoxClient({ apiUrl: sim.sim.apiUrl, tokenId: sim.sim.tokenId, tokenSecret: sim.sim.tokenSecret, tlsFingerprint: sim.sim.tlsFingerprint });
  occupant = { vmid: 4711, hostname: 'web-2' };
  await waitForTask(client, await client.createLxc('sim', { vmid: occupant.vmid, ostemplate: DEBIAN, hostname: occupant.hostname, rootfs: { storage: 'local-lvm', sizeGiB: 1 } }), { pollIntervalMs: 10 });
  client.close();
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

const lastSeq = () => sim.sim.requests.at(-1)?.seq ?? 0;
const endpoint = (r: RecordedRequest) => `${r.method} ${r.path}`;

/** Node calls per endpoint (method and path; the query is not part of it) made while `action` ran. */
async function callsDuring(action: () => Promise<unknown>): Promise<Record<string, number>> {
  const mark = lastSeq();
  await action();
  const counts: Record<string, number> = {};
  for (const r of sim.sim.requests.filter((q) => q.seq > mark)) counts[endpoint(r)] = (counts[endpoint(r)] ?? 0) + 1;
  return counts;
}

const inputValue = (html: string, name: string) => new RegExp(`name="${name}" type="[a-z]+" value="([^"]*)"`).exec(html)?.[1];
const errorsIn = (html: string) => [...html.matchAll(/id="e-([^"]+)"[^>]*>([^<]*)</g)].map((m) => `${m[1]}: ${m[2]}`).join('\n');
const errorOf = (html: string, field: string) => new RegExp(`id="e-${field}" class="field-error">([^<]*)<`).exec(html)?.[1];
const unescape = (html: string) => html.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');

/** A signed-in browser without JavaScript: plain GETs and form posts with the session's CSRF token. */
async function browser(username = 'polite') {
  const session = await signedInAgent(app, env.deps, { username });
  const csrf = await session.csrf();
  return {
    get: (url: string, headers: Record<string, string> = {}) => session.agent.get(url).set(headers),
    post: (url: string, fields: Fields, headers: Record<string, string> = {}) =>
      session.agent.post(url).set(headers).type('form').send(encode({ _csrf: csrf, ...fields })),
  };
}
type Browser = Awaited<ReturnType<typeof browser>>;

const CONFIGURE: Fields = {
  node: 'sim', ostemplate: DEBIAN, storage: 'local-lvm', vmid: '', hostname: 'polite-1', password: 'correct horse 1', password_confirm: 'correct horse 1',
  ssh_public_key: '', cores: '1', memory: '512', swap: '512', disk: '4', bridge: 'vmbr0', ip_mode: 'dhcp', ip: '', gateway: '', nameserver: '',
  unprivileged: ['0', '1'], nesting: '0', destroy_on_failure: '0', tags: '',
};

async function throughTemplate(b: Browser) {
  const res = await b.post('/containers/new/template', { template: String(templateId) });
  expect(res.status).toBe(303);
}

/** Template, Configure (with `configure` over the defaults above), Packages and Scripts; returns the Review page. */
async function toReview(b: Browser, configure: Fields = {}) {
  await throughTemplate(b);
  for (const [step, fields] of [['configure', { ...CONFIGURE, ...configure }], ['packages', { package_groups: 'apt' }], ['scripts', { order: '10-a.sh', scripts: '10-a.sh' }]] as const) {
    const res = await b.post(`/containers/new/${step}`, fields);
    expect(res.status, `${step}: ${errorsIn(res.text)}`).toBe(303);
  }
  const review = await b.get('/containers/new/review');
  expect(review.status).toBe(200);
  return review.text;
}

// First in the file, while nothing is cached yet.
describe('concurrent pages', () => {
  it('share one call per list: three people opening Configure at once cost the node one storage and one bridge list', async () => {
    const people = await Promise.all(['p1', 'p2', 'p3'].map((name) => browser(`concurrent-${name}`)));
    for (const b of people) await throughTemplate(b);
    const calls = await callsDuring(() => Promise.all(people.map(async (b) => expect((await b.get('/containers/new/configure')).status).toBe(200))));
    expect(calls['GET /nodes/sim/storage']).toBe(1);
    expect(calls['GET /nodes/sim/network']).toBe(1);
    expect(calls['GET /nodes/sim/storage/local/content']).toBe(1);
    expect(calls['GET /cluster/resources']).toBe(1);
    // The next free VMID is a check, not a list: each page asks.
    expect(calls['GET /cluster/nextid']).toBe(3);
  });
});

describe('one walk-through of the wizard', () => {
  it.each([
    ['the proposed VMID', false],
    ['a typed VMID', true],
  ])('asks each node endpoint at most once per step (%s)', async (label, typedVmid) => {
    const session = await signedInAgent(app, env.deps, { username: 'polite' });
    const csrf = await session.csrf();
    const get = async (url: string) => {
      const res = await session.agent.get(url);
      expect(res.status, url).toBe(200);
      return res.text;
    };
    const post = async (url: string, fields: Fields) => {
      const res = await session.agent.post(url).type('form').send(encode({ _csrf: csrf, ...fields }));
      expect(res.status, `${url}: ${errorsIn(res.text)}`).toBe(303);
      return res.headers.location as string;
    };

    const steps: Record<string, Record<string, number>> = {};
    let page = '';
    steps['GET template'] = await callsDuring(async () => (page = await get('/containers/new/template')));
    steps['POST template'] = await callsDuring(() => post('/containers/new/template', { template: String(templateId) }));
    steps['GET configure'] = await callsDuring(async () => (page = await get('/containers/new/configure')));
    const proposed = inputValue(page, 'vmid') ?? '';
    expect(proposed).toMatch(/^\d+$/);
    const vmid = typedVmid ? String(Number(proposed) + 50) : proposed;
    steps['POST configure'] = await callsDuring(() =>
      post('/containers/new/configure', { ...CONFIGURE, vmid, vmid_suggested: proposed, hostname: `polite-${typedVmid ? 't' : 'p'}` }),
    );
    steps['GET packages'] = await callsDuring(() => get('/containers/new/packages'));
    steps['POST packages'] = await callsDuring(() => post('/containers/new/packages', { package_groups: 'apt', extra_packages: '' }));
    steps['GET scripts'] = await callsDuring(() => get('/containers/new/scripts'));
    steps['POST scripts'] = await callsDuring(() => post('/containers/new/scripts', { order: '10-a.sh', scripts: '10-a.sh' }));
    steps['GET review'] = await callsDuring(async () => (page = await get('/containers/new/review')));
    const deployId = /name="deploy_id" value="([0-9a-f-]{36})"/.exec(page)![1]!;
    steps['POST /containers (Deploy)'] = await callsDuring(async () => {
      expect(await post('/containers', { deploy_id: deployId })).toBe(`/containers/${deployId}`);
    });

    // The figures for the record (the integrator's note quotes them).
    console.info(`node calls of one walk-through with ${label}:\n${JSON.stringify(steps, null, 1)}`);
    for (const [step, counts] of Object.entries(steps)) {
      for (const [call, n] of Object.entries(counts)) expect(n, `${step}: ${call}`).toBeLessThanOrEqual(1);
    }
    // The pages that do not depend on the node do not ask it anything.
    for (const step of ['GET template', 'POST template', 'GET packages', 'POST packages', 'GET scripts', 'POST scripts', 'GET review']) {
      expect(steps[step], step).toEqual({});
    }
    // The VMID is checked live at Continue and again at Deploy, once each: the next free one, or whether the typed one is free.
    expect(steps['POST configure']!['GET /cluster/nextid']).toBe(1);
    expect(steps['POST /containers (Deploy)']!['GET /cluster/nextid']).toBe(1);
  });
});

describe('bridges', () => {
  it('offers the node’s bridges as a list and refuses one the node does not have, naming those it has', async () => {
    const b = await browser('bridges');
    await throughTemplate(b);
    const page = await b.get('/containers/new/configure');
    expect(page.text).toMatch(/<select id="f-bridge" name="bridge"[^>]*>\s*<option value="vmbr0" selected>vmbr0<\/option>\s*<option value="vmbr1">vmbr1 — internal \(no ports\)<\/option>\s*<\/select>/);
    expect(page.text).not.toMatch(/<option value="eno1"/);

    const wrong = await b.post('/containers/new/configure', { ...CONFIGURE, bridge: 'vmbr9' });
    expect(wrong.status).toBe(422);
    expect(errorOf(wrong.text, 'bridge')).toBe('Node “sim” has no bridge “vmbr9” (choose vmbr0, vmbr1).');
    const other = await b.post('/containers/new/configure', { ...CONFIGURE, bridge: 'vmbr1' });
    expect(other.status, errorsIn(other.text)).toBe(303);
    expect((await b.get('/containers/new/configure')).text).toContain('<option value="vmbr1" selected>');
  });

  it('POST /containers checks the bridge the same way', async () => {
    const b = await browser('bridges-api');
    const res = await b.post('/containers', { node: 'sim', hostname: 'api-bridge', password: 'correct horse 1', password_confirm: 'correct horse 1', bridge: 'vmbr9' }, { Accept: 'application/json' });
    expect(res.status).toBe(422);
    expect(res.body.fields).toEqual({ bridge: 'Node “sim” has no bridge “vmbr9” (choose vmbr0, vmbr1).' });
  });
});

describe('a hostname a guest on the cluster already has', () => {
  const warning = () => `${occupant.hostname} already exists on sim as CT ${occupant.vmid} — deploy another?`;

  it('is a warning on Configure and Review, not a refusal: Deploy makes the second one', async () => {
    const b = await browser('duplicate');
    await throughTemplate(b);
    const shown = await b.post('/containers/new/configure', { ...CONFIGURE, hostname: 'WEB-2', nav: 'refresh' });
    expect(shown.status).toBe(303);
    const configure = await b.get('/containers/new/configure');
    expect(unescape(configure.text)).toContain('WEB-2 already exists on sim as CT 4711 — deploy another?');

    const review = await toReview(b, { hostname: occupant.hostname });
    const shownOnReview = /<p id="hostname-warning" role="status"[^>]*>([^<]*)</.exec(review)?.[1];
    expect(unescape(shownOnReview ?? '')).toBe(`${warning()} Proxmox allows it: Deploy makes another, or `);
    const deployId = /name="deploy_id" value="([0-9a-f-]{36})"/.exec(review)![1]!;
    const deploy = await b.post('/containers', { deploy_id: deployId });
    expect(deploy.status, errorsIn(deploy.text)).toBe(303);
    expect((await env.deps.repos.containers.findById(deployId))?.hostname).toBe(occupant.hostname);
  });

  it('is checked live beside the Hostname field (the htmx fragment), from the cached guest list', async () => {
    const b = await browser('duplicate-live');
    await throughTemplate(b);
    const page = await b.get('/containers/new/configure');
    expect(page.text).toMatch(/name="hostname"[^>]*hx-get="\/containers\/new\/configure\/hostname" hx-trigger="change" hx-target="#hostname-warning"[^>]*hx-params="node,hostname"/);
    const taken = await b.get('/containers/new/configure/hostname?node=sim&hostname=web-2', { 'HX-Request': 'true' });
    expect(taken.status).toBe(200);
    expect(taken.text.trimStart()).toMatch(/^<div id="hostname-warning"/);
    expect(unescape(taken.text)).toContain(`${warning()} Proxmox allows two guests with one name`);
    for (const query of ['node=sim&hostname=web-3', 'node=sim&hostname=bad_name', 'node=unknown&hostname=web-2', 'node=sim&hostname=']) {
      const quiet = await b.get(`/containers/new/configure/hostname?${query}`, { 'HX-Request': 'true' });
      expect(quiet.status, query).toBe(200);
      expect(quiet.text, query).not.toContain('already exists');
    }
    // A node that cannot be asked keeps quiet here (its fieldset says why), rather than failing the request.
    const dead = await env.deps.repos.nodes.create(
      { name: 'offline', apiUrl: 'https://127.0.0.1:9', tokenId: 'root@pam!x', tlsFingerprint: sim.sim.tlsFingerprint, sshHost: null, sshPort: 22, sshUser: 'root', sshHostKeyFingerprint: null, isSimulator: false },
      (id) => ({ tokenSecretEnc: env.deps.secrets.seal('secret', tokenSecretAad(id)) }),
    );
    const down = await b.get(`/containers/new/configure/hostname?node=${dead.name}&hostname=web-2`, { 'HX-Request': 'true' });
    expect(down.status).toBe(200);
    expect(down.text.trim()).toMatch(/^<div id="hostname-warning"[^>]*>\s*<\/div>$/);
  });

  it('says nothing for a new name', async () => {
    const b = await browser('fresh-name');
    const review = await toReview(b, { hostname: 'web-3' });
    expect(review).not.toContain('hostname-warning');
    expect(review).not.toContain('already exists');
  });
});

describe('POST /containers while the node cannot be reached', () => {
  const SCRIPT_FIELDS: Fields = { template: 'polite-web', node: 'sim', hostname: 'api-1', password: 'correct horse 1', password_confirm: 'correct horse 1' };
  const reached = /^Node sim cannot be reached: the connection was reset at https:\/\/127\.0\.0\.1:\d+\. Try again once it answers\.$/;

  async function whileUnreachable<T>(action: () => Promise<T>): Promise<T> {
    sim.sim.faults.set({ unreachable: true });
    try {
      return await action();
    } finally {
      sim.sim.faults.set({ unreachable: false });
    }
  }

  it('answers 503 with the node’s problem first when nothing else is wrong (JSON and HTML)', async () => {
    const b = await browser('offline-api');
    const json = await whileUnreachable(() => b.post('/containers', SCRIPT_FIELDS, { Accept: 'application/json' }));
    expect(json.status).toBe(503);
    expect(json.body.error).toMatch(reached);
    expect(Object.keys(json.body.fields).sort()).toEqual(['ostemplate', 'storage', 'vmid']);
    expect(json.body.fields.storage).toMatch(/could not be listed; type the storage id/);

    const html = await whileUnreachable(() => b.post('/containers', SCRIPT_FIELDS));
    expect(html.status).toBe(503);
    const problem = /<p id="node-problem"[^>]*>([^<]*)<\/p>/.exec(html.text);
    expect(problem?.[1]).toMatch(reached);
    expect(html.text.indexOf('id="node-problem"')).toBeLessThan(html.text.indexOf('data-field='));
    expect(await env.deps.knex('containers').where({ hostname: 'api-1' }).first()).toBeUndefined();
  });

  it('answers 422 with the node’s problem as the summary when other fields are wrong too', async () => {
    const b = await browser('offline-api-bad');
    const json = await whileUnreachable(() => b.post('/containers', { ...SCRIPT_FIELDS, hostname: 'bad_name' }, { Accept: 'application/json' }));
    expect(json.status).toBe(422);
    expect(json.body.error).toMatch(reached);
    expect(Object.keys(json.body.fields).sort()).toEqual(['hostname', 'ostemplate', 'storage', 'vmid']);
  });

  it('puts the node’s problem first on the Review page of a refused Deploy', async () => {
    const b = await browser('offline-review');
    const review = await toReview(b, { hostname: 'offline-1' });
    const deployId = /name="deploy_id" value="([0-9a-f-]{36})"/.exec(review)![1]!;
    // Redirect-after-POST (the address bar then names the Review step); the Review step shows why, once.
    const [refused, res] = await whileUnreachable(async () => {
      const post = await b.post('/containers', { deploy_id: deployId });
      return [post, await b.get('/containers/new/review')] as const;
    });
    expect(refused.status).toBe(303);
    expect(refused.headers.location).toBe('/containers/new/review');
    expect(res.status).toBe(200);
    expect(/<p id="node-problem"[^>]*>([^<]*)<\/p>/.exec(res.text)?.[1]).toMatch(reached);
    expect(res.text.indexOf('id="node-problem"')).toBeLessThan(res.text.indexOf('id="e-vmid"'));
    expect(await env.deps.repos.containers.findById(deployId)).toBeUndefined();
    // Once the node answers again, the same Deploy goes through.
    const again = await b.post('/containers', { deploy_id: deployId });
    expect(again.status, errorsIn(again.text)).toBe(303);
  });
});
