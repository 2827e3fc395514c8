// The wizard's five steps through the front door: plain form posts (no JavaScript), the htmx variants of the same
// URLs, validation next to each field, and a draft that survives reloads, Back, a second tab and "Start over".
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeRecord } from '../src/db/nodes-repository.ts';
import type { TemplateDefinition } from '../src/domain/templates/template.ts';
import { ProxmoxClient } from '../src/proxmox/api-client.ts';
import { signedInAgent, type SignedInAgent } from './support/session.ts';
import { startTestSimulator } from './support/simulator-fixtures.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';
import { createTestApp } from './support/test-app.ts';
import { tokenSecretAad } from '../src/domain/sealed-secrets.ts';

let env: TestEnv;
let app: ReturnType<typeof createTestApp>;
let sim: Awaited<ReturnType<typeof startTestSimulator>>;
let templateId: number;
let deadNode: NodeRecord;

const DEBIAN = 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst';
const ALPINE = 'local:vztmpl/alpine-3.20-default_20240908_amd64.tar.xz';

const WEB_TEMPLATE: TemplateDefinition = {
  name: 'wiz-web',
  description: 'A web server for wizard tests',
  osTemplate: 'debian-12',
  cores: 2,
  memory: 768,
  swap: 256,
  disk: 6,
  unprivileged: true,
  nesting: true,
  tags: ['web', 'test'],
  scripts: [
    { name: '10-first.sh', position: 1, content: 'echo first\n', enabled: true },
    { name: '20-second.sh', position: 2, content: 'echo second\n', enabled: true },
    { name: '30-optional.sh', position: 3, content: 'echo optional\n', enabled: false },
  ],
  files: [],
  packages: [
    { manager: 'apt', name: 'nginx', version: null },
    { manager: 'apt', name: 'curl', version: null },
    { manager: 'npm', name: 'typescript', version: '5.6.3' },
  ],
};

beforeAll(async () => {
  env = await createTestEnv();
  app = createTestApp(env);
  sim = await startTestSimulator(env.deps);
  const created = await env.deps.repos.templates.createCustom(WEB_TEMPLATE);
  if (created === 'taken') throw new Error('template name taken');
  templateId = created;
  await env.deps.repos.templates.upsertFilesystem({ ...WEB_TEMPLATE, name: 'wiz-broken', scripts: [], packages: [] }, '/nowhere/wiz-broken', 'template.conf:3: TEMPLATE_RAM is not a number');
  // A node nothing listens for: the wizard must say why and still accept typed values.
  deadNode = await env.deps.repos.nodes.create(
    {
      name: 'unreachable', apiUrl: 'https://127.0.0.1:9', tokenId: 'root@pam!x', tlsFingerprint: sim.sim.tlsFingerprint,
      sshHost: null, sshPort: 22, sshUser: 'root', sshHostKeyFingerprint: null, isSimulator: false,
    },
    (id) => ({ tokenSecretEnc: env.deps.secrets.seal('secret', tokenSecretAad(id)) }),
  );
});

afterAll(async () => {
  await sim?.close();
  await env?.close();
});

// --- helpers -------------------------------------------------------------------------------------------------------

type Fields = Record<string, string | string[]>;

/** An urlencoded body with repeated keys as browsers send them (supertest would write scripts[0]=…). */
function encode(fields: Fields): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(fields)) for (const v of Array.isArray(value) ? value : [value]) params.append(key, v);
  return params.toString();
}

interface Browser {
  agent: SignedInAgent['agent'];
  csrf: string;
  get(url: string, headers?: Record<string, string>): Promise<supertest.Response>;
  post(url: string, fields: Fields, headers?: Record<string, string>): Promise<supertest.Response>;
}

/** A signed-in browser with a fresh session (each test its own draft). */
async function browser(): Promise<Browser> {
  const session = await signedInAgent(app, env.deps, { username: 'wizard' });
  const csrf = await session.csrf();
  return {
    agent: session.agent,
    csrf,
    get: (url, headers = {}) => session.agent.get(url).set(headers),
    post: (url, fields, headers = {}) => session.agent.post(url).set(headers).type('form').send(encode({ _csrf: csrf, ...fields })),
  };
}

const errorOf = (html: string, field: string) => new RegExp(`id="e-${field}" class="field-error">([^<]*)<`).exec(html)?.[1];
const inputValue = (html: string, name: string) => new RegExp(`name="${name}" type="[a-z]+" value="([^"]*)"`).exec(html)?.[1];
const selected = (html: string, name: string) => {
  const select = new RegExp(`<select[^>]*name="${name}"[\\s\\S]*?</select>`).exec(html)?.[0] ?? '';
  return /<option value="([^"]*)" selected>/.exec(select)?.[1];
};
const options = (html: string, name: string) => {
  const select = new RegExp(`<select[^>]*name="${name}"[\\s\\S]*?</select>`).exec(html)?.[0] ?? '';
  return [...select.matchAll(/<option value="([^"]*)"/g)].map((m) => m[1]);
};

const VALID_CONFIGURE: Fields = {
  node: 'sim',
  ostemplate: DEBIAN,
  storage: 'local-lvm',
  vmid: '',
  hostname: 'web-1',
  password: 'correct horse 1',
  password_confirm: 'correct horse 1',
  ssh_public_key: '',
  cores: '2',
  memory: '768',
  swap: '256',
  disk: '6',
  bridge: 'vmbr0',
  ip_mode: 'dhcp',
  ip: '',
  gateway: '',
  nameserver: '',
  unprivileged: ['0', '1'],
  nesting: ['0', '1'],
  destroy_on_failure: '0',
  tags: 'web; test',
};

async function throughTemplate(b: Browser, template = String(templateId)) {
  const res = await b.post('/containers/new/template', { template });
  expect(res.status).toBe(303);
  expect(res.headers.location).toBe('/containers/new/configure');
}

async function throughConfigure(b: Browser, fields: Fields = {}) {
  await throughTemplate(b);
  const res = await b.post('/containers/new/configure', { ...VALID_CONFIGURE, ...fields });
  expect(res.status, errorsIn(res.text)).toBe(303);
  expect(res.headers.location).toBe('/containers/new/packages');
}

const errorsIn = (html: string) => [...html.matchAll(/id="e-([^"]+)" class="field-error">([^<]*)</g)].map((m) => `${m[1]}: ${m[2]}`).join('\n');

// --- tests ---------------------------------------------------------------------------------------------------------

describe('starting the wizard', () => {
  it('redirects /containers/new to the first step and renders it with the stepper and htmx wiring', async () => {
    const b = await browser();
    const start = await b.get('/containers/new');
    expect(start.status).toBe(303);
    expect(start.headers.location).toBe('/containers/new/template');
    const page = await b.get('/containers/new/template');
    expect(page.status).toBe(200);
    expect(page.text).toMatch(/<div id="wizard" hx-boost="true" hx-target="#wizard" hx-select="#wizard" hx-swap="outerHTML[^"]*">/);
    expect(page.text).toContain('<span aria-current="step"><span class="wizard-step-number">1</span> Template</span>');
    expect(page.text).toMatch(/<span aria-disabled="true"><span class="wizard-step-number">5<\/span> Review<\/span>/);
    expect(page.text).toContain(`name="template" value="${templateId}"`);
    expect(page.text).toContain('name="template" value=""');
    // A template that does not load is shown but cannot be chosen.
    expect(page.text).toMatch(/name="template" value="\d+" class="mt-1" disabled>\s*<span class="font-medium">wiz-broken/);
  });

  it("opens with a template chosen when a template page's Deploy link names it", async () => {
    const b = await browser();
    const start = await b.get(`/containers/new?template=${templateId}`);
    expect(start.status).toBe(303);
    expect(start.headers.location).toBe('/containers/new/configure');
    const page = await b.get('/containers/new/configure');
    expect(page.status).toBe(200);
    const back = await b.get('/containers/new/template');
    expect(back.text).toContain(`name="template" value="${templateId}" class="mt-1" checked`);
    // One that does not exist is asked about on the first step, as if it had been chosen there.
    const unknown = await (await browser()).get('/containers/new?template=999999');
    expect(unknown.status).toBe(422);
    expect(errorOf(unknown.text, 'template')).toMatch(/There is no template “999999”/);
  });

  it("does not let a link replace a draft in progress: another template's Deploy link asks first, and only the form starts over", async () => {
    const other = await env.deps.repos.templates.createCustom({ ...WEB_TEMPLATE, name: 'wiz-other', scripts: [] });
    if (other === 'taken') throw new Error('template name taken');
    const b = await browser();
    await throughConfigure(b, { hostname: 'half-done' });

    // A link to /containers/new?template=… (another site's, too) shows the question; the draft is as it was.
    const asked = await b.get(`/containers/new?template=${other}`);
    expect(asked.status).toBe(200);
    expect(asked.text).toContain('Start over from template “wiz-other”?');
    expect(asked.text).toMatch(/Your unfinished draft for <strong>half-done<\/strong> will be replaced/);
    expect(asked.text).toContain('<form method="post" action="/containers/new">');
    expect(asked.text).toContain(`name="template" value="${other}"`);
    expect(asked.text).toContain('href="/containers/new/packages"');
    expect(inputValue((await b.get('/containers/new/configure')).text, 'hostname')).toBe('half-done');
    expect((await b.get('/containers/new/packages')).status).toBe(200);
    // Its own template's link changes nothing either and goes on where the draft stands.
    expect((await b.get(`/containers/new?template=${templateId}`)).headers.location).toBe('/containers/new/configure');
    expect((await b.get('/containers/new/packages')).status).toBe(200);

    // The form needs the session's CSRF token: a cross-site post cannot answer it.
    const forged = await b.agent.post('/containers/new').type('form').send({ template: String(other) });
    expect(forged.status).toBe(403);
    expect((await b.get('/containers/new/packages')).status).toBe(200);
    // Answered: the draft starts over from the other template.
    const confirmed = await b.post('/containers/new', { template: String(other) });
    expect(confirmed.status).toBe(303);
    expect(confirmed.headers.location).toBe('/containers/new/configure');
    expect((await b.get('/containers/new/template')).text).toContain(`name="template" value="${other}" class="mt-1" checked`);
    expect((await b.get('/containers/new/packages')).headers.location).toBe('/containers/new/configure');
    expect(inputValue((await b.get('/containers/new/configure')).text, 'hostname')).toBe('wiz-other');
  });

  it('needs a session', async () => {
    const res = await supertest(app).get('/containers/new/template');
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/login');
  });

  it('does not open a later step before the earlier ones are done', async () => {
    const b = await browser();
    for (const step of ['configure', 'packages', 'scripts', 'review']) {
      const res = await b.get(`/containers/new/${step}`);
      expect(res.status).toBe(303);
      expect(res.headers.location).toBe('/containers/new/template');
    }
    expect((await b.get('/containers/new/nonsense')).status).toBe(404);
  });
});

describe('template step', () => {
  it('asks for a choice (422 next to the field), refuses unknown and broken templates, accepts scratch', async () => {
    const b = await browser();
    const none = await b.post('/containers/new/template', {});
    expect(none.status).toBe(422);
    expect(errorOf(none.text, 'template')).toBe('Choose a template, or start from scratch.');
    expect(none.text).toMatch(/name="template" value="\d+" class="mt-1" aria-invalid="true">/);

    const unknown = await b.post('/containers/new/template', { template: '999999' });
    expect(unknown.status).toBe(422);
    expect(errorOf(unknown.text, 'template')).toMatch(/There is no template “999999”/);

    const brokenId = (await env.deps.repos.templates.findByName('wiz-broken'))!.id;
    const broken = await b.post('/containers/new/template', { template: String(brokenId) });
    expect(broken.status).toBe(422);
    expect(errorOf(broken.text, 'template')).toMatch(/cannot be deployed until it loads: template.conf:3/);

    const scratch = await b.post('/containers/new/template', { template: '' });
    expect(scratch.status).toBe(303);
    expect(scratch.headers.location).toBe('/containers/new/configure');
    expect((await b.get('/containers/new/configure')).text).toContain('New container from scratch');
  });
});

describe('configure step', () => {
  it('pre-fills from the template and the node: OS template matched, rootdir storages only, next VMID', async () => {
    const b = await browser();
    await throughTemplate(b);
    const page = await b.get('/containers/new/configure');
    expect(page.status).toBe(200);
    expect(selected(page.text, 'node')).toBe('sim');
    expect(options(page.text, 'node')).toEqual(['sim', 'unreachable']);
    expect(options(page.text, 'ostemplate')).toEqual([
      'local:vztmpl/alpine-3.20-default_20240908_amd64.tar.xz',
      DEBIAN,
      'local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst',
    ]);
    expect(selected(page.text, 'ostemplate')).toBe(DEBIAN);
    // `local` holds templates and backups, not container disks.
    expect(options(page.text, 'storage')).toEqual(['local-lvm']);
    const client = new ProxmoxClient({ apiUrl: sim.sim.apiUrl, tokenId: sim.sim.tokenId, tokenSecret: sim.sim.tokenSecret, tlsFingerprint: sim.sim.tlsFingerprint });
    const next = await client.nextId();
    client.close();
    expect(inputValue(page.text, 'vmid')).toBe(String(next));
    expect(inputValue(page.text, 'hostname')).toBe('wiz-web');
    expect(inputValue(page.text, 'cores')).toBe('2');
    expect(inputValue(page.text, 'memory')).toBe('768');
    expect(inputValue(page.text, 'tags')).toBe('web; test');
    // The node's bridges (GET /nodes/{node}/network?type=any_bridge), vmbr0 preselected.
    expect(options(page.text, 'bridge')).toEqual(['vmbr0', 'vmbr1']);
    expect(selected(page.text, 'bridge')).toBe('vmbr0');
    expect(page.text).toMatch(/name="nesting" value="1" class="mt-1" checked>/);
    // The node select refreshes the dependent fieldset in place, sending no secrets.
    expect(page.text).toMatch(/hx-get="\/containers\/new\/configure\/choices" hx-trigger="change" hx-target="#node-choices"/);
    expect(page.text).toContain('hx-params="node,ostemplate,storage,bridge,vmid,vmid_suggested"');
    expect(page.text).toContain('name="nav" value="refresh"');
  });

  it.each<[string, Fields, string, string | RegExp]>([
    ['empty hostname', { hostname: '' }, 'hostname', 'Give the container a hostname, e.g. web-1.'],
    ['hostname with a dot', { hostname: 'web.example' }, 'hostname', /letters, digits and hyphens only/],
    ['hostname with $()', { hostname: 'a$(reboot)' }, 'hostname', /letters, digits and hyphens only/],
    ['hostname with backticks and newline', { hostname: '`id`\nx' }, 'hostname', /letters, digits and hyphens only/],
    ['hostname with NUL', { hostname: 'a\0b' }, 'hostname', /letters, digits and hyphens only/],
    ['unicode hostname', { hostname: 'münchen' }, 'hostname', /letters, digits and hyphens only/],
    ['64-character hostname', { hostname: 'a'.repeat(64) }, 'hostname', /63 characters/],
    ['VMID below 100', { vmid: '99' }, 'vmid', 'The VMID must be a whole number from 100 to 999999999.'],
    ['huge VMID', { vmid: '9'.repeat(5000) }, 'vmid', /from 100 to 999999999/],
    ['short password', { password: 'short', password_confirm: 'short' }, 'password', 'Use at least 8 characters.'],
    ['unconfirmed password', { password_confirm: 'something else' }, 'password_confirm', 'The two passwords do not match.'],
    ['bad SSH key', { ssh_public_key: 'ssh-ed25519 not-base64!' }, 'ssh_public_key', /not an OpenSSH public key/],
    ['too little memory', { memory: '15' }, 'memory', 'Memory (MiB) must be a whole number from 16 to 1048576.'],
    ['huge memory', { memory: '1'.repeat(100_000) }, 'memory', /from 16 to 1048576/],
    ['negative swap', { swap: '-1' }, 'swap', /Swap \(MiB\) must be a whole number from 0/],
    ['zero disk', { disk: '0' }, 'disk', /Disk \(GiB\) must be a whole number from 1 to 65536/],
    ['too many cores', { cores: '8193' }, 'cores', /Cores must be a whole number from 1 to 8192/],
    ['static without address', { ip_mode: 'static', ip: '' }, 'ip', /Type the static address/],
    ['static address without prefix', { ip_mode: 'static', ip: '10.0.0.5' }, 'ip', /with its prefix length/],
    ['prefix /7', { ip_mode: 'static', ip: '10.0.0.5/7' }, 'ip', 'The prefix length must be from /8 to /32.'],
    ['gateway outside the subnet', { ip_mode: 'static', ip: '10.0.0.5/24', gateway: '10.0.1.1' }, 'gateway', 'The gateway must be in the container’s subnet 10.0.0.0/24.'],
    ['nameserver not an IPv4', { nameserver: 'dns.example' }, 'nameserver', /one IPv4 address/],
    ['bridge with a semicolon', { bridge: 'vmbr0;reboot' }, 'bridge', /bridge name such as vmbr0/],
    ['tag with quotes', { tags: 'ok "quoted"' }, 'tags', /“"quoted"” is not a valid tag/],
    ['OS template the node lacks', { ostemplate: 'local:vztmpl/debian-13-standard_13.0-1_amd64.tar.zst' }, 'ostemplate', /has no OS template local:vztmpl\/debian-13/],
    ['an OS whose package manager cannot install the template’s apt packages', { ostemplate: ALPINE }, 'ostemplate', 'Template “wiz-web” installs packages with apt; alpine-3.20 uses apk. Choose a Debian or Ubuntu OS template.'],
    ['storage without rootdir', { storage: 'local' }, 'storage', 'Storage “local” does not hold container disks on node “sim” (choose local-lvm).'],
    ['nesting on a privileged container', { unprivileged: '0' }, 'nesting', /Nesting needs an unprivileged container/],
  ])('refuses %s with a message next to the field, keeping the other values', async (_label, fields, field, message) => {
    const b = await browser();
    await throughTemplate(b);
    const res = await b.post('/containers/new/configure', { ...VALID_CONFIGURE, ...fields });
    expect(res.status).toBe(422);
    expect(res.text).toContain('Some fields need attention; each message is next to its field.');
    const shown = errorOf(res.text, field);
    expect(shown, errorsIn(res.text)).toBeDefined();
    expect(shown!.replace(/&quot;/g, '"').replace(/&#39;/g, "'")).toMatch(typeof message === 'string' ? new RegExp(`^${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) : message);
    expect(res.text).toMatch(new RegExp(`aria-invalid="true" aria-describedby="e-${field}"`));
    // Values come back as typed (escaped), except the password, which is never echoed.
    if (!('hostname' in fields)) expect(inputValue(res.text, 'hostname')).toBe('web-1');
    expect(res.text).not.toContain('correct horse 1');
    // The draft keeps the rejected input too, so a reload shows it, and the step is not done.
    const reload = await b.get('/containers/new');
    expect(reload.headers.location).toBe('/containers/new/configure');
  });

  it('escapes hostile values it shows again', async () => {
    const b = await browser();
    await throughTemplate(b);
    const res = await b.post('/containers/new/configure', { ...VALID_CONFIGURE, hostname: '"><script>alert(1)</script>', tags: '<b>x</b>' });
    expect(res.status).toBe(422);
    expect(res.text).not.toContain('<script>alert(1)');
    expect(inputValue(res.text, 'hostname')).toBe('&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('reports a VMID that exists on the cluster as taken', async () => {
    const client = new ProxmoxClient({ apiUrl: sim.sim.apiUrl, tokenId: sim.sim.tokenId, tokenSecret: sim.sim.tokenSecret, tlsFingerprint: sim.sim.tlsFingerprint });
    await client.createLxc('sim', { vmid: 4242, ostemplate: DEBIAN, hostname: 'occupant', rootfs: { storage: 'local-lvm', sizeGiB: 1 } });
    client.close();
    const b = await browser();
    await throughTemplate(b);
    const res = await b.post('/containers/new/configure', { ...VALID_CONFIGURE, vmid: '4242' });
    expect(res.status).toBe(422);
    expect(errorOf(res.text, 'vmid')).toBe('VMID 4242 is taken on this cluster. Choose another, or leave it empty for the next free one.');
  });

  it('says why an unreachable node offers nothing, and accepts values typed by hand', async () => {
    const b = await browser();
    await throughTemplate(b);
    const refresh = await b.post('/containers/new/configure', { ...VALID_CONFIGURE, node: 'unreachable', nav: 'refresh' });
    expect(refresh.status).toBe(303);
    expect(refresh.headers.location).toBe('/containers/new/configure');
    const page = await b.get('/containers/new/configure');
    expect(selected(page.text, 'node')).toBe('unreachable');
    expect(page.text).toMatch(/Node unreachable cannot be reached: connection refused \(is pveproxy running and the port right\?\) at https:\/\/127\.0\.0\.1:9\./);
    expect(page.text).toContain('You can still type the OS template, storage, bridge and VMID by hand');
    // Free text instead of lists.
    expect(page.text).toMatch(/<input id="f-ostemplate" name="ostemplate" type="text"/);
    expect(page.text).toMatch(/<input id="f-storage" name="storage" type="text"/);
    expect(page.text).toMatch(/<input id="f-bridge" name="bridge" type="text" value="vmbr0"/);

    const missing = await b.post('/containers/new/configure', { ...VALID_CONFIGURE, node: 'unreachable', ostemplate: '', storage: '', vmid: '' });
    expect(missing.status).toBe(422);
    expect(errorOf(missing.text, 'vmid')).toMatch(/could not be asked for the next free VMID; type one/);
    expect(errorOf(missing.text, 'ostemplate')).toMatch(/could not be listed; type the volume id/);
    expect(errorOf(missing.text, 'storage')).toMatch(/could not be listed; type the storage id/);

    const typed = await b.post('/containers/new/configure', { ...VALID_CONFIGURE, node: String(deadNode.id), vmid: '777' });
    expect(typed.status, errorsIn(typed.text)).toBe(303);
    expect(typed.headers.location).toBe('/containers/new/packages');
  });

  it('serves the node-dependent fieldset alone for the htmx refresh', async () => {
    const b = await browser();
    await throughTemplate(b);
    const live = await b.get(`/containers/new/configure/choices?node=sim&ostemplate=${encodeURIComponent('local:vztmpl/alpine-3.20-default_20240908_amd64.tar.xz')}&storage=&vmid=555`, { 'HX-Request': 'true' });
    expect(live.status).toBe(200);
    expect(live.text.trimStart()).toMatch(/^<div id="node-choices"/);
    expect(live.text).not.toContain('<html');
    expect(selected(live.text, 'ostemplate')).toBe('local:vztmpl/alpine-3.20-default_20240908_amd64.tar.xz');
    expect(selected(live.text, 'storage')).toBe('local-lvm');
    expect(inputValue(live.text, 'vmid')).toBe('555');

    const dead = await b.get('/containers/new/configure/choices?node=unreachable', { 'HX-Request': 'true' });
    expect(dead.text).toContain('Node unreachable cannot be reached');
    const unknown = await b.get('/containers/new/configure/choices?node=nope', { 'HX-Request': 'true' });
    expect(unknown.text).toContain('There is no node “nope”');
  });

  it('keeps the password sealed: never shown, never in the session store in clear, kept when left empty', async () => {
    const b = await browser();
    await throughConfigure(b, { password: 'Tr0ub4dor&3 "quoted" $(id)', password_confirm: 'Tr0ub4dor&3 "quoted" $(id)' });
    const page = await b.get('/containers/new/configure');
    expect(page.text).toContain('A password is set. Leave both fields empty to keep it.');
    expect(page.text).not.toContain('Tr0ub4dor');
    const sessions = await env.deps.knex('sessions').select('sess');
    expect(JSON.stringify(sessions)).toContain('wizardDraft');
    expect(JSON.stringify(sessions)).not.toContain('Tr0ub4dor');
    // Saving again without typing it keeps it.
    const again = await b.post('/containers/new/configure', { ...VALID_CONFIGURE, password: '', password_confirm: '' });
    expect(again.status, errorsIn(again.text)).toBe(303);
  });

  it('Back and the stepper save what was typed, even when it is not valid yet', async () => {
    const b = await browser();
    await throughTemplate(b);
    const back = await b.post('/containers/new/configure', { ...VALID_CONFIGURE, hostname: 'half typed!', memory: '99999999', nav: 'back' });
    expect(back.status).toBe(303);
    expect(back.headers.location).toBe('/containers/new/template');
    const page = await b.get('/containers/new/configure');
    expect(inputValue(page.text, 'hostname')).toBe('half typed!');
    expect(inputValue(page.text, 'memory')).toBe('99999999');
    // The stepper cannot jump past a step that is not done.
    const jump = await b.post('/containers/new/configure', { ...VALID_CONFIGURE, hostname: 'still bad!', nav: 'goto:review' });
    expect(jump.headers.location).toBe('/containers/new/configure');
  });
});

describe('packages and scripts steps', () => {
  it('groups packages by manager, each group on/off, and validates extra apt packages', async () => {
    const b = await browser();
    await throughConfigure(b);
    const page = await b.get('/containers/new/packages');
    expect(page.text).toMatch(/name="package_groups" value="apt" checked>/);
    expect(page.text).toMatch(/name="package_groups" value="npm" checked>/);
    expect(page.text).not.toContain('value="pip"');
    expect(page.text).toContain('typescript@5.6.3');
    // No package set exists here: the step says where they are made, rather than only that the template names none.
    expect(page.text).toContain('No package sets exist yet');
    expect(page.text).toContain('<a href="/package-sets" class="text-sky-700 underline">Package sets</a>');
    expect(page.text).not.toContain('This template names no package sets.');

    const bad = await b.post('/containers/new/packages', { package_groups: 'apt', extra_packages: 'htop $(reboot)' });
    expect(bad.status).toBe(422);
    expect(errorOf(bad.text, 'extra_packages')).toBe('“$(reboot)” is not a Debian package name: use lowercase letters, digits and + . - (e.g. curl or nginx=1.22.1-9).');
    // The choice made is kept in the re-rendered form.
    expect(bad.text).toMatch(/name="package_groups" value="npm">/);
    expect(bad.text).toContain('htop $(reboot)</textarea>');

    const ok = await b.post('/containers/new/packages', { package_groups: 'apt', extra_packages: 'htop\njq' });
    expect(ok.status).toBe(303);
    expect(ok.headers.location).toBe('/containers/new/scripts');
  });

  it('an OS without apt is accepted once the apt group is off, and then apt cannot be switched back on', async () => {
    const b = await browser();
    await throughConfigure(b);
    expect((await b.post('/containers/new/packages', { package_groups: 'npm', extra_packages: '' })).status).toBe(303);
    const alpine = await b.post('/containers/new/configure', { ...VALID_CONFIGURE, ostemplate: ALPINE });
    expect(alpine.status, errorsIn(alpine.text)).toBe(303);

    const aptAgain = await b.post('/containers/new/packages', { package_groups: ['apt', 'npm'], extra_packages: '' });
    expect(aptAgain.status).toBe(422);
    expect(errorOf(aptAgain.text, 'package_groups')).toBe(
      'Template “wiz-web” installs packages with apt; alpine-3.20 uses apk. Switch the apt group off, or choose a Debian or Ubuntu OS template.',
    );
  });

  it('reorders scripts with plain posts (no JS) and with htmx, keeping the ticks', async () => {
    const b = await browser();
    await throughConfigure(b);
    await b.post('/containers/new/packages', { package_groups: ['apt', 'npm'], extra_packages: '' });
    const order = (html: string) => [...html.matchAll(/name="order" value="([^"]+)"/g)].map((m) => m[1]);
    const page = await b.get('/containers/new/scripts');
    expect(order(page.text)).toEqual(['10-first.sh', '20-second.sh', '30-optional.sh']);
    expect(page.text).toMatch(/name="scripts" value="10-first.sh" checked>/);
    expect(page.text).toMatch(/name="scripts" value="30-optional.sh">/);
    expect(page.text).toMatch(/id="move-up-10-first.sh" name="move" value="up:10-first.sh"[^>]*disabled>/);

    // No JS: the button posts the form and the page comes back (post/redirect/get).
    const current = ['10-first.sh', '20-second.sh', '30-optional.sh'];
    const moved = await b.post('/containers/new/scripts', { order: current, scripts: ['10-first.sh', '20-second.sh', '30-optional.sh'], move: 'up:30-optional.sh' });
    expect(moved.status).toBe(303);
    expect(moved.headers.location).toBe('/containers/new/scripts');
    const after = await b.get('/containers/new/scripts');
    expect(order(after.text)).toEqual(['10-first.sh', '30-optional.sh', '20-second.sh']);
    expect(after.text).toMatch(/name="scripts" value="30-optional.sh" checked>/);

    // htmx: the same button carries hx-post with the list as target; the (followed) answer contains the list.
    expect(after.text).toMatch(/value="down:10-first.sh" class="btn-secondary" aria-label="Move 10-first.sh down" hx-post="\/containers\/new\/scripts" hx-target="#script-list" hx-select="#script-list"/);
    const htmx = await b.post('/containers/new/scripts', { order: order(after.text) as string[], scripts: ['30-optional.sh', '20-second.sh'], move: 'down:10-first.sh' }, { 'HX-Request': 'true' });
    expect(htmx.status).toBe(303);
    const swapped = await b.get(htmx.headers.location!, { 'HX-Request': 'true' });
    expect(swapped.text).toContain('<ol id="script-list"');
    expect(order(swapped.text)).toEqual(['30-optional.sh', '10-first.sh', '20-second.sh']);
    expect(swapped.text).toMatch(/name="scripts" value="10-first.sh">/);

    // A name that is not the template's is ignored; none can go missing.
    const tampered = await b.post('/containers/new/scripts', { order: ['nope.sh', '20-second.sh'], scripts: ['nope.sh', '20-second.sh'], nav: 'next' });
    expect(tampered.status).toBe(303);
    expect(tampered.headers.location).toBe('/containers/new/review');
    const review = await b.get('/containers/new/review');
    expect(review.text).toMatch(/<ol class="list-decimal[^"]*"><li>20-second.sh<\/li><\/ol>/);
    expect(review.text).toContain('Skipped: 30-optional.sh, 10-first.sh');
  });
});

describe('review and the draft', () => {
  async function throughScripts(b: Browser) {
    await throughConfigure(b, { ssh_public_key: '', ip_mode: 'static', ip: '192.168.7.20/24', gateway: '192.168.7.1', nameserver: '1.1.1.1' });
    expect((await b.post('/containers/new/packages', { package_groups: 'npm', extra_packages: 'jq' })).status).toBe(303);
    const scripts = await b.post('/containers/new/scripts', { order: ['20-second.sh', '10-first.sh', '30-optional.sh'], scripts: ['20-second.sh', '10-first.sh'] });
    expect(scripts.status).toBe(303);
    expect(scripts.headers.location).toBe('/containers/new/review');
  }

  it('shows everything on one page, the password only as “set”, and a Deploy form with the deploy id', async () => {
    const b = await browser();
    await throughScripts(b);
    const review = await b.get('/containers/new/review');
    expect(review.status).toBe(200);
    const text = review.text.replace(/\s+/g, ' ');
    expect(text).toContain('<dt>Template</dt><dd>wiz-web</dd>');
    expect(text).toContain('<dt>Node</dt><dd>sim</dd>');
    expect(text).toContain('debian-12-standard_12.7-1_amd64.tar.zst');
    expect(text).toContain('<dt>Hostname</dt><dd>web-1</dd>');
    expect(text).toContain('<dt>Root password</dt><dd>set</dd>');
    expect(text).toContain('192.168.7.20/24 on vmbr0 via 192.168.7.1 · DNS 1.1.1.1');
    expect(text).toContain('<span class="font-medium">npm:</span> <span class="font-mono text-xs">typescript@5.6.3</span>');
    // Resolved per manager (issue 20): the template's apt group is off, so apt holds only the extra package.
    expect(text).toContain('<span class="font-medium">apt:</span> <span class="font-mono text-xs">jq</span>');
    expect(text).toContain('From template “wiz-web”, the extra packages.');
    expect(text).toMatch(/<li>20-second.sh<\/li><li>10-first.sh<\/li><\/ol>/);
    expect(review.text).not.toContain('correct horse 1');
    expect(review.text).toMatch(/<form method="post" action="\/containers"[^>]*>/);
    const draft = /name="deploy_id" value="([0-9a-f-]{36})"/.exec(review.text);
    expect(draft).not.toBeNull();
    // Every step is done: the stepper links back to each.
    for (const step of ['template', 'configure', 'packages', 'scripts']) expect(review.text).toContain(`href="/containers/new/${step}"`);
  });

  it('resumes after a reload and in a second tab, and keeps everything when going back', async () => {
    const b = await browser();
    await throughScripts(b);
    // A reload of the entry point lands on Review; a new tab (same cookie, new connection) too.
    expect((await b.get('/containers/new')).headers.location).toBe('/containers/new/review');
    const cookie = (await b.agent.get('/containers/new/review')).request.cookies;
    const tab = await supertest(app).get('/containers/new').set('Cookie', cookie);
    expect(tab.headers.location).toBe('/containers/new/review');
    const configure = await supertest(app).get('/containers/new/configure').set('Cookie', cookie);
    expect(inputValue(configure.text, 'ip')).toBe('192.168.7.20/24');
    expect(configure.text).toMatch(/name="ip_mode" value="static" checked>/);
    // Going back through the stepper from Packages saves and lands where asked.
    const goto = await b.post('/containers/new/packages', { package_groups: 'npm', extra_packages: 'jq', nav: 'goto:template' });
    expect(goto.headers.location).toBe('/containers/new/template');
    const template = await b.get('/containers/new/template');
    expect(template.text).toMatch(new RegExp(`name="template" value="${templateId}" class="mt-1" checked>`));
    expect((await b.get('/containers/new')).headers.location).toBe('/containers/new/review');
  });

  it('choosing another template brings its defaults and re-opens the later steps', async () => {
    const b = await browser();
    await throughScripts(b);
    const scratch = await b.post('/containers/new/template', { template: '' });
    expect(scratch.headers.location).toBe('/containers/new/configure');
    expect((await b.get('/containers/new')).headers.location).toBe('/containers/new/configure');
    const page = await b.get('/containers/new/configure');
    expect(inputValue(page.text, 'hostname')).toBe('web-1');
    expect(inputValue(page.text, 'memory')).toBe('512');
    expect(page.text).toContain('A password is set.');
  });

  it('“Start over” discards the draft', async () => {
    const b = await browser();
    await throughScripts(b);
    const reset = await b.post('/containers/new/reset', {});
    expect(reset.status).toBe(303);
    expect((await b.get('/containers/new')).headers.location).toBe('/containers/new/template');
    expect((await b.get('/containers/new/configure')).headers.location).toBe('/containers/new/template');
  });

  it('htmx requests get the same pages (the client selects #wizard) and 422 answers keep the form', async () => {
    const b = await browser();
    const boosted = { 'HX-Request': 'true', 'HX-Boosted': 'true' };
    const res = await b.post('/containers/new/template', {}, boosted);
    expect(res.status).toBe(422);
    expect(res.text).toContain('<div id="wizard"');
    const ok = await b.post('/containers/new/template', { template: String(templateId) }, boosted);
    expect(ok.status).toBe(303);
    expect(ok.headers.location).toBe('/containers/new/configure');
  });
});
