// The on-disk root filesystem of a simulated container: what a freshly created Debian 12 CT (debian-12-standard)
// has in the places our templates touch. /usr is never here — the sandbox lends the host's, read-only.
import { execFile, spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { chmod, lstat, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface RootfsOptions {
  hostname: string;
  /** Root password; stored as a SHA-512 crypt hash in /etc/shadow, as Proxmox does at create time. */
  password?: string;
  /** OpenSSH public key lines for /root/.ssh/authorized_keys. */
  sshPublicKeys?: string;
  /** IPv4 address with prefix shown on eth0 (the static address, or the lease the API reports); default derived from the hostname. */
  ipv4?: string;
  /** true when net0 asked for DHCP: /etc/network/interfaces says so and the address is recorded as a lease. */
  dhcp?: boolean;
}

// Host /etc entries the host's /usr binaries depend on (ld.so reads ld.so.cache, runuser/su need pam.d). A real CT
// ships its own copies of exactly these. /etc/alternatives (awk is /etc/alternatives/awk) is lent read-only by the
// sandbox instead: hundreds of symlinks are slow to copy for every CT.
const HOST_ETC_ENTRIES = [
  'ld.so.cache', 'ld.so.conf', 'ld.so.conf.d', 'pam.d', 'security', 'login.defs', 'default',
  'skel', 'shells', 'profile', 'profile.d', 'bash.bashrc', 'environment', 'localtime', 'timezone', 'debian_version',
  'mime.types', 'inputrc', 'adduser.conf', 'deluser.conf',
];

const WRITABLE_DIRS = ['etc', 'root', 'home', 'opt', 'srv', 'var', 'tmp', 'run', 'usr/local', 'mnt', 'media', 'proc', 'dev', 'sys', 'usr'];

const PASSWD = `root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:x:2:2:bin:/bin:/usr/sbin/nologin
sys:x:3:3:sys:/dev:/usr/sbin/nologin
sync:x:4:65534:sync:/bin:/bin/sync
games:x:5:60:games:/usr/games:/usr/sbin/nologin
man:x:6:12:man:/var/cache/man:/usr/sbin/nologin
lp:x:7:7:lp:/var/spool/lpd:/usr/sbin/nologin
mail:x:8:8:mail:/var/mail:/usr/sbin/nologin
news:x:9:9:news:/var/spool/news:/usr/sbin/nologin
uucp:x:10:10:uucp:/var/spool/uucp:/usr/sbin/nologin
proxy:x:13:13:proxy:/bin:/usr/sbin/nologin
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
backup:x:34:34:backup:/var/backups:/usr/sbin/nologin
list:x:38:38:Mailing List Manager:/var/list:/usr/sbin/nologin
irc:x:39:39:ircd:/run/ircd:/usr/sbin/nologin
_apt:x:42:65534::/nonexistent:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
systemd-network:x:998:998:systemd Network Management:/:/usr/sbin/nologin
systemd-timesync:x:997:997:systemd Time Synchronization:/:/usr/sbin/nologin
messagebus:x:100:107::/nonexistent:/usr/sbin/nologin
sshd:x:101:65534::/run/sshd:/usr/sbin/nologin
postfix:x:102:109::/var/spool/postfix:/usr/sbin/nologin
postgres:x:103:110:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash
`;

const GROUP = `root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
news:x:9:
uucp:x:10:
man:x:12:
proxy:x:13:
kmem:x:15:
dialout:x:20:
cdrom:x:24:
sudo:x:27:
audio:x:29:
www-data:x:33:
backup:x:34:
operator:x:37:
list:x:38:
irc:x:39:
src:x:40:
shadow:x:42:
utmp:x:43:
video:x:44:
plugdev:x:46:
staff:x:50:
games:x:60:
users:x:100:
systemd-journal:x:999:
systemd-network:x:998:
systemd-timesync:x:997:
input:x:101:
messagebus:x:107:
postfix:x:109:
postdrop:x:108:
ssl-cert:x:111:postgres
postgres:x:110:
nogroup:x:65534:
`;

const OS_RELEASE = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
`;

// The packages of debian-12-standard that scripts commonly probe with `dpkg -s`.
const BASE_PACKAGES: Array<[name: string, version: string, arch: string]> = [
  ['base-files', '12.4+deb12u10', 'amd64'], ['bash', '5.2.15-2+b7', 'amd64'], ['coreutils', '9.1-1', 'amd64'],
  ['ca-certificates', '20230311', 'all'], ['curl', '7.88.1-10+deb12u12', 'amd64'], ['openssh-server', '1:9.2p1-2+deb12u5', 'amd64'],
  ['postfix', '3.7.11-0+deb12u1', 'amd64'], ['cron', '3.0pl1-162', 'amd64'], ['locales', '2.36-9+deb12u10', 'all'],
  ['sudo', '1.9.13p3-1+deb12u1', 'amd64'], ['systemd', '252.36-1~deb12u1', 'amd64'], ['wget', '1.21.3-1+b2', 'amd64'],
];

const BASE_UNITS: Array<[unit: string, sockets: string]> = [
  ['ssh', '22 0.0.0.0 sshd\n22 [::] sshd\n'],
  ['postfix', '25 127.0.0.1 master\n25 [::1] master\n'],
  ['cron', ''],
];

function dpkgStatusStanza(name: string, version: string, arch: string): string {
  return `Package: ${name}\nStatus: install ok installed\nPriority: optional\nSection: misc\nInstalled-Size: 1024\n` +
    `Maintainer: Debian Developers <debian-devel@lists.debian.org>\nArchitecture: ${arch}\nVersion: ${version}\n` +
    `Description: ${name} (simulated)\n\n`;
}

/** Creates a Debian 12 CT root filesystem under rootDir (which may already exist). Idempotent. */
export async function prepareRootfs(rootDir: string, options: RootfsOptions): Promise<void> {
  const at = (p: string) => join(rootDir, p);
  await mkdir(rootDir, { recursive: true });
  for (const dir of WRITABLE_DIRS) await mkdir(at(dir), { recursive: true });
  for (const dir of ['tmp', 'var/tmp']) {
    await mkdir(at(dir), { recursive: true });
    await chmod(at(dir), 0o1777);
  }
  await chmod(at('root'), 0o700);
  for (const dir of [
    'etc/alternatives', 'etc/ssh', 'etc/systemd/system/multi-user.target.wants', 'etc/network', 'etc/apt/sources.list.d', 'etc/cron.d',
    'var/lib/dpkg/info', 'var/lib/dpkg/updates', 'var/lib/dpkg/triggers', 'var/lib/apt/lists', 'var/lib/dhcp',
    'var/log/apt', 'var/cache/apt/archives', 'var/www', 'var/spool', 'var/backups', 'var/mail', 'run/lock',
    'usr/local/bin', 'usr/local/sbin', 'usr/local/lib', 'usr/local/share', 'usr/local/etc', 'usr/local/src',
  ]) {
    await mkdir(at(dir), { recursive: true });
  }
  for (const [link, target] of [['bin', 'usr/bin'], ['sbin', 'usr/sbin'], ['lib', 'usr/lib'], ['lib64', 'usr/lib64'], ['var/run', '/run']] as const) {
    await symlink(target, at(link)).catch(ignoreExists);
  }

  const missing = await Promise.all(HOST_ETC_ENTRIES.map(async (entry) =>
    (await exists(join('/etc', entry))) && !(await exists(at(join('etc', entry)))) ? join('/etc', entry) : null));
  const toCopy = missing.filter((p): p is string => p !== null);
  // coreutils cp -a keeps the hundreds of /etc/alternatives symlinks as they are, in milliseconds.
  if (toCopy.length > 0) await execFileAsync('cp', ['-a', '--', ...toCopy, at('etc')]);

  const hostname = options.hostname;
  const given = options.ipv4 ?? defaultIpv4(hostname);
  const ipv4 = given.includes('/') ? given : `${given}/24`;
  const address = ipv4.split('/')[0] ?? ipv4;
  await writeFile(at('etc/os-release'), OS_RELEASE);
  await writeFile(at('etc/debian_version'), '12.11\n');
  await writeFile(at('etc/hostname'), `${hostname}\n`);
  await writeFile(at('etc/hosts'), `127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n${address}\t${hostname}\n`);
  await writeFile(at('etc/nsswitch.conf'), 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nservices: files\n');
  await writeFile(at('etc/passwd'), PASSWD);
  await writeFile(at('etc/group'), GROUP);
  await writeFile(at('etc/gshadow'), GROUP.replace(/^([^:]+):x:/gm, '$1:*:'), { mode: 0o640 });
  const rootHash = options.password ? await sha512Crypt(options.password) : '*';
  const shadow = PASSWD.split('\n').filter(Boolean)
    .map((line) => `${line.split(':')[0]}:${line.startsWith('root:') ? rootHash : '*'}:19800:0:99999:7:::`).join('\n');
  await writeFile(at('etc/shadow'), `${shadow}\n`, { mode: 0o640 });
  await writeFile(at('etc/resolv.conf'), '# --- BEGIN PVE ---\nsearch localdomain\nnameserver 10.0.0.1\n# --- END PVE ---\n');
  await writeFile(at('etc/apt/sources.list'),
    'deb http://deb.debian.org/debian bookworm main contrib\n' +
    'deb http://deb.debian.org/debian bookworm-updates main contrib\n' +
    'deb http://security.debian.org bookworm-security main contrib\n');
  await writeFile(at('etc/network/interfaces'), options.dhcp === false
    ? `auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet static\n\taddress ${ipv4}\n`
    : `auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n`);
  await writeFile(at('var/lib/dhcp/dhclient.eth0.leases'),
    options.dhcp === false ? '' : `lease {\n  interface "eth0";\n  fixed-address ${address};\n  option subnet-mask 255.255.255.0;\n}\n`);
  await writeIfMissing(at('var/lib/dpkg/status'), BASE_PACKAGES.map(([n, v, a]) => dpkgStatusStanza(n, v, a)).join(''));
  await writeIfMissing(at('var/lib/dpkg/available'), '');
  // The services debian-12-standard runs from boot, in the shape the systemctl and ss shims keep their state.
  await mkdir(at('var/lib/pve-sim/units'), { recursive: true });
  await mkdir(at('run/pve-sim/active'), { recursive: true });
  for (const [unit, sockets] of BASE_UNITS) {
    await symlink(`/lib/systemd/system/${unit}.service`, at(`etc/systemd/system/multi-user.target.wants/${unit}.service`)).catch(ignoreExists);
    await writeIfMissing(at(`var/lib/pve-sim/units/${unit}`), sockets);
    await writeFile(at(`run/pve-sim/active/${unit}`), '');
  }
  await writeIfMissing(at('var/log/dpkg.log'), '');
  await writeIfMissing(at('var/log/syslog'), '');

  if (options.sshPublicKeys?.trim()) {
    await mkdir(at('root/.ssh'), { recursive: true, mode: 0o700 });
    await writeFile(at('root/.ssh/authorized_keys'), `${options.sshPublicKeys.trim()}\n`, { mode: 0o600 });
  }
}

/** The address a simulated CT shows on eth0 when none was given: stable per hostname, inside 10.0.0.0/24. */
export function defaultIpv4(hostname: string): string {
  let hash = 0;
  for (const ch of hostname) hash = (hash * 31 + ch.codePointAt(0)!) >>> 0;
  return `10.0.0.${10 + (hash % 240)}/24`;
}

// openssl reads the password on stdin, so it never appears in a process listing.
function sha512Crypt(password: string): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn('openssl', ['passwd', '-6', '-stdin'], { stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', () => resolve('*'));
    child.on('close', (code) => resolve(code === 0 && out.startsWith('$6$') ? out.trim() : '*'));
    child.stdin.end(`${password}\n`);
  });
}

// Package and log state survive a second prepareRootfs on the same directory.
async function writeIfMissing(path: string, content: string): Promise<void> {
  await writeFile(path, content, { flag: fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_WRONLY }).catch(ignoreExists);
}

function ignoreExists(error: NodeJS.ErrnoException): void {
  if (error.code !== 'EEXIST') throw error;
}

function exists(path: string): Promise<boolean> {
  return lstat(path).then(() => true, () => false);
}
