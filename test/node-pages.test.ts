// The Nodes pages through the front door: create, test and edit a connection against the simulator, the
// trust-on-first-use fingerprint step, validation of hostile input, removal, and every error branch of
// "Test connection".
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import supertest from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { proxmoxClientFor } from '../src/domain/nodes/node-access.ts';
import { FINGERPRINT_FAILED } from '../src/domain/nodes/node-management.ts';
import { registerSimulatorNode } from '../src/domain/nodes/simulator-node.ts';
import { startSimulator, type SimulatorHandle } from '../src/simulator/index.ts';
import { insertContainer, recorderFor } from './support/fixtures.ts';
import { ensureUser } from './support/http-session.ts';
import { signedInAgent, type SignedInAgent } from './support/session.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';
import { generateEd25519KeyPair, publicKeyLine } from '../src/lib/ssh-keys.ts';
import { createTestApp } from './support/test-app.ts';
import { sshKeyAad, tokenSecretAad } from '../src/domain/sealed-secrets.ts';

let env: TestEnv;
let app: ReturnType<typeof createTestApp>;
let session: SignedInAgent;
let csrf: string;
let sim: SimulatorHandle;
let simDir: string;
let closedPort: number;

beforeAll(async () => {
  env = await createTestEnv();
  app = createTestApp(env, { perAccount: 5 });
  simDir = await mkdtemp(path.join(tmpdir(), 'launchpad-nodes-'));
  [session, sim, closedPort] = await Promise.all([
    signedInAgent(app, env.deps),
    startSimulator({ dataDir: simDir, speed: 50, authDelayMs: 0, nodeName: 'pve1' }),
    freePort(),
  ]);
  csrf = await session.csrf('/nodes');
});
afterAll(async () => {
  await sim?.close();
  await env?.close();
  if (simDir) await rm(simDir, { recursive: true, force: true });
});

/** A port nothing listens on: bound once, then released. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** What a person would type for the simulated node, fingerprints copied from it. */
const simForm = (overrides: Record<string, string> = {}): Record<string, string> => ({
  _csrf: csrf,
  name: 'pve1',
  api_url: sim.apiUrl,
  token_id: sim.tokenId,
  token_secret: sim.tokenSecret,
  tls_fingerprint: sim.tlsFingerprint,
  ssh_host: sim.ssh.host,
  ssh_port: String(sim.ssh.port),
  ssh_user: sim.ssh.user,
  ssh_private_key: sim.ssh.privateKey,
  ssh_host_key_fingerprint: sim.ssh.hostKeyFingerprint,
  ...overrides,
});

const uniqueName = (prefix: string) => `${prefix}-${randomUUID().slice(0, 6)}`;
const fieldError = (html: string, name: string) => new RegExp(`<p id="e-${name}" class="field-error">([^<]*)</p>`).exec(html)?.[1];
const inputValue = (html: string, name: string) => new RegExp(`<input id="f-${name}" name="${name}" type="[a-z]+" value="([^"]*)"`).exec(html)?.[1];

async function createNode(form: Record<string, string>): Promise<number> {
  const res = await session.agent.post('/nodes').type('form').send(form);
  if (res.status !== 303) throw new Error(`POST /nodes answered ${res.status}: ${Object.entries(form).map(([k]) => `${k}=${fieldError(res.text, k) ?? ''}`).filter((s) => !s.endsWith('=')).join('; ')}`);
  const id = /^\/nodes\/(\d+)\/edit$/.exec(res.headers.location ?? '')?.[1];
  if (!id) throw new Error(`unexpected redirect ${res.headers.location}`);
  return Number(id);
}

/** Runs "Test connection" the way htmx does and returns the swapped fragment. */
async function testConnection(id: number): Promise<string> {
  const res = await session.agent.post(`/nodes/${id}/test`).set('HX-Request', 'true').set('X-CSRF-Token', csrf).expect(200);
  expect(res.text.startsWith('<div id="test-result"')).toBe(true);
  expect(res.text).not.toContain('<html');
  return res.text;
}

const problems = (html: string) => [...html.matchAll(/data-problem="([a-z-]+)"/g)].map((m) => m[1]);

describe('the node list', () => {
  it('needs a session', async () => {
    const page = await supertest(app).get('/nodes');
    expect(page.status).toBe(303);
    expect(page.headers.location).toBe('/login');
  });

  it('shows each node with its API URL, a Simulator badge, whether fingerprints are pinned, and its containers', async () => {
    const simulated = await registerSimulatorNode(env.deps, { ...sim, nodeName: uniqueName('simlist') });
    const unpinnedId = await createNode(simForm({ name: uniqueName('unpinned'), tls_fingerprint: '', ssh_host_key_fingerprint: '' }));
    const owner = await ensureUser(env.deps, 'listowner', 'listowner-password');
    await insertContainer(env.deps, owner.id, simulated.id);
    await insertContainer(env.deps, owner.id, simulated.id);

    const res = await session.agent.get('/nodes').expect(200);
    const row = (id: number) => new RegExp(`<tr id="node-${id}">([\\s\\S]*?)</tr>`).exec(res.text)?.[1] ?? '';
    expect(row(simulated.id)).toContain(simulated.name);
    expect(row(simulated.id)).toContain('>Simulator</span>');
    expect(row(simulated.id)).toContain(sim.apiUrl);
    expect(row(simulated.id)).toMatch(/>yes<\/span>/);
    expect(row(simulated.id)).toMatch(/<td class="px-4 py-2 tabular-nums[^"]*" data-label="Containers">2<\/td>/);
    expect(row(simulated.id)).toContain('not tested');
    // …and where to test it: the node's page, whose first panel is "Test connection".
    expect(row(simulated.id)).toContain(`<a class="text-sky-700 hover:underline" href="/nodes/${simulated.id}/edit">Test it…</a>`);
    expect(row(unpinnedId)).not.toContain('Simulator');
    expect(row(unpinnedId)).toMatch(/>no<\/span>/);
    expect(res.text).toContain('aria-current="page"');
  });
});

describe('create, test and edit against the simulator', () => {
  let id: number;

  it('offers an empty form where both secrets are required', async () => {
    const res = await session.agent.get('/nodes/new').expect(200);
    expect(res.text).toMatch(/<input id="f-token_secret" name="token_secret" type="password" value=""[^>]*required/);
    expect(res.text).toMatch(/<textarea id="f-ssh_private_key"[^>]*required/);
    expect(res.text).toContain('/nodes/{name}/…');
    expect(res.text).toContain('formaction="/nodes/fingerprints"');
  });

  it('saves the connection with its secrets sealed, and never shows them back', async () => {
    id = await createNode(simForm());
    const stored = (await env.deps.repos.nodes.findById(id))!;
    expect(stored).toMatchObject({
      name: 'pve1', apiUrl: sim.apiUrl, tokenId: sim.tokenId, tlsFingerprint: sim.tlsFingerprint,
      sshHost: sim.ssh.host, sshPort: sim.ssh.port, sshUser: 'root', sshHostKeyFingerprint: sim.ssh.hostKeyFingerprint, isSimulator: false,
    });
    expect(stored.tokenSecretEnc).not.toContain(sim.tokenSecret);
    expect(env.deps.secrets.open(stored.tokenSecretEnc, tokenSecretAad(id))).toBe(sim.tokenSecret);
    expect(env.deps.secrets.open(stored.sshPrivateKeyEnc!, sshKeyAad(id)).trim()).toBe(sim.ssh.privateKey.trim());

    const page = await session.agent.get(`/nodes/${id}/edit`).expect(200);
    expect(page.text).toContain('Node “pve1” saved.');
    expect(page.text).not.toContain(sim.tokenSecret);
    expect(page.text).not.toContain('PRIVATE KEY-----\n');
    expect(inputValue(page.text, 'token_secret')).toBe('');
    expect(page.text).toContain('Leave empty to keep the stored one.');
    expect(inputValue(page.text, 'api_url')).toBe(sim.apiUrl);
    expect(inputValue(page.text, 'tls_fingerprint')).toBe(sim.tlsFingerprint);
  });

  it('Test connection shows the Proxmox version, cluster nodes, storages and OS templates, and the SSH login', async () => {
    const html = await testConnection(id);
    expect(html).toContain('data-outcome="ok"');
    expect(problems(html)).toEqual([]);
    const client = proxmoxClientFor((await env.deps.repos.nodes.findById(id))!, env.deps.secrets);
    const version = await client.getVersion();
    client.close();
    expect(html).toContain(`<span class="font-mono" data-pve-version>${version.version}</span>`);
    expect(html).toContain('pve1 · online · this node');
    expect(html).toMatch(/<span class="font-mono">local<\/span>/);
    expect(html).toMatch(/<span class="font-mono">local-lvm<\/span>/);
    expect(html).toMatch(/<li>local:vztmpl\/debian-12-standard[^<]*<\/li>/);
    expect(html).toContain(`Signed in as <span class="font-mono">root@${sim.ssh.host}:${sim.ssh.port}</span>`);
    expect(html).not.toContain('data-warning');
    expect(sim.nodeCommands).toContain('id -u'); // signed in as root, checked
  });

  it('a plain POST to Test connection renders the whole edit page with the result', async () => {
    const res = await session.agent.post(`/nodes/${id}/test`).type('form').send({ _csrf: csrf }).expect(200);
    expect(res.text).toContain('<html');
    expect(res.text).toContain(`action="/nodes/${id}"`);
    expect(res.text).toContain('data-outcome="ok"');
    const list = await session.agent.get('/nodes').expect(200);
    expect(new RegExp(`<tr id="node-${id}">[\\s\\S]*?>OK</span>`).test(list.text)).toBe(true);
  });

  it('editing keeps stored secrets when their fields are left empty, and replaces them when filled', async () => {
    await session.agent.post(`/nodes/${id}`).type('form')
      .send(simForm({ token_secret: '', ssh_private_key: '', api_url: `${sim.apiUrl}/api2/json`, ssh_host: '' })).expect(303);
    let stored = (await env.deps.repos.nodes.findById(id))!;
    expect(stored.apiUrl).toBe(sim.apiUrl); // reduced to the origin
    expect(stored.sshHost).toBe(new URL(sim.apiUrl).hostname); // empty SSH host: the API URL's host
    expect(env.deps.secrets.open(stored.tokenSecretEnc, tokenSecretAad(id))).toBe(sim.tokenSecret);
    expect(await testConnection(id)).toContain('data-outcome="ok"');

    const wrong = randomUUID();
    await session.agent.post(`/nodes/${id}`).type('form').send(simForm({ token_secret: wrong, ssh_private_key: '' })).expect(303);
    stored = (await env.deps.repos.nodes.findById(id))!;
    expect(env.deps.secrets.open(stored.tokenSecretEnc, tokenSecretAad(id))).toBe(wrong);
    expect(problems(await testConnection(id))).toEqual(['token-rejected']);

    await session.agent.post(`/nodes/${id}`).type('form').send(simForm({ ssh_private_key: '' })).expect(303);
    expect(await testConnection(id)).toContain('data-outcome="ok"');
  });

  it('refuses a second connection with the same name', async () => {
    const res = await session.agent.post('/nodes').type('form').send(simForm()).expect(422);
    expect(fieldError(res.text, 'name')).toBe('Another connection is already called “pve1”.');
  });

  it('answers 404 for unknown or malformed node ids', async () => {
    await session.agent.get('/nodes/999999/edit').expect(404);
    await session.agent.get('/nodes/abc/edit').expect(404);
    await session.agent.get('/nodes/1e3/edit').expect(404);
    await session.agent.post('/nodes/99999999999/test').set('X-CSRF-Token', csrf).expect(404);
  });

  it('refuses a POST without the CSRF token', async () => {
    await session.agent.post(`/nodes/${id}/test`).expect(403);
  });
});

describe('trust on first use', () => {
  it('Fetch fingerprints shows what the node presents and pins nothing', async () => {
    const before = await env.deps.repos.nodes.count();
    const res = await session.agent.post('/nodes/fingerprints').set('HX-Request', 'true').type('form')
      .send(simForm({ name: 'tofu', tls_fingerprint: '', ssh_host_key_fingerprint: '' })).expect(200);
    expect(res.text.startsWith('<section id="fingerprints"')).toBe(true);
    expect(res.text).toContain(`<code class="break-all font-mono text-xs" data-fetched="tls">${sim.tlsFingerprint}</code>`);
    expect(res.text).toContain(`data-fetched="ssh">${sim.ssh.hostKeyFingerprint}</code>`);
    expect(res.text).toMatch(/<input type="checkbox" name="trust_fingerprints" value="1" required/);
    expect(res.text).toContain('pvenode cert info');
    expect(res.text).toContain('ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub');
    expect(await env.deps.repos.nodes.count()).toBe(before);
  });

  it('saves fetched fingerprints only with the explicit confirmation', async () => {
    const name = uniqueName('tofu');
    const fetched = {
      tls_fingerprint: '', ssh_host_key_fingerprint: '',
      fetched_tls_fingerprint: sim.tlsFingerprint, fetched_ssh_host_key_fingerprint: sim.ssh.hostKeyFingerprint,
    };
    const refused = await session.agent.post('/nodes').type('form').send(simForm({ name, ...fetched })).expect(422);
    expect(fieldError(refused.text, 'trust_fingerprints')).toContain('tick the box');
    expect(refused.text).toContain(`data-fetched="tls">${sim.tlsFingerprint}`);
    expect(await env.deps.repos.nodes.findByName(name)).toBeUndefined();

    const id = await createNode(simForm({ name, ...fetched, trust_fingerprints: '1' }));
    const stored = (await env.deps.repos.nodes.findById(id))!;
    expect(stored.tlsFingerprint).toBe(sim.tlsFingerprint);
    expect(stored.sshHostKeyFingerprint).toBe(sim.ssh.hostKeyFingerprint);
  });

  it('without JavaScript the whole form comes back, secrets blank and asked for again', async () => {
    const res = await session.agent.post('/nodes/fingerprints').type('form')
      .send(simForm({ name: 'tofu', tls_fingerprint: '', ssh_host_key_fingerprint: '' })).expect(200);
    expect(res.text).toContain('<html');
    expect(inputValue(res.text, 'name')).toBe('tofu');
    expect(res.text).not.toContain(sim.tokenSecret);
    expect(res.text).not.toContain('BEGIN OPENSSH PRIVATE KEY-----\n');
    expect(res.text).toContain('Enter it again: secrets are never sent back to the browser.');
    expect(res.text).toContain(`data-fetched="ssh">${sim.ssh.hostKeyFingerprint}`);
  });

  it('fetches only empty fields, and says why when it cannot', async () => {
    const both = await session.agent.post('/nodes/fingerprints').set('HX-Request', 'true').type('form').send(simForm()).expect(200);
    expect(both.text).toContain('Both fingerprints are filled in.');
    expect(both.text).not.toContain('data-fetched');

    const onlySsh = await session.agent.post('/nodes/fingerprints').set('HX-Request', 'true').type('form')
      .send(simForm({ ssh_host_key_fingerprint: '' })).expect(200);
    expect(onlySsh.text).not.toContain('data-fetched="tls"');
    expect(onlySsh.text).toContain('data-fetched="ssh"');

    const down = await session.agent.post('/nodes/fingerprints').set('HX-Request', 'true').type('form')
      .send(simForm({ api_url: `https://127.0.0.1:${closedPort}`, ssh_port: String(closedPort), tls_fingerprint: '', ssh_host_key_fingerprint: '' })).expect(200);
    // One generic message each: nothing says whether the port was closed, filtered or reset.
    expect(fieldError(down.text, 'tls_fingerprint')).toBe(FINGERPRINT_FAILED.tls);
    expect(fieldError(down.text, 'ssh_host_key_fingerprint')).toBe(FINGERPRINT_FAILED.ssh);
    expect(down.text).not.toContain('trust_fingerprints');

    const badUrl = await session.agent.post('/nodes/fingerprints').set('HX-Request', 'true').type('form')
      .send(simForm({ api_url: 'http://pve1:8006', tls_fingerprint: '' })).expect(200);
    expect(fieldError(badUrl.text, 'tls_fingerprint')).toContain('Fix the API URL first');

    const badHost = await session.agent.post('/nodes/fingerprints').set('HX-Request', 'true').type('form')
      .send(simForm({ ssh_host: '$(reboot)\n', ssh_host_key_fingerprint: '' })).expect(200);
    expect(fieldError(badHost.text, 'ssh_host_key_fingerprint')).toContain('Fill in the SSH host and port');
  });

  it('on the edit page the fetch posts to the node’s own URL and keeps the page', async () => {
    const id = await createNode(simForm({ name: uniqueName('refetch') }));
    const page = await session.agent.get(`/nodes/${id}/edit`).expect(200);
    expect(page.text).toContain(`formaction="/nodes/${id}/fingerprints"`);
    const res = await session.agent.post(`/nodes/${id}/fingerprints`).type('form').send(simForm({ tls_fingerprint: '' })).expect(200);
    expect(res.text).toContain(`action="/nodes/${id}"`);
    expect(res.text).toContain(`data-fetched="tls">${sim.tlsFingerprint}`);
    expect((await env.deps.repos.nodes.findById(id))!.tlsFingerprint).toBe(sim.tlsFingerprint);
  });
});

describe('a stored secret never follows a changed address', () => {
  it('changing the API URL or the SSH host/port asks for the secret again, and keeps everything until it is given', async () => {
    const id = await createNode(simForm({ name: uniqueName('moved') }));
    const before = (await env.deps.repos.nodes.findById(id))!;

    const moved = await session.agent.post(`/nodes/${id}`).type('form')
      .send(simForm({ name: before.name, api_url: 'https://10.9.8.7:8006', token_secret: '', ssh_private_key: '' })).expect(422);
    expect(fieldError(moved.text, 'token_secret')).toContain('The API URL changed: enter the token secret again');
    const sshMoved = await session.agent.post(`/nodes/${id}`).type('form')
      .send(simForm({ name: before.name, ssh_port: '2222', token_secret: '', ssh_private_key: '' })).expect(422);
    expect(fieldError(sshMoved.text, 'ssh_private_key')).toContain('The SSH host or port changed: paste the private key again');
    expect(fieldError(sshMoved.text, 'token_secret')).toBeUndefined();
    expect(await env.deps.repos.nodes.findById(id)).toEqual(before);

    // With the secrets typed again, the move is saved.
    await session.agent.post(`/nodes/${id}`).type('form').send(simForm({ name: before.name, api_url: 'https://10.9.8.7:8006', ssh_private_key: '' })).expect(303);
    expect((await env.deps.repos.nodes.findById(id))!.apiUrl).toBe('https://10.9.8.7:8006');
  });
});

describe('Fetch fingerprints gives nothing away', () => {
  it('says the same whether the port is closed or resets the connection', async () => {
    const resetter = createServer((socket) => socket.resetAndDestroy()).listen(0, '127.0.0.1');
    await new Promise((resolve) => resetter.once('listening', resolve));
    const resetPort = (resetter.address() as { port: number }).port;
    try {
      const answers = [];
      for (const port of [closedPort, resetPort]) {
        const res = await session.agent.post('/nodes/fingerprints').set('HX-Request', 'true').type('form')
          .send(simForm({ api_url: `https://127.0.0.1:${port}`, ssh_port: String(port), tls_fingerprint: '', ssh_host_key_fingerprint: '' })).expect(200);
        answers.push([fieldError(res.text, 'tls_fingerprint'), fieldError(res.text, 'ssh_host_key_fingerprint')]);
      }
      expect(answers[0]).toEqual([FINGERPRINT_FAILED.tls, FINGERPRINT_FAILED.ssh]);
      expect(answers[1]).toEqual(answers[0]);
    } finally {
      resetter.close();
    }
  });
});

describe('validation', () => {
  const hostile = ['"; rm -rf / #', '$(reboot)', '`id`', 'a\nb', 'nul\u0000byte', "it's", '<script>alert(1)</script>', 'ü'.repeat(10)];

  it.each([
    ['name', hostile, 'Use the Proxmox node name'],
    ['name', ['-pve', 'pve-', 'pve_1', 'a'.repeat(64)], 'Use the Proxmox node name'],
    ['api_url', ['http://pve1:8006'], 'Use https://'],
    ['api_url', ['https://user:pw@pve1:8006'], 'Leave user name and password out'],
    ['api_url', ['https://pve1:8006/other', 'https://pve1:8006/?x=1'], 'Use the node’s address only'],
    ['api_url', ['pve1', 'https://'], 'That is not a URL'],
    ['api_url', hostile, ''],
    ['token_id', ['root@pam', 'root!x', '@pam!x', ...hostile], 'Use the full token id'],
    ['token_secret', ['not a uuid', 'abc', ...hostile], 'The secret is the UUID'],
    ['tls_fingerprint', ['AB:CD', 'zz'.repeat(32), ...hostile], 'Use the SHA-256 fingerprint'],
    ['ssh_host', ['-oProxyCommand=x', 'host name', ...hostile], 'Enter a host name or IP address'],
    ['ssh_port', ['0', '65536', '22a', '-1', ''], 'Use a port between 1 and 65535'],
    ['ssh_user', ['', 'root user', ...hostile], 'Use a user name'],
    ['ssh_private_key', ['garbage', '-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n-----END OPENSSH PRIVATE KEY-----', ...hostile], 'This is not a private key'],
    ['ssh_host_key_fingerprint', ['SHA256:short', 'MD5:aa:bb', ...hostile], 'Use the form SHA256:'],
  ])('%s rejects bad values with a message next to the field', async (field, values, message) => {
    for (const value of values) {
      const name = field === 'name' ? value : uniqueName('bad');
      const res = await session.agent.post('/nodes').type('form').send(simForm({ name, [field]: value }));
      expect(res.status, `${field}=${JSON.stringify(value)}`).toBe(422);
      const error = fieldError(res.text, field);
      expect(error, `${field}=${JSON.stringify(value)}`).toBeDefined();
      expect(error).toContain(message);
      expect(res.text).not.toContain('<script>alert(1)</script>');
      if (field !== 'name') expect(await env.deps.repos.nodes.findByName(name)).toBeUndefined();
    }
  });

  it('keeps what was typed (escaped) but never echoes the secrets', async () => {
    const res = await session.agent.post('/nodes').type('form')
      .send(simForm({ name: '<b>"pve"</b>', ssh_user: 'bad user' })).expect(422);
    expect(inputValue(res.text, 'name')).toBe('&lt;b&gt;&quot;pve&quot;&lt;/b&gt;');
    expect(inputValue(res.text, 'ssh_user')).toBe('bad user');
    expect(inputValue(res.text, 'api_url')).toBe(sim.apiUrl);
    expect(inputValue(res.text, 'token_secret')).toBe('');
    expect(res.text).not.toContain(sim.tokenSecret);
    expect(res.text).not.toContain('PRIVATE KEY-----\n');
    expect(res.text).toContain('Enter it again: secrets are never sent back to the browser.');
  });

  it('requires both secrets on create', async () => {
    const res = await session.agent.post('/nodes').type('form').send(simForm({ name: uniqueName('nosecret'), token_secret: '', ssh_private_key: '' })).expect(422);
    expect(fieldError(res.text, 'token_secret')).toContain('Enter the token secret');
    expect(fieldError(res.text, 'ssh_private_key')).toContain('Paste the private key');
  });

  it('explains public and passphrase-protected keys', async () => {
    const pair = generateEd25519KeyPair();
    const locked = generateEd25519KeyPair({ passphrase: 'secret', cipher: 'aes256-ctr', rounds: 16 });
    const pub = await session.agent.post('/nodes').type('form').send(simForm({ name: uniqueName('k'), ssh_private_key: pair.public })).expect(422);
    expect(fieldError(pub.text, 'ssh_private_key')).toContain('This is a public key');
    const enc = await session.agent.post('/nodes').type('form').send(simForm({ name: uniqueName('k'), ssh_private_key: locked.private })).expect(422);
    expect(fieldError(enc.text, 'ssh_private_key')).toContain('protected by a passphrase');
  });

  it('accepts the friendly spellings of fingerprints and a URL without a port', async () => {
    const lowerNoColons = sim.tlsFingerprint.replace(/:/g, '').toLowerCase();
    const keygenLine = `256 ${sim.ssh.hostKeyFingerprint} root@pve1 (ED25519)`;
    const id = await createNode(simForm({ name: uniqueName('friendly'), tls_fingerprint: lowerNoColons, ssh_host_key_fingerprint: keygenLine, api_url: 'https://pve1.example.com' }));
    const stored = (await env.deps.repos.nodes.findById(id))!;
    expect(stored.tlsFingerprint).toBe(sim.tlsFingerprint);
    expect(stored.sshHostKeyFingerprint).toBe(sim.ssh.hostKeyFingerprint);
    expect(stored.apiUrl).toBe('https://pve1.example.com:8006');
  });

  it('answers huge and repeated values with messages, not a crash', async () => {
    const huge = 'x'.repeat(200_000);
    const res = await session.agent.post('/nodes').type('form')
      .send({ ...simForm({ name: huge, api_url: `https://${huge}`, token_id: huge, ssh_private_key: huge, tls_fingerprint: huge }) }).expect(422);
    for (const field of ['name', 'api_url', 'token_id', 'ssh_private_key', 'tls_fingerprint']) expect(fieldError(res.text, field), field).toBeDefined();
    expect(res.text.length).toBeLessThan(100_000);

    const repeated = await session.agent.post('/nodes').type('form').send(`_csrf=${csrf}&name=a&name=b%24(x)&api_url=x`).expect(422);
    expect(inputValue(repeated.text, 'name')).toBe('b$(x)');
  });
});

describe('every error branch of Test connection', () => {
  afterEach(() => sim.faults.reset());
  const problemOf = async (overrides: Record<string, string>, prepare?: () => void) => {
    const id = await createNode(simForm({ name: uniqueName('err'), ...overrides }));
    prepare?.();
    return testConnection(id);
  };

  it('unreachable API', async () => {
    const html = await problemOf({ api_url: `https://127.0.0.1:${closedPort}` });
    expect(problems(html)).toEqual(['unreachable']);
    expect(html).toContain('connection refused');
    expect(html).toContain('systemctl status pveproxy');
  });

  it('TLS fingerprint mismatch', async () => {
    const wrong = Array.from({ length: 32 }, () => 'AB').join(':');
    const html = await problemOf({ tls_fingerprint: wrong });
    expect(problems(html)).toEqual(['tls-mismatch']);
    expect(html).toContain(`expected ${wrong}, got ${sim.tlsFingerprint}`);
    expect(html).toContain('pvenode cert info');
  });

  it('401: the token is rejected', async () => {
    const html = await problemOf({ token_secret: randomUUID() });
    expect(problems(html)).toEqual(['token-rejected']);
    expect(html).toContain('Proxmox rejected the API token (401)');
    expect(html).toContain('Datacenter → Permissions → API Tokens');
  });

  it('403: the token lacks a privilege, with the command that grants it', async () => {
    const html = await problemOf({}, () => sim.faults.failNextRequest('GET', '/version', 403));
    expect(problems(html)).toEqual(['missing-privilege']);
    expect(html).toContain('The token lacks a privilege (403)');
    expect(html).toContain(`pveum acl modify / --tokens &#39;${sim.tokenId}&#39; --roles PVEVMAdmin,PVEDatastoreUser,PVEAuditor,PVESDNUser`);
  });

  it('403 on a later call keeps what was already learned', async () => {
    // Storages are listed only for a name the cluster knows: use the `pve1` connection.
    const pve1 = (await env.deps.repos.nodes.findByName('pve1'))?.id ?? (await createNode(simForm()));
    sim.faults.failNextRequest('GET', /\/storage$/, 403);
    const html = await testConnection(pve1);
    expect(problems(html)).toEqual(['missing-privilege']);
    expect(html).toContain('data-pve-version');
    expect(html).toContain('pve1 · online · this node');
  });

  it('a Proxmox VE release older than 8.0: the version is shown and the API check fails with how to upgrade', async () => {
    const html = await problemOf({}, () => sim.faults.set({ pveVersion: '7.4-17' }));
    expect(problems(html)).toEqual(['unsupported-version']);
    expect(html).toContain('<span class="font-mono" data-pve-version>7.4-17</span>');
    expect(html).toContain('Proxmox VE 7.4-17 is too old for Launchpad');
    expect(html).toContain('This node runs Proxmox VE 7.4-17; Launchpad needs Proxmox VE 8.0 or later.');
    expect(html).toContain('pve7to8 --full');
  });

  it('Proxmox VE 8.0 (no …/interfaces yet) is supported: no problem', async () => {
    const pve1 = (await env.deps.repos.nodes.findByName('pve1'))?.id ?? (await createNode(simForm()));
    sim.faults.set({ pveVersion: '8.0.4' });
    const html = await testConnection(pve1);
    expect(problems(html)).toEqual([]);
    expect(html).toContain('data-outcome="ok"');
    expect(html).toContain('<span class="font-mono" data-pve-version>8.0.4</span>');
  });

  it('SSH authentication failed: shows the public key line to authorize', async () => {
    const other = generateEd25519KeyPair();
    const html = await problemOf({ ssh_private_key: other.private });
    expect(problems(html)).toEqual(['ssh-auth-failed']);
    expect(html).toContain('SSH login failed');
    const blob = other.public.split(' ')[1]!;
    expect(html).toContain(`ssh-ed25519 ${blob} launchpad`);
    expect(html).not.toContain(other.private.split('\n')[1]!);
  });

  it('SSH host key mismatch', async () => {
    const wrong = `SHA256:${'A'.repeat(43)}`;
    const html = await problemOf({ ssh_host_key_fingerprint: wrong });
    expect(problems(html)).toEqual(['host-key-mismatch']);
    expect(html).toContain(`expected ${wrong}, got ${sim.ssh.hostKeyFingerprint}`);
    expect(html).toContain('ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub');
  });

  it('an SSH user that is not root: pct would refuse every command, so the SSH check fails and says to use root', async () => {
    const html = await problemOf({ ssh_user: 'deploy' }, () => sim.addSshLogin('deploy', 1000));
    expect(problems(html)).toEqual(['ssh-not-root']);
    expect(html).toContain('The SSH user is not root');
    expect(html).toContain(`id -u answered 1000, not 0 (root): Launchpad signs in to ${sim.ssh.host} as deploy, and pct runs only as root.`);
    expect(html).toContain('Under Nodes → Edit set the SSH user to root');
    expect(html).toContain(`${publicKeyLine(sim.ssh.privateKey)}</pre>`); // for root's authorized_keys
    expect(html).not.toContain('Signed in as');
  });

  it('SSH unreachable', async () => {
    const html = await problemOf({ ssh_port: String(closedPort) });
    expect(problems(html)).toEqual(['ssh-unreachable']);
    expect(html).toContain('connection refused');
  });

  it('fingerprints not pinned yet', async () => {
    const html = await problemOf({ tls_fingerprint: '', ssh_host_key_fingerprint: '' });
    expect(problems(html)).toEqual(['not-ready', 'not-ready']);
    expect(html).toContain('Fetch fingerprints');
  });

  it('a name the cluster does not know is a warning', async () => {
    const name = uniqueName('notpve');
    const html = await problemOf({ name });
    expect(problems(html)).toEqual([]);
    expect(html).toContain(`The cluster has no node called “${name}” (it has: pve1)`);
    expect(html).toContain(`/nodes/${name}/…`);
    expect(html).not.toContain('data-storages');
  });

  it('the list shows the last failed test', async () => {
    const id = await createNode(simForm({ name: uniqueName('listfail'), token_secret: randomUUID() }));
    await testConnection(id);
    const list = await session.agent.get('/nodes').expect(200);
    expect(new RegExp(`<tr id="node-${id}">[\\s\\S]*?Proxmox rejected the API token \\(401\\)`).test(list.text)).toBe(true);
  });
});

describe('removing a node', () => {
  it('asks first, then removes it', async () => {
    const id = await createNode(simForm({ name: uniqueName('gone') }));
    const confirm = await session.agent.get(`/nodes/${id}/delete`).expect(200);
    expect(confirm.text).toContain(`action="/nodes/${id}/delete"`);
    expect(confirm.text).toContain('Nothing changes on the Proxmox node itself.');
    const res = await session.agent.post(`/nodes/${id}/delete`).type('form').send({ _csrf: csrf }).expect(303);
    expect(res.headers.location).toBe('/nodes');
    expect(await env.deps.repos.nodes.findById(id)).toBeUndefined();
  });

  it('is refused while containers reference the node', async () => {
    const id = await createNode(simForm({ name: uniqueName('busy') }));
    const owner = await ensureUser(env.deps, 'nodeowner', 'nodeowner-password');
    await insertContainer(env.deps, owner.id, id);
    const confirm = await session.agent.get(`/nodes/${id}/delete`).expect(200);
    expect(confirm.text).toContain('cannot be removed');
    expect(confirm.text).not.toContain(`action="/nodes/${id}/delete"`);
    const res = await session.agent.post(`/nodes/${id}/delete`).type('form').send({ _csrf: csrf }).expect(409);
    expect(res.text).toContain('A container still runs on');
    expect(await env.deps.repos.nodes.findById(id)).toBeDefined();
  });

  // Issue 14 finding 5: this answered 409 (“keeps the records and logs of destroyed containers”) and pinned the node.
  it('removes a node whose containers were all destroyed, and their records and logs stay readable', async () => {
    const name = uniqueName('history');
    const id = await createNode(simForm({ name }));
    const owner = await ensureUser(env.deps, 'nodeowner', 'nodeowner-password');
    const c = await insertContainer(env.deps, owner.id, id, 'old-web');
    const recorder = recorderFor(env.deps, c.id);
    recorder.log('stdout', 'a line from the build');
    await recorder.flush();
    await env.deps.knex('containers').where({ id: c.id }).update({ lifecycle: 'destroyed' });

    const confirm = await session.agent.get(`/nodes/${id}/delete`).expect(200);
    expect(confirm.text).toContain(`action="/nodes/${id}/delete"`);
    const res = await session.agent.post(`/nodes/${id}/delete`).type('form').send({ _csrf: csrf }).expect(303);
    expect(res.headers.location).toBe('/nodes');
    expect(await env.deps.repos.nodes.findById(id)).toBeUndefined();

    const record = (await env.deps.repos.containers.findById(c.id))!;
    expect(record).toMatchObject({ nodeId: null, removedNodeName: name, lifecycle: 'destroyed' });
    const page = await session.agent.get(`/containers/${c.id}`).expect(200);
    expect(page.text).toContain(`on ${name} (removed)`);
    expect(page.text).toContain('a line from the build');
  });

  it('still refuses while a live container remains beside destroyed ones, and detaches nothing', async () => {
    const id = await createNode(simForm({ name: uniqueName('mixed') }));
    const owner = await ensureUser(env.deps, 'nodeowner', 'nodeowner-password');
    const destroyed = await insertContainer(env.deps, owner.id, id);
    await env.deps.knex('containers').where({ id: destroyed.id }).update({ lifecycle: 'destroyed' });
    await insertContainer(env.deps, owner.id, id);
    const res = await session.agent.post(`/nodes/${id}/delete`).type('form').send({ _csrf: csrf }).expect(409);
    expect(res.text).toContain('A container still runs on');
    expect(await env.deps.repos.nodes.findById(id)).toBeDefined();
    expect((await env.deps.repos.containers.findById(destroyed.id))!.nodeId).toBe(id);
  });

  it('the database itself refuses to detach a live container from its node', async () => {
    const id = await createNode(simForm({ name: uniqueName('guard') }));
    const owner = await ensureUser(env.deps, 'nodeowner', 'nodeowner-password');
    const live = await insertContainer(env.deps, owner.id, id);
    await expect(env.deps.knex('containers').where({ id: live.id }).update({ node_id: null })).rejects.toThrow(/containers_node_only_detached_when_destroyed/);
    await expect(env.deps.knex('nodes').where({ id }).delete()).rejects.toThrow(/foreign key/);
  });

  it('the simulator node may be edited, tested and removed like any other', async () => {
    const simulated = await registerSimulatorNode(env.deps, { ...sim, nodeName: 'pve1-sim' });
    const page = await session.agent.get(`/nodes/${simulated.id}/edit`).expect(200);
    expect(page.text).toContain('>Simulator</span>');
    const html = await testConnection(simulated.id);
    expect(problems(html)).toEqual([]);
    await session.agent.post(`/nodes/${simulated.id}`).type('form').send(simForm({ name: 'pve1-sim', token_secret: '', ssh_private_key: '' })).expect(303);
    expect((await env.deps.repos.nodes.findById(simulated.id))!.isSimulator).toBe(true);
    await session.agent.post(`/nodes/${simulated.id}/delete`).type('form').send({ _csrf: csrf }).expect(303);
    expect(await env.deps.repos.nodes.findById(simulated.id)).toBeUndefined();
  });
});
