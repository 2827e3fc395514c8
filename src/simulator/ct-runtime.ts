// Debian-mode CTs as running namespaces: on start, a CT gets its own mount, PID, UTS, IPC and network namespaces
// rooted at its directory (a copy of the cached Debian 12 root filesystem), an init that starts enabled services,
// and a network through pasta (its lease or static address on eth0, outbound traffic via the host, a few ports
// forwarded to 127.0.0.1 on the host so tests and admins can reach them). `pct exec` enters the namespaces with
// nsenter. Needs root; probeDebianRootfs() says so before anything tries.
import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

export const DEBIAN_SHIMS_DIR = fileURLToPath(new URL('./shims-debian/', import.meta.url));

/** Ports of a CT forwarded to 127.0.0.1 on the host while it runs (the simulator has no bridge to the LAN). */
export const FORWARDED_CT_PORTS = [22, 80, 443, 3000, 5432, 8080] as const;

// Docker's default set minus CAP_MKNOD: enough for chown, su/sudo, binding low ports and sshd's privilege separation.
const CT_CAPS = '-all,+chown,+dac_override,+fowner,+fsetid,+setuid,+setgid,+net_bind_service,+kill,+setfcap,+setpcap,+sys_chroot,+audit_write,+net_raw';
export const CT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

// Run by the host's sh as PID 1 of the new namespaces: mounts what a CT has, pivots into the CT's root, drops to the
// CT capability set and becomes the CT's /sbin/init (the simulator's, see shims-debian/init).
const BOOT_SCRIPT = `set -eu
root=$1 shims=$2 host=$3 caps=$4
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
# As in Docker and LXC: the kernel's knobs are visible, not writable (root in the CT is root on the host).
for p in sys sysrq-trigger irq bus fs; do
  [ -e "$root/proc/$p" ] || continue
  mount --bind "$root/proc/$p" "$root/proc/$p"
  mount -o remount,bind,ro "$root/proc/$p"
done
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$root/run"
mkdir -p "$root/run/lock" "$root/run/sshd"
mount -t tmpfs -o mode=0755,nosuid tmpfs "$root/dev"
for d in null zero full random urandom tty; do : >"$root/dev/$d"; mount --bind "/dev/$d" "$root/dev/$d"; done
mkdir -p "$root/dev/pts" "$root/dev/shm"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$root/dev/pts"
ln -s pts/ptmx "$root/dev/ptmx"; ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"; ln -s /proc/self/fd/1 "$root/dev/stdout"; ln -s /proc/self/fd/2 "$root/dev/stderr"
mkdir -p "$root/usr/local/sbin"
mount --bind "$shims" "$root/usr/local/sbin"
mount -o remount,bind,ro "$root/usr/local/sbin"
hostname "$host"
cd "$root"
pivot_root . .
umount -l .
cd /
echo launchpad-ct-ready
exec setpriv --bounding-set "$caps" --inh-caps=-all -- env -i PATH=${CT_PATH} LANG=C.UTF-8 container=lxc /usr/sbin/init >/dev/null 2>&1 </dev/null
`;

export interface CtNetwork {
  /** CIDR, e.g. 10.10.0.100/24 */
  address: string;
  gateway: string;
}

interface RunningCt {
  init: ChildProcess;
  pasta: ChildProcess;
  /** Host PID of the CT's PID 1 (nsenter's target). */
  pid: number;
  ports: Map<number, number>;
}

export class CtRuntime {
  private readonly running = new Map<number, RunningCt>();

  isRunning(vmid: number): boolean {
    return this.running.has(vmid);
  }

  /** Boots the CT's namespaces; resolves once its network is configured. Returns the host ports forwarded to it. */
  async start(vmid: number, rootDir: string, hostname: string, network: CtNetwork): Promise<Map<number, number>> {
    await this.stop(vmid);
    const init = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'unshare', '--mount', '--uts', '--ipc', '--net', '--pid', '--fork',
      '--kill-child', '--propagation', 'private', '--', '/bin/sh', '-c', BOOT_SCRIPT, 'boot', rootDir, DEBIAN_SHIMS_DIR, hostname, CT_CAPS],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
    let output = '';
    init.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    init.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const ready = await waitFor(() => output.includes('launchpad-ct-ready') || init.exitCode !== null, 10_000);
    if (!ready || init.exitCode !== null) {
      init.kill('SIGKILL');
      throw new Error(`the CT's namespaces could not be set up: ${output.trim() || 'no answer within 10 s'}`);
    }
    const pid = await childPid(init.pid!);
    const hostPorts = await freePorts(FORWARDED_CT_PORTS.length);
    const ports = new Map<number, number>(FORWARDED_CT_PORTS.map((port, i) => [port, hostPorts[i]!]));
    const [ip, prefix] = network.address.split('/');
    const netns = openSync(`/proc/${pid}/ns/net`, 'r');
    const pasta = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'pasta', '--foreground', '--quiet', '--runas', '0', '--config-net',
      '--ns-ifname', 'eth0', '--address', ip!, '--netmask', prefix ?? '24', '--gateway', network.gateway, '--no-map-gw',
      '--dns-forward', network.gateway, ...[...ports].flatMap(([ct, host]) => ['--tcp-ports', `127.0.0.1/${host}:${ct}`]),
      // pasta drops privileges before it opens the namespace, so it gets an open descriptor rather than /proc/<pid>/…
      '--udp-ports', 'none', '--tcp-ns', 'none', '--udp-ns', 'none', '--netns', '/proc/self/fd/3'],
    { stdio: ['ignore', 'ignore', 'pipe', netns] });
    closeSync(netns);
    let pastaErr = '';
    pasta.stderr!.on('data', (d: Buffer) => (pastaErr += d.toString()));
    const routed = await waitFor(async () => pasta.exitCode !== null || /^\S+\t00000000\t/m.test(await readFile(`/proc/${pid}/net/route`, 'utf8').catch(() => '')), 10_000);
    if (!routed || pasta.exitCode !== null) {
      pasta.kill('SIGKILL');
      init.kill('SIGKILL');
      throw new Error(`the CT's network could not be set up (pasta): ${pastaErr.replace(/^.*syslog.*$/gm, '').trim() || 'no route within 10 s'}`);
    }
    this.running.set(vmid, { init, pasta, pid, ports });
    init.once('exit', () => {
      if (this.running.get(vmid)?.init === init) {
        pasta.kill('SIGKILL');
        this.running.delete(vmid);
      }
    });
    return ports;
  }

  /** Ends every process of the CT (its PID 1 goes, and the kernel takes the rest of the namespace with it). */
  async stop(vmid: number): Promise<void> {
    const ct = this.running.get(vmid);
    if (!ct) return;
    this.running.delete(vmid);
    const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      process.kill(ct.pid, 'SIGKILL');
    } catch { /* already gone */ }
    ct.init.kill('SIGKILL');
    ct.pasta.kill('SIGKILL');
    await Promise.all([exited(ct.init), exited(ct.pasta)]);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.running.keys()].map((vmid) => this.stop(vmid)));
  }

  forwardedPort(vmid: number, ctPort: number): number | undefined {
    return this.running.get(vmid)?.ports.get(ctPort);
  }

  /** Starts argv inside the running CT as root, like `lxc-attach` does for `pct exec`. */
  exec(vmid: number, argv: readonly string[]): ChildProcessWithoutNullStreams {
    const ct = this.running.get(vmid);
    if (!ct) throw new Error(`CT ${vmid} is not running`);
    return spawn('nsenter', ['--target', String(ct.pid), '--mount', '--uts', '--ipc', '--net', '--pid', '--root', '--wd', '--',
      'setpriv', '--bounding-set', CT_CAPS, '--inh-caps=-all', '--',
      '/usr/bin/env', '-i', `PATH=${CT_PATH}`, 'HOME=/root', 'LANG=C.UTF-8', 'USER=root', 'LOGNAME=root', 'container=lxc', 'TERM=dumb', ...argv],
    { stdio: 'pipe', detached: true, env: {} });
  }
}

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(25);
  }
  return check();
}

// unshare --fork: the CT's PID 1 is unshare's only child.
async function childPid(unsharePid: number): Promise<number> {
  // setpriv execs unshare in place, so the spawned pid is unshare's.
  for (let i = 0; i < 200; i++) {
    const children = await readFile(`/proc/${unsharePid}/task/${unsharePid}/children`, 'utf8').catch(() => '');
    const pid = Number(children.trim().split(/\s+/)[0]);
    if (pid > 0) return pid;
    await sleep(10);
  }
  throw new Error('the CT init process did not appear');
}

/**
 * `count` distinct free ports on 127.0.0.1. Each is held until all are found: a port closed before the next is asked
 * for can be handed out again, and pasta refuses to start on the same host port twice ("Overlapping port specifier").
 */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
    }
    return servers.map((server) => (server.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}
