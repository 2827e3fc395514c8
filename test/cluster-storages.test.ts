// The storages of a real cluster, as the wizard and Test connection meet them. storage.cfg is cluster-wide:
// GET /nodes/{node}/storage (pve-storage API2/Storage/Status.pm, storage_info) lists every entry — one restricted to
// other nodes (`nodes …`) with `enabled: 0`, one whose NFS/CIFS server is down with `active: 0` — and asking such a
// storage for its contents is a 500 (`storage 'x' is not available on node 'y'`, `storage 'x' is not online`,
// from Storage.pm activate_storage). Neither may keep the wizard from offering what the node does have.
import https from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TemplateDefinition } from '../src/domain/templates/template.ts';
import { testConnection } from '../src/domain/nodes/connection-test.ts';
import { ProxmoxClient } from '../src/proxmox/api-client.ts';
import { waitForTask } from '../src/proxmox/task-waiter.ts';
import { signedInAgent } from './support/session.ts';
import { startTestSimulator } from './support/simulator-fixtures.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';
import { createTestApp } from './support/test-app.ts';

let env: TestEnv;
let app: ReturnType<typeof createTestApp>;
let sim: Awaited<ReturnType<typeof startTestSimulator>>;
let templateId: number;

const DEBIAN = 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst';
const NAS_DEBIAN = 'nas:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst';
const ELSEWHERE_ALPINE = 'pve2-templates:vztmpl/alpine-3.20-default_20240908_amd64.tar.xz';
const GiB = 1024 ** 3;

const TEMPLATE: TemplateDefinition = {
  name: 'cluster-web', description: 'Storages of a cluster', osTemplate: 'debian-12', cores: 1, memory: 512, swap: 512, disk: 4,
  unprivileged: true, nesting: false, tags: [], scripts: [], files: [], packages: [],
};

beforeAll(async () => {
  env = await createTestEnv();
  app = createTestApp(env);
  sim = await startTestSimulator(env.deps);
  const created = await env.deps.repos.templates.createCustom(TEMPLATE);
  if (created === 'taken') throw new Error('template name taken');
  templateId = created;
  const state = sim.sim.state;
  // A share every node mounts (templates and backups), whose server is down right now.
  state.addClusterStorage({ storage: 'nas', type: 'nfs', content: ['vztmpl', 'backup'], total: 2000 * GiB, baseUsed: 400 * GiB, shared: true, offline: true });
  // Storages only the other node of the cluster has.
  state.addClusterStorage({ storage: 'pve2-zfs', type: 'zfspool', content: ['rootdir', 'images'], total: 500 * GiB, baseUsed: 0, nodes: ['pve2'] });
  state.addClusterStorage({ storage: 'pve2-templates', type: 'dir', content: ['vztmpl'], total: 100 * GiB, baseUsed: 0, nodes: ['pve2'] });
  state.templates.push(
    { volid: NAS_DEBIAN, size: 126_080_226, unpackedSize: 521_902_080, ctime: 1_728_900_000 },
    { volid: ELSEWHERE_ALPINE, size: 3_252_412, unpackedSize: 9_431_040, ctime: 1_725_800_000 },
  );
});

afterAll(async () => {
  await sim?.close();
  await env?.close();
});

const options = (html: string, name: string) => {
  const select = new RegExp(`<select[^>]*name="${name}"[\\s\\S]*?</select>`).exec(html)?.[0] ?? '';
  return [...select.matchAll(/<option value="([^"]*)"/g)].map((m) => m[1]);
};

describe('the simulated node answers as pve-storage does', () => {
  it('lists every storage.cfg entry, enabled and active only where this node can use it; their contents are a 500 otherwise', async () => {
    const client = new ProxmoxClient({ apiUrl: sim.sim.apiUrl, tokenId: sim.sim.tokenId, tokenSecret: sim.sim.tokenSecret, tlsFingerprint: sim.sim.tlsFingerprint });
    try {
      const all = await client.listStorages('sim', { enabled: true });
      const flags = Object.fromEntries(all.map((s) => [s.storage, [s.enabled, s.active]]));
      expect(flags).toEqual({ local: [true, true], 'local-lvm': [true, true], nas: [true, false], 'pve2-zfs': [false, false], 'pve2-templates': [false, false] });
      // A content filter leaves out what this node does not have (storage_info skips entries not enabled here).
      expect((await client.listStorages('sim', { content: 'rootdir' })).map((s) => s.storage)).toEqual(['local-lvm']);
      expect((await client.listStorages('sim', { content: 'vztmpl' })).map((s) => s.storage)).toEqual(['local', 'nas']);
      await expect(client.listStorageContent('sim', 'nas')).rejects.toThrow("storage 'nas' is not online");
      await expect(client.listStorageContent('sim', 'pve2-templates')).rejects.toThrow("storage 'pve2-templates' is not available on node 'sim'");
      // Creating on a storage this node does not have is refused by the POST itself.
      await expect(client.createLxc('sim', { vmid: 900, ostemplate: DEBIAN, rootfs: { storage: 'pve2-zfs', sizeGiB: 1 } })).rejects.toThrow(
        "storage 'pve2-zfs' is not available on node 'sim'",
      );
    } finally {
      client.close();
    }
  });
});

describe('GET /cluster/resources?type=storage', () => {
  it("lists every storage.cfg entry for each node that has it, 'unknown' without sizes where it is not active", async () => {
    // Test-only raw access to our own loopback simulator (the client has no call for this listing).
    const raw = await new Promise<string>((resolve, reject) => {
      const url = new URL('/api2/json/cluster/resources?type=storage', sim.sim.apiUrl);
      https
        .get(url, { headers: { Authorization: `PVEAPIToken=${sim.sim.tokenId}=${sim.sim.tokenSecret}` }, rejectUnauthorized: false, agent: false }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve(text));
        })
        .on('error', reject);
    });
    {
      // pve-manager API2/Cluster.pm resources: per storage ID (sorted), per cluster node where storage_check_enabled;
      // API2Tools.pm extract_storage_stats: status 'unknown' and no disk/maxdisk unless pvestatd sent it stats (it
      // sends none for a storage that is not active). The simulated cluster's only node is 'sim'.
      const rows = (JSON.parse(raw) as { data: Array<Record<string, unknown>> }).data;
      expect(rows.map((r) => [r.id, r.status, r.shared])).toEqual([
        ['storage/sim/local', 'available', 0],
        ['storage/sim/local-lvm', 'available', 0],
        ['storage/sim/nas', 'unknown', 1],
      ]);
      const nas = rows.find((r) => r.storage === 'nas')!;
      expect(nas).toEqual({ id: 'storage/sim/nas', storage: 'nas', node: 'sim', type: 'storage', plugintype: 'nfs', status: 'unknown', shared: 1, content: 'vztmpl,backup' });
    }
  });
});

describe('a create from a template on a share', () => {
  it("logs the archive's path on that storage, as restore_archive prints it", async () => {
    const SHARE_ALPINE = 'share:vztmpl/alpine-3.20-default_20240908_amd64.tar.xz';
    sim.sim.state.addClusterStorage({ storage: 'share', type: 'nfs', content: ['vztmpl'], total: 1000 * GiB, baseUsed: 0, shared: true });
    sim.sim.state.templates.push({ volid: SHARE_ALPINE, size: 3_252_412, unpackedSize: 9_431_040, ctime: 1_725_800_000 });
    const client = new ProxmoxClient({ apiUrl: sim.sim.apiUrl, tokenId: sim.sim.tokenId, tokenSecret: sim.sim.tokenSecret, tlsFingerprint: sim.sim.tlsFingerprint });
    try {
      const upid = await client.createLxc('sim', { vmid: 910, ostemplate: SHARE_ALPINE, rootfs: { storage: 'local-lvm', sizeGiB: 1 } });
      const lines: string[] = [];
      await waitForTask(client, upid, { pollIntervalMs: 50, onLine: (line) => void lines.push(line) });
      // pve-container Create.pm restore_archive: abs_filesystem_path of the volid (an NFS storage's default path is
      // /mnt/pve/<id>, pve-storage NFSPlugin), then `extracting archive '<path>'`.
      expect(lines).toContain("extracting archive '/mnt/pve/share/template/cache/alpine-3.20-default_20240908_amd64.tar.xz'");
    } finally {
      client.close();
    }
  });
});

describe('the wizard on a node of a cluster with such storages', () => {
  it('offers the templates and disk storages this node can use, and no "could not be asked"', async () => {
    const session = await signedInAgent(app, env.deps, { username: 'cluster-storages' });
    const csrf = await session.csrf();
    const chosen = await session.agent.post('/containers/new/template').type('form').send({ _csrf: csrf, template: String(templateId) });
    expect(chosen.status).toBe(303);
    const page = await session.agent.get('/containers/new/configure');
    expect(page.status).toBe(200);
    expect(page.text).not.toContain('could not be asked');
    expect(options(page.text, 'storage')).toEqual(['local-lvm']);
    const templates = options(page.text, 'ostemplate');
    expect(templates).toContain(DEBIAN);
    expect(templates).not.toContain(ELSEWHERE_ALPINE);
  });
});

describe('Test connection on a node of such a cluster', () => {
  it('passes with a template share that is down, and counts the templates the node can read', async () => {
    const report = await testConnection({ secrets: env.deps.secrets }, sim.node);
    expect(report.api.problem).toBeUndefined();
    expect(report.api.osTemplates?.map((v) => v.volid)).toContain(DEBIAN);
  });

  it('warns when the only storage for container disks is not active on the node, as the wizard offers none then', async () => {
    const state = sim.sim.state;
    // The node's LVM-thin pool cannot be activated (its volume group is gone): storage_info lists it `active: 0`.
    state.setStorageOffline('local-lvm', true);
    try {
      const report = await testConnection({ secrets: env.deps.secrets }, sim.node);
      expect(report.api.problem).toBeUndefined();
      expect(report.api.storages?.find((s) => s.storage === 'local-lvm')).toMatchObject({ enabled: true, active: false });
      expect(report.api.warnings.join('\n')).toContain('local-lvm');
      expect(report.api.warnings.join('\n')).toContain('not active');
    } finally {
      state.setStorageOffline('local-lvm', false);
    }
  });
});
