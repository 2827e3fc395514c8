// The simulator's Debian 12 image: built with a visible progress line when its cache entry is missing, reused (no
// build, no progress) when present — across simulator restarts and separate checkouts sharing SIMULATOR_ROOTFS_CACHE.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { ensureDebianRootfs, hostDebianMirror, probeDebianRootfs, rootfsCacheName } from '../src/simulator/debian-rootfs.ts';
import { startSimulatorApi } from '../src/simulator/index.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

it('the cache entry is named after its recipe: another mirror is another image', async () => {
  const mirror = await hostDebianMirror();
  expect(mirror.debian).toMatch(/^https?:\/\/\S+\/debian$/);
  const name = rootfsCacheName(mirror);
  expect(name).toMatch(/^debian-12-bookworm-[0-9a-f]{12}$/);
  expect(rootfsCacheName({ debian: 'http://mirror.example/debian', security: 'http://mirror.example/debian-security' })).not.toBe(name);
  expect(rootfsCacheName(mirror)).toBe(name);
});

it('a missing image is built once with progress lines, then reused without a build', async () => {
  const capability = await probeDebianRootfs();
  if (!capability.ok) throw new Error(`the simulator's Debian mode cannot run here: ${capability.reason}`);
  const cacheDir = await mkdtemp(path.join(tmpdir(), 'launchpad-rootfs-cache-'));
  dirs.push(cacheDir);

  const cold: string[] = [];
  const started = Date.now();
  const image = await ensureDebianRootfs({ cacheDir, onProgress: (line) => cold.push(line) });
  const coldMs = Date.now() - started;
  expect(cold[0]).toMatch(/^Building the Debian 12 \(bookworm\) root filesystem for simulated CTs with mmdebstrap from \S+ — once; cached in /);
  expect(cold).toContain('mmdebstrap: I: installing remaining packages inside the chroot...');
  expect(cold.at(-1)).toMatch(/^Debian 12 root filesystem ready in \d+\.\d s: /);
  expect(path.dirname(image)).toBe(cacheDir);
  expect(await readFile(path.join(image, 'etc/os-release'), 'utf8')).toContain('VERSION_CODENAME=bookworm');
  for (const tool of ['usr/bin/apt-get', 'usr/bin/ss', 'usr/sbin/sshd', 'usr/bin/curl']) expect((await stat(path.join(image, tool))).isFile()).toBe(true);

  // A restart of the simulator (same cache directory): the image is reused, nothing is built.
  const warm: string[] = [];
  const dataDir = await mkdtemp(path.join(tmpdir(), 'launchpad-sim-warm-'));
  dirs.push(dataDir);
  const warmStarted = Date.now();
  const api = await startSimulatorApi({ dataDir, speed: 50, authDelayMs: 0, rootfs: { mode: 'debian', cacheDir, onProgress: (l) => warm.push(l) } });
  const warmMs = Date.now() - warmStarted;
  await api.close();
  expect(api.rootfs).toBe('debian');
  expect(warm).toEqual([]);
  process.stderr.write(`[rootfs cache] cold build ${(coldMs / 1000).toFixed(1)} s, warm start ${(warmMs / 1000).toFixed(2)} s\n`);
}, 10 * 60_000);
