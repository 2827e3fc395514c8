// The simulator's HTTPS API on the wire, without our client in between: envelope, status lines, error shapes,
// schema validation, task semantics, CT lifecycle and every fault switch, as reference/proxmox-api.md describes
// a real node.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseUpid } from '../src/proxmox/upid.ts';
import { startSimulatorApi, type SimulatorApiHandle } from '../src/simulator/index.ts';

// Slow enough that the short windows this file checks (status "unknown" before the first stats sample, link-local
// before the DHCP lease) stay open for a few hundred milliseconds even on a loaded CI machine.
const SPEED = 10;
const DEBIAN = 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst';
const ALPINE = 'local:vztmpl/alpine-3.20-default_20240908_amd64.tar.xz';

let sim: SimulatorApiHandle;
let dataDir: string;

interface Reply {
  status: number;
  reason: string;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: { data?: unknown; errors?: Record<string, string>; message?: string; total?: number } | undefined;
}

function api(
  method: string,
  path: string,
  options: { params?: Record<string, string | number>; json?: Record<string, unknown>; auth?: string | null } = {},
): Promise<Reply> {
  const url = new URL(`/api2/json${path}`, sim.apiUrl);
  let body: string | undefined;
  const headers: Record<string, string> = {};
  if (options.auth !== null) headers.Authorization = options.auth ?? `PVEAPIToken=${sim.tokenId}=${sim.tokenSecret}`;
  const form = new URLSearchParams(Object.entries(options.params ?? {}).map(([k, v]): [string, string] => [k, String(v)]));
  if (options.json) {
    body = JSON.stringify(options.json);
    headers['Content-Type'] = 'application/json';
  } else if (method === 'POST' || method === 'PUT') {
    body = form.toString();
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
  } else if (form.size > 0) {
    url.search = form.toString();
  }
  return new Promise((resolve, reject) => {
    // Test-only raw access to our own loopback server; the product's client pins the fingerprint instead.
    const req = https.request(url, { method, headers, rejectUnauthorized: false, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let json: Reply['json'];
        try {
          json = text ? (JSON.parse(text) as Reply['json']) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, reason: res.statusMessage ?? '', headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function taskDone(upid: string): Promise<{ exitstatus: string; lines: string[] }> {
  const node = parseUpid(upid)!.node;
  const path = `/nodes/${node}/tasks/${encodeURIComponent(upid)}`;
  for (let i = 0; i < 400; i++) {
    const status = await api('GET', `${path}/status`);
    const data = status.json?.data as { status: string; exitstatus?: string };
    if (data.status === 'stopped') {
      const log = await api('GET', `${path}/log`, { params: { limit: 0 } });
      return { exitstatus: data.exitstatus!, lines: (log.json?.data as { t: string }[]).map((l) => l.t) };
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('task did not finish');
}

async function createCt(vmid: number, extra: Record<string, string | number> = {}): Promise<string> {
  const reply = await api('POST', '/nodes/sim/lxc', {
    params: { vmid, ostemplate: DEBIAN, hostname: `ct${vmid}`, rootfs: 'local-lvm:4', net0: 'name=eth0,bridge=vmbr0,ip=dhcp', features: 'nesting=1', ...extra },
  });
  expect(reply.status, reply.reason).toBe(200);
  return reply.json!.data as string;
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'sim-api-test-'));
  sim = await startSimulatorApi({ dataDir, speed: SPEED, authDelayMs: 0 });
});

afterEach(() => sim.faults.reset());

afterAll(async () => {
  await sim.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('envelope and errors', () => {
  it('answers {"data": …} with the pveproxy headers', async () => {
    const reply = await api('GET', '/version');
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/json;charset=UTF-8');
    expect(reply.headers.server).toBe('pve-api-daemon/3.0');
    expect(reply.json).toEqual({ data: { version: '9.2.11', release: '9.2', repoid: '14a22df3' } });
  });

  it('rejects a missing or wrong token with 401 and an empty body, closing the connection', async () => {
    const missing = await api('GET', '/version', { auth: null });
    expect([missing.status, missing.reason, missing.text]).toEqual([401, 'No ticket', '']);
    const wrong = await api('GET', '/version', { auth: `PVEAPIToken=${sim.tokenId}=not-the-secret` });
    expect([wrong.status, wrong.reason]).toEqual([401, 'Authentication failed!']);
    expect(wrong.headers.connection).toBe('close');
  });

  it('delays 401s by the configured time (3 s on a real node)', async () => {
    const slowDir = mkdtempSync(join(tmpdir(), 'sim-api-auth-'));
    const slow = await startSimulatorApi({ dataDir: slowDir, speed: SPEED, authDelayMs: 300 });
    try {
      const started = Date.now();
      const reply = await new Promise<number>((resolve, reject) => {
        https
          .request(`${slow.apiUrl}/api2/json/version`, { headers: { Authorization: 'PVEAPIToken=x@pam!y=z' }, rejectUnauthorized: false }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          })
          .on('error', reject)
          .end();
      });
      expect(reply).toBe(401);
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    } finally {
      await slow.close();
      rmSync(slowDir, { recursive: true, force: true });
    }
  });

  it('accepts a token whose secret is split at the last "=" and URI-escaped', async () => {
    const reply = await api('GET', '/version', { auth: `PVEAPIToken=${encodeURIComponent(`${sim.tokenId}=${sim.tokenSecret}`)}` });
    expect(reply.status).toBe(200);
  });

  it('answers 501 with the method and path for unknown paths and methods', async () => {
    const exec = await api('POST', '/nodes/sim/lxc/210/exec');
    expect(exec.status).toBe(501);
    expect(exec.reason).toBe("Method 'POST /nodes/sim/lxc/210/exec' not implemented");
    expect(exec.json).toMatchObject({ data: null });
    const wrongMethod = await api('PUT', '/version');
    expect(wrongMethod.status).toBe(501);
  });

  it('answers 500 with the first line as reason phrase and the full text in message', async () => {
    const reply = await api('GET', '/nodes/sim/lxc/999/config');
    expect(reply.status).toBe(500);
    expect(reply.reason).toBe("Configuration file 'nodes/sim/lxc/999.conf' does not exist");
    expect(reply.json).toEqual({ data: null, message: "Configuration file 'nodes/sim/lxc/999.conf' does not exist\n" });
    expect(reply.headers.connection).toBe('close');
  });

  it('drops `message` from error bodies when emulating PVE before 8.4', async () => {
    sim.faults.set({ legacyErrorBodies: true });
    const reply = await api('GET', '/nodes/sim/lxc/999/config');
    expect(reply.json).toEqual({ data: null });
  });

  it('rejects an unknown node name like a single-node cluster does', async () => {
    const reply = await api('GET', '/nodes/pve2/status');
    expect(reply.status).toBe(500);
    expect(reply.reason).toMatch(/^hostname lookup 'pve2' failed/);
  });
});

describe('schema validation (what a real node rejects)', () => {
  it('rejects `true` for a boolean: booleans are 0/1 in form bodies', async () => {
    const reply = await api('POST', '/nodes/sim/lxc', { params: { vmid: 300, ostemplate: DEBIAN, unprivileged: 'true' } });
    expect(reply.status).toBe(400);
    expect(reply.reason).toBe('Parameter verification failed.');
    expect(reply.json?.errors).toEqual({ unprivileged: "type check ('boolean') failed - got 'true'" });
    expect(reply.json?.data).toBeNull();
  });

  it('accepts JSON true/false in a JSON body', async () => {
    const reply = await api('POST', '/nodes/sim/lxc', {
      json: { vmid: 301, ostemplate: ALPINE, unprivileged: true, start: false, rootfs: 'local-lvm:1' },
    });
    expect(reply.status, reply.reason).toBe(200);
    await taskDone(reply.json!.data as string);
    expect((await api('DELETE', '/nodes/sim/lxc/301')).status).toBe(200);
  });

  it('reports a bad net0 with the nested key, exactly as parse_property_string does', async () => {
    const reply = await api('POST', '/nodes/sim/lxc', {
      params: { vmid: 302, ostemplate: DEBIAN, net0: 'name=eth0,bridge=vmbr0,ip=10.0.0.5' },
    });
    expect(reply.status).toBe(400);
    expect(reply.json?.errors).toEqual({
      net0: 'invalid format - format error\nnet0.ip: invalid format - value does not look like a valid ipv4 network configuration\n',
    });
  });

  it('reports unknown, duplicate and missing keys inside property strings', async () => {
    const reply = await api('POST', '/nodes/sim/lxc', {
      params: { vmid: 302, ostemplate: DEBIAN, net0: 'bridge=vmbr0', net1: 'name=eth1,foo=1', net2: 'name=a,ip=dhcp,ip=dhcp', features: 'nesting=yes,mknod=2' },
    });
    expect(reply.json?.errors).toEqual({
      net0: 'invalid format - format error\nnet0.name: property is missing and it is not optional\n',
      net1: 'invalid format - invalid key in comma-separated list property: foo\n',
      net2: 'invalid format - duplicate key in comma-separated list property: ip\n',
      features: "invalid format - format error\nfeatures.mknod: type check ('boolean') failed - got '2'\n",
    });
  });

  it('rejects unknown parameters, missing required ones, bad formats, ranges and lengths', async () => {
    const reply = await api('POST', '/nodes/sim/lxc', {
      params: { vmid: 42, hostname: 'bad_name', password: 'abc', memory: 8, tags: 'ok;bad tag!', storage: 'x', cores: 'two', frobnicate: 1 },
    });
    expect(reply.status).toBe(400);
    expect(reply.json?.errors).toEqual({
      vmid: 'invalid format - value does not look like a valid VM ID\n',
      ostemplate: 'property is missing and it is not optional',
      hostname: 'invalid format - value does not look like a valid DNS name\n',
      password: 'value must be at least 5 characters long',
      memory: 'value must have a minimum value of 16',
      tags: 'invalid format - invalid characters in tag\n',
      storage: "invalid format - storage ID 'x' cannot be shorter than 2 characters\n",
      cores: "type check ('integer') failed - got 'two'",
      frobnicate: 'property is not defined in schema and the schema does not allow additional properties',
    });
  });

  it('validates path parameters and enums on GETs too', async () => {
    const vmid = await api('GET', '/nodes/sim/lxc/abc/status/current');
    expect(vmid.json?.errors).toEqual({ vmid: "type check ('integer') failed - got 'abc'" });
    const type = await api('GET', '/cluster/resources', { params: { type: 'vms' } });
    expect(type.json?.errors).toEqual({ type: "value 'vms' does not have a value in the enumeration 'vm, storage, node, sdn'" });
  });

  it('records every request with its violations', async () => {
    const before = sim.requests.length;
    await api('GET', '/cluster/nextid', { params: { vmid: 'x' } });
    const recorded = sim.requests.slice(before);
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ method: 'GET', route: '/cluster/nextid', status: 400 });
    expect(recorded[0]!.violations).toEqual({ vmid: "type check ('integer') failed - got 'x'" });
  });

  it('numbers the recorded requests, so a test can count what happened after a mark', async () => {
    const mark = sim.requests.at(-1)?.seq ?? 0;
    await api('GET', '/version');
    await api('GET', '/nodes');
    expect(sim.requests.filter((r) => r.seq > mark).map((r) => [r.seq - mark, r.path])).toEqual([[1, '/version'], [2, '/nodes']]);
  });
});

describe('read endpoints', () => {
  it('returns nextid as a string and 400 "VM N already exists" for a taken ?vmid=', async () => {
    const next = await api('GET', '/cluster/nextid');
    expect(typeof next.json?.data).toBe('string');
    expect(Number(next.json?.data)).toBeGreaterThanOrEqual(100);
    const free = await api('GET', '/cluster/nextid', { params: { vmid: 4321 } });
    expect(free.json?.data).toBe('4321');

    await taskDone(await createCt(400));
    const taken = await api('GET', '/cluster/nextid', { params: { vmid: 400 } });
    expect(taken.status).toBe(400);
    expect(taken.json?.errors).toEqual({ vmid: 'VM 400 already exists' });
  });

  it('lists the node, its status and storages with the right content types', async () => {
    const nodes = await api('GET', '/nodes');
    expect(nodes.json?.data).toEqual([expect.objectContaining({ node: 'sim', status: 'online', type: 'node', ssl_fingerprint: sim.tlsFingerprint })]);
    const status = (await api('GET', '/nodes/sim/status')).json?.data as { loadavg: unknown[]; pveversion: string };
    expect(status.loadavg.every((l) => typeof l === 'string')).toBe(true);
    expect(status.pveversion).toMatch(/^pve-manager\/9\.2\.11\//);

    const rootdir = (await api('GET', '/nodes/sim/storage', { params: { content: 'rootdir' } })).json?.data as { storage: string; type: string }[];
    expect(rootdir.map((s) => [s.storage, s.type])).toEqual([['local-lvm', 'lvmthin']]);
    const templates = (await api('GET', '/nodes/sim/storage', { params: { content: 'vztmpl', enabled: 1 } })).json?.data as {
      storage: string;
      content: string;
      enabled: number;
    }[];
    expect(templates).toEqual([expect.objectContaining({ storage: 'local', content: 'vztmpl,iso,backup', enabled: 1, active: 1, shared: 0 })]);
  });

  it('answers `storage=` for a storage it does not list with 400 "No such storage." (pve-storage API2/Storage/Status.pm)', async () => {
    const one = await api('GET', '/nodes/sim/storage', { params: { storage: 'local-lvm' } });
    expect((one.json?.data as { storage: string }[]).map((s) => s.storage)).toEqual(['local-lvm']);
    const unknown = await api('GET', '/nodes/sim/storage', { params: { storage: 'nfs1' } });
    expect([unknown.status, unknown.reason, unknown.json?.errors]).toEqual([400, 'Parameter verification failed.', { storage: 'No such storage.' }]);
    // storage_info leaves out what the content filter does not want: the same answer.
    const filtered = await api('GET', '/nodes/sim/storage', { params: { storage: 'local', content: 'rootdir' } });
    expect([filtered.status, filtered.json?.errors]).toEqual([400, { storage: 'No such storage.' }]);
  });

  it('lists downloaded templates with their volids and formats', async () => {
    const content = (await api('GET', '/nodes/sim/storage/local/content', { params: { content: 'vztmpl' } })).json?.data as {
      volid: string;
      format: string;
    }[];
    expect(content.map((c) => [c.volid, c.format])).toEqual([
      [ALPINE, 'txz'],
      [DEBIAN, 'tzst'],
      ['local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst', 'tzst'],
    ]);
    const missing = await api('GET', '/nodes/sim/storage/nfs1/content');
    expect([missing.status, missing.reason]).toEqual([500, "storage 'nfs1' does not exist"]);
  });
});

describe('network (GET /nodes/{node}/network)', () => {
  it('lists the bridges for type=any_bridge, as the Proxmox GUI asks, and filters by type like API2/Network.pm', async () => {
    const bridges = await api('GET', '/nodes/sim/network', { params: { type: 'any_bridge' } });
    expect(bridges.status).toBe(200);
    expect(bridges.json?.data).toEqual([
      { iface: 'vmbr0', type: 'bridge', active: 1, autostart: 1, families: ['inet'], method: 'static', method6: 'manual', cidr: '10.10.0.2/24', gateway: '10.10.0.1', bridge_ports: 'eno1', priority: 3 },
      { iface: 'vmbr1', type: 'bridge', active: 1, autostart: 1, method: 'manual', method6: 'manual', bridge_ports: '', comments: 'internal (no ports)\n', priority: 4 },
    ]);
    const types = async (params: Record<string, string>) => ((await api('GET', '/nodes/sim/network', { params })).json?.data as { iface: string }[]).map((i) => i.iface);
    expect(await types({})).toEqual(['eno1', 'vmbr0', 'vmbr1']);
    expect(await types({ type: 'eth' })).toEqual(['eno1']);
    expect(await types({ type: 'bridge' })).toEqual(['vmbr0', 'vmbr1']);
    expect(await types({ type: 'OVSBridge' })).toEqual([]);
    expect(await types({ type: 'any_local_bridge' })).toEqual(['vmbr0', 'vmbr1']);
    expect(sim.requests.filter((r) => r.route === '/nodes/{node}/network').every((r) => Object.keys(r.violations).length === 0)).toBe(true);
  });

  it('rejects a type outside the schema enumeration', async () => {
    const bad = await api('GET', '/nodes/sim/network', { params: { type: 'bridges' } });
    expect(bad.status).toBe(400);
    expect(bad.json?.errors?.type).toMatch(/^value 'bridges' does not have a value in the enumeration 'bridge, bond, eth, alias, vlan, fabric, OVSBridge, OVSBond, OVSPort, OVSIntPort, vnet, any_bridge, any_local_bridge, include_sdn'/);
  });
});

describe('tasks', () => {
  it('issues UPIDs in the real format with the token user, and a log with total', async () => {
    const upid = await createCt(500);
    expect(upid).toMatch(/^UPID:sim:[0-9A-F]{8}:[0-9A-F]{8,9}:[0-9A-F]{8}:vzcreate:500:root@pam!launchpad:$/);
    const status = (await api('GET', `/nodes/sim/tasks/${encodeURIComponent(upid)}/status`)).json?.data;
    expect(status).toMatchObject({ upid, type: 'vzcreate', id: '500', user: 'root@pam', tokenid: 'launchpad', status: 'running' });
    expect(status).not.toHaveProperty('exitstatus');

    const { exitstatus, lines } = await taskDone(upid);
    expect(exitstatus).toBe('OK');
    expect(lines[0]).toBe('  Logical volume "vm-500-disk-0" created.');
    expect(lines).toContain(`extracting archive '/var/lib/vz/template/cache/debian-12-standard_12.7-1_amd64.tar.zst'`);
    expect(lines).toContain('Detected container architecture: amd64');
    expect(lines.at(-1)).toBe('TASK OK');

    const page = await api('GET', `/nodes/sim/tasks/${encodeURIComponent(upid)}/log`, { params: { start: 2, limit: 3 } });
    expect(page.json?.total).toBe(lines.length);
    expect(page.json?.data).toEqual([
      { n: 3, t: lines[2] },
      { n: 4, t: lines[3] },
      { n: 5, t: lines[4] },
    ]);
    const past = await api('GET', `/nodes/sim/tasks/${encodeURIComponent(upid)}/log`, { params: { start: 500 } });
    expect(past.json).toEqual({ data: [], total: lines.length });
  });

  it('answers 400 for an unparseable or unknown UPID', async () => {
    const bad = await api('GET', '/nodes/sim/tasks/nonsense/status');
    expect(bad.json?.errors).toEqual({ upid: 'unable to parse worker upid' });
    const unknown = await api('GET', `/nodes/sim/tasks/${encodeURIComponent('UPID:sim:00000001:00000001:00000001:vzstart:1:root@pam:')}/status`);
    expect([unknown.status, unknown.json?.errors]).toEqual([400, { upid: 'no such task' }]);
  });

  it('interrupts a task on DELETE: vzcreate ends with "received interrupt" and cleans up', async () => {
    sim.faults.set({ slowStorage: true });
    const upid = await createCt(501);
    await new Promise((r) => setTimeout(r, 30));
    const stop = await api('DELETE', `/nodes/sim/tasks/${encodeURIComponent(upid)}`);
    expect(stop.json).toEqual({ data: null });
    const { exitstatus, lines } = await taskDone(upid);
    expect(exitstatus).toBe('unable to create CT 501 - received interrupt');
    expect(lines.at(-1)).toBe('TASK ERROR: unable to create CT 501 - received interrupt');
    expect((await api('GET', '/nodes/sim/lxc/501/status/current')).status).toBe(500);
    expect(existsSync(join(dataDir, 'ct', '501'))).toBe(false);
  });

  it('lists tasks newest first, filtered by vmid', async () => {
    const upid = await createCt(502);
    await taskDone(upid);
    const list = (await api('GET', '/nodes/sim/tasks', { params: { vmid: 502 } })).json?.data as { upid: string; status: string }[];
    expect(list).toEqual([expect.objectContaining({ upid, status: 'OK' })]);
  });
});

describe('container lifecycle', () => {
  it('holds `lock: create` while vzcreate runs: config shows only the lock, status shows it too', async () => {
    sim.faults.set({ slowStorage: true });
    const upid = await createCt(600);
    const config = (await api('GET', '/nodes/sim/lxc/600/config')).json?.data as Record<string, unknown>;
    expect(Object.keys(config).sort()).toEqual(['digest', 'lock']);
    expect(config.lock).toBe('create');
    const status = (await api('GET', '/nodes/sim/lxc/600/status/current')).json?.data;
    expect(status).toMatchObject({ vmid: 600, status: 'stopped', lock: 'create', name: 'CT600', ha: { managed: 0 } });
    const resources = (await api('GET', '/cluster/resources', { params: { type: 'vm' } })).json?.data as Record<string, unknown>[];
    expect(resources.find((r) => r.vmid === 600)).toEqual({ id: 'lxc/600', type: 'lxc', vmid: 600, node: 'sim', status: 'unknown', template: 0 });

    // A start or delete during the create: the start task fails on the lock, the delete is refused at once.
    const start = await api('POST', '/nodes/sim/lxc/600/status/start');
    expect((await taskDone(start.json!.data as string)).exitstatus).toBe('CT is locked (create)');
    const del = await api('DELETE', '/nodes/sim/lxc/600');
    expect([del.status, del.reason]).toEqual([500, 'CT is locked (create)']);

    sim.faults.set({ slowStorage: false });
    await api('DELETE', `/nodes/sim/tasks/${encodeURIComponent(upid)}`);
    await taskDone(upid);
  });

  it('writes the final config the way pve-container prints it', async () => {
    await taskDone(
      await createCt(601, {
        cores: 2,
        memory: 1024,
        swap: 256,
        tags: 'Web;db,web',
        cpulimit: 1.5,
        net0: 'name=eth0,ip=10.1.2.3/24,bridge=vmbr0,gw=10.1.2.1',
        rootfs: 'local-lvm:8,mountoptions=noatime',
        'ssh-public-keys': 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPUIPH1kPEgEyIJ1q8ukLFgIWeMoCzmEQew9PmrCvRGO me@host',
        password: 'hunter22',
      }),
    );
    const config = (await api('GET', '/nodes/sim/lxc/601/config')).json?.data as Record<string, unknown>;
    expect(config).toMatchObject({
      arch: 'amd64',
      cores: 2,
      cpulimit: '1.5',
      features: 'nesting=1',
      hostname: 'ct601',
      memory: 1024,
      ostype: 'debian',
      rootfs: 'local-lvm:vm-601-disk-0,mountoptions=noatime,size=8G',
      swap: 256,
      tags: 'db;web',
      unprivileged: 1,
    });
    expect(config.net0).toMatch(/^name=eth0,bridge=vmbr0,gw=10\.1\.2\.1,hwaddr=BC:24:11:[0-9A-F]{2}:[0-9A-F]{2}:[0-9A-F]{2},ip=10\.1\.2\.3\/24,type=veth$/);
    expect(config).not.toHaveProperty('password');
    expect(config).not.toHaveProperty('lock');
    expect(config.digest).toMatch(/^[0-9a-f]{40}$/);
  });

  it('refuses synchronously what Proxmox refuses synchronously', async () => {
    await taskDone(await createCt(602));
    const again = await api('POST', '/nodes/sim/lxc', { params: { vmid: 602, ostemplate: DEBIAN, rootfs: 'local-lvm:4' } });
    expect([again.status, again.reason]).toEqual([500, "CT 602 already exists on node 'sim'"]);

    // The cluster's VM list decides (PVE::Cluster::check_vmid_unused): a QEMU VM is "VM", a CT elsewhere names its node.
    sim.state.addOtherGuest({ vmid: 604, type: 'qemu', node: 'sim', name: 'windows-11' });
    sim.state.addOtherGuest({ vmid: 605, type: 'lxc', node: 'pve2', name: 'elsewhere' });
    const onVm = await api('POST', '/nodes/sim/lxc', { params: { vmid: 604, ostemplate: DEBIAN, rootfs: 'local-lvm:4' } });
    expect([onVm.status, onVm.reason]).toEqual([500, "VM 604 already exists on node 'sim'"]);
    const elsewhere = await api('POST', '/nodes/sim/lxc', { params: { vmid: 605, ostemplate: DEBIAN, rootfs: 'local-lvm:4' } });
    expect([elsewhere.status, elsewhere.reason]).toEqual([500, "CT 605 already exists on node 'pve2'"]);
    // A CT of this node migrated away is named on the node that holds it now.
    await taskDone(await createCt(606));
    sim.state.moveToPeer(606, 'pve2');
    const moved = await api('POST', '/nodes/sim/lxc', { params: { vmid: 606, ostemplate: DEBIAN, rootfs: 'local-lvm:4' } });
    expect([moved.status, moved.reason]).toEqual([500, "CT 606 already exists on node 'pve2'"]);
    expect((await api('GET', '/cluster/nextid', { params: { vmid: 604 } })).json?.errors).toEqual({ vmid: 'VM 604 already exists' });
    expect((await api('GET', '/cluster/nextid', { params: { vmid: 605 } })).json?.errors).toEqual({ vmid: 'VM 605 already exists' });
    expect((await api('GET', '/nodes/sim/lxc')).json?.data).not.toContainEqual(expect.objectContaining({ vmid: 604 }));
    const listed = (await api('GET', '/cluster/resources', { params: { type: 'vm' } })).json?.data as Array<Record<string, unknown>>;
    expect(listed).toContainEqual(expect.objectContaining({ id: 'qemu/604', type: 'qemu', vmid: 604, node: 'sim', name: 'windows-11' }));
    expect(listed).toContainEqual(expect.objectContaining({ id: 'lxc/605', type: 'lxc', vmid: 605, node: 'pve2', name: 'elsewhere' }));

    const noRootdir = await api('POST', '/nodes/sim/lxc', { params: { vmid: 603, ostemplate: DEBIAN } });
    expect(noRootdir.status).toBe(400);
    expect(noRootdir.json?.errors).toEqual({ storage: "storage 'local' does not support container directories" });

    const wrongContent = await api('POST', '/nodes/sim/lxc', { params: { vmid: 603, ostemplate: 'local:iso/x.iso', rootfs: 'local-lvm:4' } });
    expect(wrongContent.reason).toBe("unable to use volume local:iso/x.iso - content type needs to be 'vztmpl'");

    const badKey = await api('POST', '/nodes/sim/lxc', { params: { vmid: 603, ostemplate: DEBIAN, rootfs: 'local-lvm:4', 'ssh-public-keys': 'not a key' } });
    expect([badKey.status, badKey.reason]).toEqual([500, 'SSH public key validation error']);

    const keyctl = await api('POST', '/nodes/sim/lxc', { params: { vmid: 603, ostemplate: DEBIAN, rootfs: 'local-lvm:4', features: 'nesting=1,keyctl=1' } });
    expect([keyctl.status, keyctl.reason]).toEqual([403, 'Permission check failed (changing feature flags (except nesting) is only allowed for root@pam)']);

    // A privilege-separated token without some ACL entries (RPCEnvironment check / raise_perm_exc).
    sim.faults.set({ deniedPrivileges: ['/storage/local-lvm, Datastore.AllocateSpace', '/vms/609, VM.Allocate'] });
    try {
      const noSpace = await api('POST', '/nodes/sim/lxc', { params: { vmid: 603, ostemplate: DEBIAN, rootfs: 'local-lvm:4' } });
      expect([noSpace.status, noSpace.reason, noSpace.json]).toEqual([403, 'Permission check failed (/storage/local-lvm, Datastore.AllocateSpace)', { data: null, message: 'Permission check failed (/storage/local-lvm, Datastore.AllocateSpace)\n' }]);
      const noAllocate = await api('POST', '/nodes/sim/lxc', { params: { vmid: 609, ostemplate: DEBIAN, rootfs: 'local-lvm:4' } });
      expect([noAllocate.status, noAllocate.reason]).toEqual([403, 'Permission check failed']);
    } finally {
      sim.faults.set({ deniedPrivileges: [] });
    }

    const stop = await api('POST', '/nodes/sim/lxc/602/status/stop');
    expect([stop.status, stop.reason]).toEqual([500, 'CT 602 not running']);
    const reboot = await api('POST', '/nodes/sim/lxc/602/status/reboot');
    expect(reboot.reason).toBe('VM 602 not running');

    expect((await taskDone((await api('POST', '/nodes/sim/lxc/602/status/start')).json!.data as string)).exitstatus).toBe('OK');
    const startAgain = await api('POST', '/nodes/sim/lxc/602/status/start');
    expect([startAgain.status, startAgain.reason]).toEqual([500, 'CT 602 already running']);
    const delRunning = await api('DELETE', '/nodes/sim/lxc/602');
    expect([delRunning.status, delRunning.reason]).toEqual([500, 'unable to destroy CT 602 - container is running']);
    const missing = await api('POST', '/nodes/sim/lxc/699/status/start');
    expect(missing.reason).toBe("Configuration file 'nodes/sim/lxc/699.conf' does not exist");
  });

  it('reports interfaces: null while stopped, link-local right after start, the DHCP lease after a delay', async () => {
    await taskDone(await createCt(610));
    expect((await api('GET', '/nodes/sim/lxc/610/interfaces')).json).toEqual({ data: null });
    expect((await api('GET', '/nodes/sim/lxc/9999/interfaces')).json).toEqual({ data: null });

    await taskDone((await api('POST', '/nodes/sim/lxc/610/status/start')).json!.data as string);
    const early = (await api('GET', '/nodes/sim/lxc/610/interfaces')).json?.data as Record<string, unknown>[];
    expect(early.map((i) => i.name)).toEqual(['lo', 'eth0']);
    const eth0 = early[1]!;
    expect(eth0).not.toHaveProperty('inet');
    expect(eth0.inet6).toMatch(/^fe80::[0-9a-f:]+\/64$/);
    expect(eth0.hwaddr).toMatch(/^bc:24:11(:[0-9a-f]{2}){3}$/);

    await new Promise((r) => setTimeout(r, 4000 / SPEED + 30));
    const later = (await api('GET', '/nodes/sim/lxc/610/interfaces')).json?.data as Record<string, unknown>[];
    expect(later[1]!.inet).toMatch(/^10\.10\.0\.\d+\/24$/);
    expect(later[1]!['ip-addresses']).toContainEqual(expect.objectContaining({ 'ip-address-type': 'inet', prefix: 24 }));
  });

  it('shows a static address at once', async () => {
    await taskDone(await createCt(611, { net0: 'name=eth0,bridge=vmbr0,ip=192.168.50.7/24,gw=192.168.50.1' }));
    await taskDone((await api('POST', '/nodes/sim/lxc/611/status/start')).json!.data as string);
    const ifaces = (await api('GET', '/nodes/sim/lxc/611/interfaces')).json?.data as Record<string, unknown>[];
    expect(ifaces[1]!.inet).toBe('192.168.50.7/24');
  });

  it('shuts down, reboots, stops and destroys; deleting removes the CT directory', async () => {
    await taskDone(await createCt(620));
    const rootDir = join(dataDir, 'ct', '620', 'rootfs');
    expect(existsSync(join(rootDir, 'etc', 'hostname'))).toBe(true);
    expect(sim.state.container(620)).toEqual({ vmid: 620, status: 'stopped', hostname: 'ct620', rootDir });

    await taskDone((await api('POST', '/nodes/sim/lxc/620/status/start')).json!.data as string);
    expect(sim.state.container(620)?.status).toBe('running');
    const reboot = await taskDone((await api('POST', '/nodes/sim/lxc/620/status/reboot')).json!.data as string);
    expect(reboot.exitstatus).toBe('OK');
    expect(sim.state.container(620)?.status).toBe('running');
    await taskDone((await api('POST', '/nodes/sim/lxc/620/status/shutdown', { params: { timeout: 10, forceStop: 1 } })).json!.data as string);
    expect(sim.state.container(620)?.status).toBe('stopped');

    await taskDone((await api('POST', '/nodes/sim/lxc/620/status/start')).json!.data as string);
    const destroy = await api('DELETE', '/nodes/sim/lxc/620', { params: { force: 1, purge: 1 } });
    const { exitstatus, lines } = await taskDone(destroy.json!.data as string);
    expect(exitstatus).toBe('OK');
    expect(lines).toEqual([
      'forced to stop CT 620 before destroying!',
      '  Logical volume "vm-620-disk-0" successfully removed.',
      'purging CT 620 from related configurations..',
      'TASK OK',
    ]);
    expect(existsSync(join(dataDir, 'ct', '620'))).toBe(false);
    expect(sim.state.container(620)).toBeUndefined();
  });

  it('a CT another operation holds locked (a backup): stop and shutdown refuse in their tasks, destroy at once; a reboot stops it and cannot start it again', async () => {
    await taskDone(await createCt(627));
    await taskDone((await api('POST', '/nodes/sim/lxc/627/status/start')).json!.data as string);
    sim.state.setLock(627, 'backup');
    // The config keeps its keys beside the lock (only a create's config is the lock alone).
    expect((await api('GET', '/nodes/sim/lxc/627/config')).json?.data).toMatchObject({ lock: 'backup', hostname: 'ct627' });
    for (const action of ['stop', 'shutdown']) {
      const refused = await taskDone((await api('POST', `/nodes/sim/lxc/627/status/${action}`)).json!.data as string);
      expect(refused.exitstatus).toBe('CT is locked (backup)');
      expect(sim.state.container(627)?.status).toBe('running');
    }
    const destroy = await api('DELETE', '/nodes/sim/lxc/627', { params: { force: 1, purge: 1 } });
    expect(destroy.status).toBe(500);
    expect(destroy.reason).toBe('CT is locked (backup)');
    // vm_reboot checks no lock; the start after its stop fails in the prestart hook's check_lock.
    const reboot = await taskDone((await api('POST', '/nodes/sim/lxc/627/status/reboot')).json!.data as string);
    expect(reboot.exitstatus).toBe("startup for container '627' failed");
    expect(sim.state.container(627)?.status).toBe('stopped');
    sim.state.setLock(627, undefined);
    await taskDone((await api('DELETE', '/nodes/sim/lxc/627', { params: { purge: 1 } })).json!.data as string);
  });

  it('converts a stopped CT to a template (test hook): template 1 everywhere, a base volume, never started, still destroyed', async () => {
    await taskDone(await createCt(625));
    await taskDone((await api('POST', '/nodes/sim/lxc/625/status/start')).json!.data as string);
    expect(() => sim.state.convertToTemplate(625)).toThrow("you can't convert a CT to template if the CT is running");
    await taskDone((await api('POST', '/nodes/sim/lxc/625/status/stop')).json!.data as string);
    sim.state.convertToTemplate(625);
    expect(() => sim.state.convertToTemplate(625)).toThrow("you can't convert a template to a template");
    expect(() => sim.state.convertToTemplate(698)).toThrow("Configuration file 'nodes/sim/lxc/698.conf' does not exist");

    const config = (await api('GET', '/nodes/sim/lxc/625/config')).json?.data as Record<string, unknown>;
    expect(config).toMatchObject({ template: 1, rootfs: 'local-lvm:base-625-disk-0,size=4G' });
    expect((await api('GET', '/nodes/sim/lxc/625/status/current')).json?.data).toMatchObject({ vmid: 625, status: 'stopped', template: 1 });
    expect((await api('GET', '/nodes/sim/lxc')).json?.data).toContainEqual(expect.objectContaining({ vmid: 625, template: 1 }));
    await new Promise((r) => setTimeout(r, 3000 / SPEED + 20));
    const resources = (await api('GET', '/cluster/resources', { params: { type: 'vm' } })).json?.data as Record<string, unknown>[];
    expect(resources.find((r) => r.vmid === 625)).toMatchObject({ status: 'stopped', template: 1 });
    const volumes = (await api('GET', '/nodes/sim/storage/local-lvm/content', { params: { vmid: 625 } })).json?.data as Record<string, unknown>[];
    expect(volumes.map((v) => v.volid)).toEqual(['local-lvm:base-625-disk-0']);
    // An ordinary CT still says nothing about it in its status (vmstatus sets the key only for a template).
    await taskDone(await createCt(626));
    expect((await api('GET', '/nodes/sim/lxc/626/status/current')).json?.data).not.toHaveProperty('template');

    // The start is accepted, and its task fails, as vm_start's worker does.
    const start = await api('POST', '/nodes/sim/lxc/625/status/start');
    expect(start.status).toBe(200);
    const refused = await taskDone(start.json!.data as string);
    expect(refused.exitstatus).toBe("you can't start a CT if it's a template");
    expect(refused.lines.at(-1)).toBe("TASK ERROR: you can't start a CT if it's a template");
    expect(sim.state.container(625)?.status).toBe('stopped');

    const destroyed = await taskDone((await api('DELETE', '/nodes/sim/lxc/625', { params: { purge: 1 } })).json!.data as string);
    expect(destroyed.exitstatus).toBe('OK');
    expect(destroyed.lines).toContain('  Logical volume "base-625-disk-0" successfully removed.');
    expect(sim.state.container(625)).toBeUndefined();
  });

  it('updates the config with PUT (tags normalised, delete list, digest check)', async () => {
    await taskDone(await createCt(630));
    const before = (await api('GET', '/nodes/sim/lxc/630/config')).json?.data as Record<string, string>;
    const put = await api('PUT', '/nodes/sim/lxc/630/config', { params: { tags: 'B;a', description: 'hello', delete: 'features', digest: before.digest! } });
    expect(put.json).toEqual({ data: null });
    const after = (await api('GET', '/nodes/sim/lxc/630/config')).json?.data as Record<string, string>;
    // The description comes back as pve-container's parse_pct_config reads its `#` lines: each ends with "\n".
    expect(after).toMatchObject({ tags: 'a;b', description: 'hello\n' });
    expect(after).not.toHaveProperty('features');
    const stale = await api('PUT', '/nodes/sim/lxc/630/config', { params: { memory: 256, digest: before.digest! } });
    expect(stale.reason).toMatch(/^detected modified configuration/);
  });

  it('warns about nesting for an unprivileged systemd CT without it: TASK WARNINGS: 1', async () => {
    const upid = await createCt(640, { features: 'nesting=0' });
    const { exitstatus, lines } = await taskDone(upid);
    expect(exitstatus).toBe('WARNINGS: 1');
    expect(lines.slice(-2)).toEqual(['WARN: Systemd 252 detected. You may need to enable nesting.', 'TASK WARNINGS: 1']);
  });

  it('reports cluster resources with stats once the first sample is in', async () => {
    await taskDone(await createCt(650));
    await new Promise((r) => setTimeout(r, 3000 / SPEED + 20));
    const resources = (await api('GET', '/cluster/resources', { params: { type: 'vm' } })).json?.data as Record<string, unknown>[];
    expect(resources.find((r) => r.vmid === 650)).toMatchObject({ id: 'lxc/650', type: 'lxc', status: 'stopped', name: 'ct650', template: 0 });
  });
});

describe('HA resources (pve-ha-manager)', () => {
  const current = async (vmid: number) => (await api('GET', `/nodes/sim/lxc/${vmid}/status/current`)).json?.data as Record<string, unknown>;
  /** A power request and its task, once ended. */
  const request = async (vmid: number, action: string, params: Record<string, number> = {}) => {
    const upid = (await api('POST', `/nodes/sim/lxc/${vmid}/status/${action}`, { params })).json!.data as string;
    const { type, user } = parseUpid(upid)!;
    return { type, user, ...(await taskDone(upid)) };
  };
  const until = async (what: string, check: () => Promise<boolean>) => {
    for (let i = 0; i < 400; i++) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`timed out waiting for ${what}`);
  };
  /** The newest task of `type` for the CT once it has ended: after an HA request, the HA stack's own. */
  const newestTask = async (vmid: number, type: string) => {
    const [task] = (await api('GET', '/nodes/sim/tasks', { params: { vmid, typefilter: type, source: 'all' } })).json?.data as { upid: string; user: string }[];
    return { user: task!.user, ...(await taskDone(task!.upid)) };
  };

  it('start and stop only hand the request on (hastart, hastop); a round later the HA stack acts as root@pam', async () => {
    await taskDone(await createCt(660));
    sim.state.addToHa(660);
    expect((await current(660)).ha).toEqual({ managed: 1, state: 'stopped' });

    expect(await request(660, 'start')).toEqual({ type: 'hastart', user: 'root@pam!launchpad', exitstatus: 'OK', lines: ['Requesting HA start for CT 660', 'TASK OK'] });
    expect(await current(660)).toMatchObject({ status: 'stopped', ha: { managed: 1, state: 'stopped' } }); // its round is still to come
    await until('the HA stack to start CT 660', async () => (await current(660)).status === 'running');
    expect(await newestTask(660, 'vzstart')).toMatchObject({ user: 'root@pam', exitstatus: 'OK' });
    expect((await current(660)).ha).toEqual({ managed: 1, state: 'started' });
    const resources = (await api('GET', '/cluster/resources', { params: { type: 'vm' } })).json?.data as Record<string, unknown>[];
    expect(resources.find((r) => r.vmid === 660)).toMatchObject({ status: 'running', hastate: 'started' });
    // The synchronous checks come first, as for any CT.
    expect((await api('POST', '/nodes/sim/lxc/660/status/start')).reason).toBe('CT 660 already running');

    // `crm-command stop ct:660 0`: a hard stop, the HA stack's vzstop.
    expect(await request(660, 'stop')).toEqual({ type: 'hastop', user: 'root@pam!launchpad', exitstatus: 'OK', lines: ['Requesting HA stop for CT 660', 'TASK OK'] });
    await until('the HA stack to stop CT 660', async () => (await current(660)).status === 'stopped');
    expect(await newestTask(660, 'vzstop')).toMatchObject({ user: 'root@pam', exitstatus: 'OK' });
    expect((await current(660)).ha).toEqual({ managed: 1, state: 'stopped' });
    expect((await api('POST', '/nodes/sim/lxc/660/status/stop')).reason).toBe('CT 660 not running');
  });

  it('shutdown is an hastop with its timeout (the HA stack\'s vzshutdown); reboot is not HA-aware', async () => {
    await taskDone(await createCt(661));
    sim.state.addToHa(661);
    await request(661, 'start');
    await until('the HA stack to start CT 661', async () => (await current(661)).status === 'running');

    const reboot = await request(661, 'reboot', { timeout: 30 });
    expect(reboot).toMatchObject({ type: 'vzreboot', user: 'root@pam!launchpad', exitstatus: 'OK' });
    expect((await current(661)).status).toBe('running');

    expect(await request(661, 'shutdown', { timeout: 30, forceStop: 1 })).toMatchObject({ type: 'hastop', lines: ['Requesting HA stop for CT 661', 'TASK OK'] });
    expect((await current(661)).status).toBe('running');
    await until('the HA stack to shut CT 661 down', async () => (await current(661)).status === 'stopped');
    expect(await newestTask(661, 'vzshutdown')).toMatchObject({ user: 'root@pam', exitstatus: 'OK' });
    expect((await current(661)).ha).toEqual({ managed: 1, state: 'stopped' });
  });

  it('a start the HA stack cannot carry out leaves the resource in `error`, which ignores requests until it leaves HA', async () => {
    await taskDone(await createCt(662));
    sim.state.addToHa(662);
    sim.faults.set({ startFailure: true });
    expect((await request(662, 'start')).exitstatus).toBe('OK');
    await until('the HA start to fail', async () => ((await current(662)).ha as { state?: string }).state === 'error');
    expect(await newestTask(662, 'vzstart')).toMatchObject({ user: 'root@pam', exitstatus: "startup for container '662' failed" });
    expect(await current(662)).toMatchObject({ status: 'stopped', ha: { managed: 1, state: 'error' } });

    sim.faults.reset();
    expect((await request(662, 'start')).exitstatus).toBe('OK');
    await new Promise((r) => setTimeout(r, 5000 / SPEED + 200)); // a round and more
    expect(await current(662)).toMatchObject({ status: 'stopped', ha: { managed: 1, state: 'error' } });

    sim.state.removeFromHa(662);
    expect((await current(662)).ha).toEqual({ managed: 0 });
    expect(await request(662, 'start')).toMatchObject({ type: 'vzstart', exitstatus: 'OK' });
  });

  it('refuses to delete an HA resource without purge; with purge the worker removes it from HA too', async () => {
    await taskDone(await createCt(663));
    sim.state.addToHa(663);
    const refused = await api('DELETE', '/nodes/sim/lxc/663', { params: { force: 1 } });
    expect([refused.status, refused.reason]).toEqual([500, 'unable to remove CT 663 - used in HA resources and purge parameter not set.']);
    const { exitstatus, lines } = await taskDone((await api('DELETE', '/nodes/sim/lxc/663', { params: { purge: 1 } })).json!.data as string);
    expect(exitstatus).toBe('OK');
    expect(lines).toEqual([
      '  Logical volume "vm-663-disk-0" successfully removed.',
      'purging CT 663 from related configurations..',
      'NOTE: removed CT 663 from HA resource configuration.',
      'TASK OK',
    ]);
    expect(sim.state.container(663)).toBeUndefined();
  });
});

describe('fault switches', () => {
  it('unreachable: every connection is dropped without an answer until the switch is off', async () => {
    sim.faults.set({ unreachable: true });
    await expect(api('GET', '/version')).rejects.toMatchObject({ code: 'ECONNRESET' });
    sim.faults.set({ unreachable: false });
    expect((await api('GET', '/version')).status).toBe(200);
  });

  it('storage full: vzcreate fails at lvcreate with LVM\'s text and leaves nothing behind', async () => {
    sim.faults.set({ storageFull: true });
    const { exitstatus, lines } = await taskDone(await createCt(700));
    expect(exitstatus).toBe(
      'unable to create CT 700 - lvcreate \'pve/vm-700-disk-0\' error:   Volume group "pve" has insufficient free space (952 extents): 1024 required.',
    );
    expect(lines.at(-1)).toBe(`TASK ERROR: ${exitstatus}`);
    expect((await api('GET', '/nodes/sim/lxc/700/config')).status).toBe(500);
  });

  it('storage really full: a disk larger than the thin pool fails the same way without a switch', async () => {
    const { exitstatus } = await taskDone(await createCt(701, { rootfs: 'local-lvm:500' }));
    expect(exitstatus).toMatch(/^unable to create CT 701 - lvcreate 'pve\/vm-701-disk-0' error: {3}Volume group "pve" has insufficient free space/);
  });

  it('missing template: "can\'t find file"', async () => {
    sim.faults.set({ missingTemplate: true });
    expect((await taskDone(await createCt(702))).exitstatus).toBe(`unable to create CT 702 - can't find file '${DEBIAN}'`);
    sim.faults.reset();
    const upid = await createCt(703, { ostemplate: 'local:vztmpl/gone-1.0_amd64.tar.zst' });
    expect((await taskDone(upid)).exitstatus).toBe("unable to create CT 703 - can't find file 'local:vztmpl/gone-1.0_amd64.tar.zst'");
  });

  it('lock timeout: create and start fail with "can\'t lock file … got timeout"', async () => {
    sim.faults.set({ lockTimeout: true });
    const create = await taskDone(await createCt(704));
    expect(create.lines[0]).toBe('trying to acquire lock...');
    expect(create.exitstatus).toBe("unable to create CT 704 - can't lock file '/run/lock/lxc/pve-config-704.lock' - got timeout");
    sim.faults.reset();
    await taskDone(await createCt(705));
    sim.faults.set({ lockTimeout: true });
    const start = await taskDone((await api('POST', '/nodes/sim/lxc/705/status/start')).json!.data as string);
    expect(start.exitstatus).toBe("can't lock file '/run/lock/lxc/pve-config-705.lock' - got timeout");
  });

  it('start failure: "startup for container \'N\' failed", also inside create with start=1 (the CT stays)', async () => {
    await taskDone(await createCt(706));
    sim.faults.set({ startFailure: true });
    const start = await taskDone((await api('POST', '/nodes/sim/lxc/706/status/start')).json!.data as string);
    expect(start.exitstatus).toBe("startup for container '706' failed");
    const createAndStart = await taskDone(await createCt(707, { start: 1 }));
    expect(createAndStart.exitstatus).toBe("startup for container '707' failed");
    expect(sim.state.container(707)?.status).toBe('stopped');
  });

  it('DHCP never answers: only lo and link-local, however long one waits', async () => {
    sim.faults.set({ dhcpNever: true });
    await taskDone(await createCt(708));
    await taskDone((await api('POST', '/nodes/sim/lxc/708/status/start')).json!.data as string);
    await new Promise((r) => setTimeout(r, 4000 / SPEED + 50));
    const ifaces = (await api('GET', '/nodes/sim/lxc/708/interfaces')).json?.data as Record<string, unknown>[];
    expect(ifaces[1]).not.toHaveProperty('inet');
    expect(ifaces[1]!.inet6).toMatch(/^fe80::/);
  });

  it('a 596 on a chosen request, then normal service', async () => {
    sim.faults.failNextRequest('GET', /\/status\/current$/, 596);
    await taskDone(await createCt(709));
    const first = await api('GET', '/nodes/sim/lxc/709/status/current');
    expect([first.status, first.reason, first.headers.connection]).toEqual([596, 'Connection timed out', 'close']);
    const second = await api('GET', '/nodes/sim/lxc/709/status/current');
    expect(second.status).toBe(200);
  });

  it('an older release: /version and the node status say 8.0.4, and …/interfaces (PVE 8.1+) answers 501 like an unknown path', async () => {
    await taskDone(await createCt(712));
    expect((await api('GET', '/nodes/sim/lxc/712/interfaces')).status).toBe(200);
    sim.faults.set({ pveVersion: '8.0.4' });
    expect((await api('GET', '/version')).json?.data).toMatchObject({ version: '8.0.4', release: '8.0' });
    expect((await api('GET', '/nodes/sim/status')).json?.data).toMatchObject({ pveversion: expect.stringMatching(/^pve-manager\/8\.0\.4\//) });
    const missing = await api('GET', '/nodes/sim/lxc/712/interfaces');
    // (no `message` in the body: that came with PVE 8.4)
    expect([missing.status, missing.reason, missing.json]).toEqual([501, "Method 'GET /nodes/sim/lxc/712/interfaces' not implemented", { data: null }]);
    expect((await api('GET', '/nodes/sim/lxc/712/status/current')).status).toBe(200);
    sim.faults.set({ pveVersion: '8.1.3' });
    expect((await api('GET', '/nodes/sim/lxc/712/interfaces')).status).toBe(200);
  });

  it('slow storage makes extraction much slower', async () => {
    // The rate the task reports, and the wait it implies as a lower bound: wall-clock ratios between two runs
    // depend on what else the machine is doing.
    const extract = async (vmid: number) => {
      const started = Date.now();
      const { lines } = await taskDone(await createCt(vmid));
      const [, mib, rate] = /^Total bytes read: \d+ \((\d+)MiB, (\d+)MiB\/s\)$/.exec(lines.find((l) => l.startsWith('Total bytes read')) ?? '') ?? [];
      return { tookMs: Date.now() - started, mib: Number(mib), rate: Number(rate) };
    };
    const normal = await extract(710);
    sim.faults.set({ slowStorage: true });
    const slow = await extract(711);
    expect(normal.rate).toBeGreaterThan(slow.rate * 10);
    expect(slow.tookMs).toBeGreaterThanOrEqual(((slow.mib / slow.rate) * 1000) / SPEED);
  });
});

describe('persistence', () => {
  it('keeps the certificate, token and CTs across a restart; running CTs come back stopped, onboot ones are started', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sim-api-restart-'));
    try {
      const first = await startSimulatorApi({ dataDir: dir, speed: SPEED, authDelayMs: 0 });
      const identity = [first.tlsFingerprint, first.tokenId, first.tokenSecret];
      const previous = sim;
      sim = first;
      try {
        await taskDone(await createCt(800));
        await taskDone((await api('POST', '/nodes/sim/lxc/800/status/start')).json!.data as string);
        // One that starts at boot, and one created with onboot but stopped before the restart.
        await taskDone(await createCt(801, { onboot: 1 }));
        await taskDone(await createCt(802, { onboot: 1, start: 1 }));
        await taskDone((await api('POST', '/nodes/sim/lxc/802/status/stop')).json!.data as string);
      } finally {
        await first.close();
      }
      const second = await startSimulatorApi({ dataDir: dir, speed: SPEED, authDelayMs: 0 });
      sim = second;
      try {
        expect([second.tlsFingerprint, second.tokenId, second.tokenSecret]).toEqual(identity);
        const status = (await api('GET', '/nodes/sim/lxc/800/status/current')).json?.data;
        expect(status).toMatchObject({ vmid: 800, status: 'stopped', name: 'ct800' });
        expect(existsSync(join(dir, 'ct', '800', 'rootfs', 'etc', 'hostname'))).toBe(true);
        // pve-guests starts the onboot CTs with one `startall` task of root@pam.
        const tasks = (await api('GET', '/nodes/sim/tasks', { params: { typefilter: 'startall', source: 'all' } })).json?.data as Array<{ upid: string; user: string }>;
        expect(tasks).toHaveLength(1);
        expect(tasks[0]!.user).toBe('root@pam');
        const startall = await taskDone(tasks[0]!.upid);
        expect(startall.exitstatus).toBe('OK');
        expect(startall.lines.filter((l) => l.startsWith('Starting CT'))).toEqual(['Starting CT 801', 'Starting CT 802']);
        for (const vmid of [801, 802]) expect((await api('GET', `/nodes/sim/lxc/${vmid}/status/current`)).json?.data).toMatchObject({ status: 'running' });
      } finally {
        await second.close();
        sim = previous;
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
