// Runs a command "inside" a simulated CT: a bubblewrap sandbox whose root is the CT's directory, with the host's
// /usr lent read-only and the simulator's shims (apt-get, systemctl, ss, ip, …) first on PATH.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareRootfs } from './ct-rootfs.ts';

export const SHIMS_DIR = fileURLToPath(new URL('./shims/', import.meta.url));

export const SANDBOX_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface SandboxTarget {
  rootDir: string;
  hostname: string;
  /** Divides the shims' simulated delays. */
  speed: number;
}

// Docker's default set: enough for chown, su/runuser, binding low ports; not enough to remount or escape.
const CT_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

export function bwrapArgs(target: SandboxTarget, argv: readonly string[]): string[] {
  // As real root we keep the host's uid map, so chown to www-data or postgres really happens; a user namespace
  // would map only uid 0 and every chown to another user would fail.
  const asRoot = process.getuid?.() === 0;
  const identity = asRoot
    ? ['--cap-drop', 'ALL', ...CT_CAPABILITIES.flatMap((cap) => ['--cap-add', cap])]
    : ['--unshare-user', '--uid', '0', '--gid', '0'];
  return [
    '--die-with-parent', '--new-session',
    '--unshare-ipc', '--unshare-pid', '--unshare-net', '--unshare-uts', '--unshare-cgroup-try',
    ...identity,
    '--bind', target.rootDir, '/',
    '--ro-bind', '/usr', '/usr',
    '--ro-bind-try', '/etc/alternatives', '/etc/alternatives',
    '--bind', join(target.rootDir, 'usr/local'), '/usr/local',
    '--ro-bind', SHIMS_DIR, '/usr/local/sbin',
    '--proc', '/proc',
    '--dev', '/dev',
    '--hostname', target.hostname,
    '--clearenv',
    '--setenv', 'PATH', SANDBOX_PATH,
    '--setenv', 'HOME', '/root',
    '--setenv', 'LANG', 'C.UTF-8',
    '--setenv', 'USER', 'root',
    '--setenv', 'LOGNAME', 'root',
    '--setenv', 'container', 'lxc',
    '--setenv', 'PVE_SIM_SPEED', String(target.speed),
    '--chdir', '/root',
    '--', ...argv,
  ];
}

/** Starts argv in the CT's sandbox with piped stdio, in its own process group so killSandbox reaches everything. */
export function spawnInSandbox(target: SandboxTarget, argv: readonly string[]): ChildProcessWithoutNullStreams {
  return spawn('bwrap', bwrapArgs(target, argv), { stdio: 'pipe', detached: true, env: {} });
}

/** SIGKILLs the sandbox; with --unshare-pid and --die-with-parent every process inside goes with it. */
export function killSandbox(child: ChildProcessWithoutNullStreams): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

/** true when bwrap is installed and can actually build our sandbox here (it cannot in some locked-down containers). */
export async function probeSandbox(): Promise<boolean> {
  const root = await mkdtemp(join(tmpdir(), 'launchpad-sandbox-probe-'));
  try {
    await prepareRootfs(root, { hostname: 'probe' });
    const child = spawnInSandbox({ rootDir: root, hostname: 'probe', speed: 1 }, ['/bin/sh', '-c', 'echo sandbox-ok; hostname']);
    child.stdin.end();
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.resume();
    const code = await new Promise<number | null>((resolve) => {
      child.on('error', () => resolve(null));
      child.on('close', (c) => resolve(c));
    });
    return code === 0 && out === 'sandbox-ok\nprobe\n';
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
