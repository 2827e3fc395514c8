// startSimulator: the HTTPS API and the SSH host share one node state, so a CT created and started through the
// API is what `pct` sees over SSH, in the root directory the API's vzcreate prepared.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ProxmoxClient } from '../src/proxmox/api-client.ts';
import { NodeShell } from '../src/proxmox/node-shell.ts';
import { waitForTask } from '../src/proxmox/task-waiter.ts';
import { startSimulator, type SimulatorHandle } from '../src/simulator/index.ts';

let sim: SimulatorHandle;
let dataDir: string;
let client: ProxmoxClient;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'sim-full-test-'));
  sim = await startSimulator({ dataDir, speed: 50, authDelayMs: 0 });
  client = new ProxmoxClient({ apiUrl: sim.apiUrl, tokenId: sim.tokenId, tokenSecret: sim.tokenSecret, tlsFingerprint: sim.tlsFingerprint });
});

afterAll(async () => {
  client.close();
  await sim.close();
  rmSync(dataDir, { recursive: true, force: true });
});

it('exposes a complete handle for registering the node', () => {
  expect(sim).toMatchObject({ nodeName: 'sim', tokenId: 'root@pam!launchpad', ssh: { host: '127.0.0.1', user: 'root' } });
  expect(sim.apiUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  expect(sim.tlsFingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  expect(sim.ssh.hostKeyFingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  expect(sim.ssh.privateKey).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----/);
  expect(typeof sim.sandboxed).toBe('boolean');
});

it('a CT created and started over the API is visible to pct over SSH', async () => {
  const key = readFileSync(join(dataDir, 'secrets', 'id_ed25519.pub'), 'utf8').trim();
  await waitForTask(
    client,
    await client.createLxc('sim', {
      vmid: 120,
      ostemplate: 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst',
      hostname: 'full-test',
      password: 'swordfish',
      sshPublicKeys: key,
      rootfs: { storage: 'local-lvm', sizeGiB: 4 },
      net: [{ name: 'eth0', bridge: 'vmbr0', ip: 'dhcp' }],
      features: { nesting: true },
    }),
    { pollIntervalMs: 10 },
  );
  const rootDir = join(dataDir, 'ct', '120', 'rootfs');
  expect(readFileSync(join(rootDir, 'etc', 'hostname'), 'utf8')).toBe('full-test\n');
  expect(readFileSync(join(rootDir, 'root', '.ssh', 'authorized_keys'), 'utf8')).toContain(key);

  const shell = await NodeShell.connect({
    host: sim.ssh.host,
    port: sim.ssh.port,
    username: sim.ssh.user,
    privateKey: sim.ssh.privateKey,
    hostKeyFingerprint: sim.ssh.hostKeyFingerprint,
  });
  try {
    const status = async () => {
      const lines: string[] = [];
      await shell.exec(['pct', 'status', '120'], { timeoutMs: 5000, onLine: (_, text) => void lines.push(text) });
      return lines.join('\n');
    };
    expect(await status()).toBe('status: stopped');
    await waitForTask(client, await client.startLxc('sim', 120), { pollIntervalMs: 10 });
    expect(await status()).toBe('status: running');
  } finally {
    await shell.close();
  }
});

it('restarts on the same data directory with the same pinned identities', async () => {
  const identity = [sim.tlsFingerprint, sim.tokenSecret, sim.ssh.hostKeyFingerprint, sim.ssh.privateKey];
  await sim.close();
  sim = await startSimulator({ dataDir, speed: 50, authDelayMs: 0 });
  expect([sim.tlsFingerprint, sim.tokenSecret, sim.ssh.hostKeyFingerprint, sim.ssh.privateKey]).toEqual(identity);
  client.close();
  client = new ProxmoxClient({ apiUrl: sim.apiUrl, tokenId: sim.tokenId, tokenSecret: sim.tokenSecret, tlsFingerprint: sim.tlsFingerprint });
  expect((await client.getLxcStatus('sim', 120)).status).toBe('stopped');
});
