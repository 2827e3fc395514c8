// The simulator's real Debian 12 root filesystem (SIMULATOR_ROOTFS=debian): built once with mmdebstrap from the host's
// Debian mirror, cached on disk under a name derived from its recipe, and copied for every CT (ct-runtime.ts runs it).
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

/** What the cached image holds besides minbase: what debian-12-standard has and the templates rely on. */
export const ROOTFS_PACKAGES = ['iproute2', 'procps', 'ca-certificates', 'curl', 'openssh-server', 'less', 'hostname', 'iputils-ping'];
// Bump when the build itself changes in a way the package list and mirror do not show.
const RECIPE_VERSION = 1;
const TOOLS = ['mmdebstrap', 'unshare', 'nsenter', 'setpriv', 'pasta'] as const;
const TOOL_PACKAGES: Record<(typeof TOOLS)[number], string> = {
  mmdebstrap: 'mmdebstrap', unshare: 'util-linux', nsenter: 'util-linux', setpriv: 'util-linux', pasta: 'passt',
};

export interface DebianMirror {
  /** e.g. http://deb.debian.org/debian */
  debian: string;
  /** e.g. http://deb.debian.org/debian-security */
  security: string;
}

export type RootfsCapability = { ok: true } | { ok: false; reason: string };

/** Whether this host can build and run Debian-mode CTs; the reason names what is missing and how to get it. */
export async function probeDebianRootfs(): Promise<RootfsCapability> {
  if (process.platform !== 'linux') return { ok: false, reason: 'needs Linux' };
  if (process.getuid?.() !== 0) {
    return { ok: false, reason: 'needs root (Debian-mode CTs are namespaces set up by root; run as root or use SIMULATOR_ROOTFS=host)' };
  }
  const missing: Array<(typeof TOOLS)[number]> = [];
  for (const tool of TOOLS) if (!(await onPath(tool))) missing.push(tool);
  if (missing.length > 0) {
    const packages = [...new Set(missing.map((t) => TOOL_PACKAGES[t]))].join(' ');
    return { ok: false, reason: `${missing.join(', ')} not installed (apt-get install ${packages})` };
  }
  return { ok: true };
}

async function onPath(tool: string): Promise<boolean> {
  for (const dir of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    if (await stat(join(dir, tool)).then((s) => s.isFile(), () => false)) return true;
  }
  return false;
}

/** The Debian mirror the host's apt uses (its sources), so CTs fetch from where the host does. */
export async function hostDebianMirror(): Promise<DebianMirror> {
  const texts = await Promise.all(['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list'].map((f) => readFile(f, 'utf8').catch(() => '')));
  const text = texts.join('\n');
  const deb822 = /^URIs:\s*(\S+?\/debian)\/?\s*$/m.exec(text);
  const oneLine = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+?\/debian)\/?\s+bookworm\b/m.exec(text);
  const debian = deb822?.[1] ?? oneLine?.[1] ?? 'http://deb.debian.org/debian';
  const security = /^URIs:\s*(\S+?\/debian-security)\/?\s*$/m.exec(text)?.[1]
    ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+?\/debian-security)\/?\s+bookworm-security\b/m.exec(text)?.[1]
    ?? debian.replace(/\/debian$/, '/debian-security');
  return { debian, security };
}

function sourcesLines(mirror: DebianMirror): string[] {
  return [
    `deb ${mirror.debian} bookworm main`,
    `deb ${mirror.debian} bookworm-updates main`,
    `deb ${mirror.security} bookworm-security main`,
  ];
}

/** The cache entry's directory name: the suite plus a hash of everything that shapes the image. */
export function rootfsCacheName(mirror: DebianMirror): string {
  const recipe = JSON.stringify({ RECIPE_VERSION, suite: 'bookworm', variant: 'minbase', packages: ROOTFS_PACKAGES, sources: sourcesLines(mirror) });
  return `debian-12-bookworm-${createHash('sha256').update(recipe).digest('hex').slice(0, 12)}`;
}

export interface EnsureRootfsOptions {
  cacheDir: string;
  mirror?: DebianMirror;
  /** One line per step of a build ("Building …", mmdebstrap's own I: lines, "… ready in N s"). */
  onProgress?: (line: string) => void;
}

const building = new Map<string, Promise<string>>();

/**
 * The path of the cached Debian 12 root filesystem, building it first when it is missing. Concurrent callers in one
 * process share a build; separate processes each build into a private directory and the first rename wins.
 */
export async function ensureDebianRootfs(options: EnsureRootfsOptions): Promise<string> {
  const mirror = options.mirror ?? (await hostDebianMirror());
  const dir = join(resolve(options.cacheDir), rootfsCacheName(mirror));
  if (await isComplete(dir)) return dir;
  let pending = building.get(dir);
  if (!pending) {
    pending = build(dir, mirror, options.onProgress ?? (() => {})).finally(() => building.delete(dir));
    building.set(dir, pending);
  }
  return pending;
}

async function isComplete(dir: string): Promise<boolean> {
  return stat(join(dir, 'etc/debian_version')).then(() => true, () => false);
}

async function build(dir: string, mirror: DebianMirror, progress: (line: string) => void): Promise<string> {
  const parent = resolve(dir, '..');
  await mkdir(parent, { recursive: true });
  const work = join(parent, `.build-${process.pid}-${randomBytes(4).toString('hex')}`);
  const started = Date.now();
  progress(`Building the Debian 12 (bookworm) root filesystem for simulated CTs with mmdebstrap from ${mirror.debian} — once; cached in ${dir}`);
  const args = ['--variant=minbase', '--mode=root', `--include=${ROOTFS_PACKAGES.join(',')}`, 'bookworm', work, ...sourcesLines(mirror)];
  try {
    await new Promise<void>((done, fail) => {
      const child = spawn('mmdebstrap', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C.UTF-8', HOME: '/root' } });
      const tail: string[] = [];
      for (const stream of [child.stdout, child.stderr]) {
        createInterface({ input: stream }).on('line', (line) => {
          tail.push(line);
          if (tail.length > 20) tail.shift();
          if (/^[IEW]: /.test(line)) progress(`mmdebstrap: ${line}`);
        });
      }
      child.on('error', (error) => fail(new Error(`cannot run mmdebstrap: ${error.message} (apt-get install mmdebstrap)`)));
      child.on('close', (code) => (code === 0 ? done() : fail(new Error(`mmdebstrap failed with exit code ${code}:\n${tail.join('\n')}`))));
    });
    await rename(work, dir).catch(async (error: NodeJS.ErrnoException) => {
      // Another process finished the same build first: keep theirs.
      if ((error.code === 'ENOTEMPTY' || error.code === 'EEXIST') && (await isComplete(dir))) return rm(work, { recursive: true, force: true });
      throw error;
    });
  } catch (error) {
    await rm(work, { recursive: true, force: true });
    throw error;
  }
  progress(`Debian 12 root filesystem ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${dir}`);
  return dir;
}

export interface DebianCtOptions {
  hostname: string;
  /** Root password, stored as a SHA-512 crypt hash in /etc/shadow as Proxmox does at create time. */
  password?: string;
  sshPublicKeys?: string;
  /** CIDR on eth0 */
  ipv4: string;
  gateway: string;
  dhcp: boolean;
}

/**
 * A new CT's root filesystem: a copy of the cached image (reflinked where the filesystem can), then what `pct create`
 * writes into a Debian CT — hostname, hosts, root password, authorized keys, network and DNS settings, fresh SSH
 * host keys — and the links to the simulator's init and runlevel (the image has no systemd).
 */
export async function createDebianCtRootfs(image: string, rootDir: string, options: DebianCtOptions): Promise<void> {
  await rm(rootDir, { recursive: true, force: true });
  await mkdir(resolve(rootDir, '..'), { recursive: true });
  await run('cp', ['-a', '--reflink=auto', '--', image, rootDir]);
  const at = (p: string) => join(rootDir, p);
  const address = options.ipv4.split('/')[0]!;
  await writeFile(at('etc/hostname'), `${options.hostname}\n`);
  await writeFile(at('etc/hosts'), `127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n${address}\t${options.hostname}\n`);
  await writeFile(at('etc/resolv.conf'), `# --- BEGIN PVE ---\nnameserver ${options.gateway}\n# --- END PVE ---\n`);
  await mkdir(at('etc/network'), { recursive: true });
  await writeFile(at('etc/network/interfaces'), options.dhcp
    ? 'auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n'
    : `auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet static\n\taddress ${options.ipv4}\n\tgateway ${options.gateway}\n`);
  if (options.password) {
    // chpasswd -R hashes with the CT's own PAM settings; the password travels on stdin only.
    await run('chpasswd', ['--root', rootDir], `root:${options.password}\n`);
  }
  if (options.sshPublicKeys?.trim()) {
    await mkdir(at('root/.ssh'), { recursive: true, mode: 0o700 });
    await writeFile(at('root/.ssh/authorized_keys'), `${options.sshPublicKeys.trim()}\n`, { mode: 0o600 });
  }
  // Every CT gets its own SSH host keys, as pct create generates them.
  for (const type of ['rsa', 'ecdsa', 'ed25519']) {
    await rm(at(`etc/ssh/ssh_host_${type}_key`), { force: true });
    await rm(at(`etc/ssh/ssh_host_${type}_key.pub`), { force: true });
  }
  await run('ssh-keygen', ['-A', '-f', rootDir]).catch(() => undefined);
  for (const name of ['init', 'runlevel']) {
    await rm(at(`usr/sbin/${name}`), { force: true });
    await symlink(`/usr/local/sbin/${name}`, at(`usr/sbin/${name}`));
  }
  await chmod(at('tmp'), 0o1777);
}

function run(command: string, args: string[], stdin?: string): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => (code === 0 ? done() : fail(new Error(`${command} failed (${code}): ${err.trim()}`))));
    child.stdin.end(stdin ?? '');
  });
}
