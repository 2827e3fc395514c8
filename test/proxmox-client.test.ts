// ProxmoxClient against the simulator: every call, the typed errors, TLS pinning, retry policy, and a contract
// test proving that everything the client sends validates against the official schema subset.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { findIpv4, lxcCreateParams, ProxmoxClient, type ProxmoxClientOptions } from '../src/proxmox/api-client.ts';
import type { LxcCreateOptions } from '../src/proxmox/api-types.ts';
import {
  ProxmoxApiError,
  ProxmoxAuthError,
  ProxmoxConnectionError,
  ProxmoxNotImplementedError,
  ProxmoxParameterError,
  ProxmoxPermissionError,
  ProxmoxTransientError,
  TlsFingerprintMismatchError,
} from '../src/proxmox/errors.ts';
import { waitForTask } from '../src/proxmox/task-waiter.ts';
import { fetchCertificateFingerprint, normalizeFingerprint } from '../src/proxmox/tls.ts';
import { startSimulatorApi, type SimulatorApiHandle } from '../src/simulator/index.ts';
import { PveSchema } from '../src/simulator/pve-schema.ts';
import { rejection } from './support/rejection.ts';

const SPEED = 50;
const DEBIAN = 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst';
const SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPUIPH1kPEgEyIJ1q8ukLFgIWeMoCzmEQew9PmrCvRGO admin@laptop';

let sim: SimulatorApiHandle;
let dataDir: string;
let client: ProxmoxClient;
let exchanges: { method: string; path: string; status: number | undefined; attempt: number }[];
const clients: ProxmoxClient[] = [];

function makeClient(overrides: Partial<ProxmoxClientOptions> = {}): ProxmoxClient {
  const c = new ProxmoxClient({
    apiUrl: sim.apiUrl,
    tokenId: sim.tokenId,
    tokenSecret: sim.tokenSecret,
    tlsFingerprint: sim.tlsFingerprint,
    retry: { attempts: 3, baseDelayMs: 5 },
    onExchange: (e) => exchanges.push(e),
    ...overrides,
  });
  clients.push(c);
  return c;
}

/** Everything the wizard can choose, in the shape the pipeline sends it. */
function fullCreate(vmid: number, overrides: Partial<LxcCreateOptions> = {}): LxcCreateOptions {
  return {
    vmid,
    ostemplate: DEBIAN,
    hostname: `web-${vmid}.example.org`,
    password: 'correct horse battery',
    sshPublicKeys: `${SSH_KEY}\n${SSH_KEY.replace('admin@laptop', 'ops@desk')}\n`,
    rootfs: { storage: 'local-lvm', sizeGiB: 8 },
    cores: 2,
    memory: 1024,
    swap: 512,
    net: [{ name: 'eth0', bridge: 'vmbr0', ip: 'dhcp', firewall: true }],
    nameserver: '1.1.1.1 9.9.9.9',
    searchdomain: 'example.org',
    unprivileged: true,
    features: { nesting: true },
    tags: ['launchpad', 'web'],
    onboot: false,
    start: false,
    description: 'Created by Launchpad\nsecond line',
    timezone: 'Europe/Berlin',
    ...overrides,
  };
}

const wait = (upid: string) => waitForTask(client, upid, { pollIntervalMs: 10 });

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'proxmox-client-test-'));
  sim = await startSimulatorApi({ dataDir, speed: SPEED, authDelayMs: 0 });
  exchanges = [];
  client = makeClient();
});

afterEach(() => {
  sim.faults.reset();
  exchanges = [];
});

afterAll(async () => {
  for (const c of clients) c.close();
  await sim.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('calls', () => {
  it('reads version, nodes and node status, normalised', async () => {
    expect(await client.getVersion()).toEqual({ version: '9.2.11', release: '9.2', repoid: '14a22df3' });
    const nodes = await client.listNodes();
    expect(nodes).toEqual([expect.objectContaining({ node: 'sim', status: 'online', sslFingerprint: sim.tlsFingerprint })]);
    const status = await client.getNodeStatus('sim');
    expect(status.loadavg).toEqual([0.12, 0.1, 0.05]);
    expect(status.memory.total).toBeGreaterThan(status.memory.used);
    expect(status.pveversion).toMatch(/^pve-manager\//);
  });

  it('gets the next id as a number and checks a given id', async () => {
    const next = await client.nextId();
    expect(typeof next).toBe('number');
    expect(await client.isVmidFree(next)).toBe(true);
    await wait(await client.createLxc('sim', fullCreate(next)));
    expect(await client.isVmidFree(next)).toBe(false);
    expect(await client.nextId()).toBe(next + 1);
  });

  it('lists the node’s bridges (type=any_bridge), sorted, comments trimmed', async () => {
    expect(await client.listBridges('sim')).toEqual([
      { iface: 'vmbr0', type: 'bridge', active: true, comments: undefined },
      { iface: 'vmbr1', type: 'bridge', active: true, comments: 'internal (no ports)' },
    ]);
    expect(sim.requests.at(-1)).toMatchObject({ path: '/nodes/sim/network', params: { type: 'any_bridge' }, violations: {} });
  });

  it('lists storages by content and the OS templates on them', async () => {
    const rootdir = await client.listStorages('sim', { content: 'rootdir' });
    expect(rootdir).toEqual([expect.objectContaining({ storage: 'local-lvm', type: 'lvmthin', content: ['rootdir', 'images'], enabled: true, active: true, shared: false })]);
    const templates = await client.listOsTemplates('sim');
    expect(templates.map((t) => t.volid)).toContain(DEBIAN);
    expect(templates.every((t) => t.content === 'vztmpl' && t.size > 0)).toBe(true);
    const content = await client.listStorageContent('sim', 'local', 'vztmpl');
    expect(content).toEqual(templates);
  });

  it('creates, inspects, starts, reads the IP, reboots, shuts down, stops and deletes a CT', async () => {
    const upid = await client.createLxc('sim', fullCreate(200));
    const during = await client.getLxcConfig('sim', 200);
    expect(during.lock).toBe('create');
    expect(during.hostname).toBeUndefined();
    expect((await client.listClusterVms()).find((v) => v.vmid === 200)?.status).toBe('unknown');

    const result = await wait(upid);
    expect(result.exitstatus).toBe('OK');
    const config = await client.getLxcConfig('sim', 200);
    expect(config).toMatchObject({
      lock: undefined,
      hostname: 'web-200.example.org',
      cores: 2,
      memory: 1024,
      swap: 512,
      unprivileged: true,
      onboot: false,
      tags: ['launchpad', 'web'],
      features: 'nesting=1',
      rootfs: 'local-lvm:vm-200-disk-0,size=8G',
      nameserver: '1.1.1.1 9.9.9.9',
      searchdomain: 'example.org',
    });
    expect(config.net.net0).toMatch(/^name=eth0,bridge=vmbr0,firewall=1,hwaddr=BC:24:11:[0-9A-F:]{8},ip=dhcp,type=veth$/);
    // Stored as `#` comment lines of the CT's config file and read back one line + "\n" each (pve-container).
    expect(config.description).toBe('Created by Launchpad\nsecond line\n');

    const listed = await client.listLxc('sim');
    expect(listed.find((c) => c.vmid === 200)).toMatchObject({ status: 'stopped', name: 'web-200.example.org', maxmem: 1024 * 2 ** 20 });
    expect(await client.getLxcInterfaces('sim', 200)).toBeNull();

    await wait(await client.startLxc('sim', 200));
    const status = await client.getLxcStatus('sim', 200);
    expect(status).toMatchObject({ vmid: 200, status: 'running', tags: ['launchpad', 'web'], template: false, ha: { managed: false } });
    expect(status.pid).toBeGreaterThan(0);
    const early = await client.getLxcInterfaces('sim', 200);
    expect(early?.map((i) => i.name)).toEqual(['lo', 'eth0']);
    expect(findIpv4(early)).toBeUndefined();
    await new Promise((r) => setTimeout(r, 4000 / SPEED + 30));
    expect(findIpv4(await client.getLxcInterfaces('sim', 200))).toMatch(/^10\.10\.0\.\d+$/);

    await wait(await client.rebootLxc('sim', 200, { timeout: 30 }));
    await wait(await client.shutdownLxc('sim', 200, { timeout: 30, forceStop: true }));
    expect((await client.getLxcStatus('sim', 200)).status).toBe('stopped');
    await wait(await client.startLxc('sim', 200));
    await wait(await client.stopLxc('sim', 200));
    expect((await client.getLxcStatus('sim', 200)).status).toBe('stopped');
    sim.state.addToHa(200);
    expect((await client.getLxcStatus('sim', 200)).ha).toEqual({ managed: true, state: 'stopped' });

    const destroy = await wait(await client.deleteLxc('sim', 200, { purge: true, destroyUnreferencedDisks: true }));
    expect(destroy.exitstatus).toBe('OK');
    await expect(client.getLxcStatus('sim', 200)).rejects.toBeInstanceOf(ProxmoxApiError);
  });

  it('reads task status and log pages, and stops a task', async () => {
    sim.faults.set({ slowStorage: true });
    const upid = await client.createLxc('sim', fullCreate(201));
    const status = await client.getTaskStatus(upid);
    expect(status).toMatchObject({ upid, node: 'sim', type: 'vzcreate', id: '201', user: 'root@pam', tokenid: 'launchpad', status: 'running' });
    await new Promise((r) => setTimeout(r, 50));
    const page = await client.getTaskLog(upid, { start: 0, limit: 2 });
    expect(page.lines.map((l) => l.n)).toEqual([1, 2]);
    expect(page.total).toBeGreaterThanOrEqual(2);
    await client.stopTask(upid);
    await expect(wait(upid)).rejects.toMatchObject({ exitstatus: 'unable to create CT 201 - received interrupt' });
  });
});

describe('typed errors', () => {
  it('400 → ProxmoxParameterError with the per-parameter messages', async () => {
    const err = await rejection<unknown>(client.createLxc('sim', fullCreate(210, { rootfs: undefined })));
    expect(err).toBeInstanceOf(ProxmoxParameterError);
    expect((err as ProxmoxParameterError).errors).toEqual({ storage: "storage 'local' does not support container directories" });
    expect((err as ProxmoxParameterError).message).toBe(
      "Parameter verification failed — storage: storage 'local' does not support container directories",
    );

    const nested = await rejection<ProxmoxParameterError>(
      client.createLxc('sim', fullCreate(210, { net: [{ name: 'eth0', bridge: 'vmbr0', ip: '10.0.0.1' }] })),
    );
    expect(nested.errors.net0).toBe(
      'invalid format - format error net0.ip: invalid format - value does not look like a valid ipv4 network configuration',
    );
  });

  it('500 → ProxmoxApiError with the reason text, not transient', async () => {
    await wait(await client.createLxc('sim', fullCreate(211)));
    const err = await rejection<ProxmoxApiError>(client.createLxc('sim', fullCreate(211)));
    expect(err).toBeInstanceOf(ProxmoxApiError);
    expect([err.status, err.message, err.transient]).toEqual([500, "CT 211 already exists on node 'sim'", false]);
  });

  it('401 → ProxmoxAuthError', async () => {
    const bad = makeClient({ tokenSecret: '00000000-0000-0000-0000-000000000000' });
    const err = await rejection<ProxmoxAuthError>(bad.getVersion());
    expect(err).toBeInstanceOf(ProxmoxAuthError);
    expect(err.detail).toBe('Authentication failed!');
  });

  it('403 → ProxmoxPermissionError', async () => {
    const err = await rejection<unknown>(client.createLxc('sim', fullCreate(212, { features: { nesting: true, keyctl: true } })));
    expect(err).toBeInstanceOf(ProxmoxPermissionError);
    expect((err as ProxmoxPermissionError).detail).toMatch(/only allowed for root@pam/);
  });

  it('501 → ProxmoxNotImplementedError', async () => {
    sim.faults.failNextRequest('GET', '/version', 501);
    await expect(client.getVersion()).rejects.toBeInstanceOf(ProxmoxNotImplementedError);
  });

  it('connection refused → ProxmoxConnectionError (transient, retried for GETs)', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createNetServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const refused = makeClient({ apiUrl: `https://127.0.0.1:${port}` });
    const err = await rejection<ProxmoxConnectionError>(refused.getVersion());
    expect(err).toBeInstanceOf(ProxmoxConnectionError);
    expect([err.code, err.transient]).toEqual(['ECONNREFUSED', true]);
    expect(exchanges.filter((e) => e.path === '/version').map((e) => e.attempt)).toEqual([1, 2, 3]);
  });

  it('a server that never answers → timeout as ProxmoxConnectionError', async () => {
    const { server, port } = await rawTlsServer(() => {});
    try {
      const slow = makeClient({ apiUrl: `https://127.0.0.1:${port}`, requestTimeoutMs: 100, retry: { attempts: 1 } });
      const err = await rejection<ProxmoxConnectionError>(slow.getVersion());
      expect(err).toBeInstanceOf(ProxmoxConnectionError);
      expect(err.code).toBe('ETIMEDOUT');
    } finally {
      server.close();
    }
  });
});

describe('retries', () => {
  it('retries an idempotent GET through 596s', async () => {
    await wait(await client.createLxc('sim', fullCreate(220)));
    exchanges = [];
    sim.faults.failNextRequest('GET', /\/status\/current$/, 596, 2);
    expect((await client.getLxcStatus('sim', 220)).vmid).toBe(220);
    expect(exchanges.map((e) => [e.attempt, e.status])).toEqual([
      [1, 596],
      [2, 596],
      [3, 200],
    ]);
  });

  it('gives up after the configured attempts with ProxmoxTransientError', async () => {
    sim.faults.failNextRequest('GET', '/cluster/resources', 597, 5);
    const err = await rejection<ProxmoxTransientError>(client.listClusterVms());
    expect(err).toBeInstanceOf(ProxmoxTransientError);
    expect([err.status, err.detail, err.transient]).toEqual([597, 'Connection reset by peer', true]);
    expect(exchanges).toHaveLength(3);
  });

  it('never retries a create POST', async () => {
    sim.faults.failNextRequest('POST', '/nodes/sim/lxc', 596);
    const err = await rejection<unknown>(client.createLxc('sim', fullCreate(221)));
    expect(err).toBeInstanceOf(ProxmoxTransientError);
    expect(exchanges.map((e) => [e.method, e.attempt, e.status])).toEqual([['POST', 1, 596]]);
    expect(await client.isVmidFree(221)).toBe(true);
  });

  it('never retries a start POST', async () => {
    await wait(await client.createLxc('sim', fullCreate(222)));
    exchanges = [];
    sim.faults.failNextRequest('POST', /\/status\/start$/, 598);
    await expect(client.startLxc('sim', 222)).rejects.toBeInstanceOf(ProxmoxTransientError);
    expect(exchanges.filter((e) => e.method === 'POST')).toHaveLength(1);
  });
});

describe('TLS pinning', () => {
  it('refuses a server whose certificate does not match, before sending anything', async () => {
    const before = sim.requests.length;
    const wrong = makeClient({ tlsFingerprint: 'AA:'.repeat(31) + 'AA' });
    const err = await rejection<TlsFingerprintMismatchError>(wrong.createLxc('sim', fullCreate(230)));
    expect(err).toBeInstanceOf(TlsFingerprintMismatchError);
    expect(err.actual).toBe(sim.tlsFingerprint);
    expect(err.message).toMatch(/does not match the pinned fingerprint/);
    expect(err.transient).toBe(false);
    expect(sim.requests.length).toBe(before);
    // Not retried either, even for a GET.
    exchanges = [];
    await expect(wrong.getVersion()).rejects.toBeInstanceOf(TlsFingerprintMismatchError);
    expect(exchanges).toHaveLength(1);
  });

  it('sends not a single byte (no token, no password) to a server with another certificate', async () => {
    let received = 0;
    const { server, port } = await rawTlsServer((socket) => socket.on('data', (d: Buffer) => (received += d.length)));
    try {
      const mismatch = makeClient({ apiUrl: `https://127.0.0.1:${port}`, tlsFingerprint: 'BB'.repeat(32) });
      await expect(mismatch.createLxc('sim', fullCreate(231))).rejects.toBeInstanceOf(TlsFingerprintMismatchError);
      await new Promise((r) => setTimeout(r, 50));
      expect(received).toBe(0);

      // Control: with the right pin the same server does receive the request.
      const fingerprint = await fetchCertificateFingerprint(`https://127.0.0.1:${port}`);
      const pinned = makeClient({ apiUrl: `https://127.0.0.1:${port}`, tlsFingerprint: fingerprint, requestTimeoutMs: 200, retry: { attempts: 1 } });
      await expect(pinned.getVersion()).rejects.toBeInstanceOf(ProxmoxConnectionError);
      expect(received).toBeGreaterThan(0);
    } finally {
      server.close();
    }
  });

  it('fetches the fingerprint for trust-on-first-use without sending a request', async () => {
    const before = sim.requests.length;
    expect(await fetchCertificateFingerprint(sim.apiUrl)).toBe(sim.tlsFingerprint);
    expect(sim.requests.length).toBe(before);
  });

  it('normalises fingerprints the way Proxmox shows them', () => {
    const plain = sim.tlsFingerprint.replace(/:/g, '').toLowerCase();
    expect(normalizeFingerprint(plain)).toBe(sim.tlsFingerprint);
    expect(() => normalizeFingerprint('AB:CD')).toThrow(/SHA-256/);
  });
});

describe('contract with the schema subset', () => {
  it('every request the client sent in a full session validated with zero violations', async () => {
    const before = sim.requests.length;
    const c = makeClient();
    await c.getVersion();
    await c.listNodes();
    await c.getNodeStatus('sim');
    const vmid = await c.nextId();
    await c.isVmidFree(vmid);
    await c.listClusterVms();
    await c.listStorages('sim', { content: 'rootdir', enabled: true });
    await c.listOsTemplates('sim');
    const create = await c.createLxc('sim', fullCreate(vmid, { start: true, onboot: true, cpulimit: 1.5 }));
    await c.getLxcConfig('sim', vmid);
    await waitForTask(c, create, { pollIntervalMs: 10, onLine: () => {} });
    await c.listLxc('sim');
    await c.getLxcStatus('sim', vmid);
    await c.getLxcInterfaces('sim', vmid);
    await waitForTask(c, await c.rebootLxc('sim', vmid, { timeout: 10 }), { pollIntervalMs: 10 });
    await waitForTask(c, await c.shutdownLxc('sim', vmid, { timeout: 10, forceStop: true }), { pollIntervalMs: 10 });
    await waitForTask(c, await c.startLxc('sim', vmid), { pollIntervalMs: 10 });
    await waitForTask(c, await c.stopLxc('sim', vmid), { pollIntervalMs: 10 });
    const slowCreate = await c.createLxc('sim', fullCreate(vmid + 1, { net: [{ name: 'eth0', bridge: 'vmbr0', ip: '10.20.30.40/24', gw: '10.20.30.1', mtu: 1450, tag: 20 }] }));
    await c.stopTask(slowCreate);
    await waitForTask(c, slowCreate, { pollIntervalMs: 10 }).catch(() => undefined);
    await waitForTask(c, await c.deleteLxc('sim', vmid, { purge: true, force: true, destroyUnreferencedDisks: true }), { pollIntervalMs: 10 });

    const sent = sim.requests.slice(before);
    const routes = new Set(sent.map((r) => `${r.method} ${r.route}`));
    expect(routes.size).toBeGreaterThanOrEqual(20);
    expect(sent.filter((r) => Object.keys(r.violations).length > 0)).toEqual([]);
  });

  it('create parameters validate for every shape the wizard produces', () => {
    const schema = PveSchema.load();
    const create = schema.method('/nodes/{node}/lxc', 'POST');
    const variants: LxcCreateOptions[] = [
      fullCreate(300),
      fullCreate(301, { net: [{ name: 'eth0', bridge: 'vmbr0', ip: '192.168.1.20/24', gw: '192.168.1.1' }], unprivileged: false, features: { nesting: false } }),
      fullCreate(302, { sshPublicKeys: undefined, nameserver: undefined, searchdomain: undefined, tags: [], description: undefined }),
      { vmid: 303, ostemplate: DEBIAN },
    ];
    for (const variant of variants) {
      const params = { node: 'sim', ...lxcCreateParams(variant) };
      expect(schema.validate(create, params).errors, JSON.stringify(params)).toEqual({});
    }
    // Booleans go out as 0/1, never true/false.
    expect(lxcCreateParams(fullCreate(304))).toMatchObject({ unprivileged: '1', onboot: '0', start: '0', features: 'nesting=1', tags: 'launchpad;web' });
  });
});

/** A TLS server with the simulator's own certificate (so a wrong pin is a real mismatch) that never answers HTTP. */
async function rawTlsServer(onSocket: (socket: tls.TLSSocket) => void): Promise<{ server: tls.Server; port: number }> {
  const cert = readFileSync(join(dataDir, 'secrets', 'api.pem'), 'utf8');
  const key = readFileSync(join(dataDir, 'secrets', 'api.key'), 'utf8');
  const server = tls.createServer({ cert, key }, onSocket);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { server, port: (server.address() as AddressInfo).port };
}

