// Conformance: each sample template deployed through the front door (POST /containers) and the real pipeline onto
// the simulator in Debian mode — a real Debian 12 root filesystem, real apt-get against the host's mirror, services
// really running — then checked from outside the CT the way a user would: HTTP to nginx, a PostgreSQL connection
// with the stored credentials, SSH in as dev with the wizard's key. Then every step and script runs a second time
// on the same CT (a retry after lost progress markers) and the checks hold again. A broken copy fails loudly.
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCreatePipeline, type PipelineDeps } from '../src/domain/pipeline/pipeline-runner.ts';
import { MARKER_DIR } from '../src/domain/pipeline/ct-commands.ts';
import { getTemplate, syncCatalogue } from '../src/domain/templates/catalogue.ts';
import { ProxmoxClient } from '../src/proxmox/api-client.ts';
import { waitForTask } from '../src/proxmox/task-waiter.ts';
import type { TemplateDefinition } from '../src/domain/templates/template.ts';
import { startDebianTestSimulator } from './support/debian-simulator.ts';
import { signedInAgent } from './support/session.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';
import { createTestApp } from './support/test-app.ts';
import { testPipelineDeps } from './support/pipeline-deps.ts';
import { credentialAad } from '../src/domain/sealed-secrets.ts';

const MINUTES = 60_000;
let env: TestEnv;
let app: ReturnType<typeof createTestApp>;
let simulator: Awaited<ReturnType<typeof startDebianTestSimulator>>;
let pipeline: PipelineDeps;
let post: (fields: Record<string, string | string[]>) => Promise<{ status: number; location: string }>;
const keys = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'conformance@launchpad' });

beforeAll(async () => {
  env = await createTestEnv({ TEMPLATES_DIR: path.resolve('templates') });
  app = createTestApp(env);
  simulator = await startDebianTestSimulator(env.deps);
  await syncCatalogue(env.deps.repos.templates, path.resolve('templates'), env.deps.logger);
  pipeline = testPipelineDeps(env, { pollMs: 100, ipWaitMs: 20_000, lockWaitMs: 20_000 });
  const session = await signedInAgent(app, env.deps, { username: 'conformance' });
  const csrf = await session.csrf();
  post = async (fields) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries({ _csrf: csrf, ...fields })) for (const one of Array.isArray(v) ? v : [v]) params.append(k, one);
    const res = await session.agent.post('/containers').type('form').send(params.toString());
    return { status: res.status, location: String(res.headers.location ?? '') };
  };
}, 10 * MINUTES);

afterAll(async () => {
  await simulator?.close();
  await env?.close();
});

async function deploy(template: string) {
  const hostname = `${template}-${randomUUID().slice(0, 6)}`.replace(/[^a-z0-9-]/g, '-');
  const password = `root-${randomUUID()}`;
  const res = await post({ template, node: 'sim', hostname, password, password_confirm: password, ssh_public_key: keys.public });
  expect(res.status).toBe(303);
  const id = res.location.replace('/containers/', '');
  return { id, hostname };
}

async function build(id: string) {
  const started = Date.now();
  const outcome = await runCreatePipeline(pipeline, id, new AbortController().signal);
  const container = (await env.deps.repos.containers.findById(id))!;
  const events = await env.deps.repos.events.listAfter(id, 0, 1_000_000);
  const log = events.filter((e) => e.kind === 'log').map((e) => e.text ?? '').join('\n');
  return { outcome, container, log, seconds: (Date.now() - started) / 1000 };
}

/** A retry that runs everything again: the progress markers are lost (as after a crash before they were written). */
async function retryFromScratch(id: string, vmid: number) {
  await rm(path.join(simulator.sim.state.rootDir(vmid), MARKER_DIR), { recursive: true, force: true });
  await env.deps.repos.containers.update(id, { lifecycle: 'queued' });
  return build(id);
}

async function credentials(id: string): Promise<Record<string, string>> {
  const sealed = await env.deps.repos.containerExtras.sealedCredentials(id);
  return Object.fromEntries(sealed.map((s) => [s.key, env.deps.secrets.open(s.valueEnc, credentialAad(id, s.key))]));
}

function hostPort(vmid: number, ctPort: number): number {
  const port = simulator.sim.forwardedPort(vmid, ctPort);
  if (!port) throw new Error(`CT ${vmid} port ${ctPort} is not forwarded`);
  return port;
}

/** Runs a command over SSH as `user` with the wizard's key: what a developer does with the box. */
function sshRun(port: number, user: string, command: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    client.on('error', reject);
    client.on('ready', () => {
      client.exec(command, (err, stream) => {
        if (err) return reject(err);
        let stdout = '';
        let stderr = '';
        stream.on('data', (d: Buffer) => (stdout += d.toString()));
        stream.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        stream.on('close', (code: number) => {
          client.end();
          resolve({ code, stdout, stderr });
        });
      });
    });
    client.connect({ host: '127.0.0.1', port, username: user, privateKey: keys.private, readyTimeout: 20_000 });
  });
}

const checks: Record<string, (id: string, vmid: number, hostname: string) => Promise<void>> = {
  'static-web': async (_id, vmid, hostname) => {
    const res = await fetch(`http://127.0.0.1:${hostPort(vmid, 80)}/`);
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).toContain(`<h1>${hostname} is live</h1>`);
    expect(res.headers.get('server')).toMatch(/^nginx/);
  },
  postgresql: async (id, vmid) => {
    const creds = await credentials(id);
    expect(creds.POSTGRES_APP_USER).toBe('app');
    expect(creds.POSTGRES_APP_PASSWORD).toMatch(/^[A-Za-z0-9]{32}$/);
    const client = new pg.Client({ host: '127.0.0.1', port: hostPort(vmid, 5432), user: creds.POSTGRES_APP_USER, password: creds.POSTGRES_APP_PASSWORD, database: creds.POSTGRES_APP_DATABASE });
    await client.connect();
    try {
      const { rows } = await client.query<{ me: string; owner: string; version: string }>(
        "SELECT current_user AS me, pg_get_userbyid(datdba) AS owner, current_setting('server_version') AS version FROM pg_database WHERE datname = current_database()",
      );
      expect(rows[0]).toMatchObject({ me: 'app', owner: 'app' });
      expect(rows[0]!.version).toMatch(/^15\./);
    } finally {
      await client.end();
    }
    const wrong = new pg.Client({ host: '127.0.0.1', port: hostPort(vmid, 5432), user: 'app', password: 'not-the-password', database: 'app' });
    await expect(wrong.connect()).rejects.toThrow(/password authentication failed/);
  },
  'dev-box': async (_id, vmid) => {
    const port = hostPort(vmid, 22);
    const node = await sshRun(port, 'dev', 'node --version');
    expect(node).toMatchObject({ code: 0 });
    expect(node.stdout).toMatch(/^v18\./);
    const sudo = await sshRun(port, 'dev', 'id -un && sudo -n true && echo sudo-ok');
    expect(sudo).toMatchObject({ code: 0, stdout: 'dev\nsudo-ok\n' });
    const keysFile = await sshRun(port, 'dev', 'cat ~/.ssh/authorized_keys');
    expect(keysFile.stdout).toContain(keys.public.trim().split(' ').slice(0, 2).join(' '));
  },
};

describe('each sample template on a real Debian 12 CT', () => {
  it.each(['static-web', 'postgresql', 'dev-box'])('%s works from outside, and again after a retry runs everything a second time', async (name) => {
    const template = await getTemplate(env.deps.repos.templates, name);
    const { id, hostname } = await deploy(name);
    const first = await build(id);
    if (first.outcome !== 'ready') throw new Error(`${name} did not become ready: ${first.container.error}\n${first.log.split('\n').slice(-40).join('\n')}`);
    for (const script of template.scripts.filter((s) => s.enabled)) expect(first.log).toContain(`✔ ${script.name} finished.`);
    expect(first.log).not.toMatch(/not really installed|skipping/i);
    // The build's own health check: units asked with systemctl, ports with the CT's real ss, URLs with curl from the node.
    expect(first.log).toMatch(/^Health check: healthy — /m);
    const vmid = first.container.vmid!;
    await checks[name]!(id, vmid, hostname);

    const second = await retryFromScratch(id, vmid);
    if (second.outcome !== 'ready') throw new Error(`${name} failed on a second run: ${second.container.error}\n${second.log.split('\n').slice(-40).join('\n')}`);
    const rerun = second.log.slice(first.log.length);
    for (const script of template.scripts.filter((s) => s.enabled)) expect(rerun).toContain(`▶ ${script.name}`);
    await checks[name]!(id, vmid, hostname);
    process.stderr.write(`[conformance] ${name}: first build ${first.seconds.toFixed(1)} s, second run ${second.seconds.toFixed(1)} s\n`);
  }, 20 * MINUTES);
});

describe('a Debian-mode CT behaves like one across stop and start', () => {
  it('stopping ends its services; starting boots the enabled ones again', async () => {
    const { id, hostname } = await deploy('static-web');
    const built = await build(id);
    expect(built.outcome).toBe('ready');
    const vmid = built.container.vmid!;
    const { sim } = simulator;
    const client = new ProxmoxClient({ apiUrl: sim.apiUrl, tokenId: sim.tokenId, tokenSecret: sim.tokenSecret, tlsFingerprint: sim.tlsFingerprint });
    try {
      const before = hostPort(vmid, 80);
      await waitForTask(client, await client.stopLxc('sim', vmid), { pollIntervalMs: 50 });
      expect(sim.forwardedPort(vmid, 80)).toBeUndefined();
      await expect(fetch(`http://127.0.0.1:${before}/`)).rejects.toThrow();

      await waitForTask(client, await client.startLxc('sim', vmid), { pollIntervalMs: 50 });
      // nginx was enabled by the template: the CT's init starts it at boot, as systemd would.
      let answer: Response | undefined;
      for (let i = 0; i < 50 && !answer; i++) {
        answer = await fetch(`http://127.0.0.1:${hostPort(vmid, 80)}/`).catch(() => undefined);
        if (!answer) await new Promise((r) => setTimeout(r, 100));
      }
      expect(answer?.status).toBe(200);
      expect(await answer!.text()).toContain(`<h1>${hostname} is live</h1>`);
    } finally {
      client.close();
    }
  }, 10 * MINUTES);
});

describe('systemctl in a Debian-mode CT', () => {
  it("runs a unit without an init script from its ExecStart, and stops it", async () => {
    const unit = '[Unit]\nDescription=A test service\n\n[Service]\nExecStart=/usr/bin/sleep 4242\n\n[Install]\nWantedBy=multi-user.target\n';
    const script = [
      'set -euo pipefail',
      'systemctl enable --now sleeper',
      'systemctl is-active sleeper',
      'pgrep -x sleep -a',
      'systemctl is-enabled sleeper',
      'systemctl stop sleeper',
      'if systemctl is-active --quiet sleeper; then echo "still active after stop" >&2; exit 1; fi',
      'if pgrep -f "sleep 4242"; then echo "still running after stop" >&2; exit 1; fi',
      'systemctl start no-such-unit || echo "exit $?"',
      // A killed main process leaves the unit failed, as systemd 252 reports it (exit 3 unless one unit is active).
      'systemctl start sleeper',
      'systemctl kill --signal=KILL sleeper',
      'sleep 0.3',
      'systemctl is-active sleeper || echo "is-active exit $?"',
      'systemctl is-active sleeper no-such-unit ssh || echo "is-active exit $?"',
      'systemctl reset-failed sleeper && systemctl is-active sleeper || echo "is-active exit $?"',
    ].join('\n');
    const definition: TemplateDefinition = {
      name: 'unit-only', description: '', osTemplate: 'debian-12', cores: 1, memory: 512, swap: 512, disk: 4,
      unprivileged: true, nesting: true, tags: [], packages: [],
      files: [{ name: 'sleeper.service', targetPath: '/etc/systemd/system/sleeper.service', content: unit, mode: '0644', owner: 'root:root', policy: 'replace' }],
      scripts: [{ name: '10-unit.sh', position: 1, content: script, enabled: true }],
    };
    expect(await env.deps.repos.templates.createCustom(definition)).not.toBe('taken');
    const { id } = await deploy('unit-only');
    const result = await build(id);
    if (result.outcome !== 'ready') throw new Error(`${result.container.error}\n${result.log.split('\n').slice(-30).join('\n')}`);
    expect(result.log).toMatch(/^active$/m);
    expect(result.log).toMatch(/^\d+ \/usr\/bin\/sleep 4242$/m);
    expect(result.log).toMatch(/^enabled$/m);
    expect(result.log).toContain('Failed to start no-such-unit.service: Unit no-such-unit.service not found.');
    expect(result.log).toMatch(/^exit 5$/m);
    expect(result.log).toMatch(/^failed\nis-active exit 3\nfailed\ninactive\nactive\ninactive\nis-active exit 3$/m);
  }, 10 * MINUTES);
});

describe('a broken copy of a sample fails with its message', () => {
  it('static-web with a typo in its nginx site fails at 10-enable-site.sh, naming the problem', async () => {
    const sample = await getTemplate(env.deps.repos.templates, 'static-web');
    const broken: TemplateDefinition = {
      name: 'static-web-broken',
      description: sample.description,
      osTemplate: sample.osTemplate,
      cores: sample.cores,
      memory: sample.memory,
      swap: sample.swap,
      disk: sample.disk,
      unprivileged: sample.unprivileged,
      nesting: sample.nesting,
      tags: sample.tags,
      scripts: sample.scripts.map(({ name, position, content, enabled }) => ({ name, position, content, enabled })),
      packages: sample.packages.map(({ manager, name, version }) => ({ manager, name, version })),
      files: sample.files.map(({ name, targetPath, content, mode, owner, policy }) => ({
        name, targetPath, mode, owner, policy,
        content: name === 'launchpad' ? content.replace('try_files $uri $uri/ =404;', 'try_files $uri $uri/ =404') : content,
      })),
    };
    expect(broken.files.find((f) => f.name === 'launchpad')!.content).not.toContain('=404;');
    expect(await env.deps.repos.templates.createCustom(broken)).not.toBe('taken');
    const { id } = await deploy('static-web-broken');
    const result = await build(id);
    expect(result.outcome).toBe('failed');
    expect(result.container.error).toContain('Script 10-enable-site.sh exited with code 1');
    expect(result.log).toMatch(/\[emerg\] .*unexpected "\}" in \/etc\/nginx\/sites-enabled\/launchpad:\d+/);
    expect(result.log).toContain('[ERROR] nginx rejects its configuration (see the lines above); fix /etc/nginx/sites-available/launchpad and retry');
  }, 10 * MINUTES);

  it('postgresql without its packages fails at 10-configure.sh, naming what is missing', async () => {
    const hostname = `pg-nopkg-${randomUUID().slice(0, 6)}`;
    const res = await post({ template: 'postgresql', node: 'sim', hostname, password: 'root-password-1', password_confirm: 'root-password-1', package_groups: '' });
    expect(res.status).toBe(303);
    const result = await build(res.location.replace('/containers/', ''));
    expect(result.outcome).toBe('failed');
    expect(result.container.error).toContain('Script 10-configure.sh exited with code 1');
    expect(result.container.error).toContain('PostgreSQL 15 is not installed: /etc/postgresql/15/main/postgresql.conf is missing');
    expect(await credentials(result.container.id)).toEqual({});
  }, 10 * MINUTES);
});
