// What the simulated node does with an exec request: the few `pct` subcommands Launchpad uses, answered the way
// real pct answers them (same messages, same exit codes), with `pct exec` run for real inside the CT's sandbox; and
// `id`, which Test connection asks to learn whether it signed in as root.
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { chmod, chown, lstat, open, readFile, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'shell-quote';
import type { ServerChannel } from 'ssh2';
import { nodePath } from './node-sftp.ts';
import type { CtRuntime } from './ct-runtime.ts';
import type { SimulatorFaults } from './faults.ts';
import { nodeCurl } from './node-curl.ts';
import { killSandbox, spawnInSandbox } from './sandbox.ts';
import type { SimContainerView, SimulatorStateView } from './types.ts';

export interface NodeContext {
  state: SimulatorStateView;
  /** The node's filesystem as far as SFTP and `pct push` sources are concerned. */
  stagingDir: string;
  sandboxed: boolean;
  speed: number;
  /** Debian mode: CTs are running namespaces; exec enters them, and the CT's /usr is its own (writable). */
  runtime?: CtRuntime;
  faults?: SimulatorFaults;
  /** Who signed in on this connection. */
  login: NodeLogin;
}

export interface NodeLogin {
  name: string;
  uid: number;
}

export type ExitStatus = { code: number } | { signal: string };

export interface RunningCommand {
  done: Promise<ExitStatus>;
  /** Ends the command at once (SSH signal request, channel closed by the client). */
  kill(): void;
}

/** Splits an exec request's command line as a POSIX shell would; null for anything a shell would expand or run. */
export function parseCommandLine(line: string): string[] | null {
  let expanded = false;
  const words = parse(line, (name) => {
    expanded = true;
    return `$${name}`;
  });
  if (expanded || !words.every((w): w is string => typeof w === 'string')) return null;
  return words;
}

export function startNodeCommand(ctx: NodeContext, commandLine: string, channel: ServerChannel): RunningCommand {
  let kill = () => {};
  const done = (async (): Promise<ExitStatus> => {
    const words = parseCommandLine(commandLine);
    if (!words || words.length === 0) return fail(channel, 'bash: line 1: syntax error: the simulated node runs only plain pct and curl commands\n', 2);
    const [program, subcommand, ...rest] = words;
    if (program === 'curl') {
      // The HTTP health check of a CT's service, from the node (src/simulator/node-curl.ts).
      const running = nodeCurl(ctx, words.slice(1), channel);
      kill = running.kill;
      const status = await running.done;
      await flushed(channel);
      return status;
    }
    if (program === 'id') return id(ctx.login, words.slice(1), channel);
    if (program !== 'pct') return fail(channel, `bash: line 1: ${program}: command not found\n`, 127);
    // Every pct command sets up a root CLI environment first, which dies for anyone else (pve-common
    // RESTEnvironment.pm setup_default_cli_env, called from pve-container CLI/pct.pm setup_environment).
    if (ctx.login.uid !== 0) return fail(channel, 'please run as root\n', 255);
    switch (subcommand) {
      case 'exec': {
        const running = pctExec(ctx, rest, channel);
        kill = running.kill;
        return running.done;
      }
      case 'push':
        return pctPush(ctx, rest, channel);
      case 'status':
        return pctStatus(ctx, rest, channel);
      default:
        return fail(channel, `ERROR: unknown command 'pct ${subcommand ?? ''}'\nUSAGE: pct <COMMAND> [ARGS] [OPTIONS]\n`, 255);
    }
  })();
  return { done, kill: () => kill() };
}

/** coreutils `id` for the signed-in user, whose only group is its own: `-u`, `-g`, `-G` (with `-n`: names), or all. */
function id(login: NodeLogin, args: string[], channel: ServerChannel): ExitStatus {
  const bad = args.find((a) => !/^-[ugGn]+$/.test(a));
  if (bad !== undefined) return fail(channel, `id: ‘${bad}’: no such user\n`, 1);
  const flags = args.join('');
  const own = `${login.uid}(${login.name})`;
  if (/[ugG]/.test(flags)) channel.write(`${flags.includes('n') ? login.name : login.uid}\n`);
  else if (flags) return fail(channel, 'id: cannot print only names or real IDs in default format\n', 1);
  else channel.write(`uid=${own} gid=${own} groups=${own}\n`);
  return { code: 0 };
}

function fail(channel: ServerChannel, message: string, code: number): ExitStatus {
  channel.stderr.write(message);
  return { code };
}

type Lookup = { ct: SimContainerView } | { error: ExitStatus };

function lookUp(ctx: NodeContext, channel: ServerChannel, vmidArg: string | undefined): Lookup {
  if (vmidArg === undefined || !/^[1-9]\d{2,8}$/.test(vmidArg)) {
    return { error: fail(channel, `400 Parameter verification failed.\nvmid: invalid format - value does not look like a valid VM ID\n`, 255) };
  }
  const ct = ctx.state.container(Number(vmidArg));
  if (!ct) return { error: fail(channel, `Configuration file 'nodes/${ctx.state.node}/lxc/${vmidArg}.conf' does not exist\n`, 255) };
  return { ct };
}

function pctStatus(ctx: NodeContext, args: string[], channel: ServerChannel): ExitStatus {
  const found = lookUp(ctx, channel, args[0]);
  if ('error' in found) return found.error;
  channel.write(`status: ${found.ct.status}\n`);
  return { code: 0 };
}

function pctExec(ctx: NodeContext, args: string[], channel: ServerChannel): RunningCommand {
  const found = lookUp(ctx, channel, args[0]);
  if ('error' in found) return finished(found.error);
  const { ct } = found;
  const argv = args[1] === '--' ? args.slice(2) : args.slice(1);
  if (ct.status !== 'running') return finished(fail(channel, `container '${ct.vmid}' not running!\n`, 255));
  if (argv.length === 0) return finished(fail(channel, 'missing command\n', 255));
  if (!ctx.runtime && !ctx.sandboxed) {
    return argv[0] === 'test' ? { done: simulateTest(ct.rootDir, argv.slice(1)), kill: () => {} } : simulateExec(ctx, argv, channel);
  }

  let child: ChildProcessWithoutNullStreams;
  if (ctx.runtime) {
    if (!ctx.runtime.isRunning(ct.vmid)) return finished(fail(channel, `container '${ct.vmid}' not running!\n`, 255));
    child = ctx.runtime.exec(ct.vmid, argv);
  } else {
    child = spawnInSandbox({ rootDir: ct.rootDir, hostname: ct.hostname, speed: ctx.speed }, argv);
  }
  child.stdin.on('error', () => {}); // the command may exit without reading its stdin
  channel.pipe(child.stdin);
  child.stdout.pipe(channel, { end: false });
  child.stderr.pipe(channel.stderr, { end: false });
  return { done: exitOf(child, channel), kill: () => killSandbox(child) };
}

async function exitOf(child: ChildProcessWithoutNullStreams, channel: ServerChannel): Promise<ExitStatus> {
  const status = await new Promise<ExitStatus>((resolve) => {
    child.on('error', (error) => {
      channel.stderr.write(`simulator: cannot start bwrap: ${error.message}\n`);
      resolve({ code: 255 });
    });
    child.on('close', (code, signal) => resolve(signal ? { signal: signal.replace(/^SIG/, '') } : { code: code ?? 255 }));
    // A daemon the command started may keep its stdout open (real pct exec returns when the command exits): once the
    // command has exited, give the pipes a moment to drain, then stop waiting for them.
    child.on('exit', (code, signal) => {
      setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        resolve(signal ? { signal: signal.replace(/^SIG/, '') } : { code: code ?? 255 });
      }, 1000).unref();
    });
  });
  await flushed(channel);
  return status;
}

/**
 * Without bwrap, `test -e|-d|-f PATH` is answered from the CT's directory, where nothing has ever run: whatever a
 * command would have created (a progress marker, a pushed file) is not there, so every "already done?" check reads
 * "not done", while what the root filesystem really has (/etc) is found.
 */
async function simulateTest(rootDir: string, args: string[]): Promise<ExitStatus> {
  const [flag, ctPath] = args;
  if (args.length !== 2 || !ctPath?.startsWith('/') || !['-e', '-d', '-f'].includes(flag!)) return { code: 1 };
  try {
    const stats = await lstat(join(rootDir, await resolveInCt(rootDir, ctPath)));
    return { code: flag === '-e' || (flag === '-d' ? stats.isDirectory() : stats.isFile()) ? 0 : 1 };
  } catch {
    return { code: 1 };
  }
}

// Without bwrap nothing runs: the node echoes what it would have run, each line marked "simulated".
function simulateExec(ctx: NodeContext, argv: string[], channel: ServerChannel): RunningCommand {
  let killed = false;
  const done = (async (): Promise<ExitStatus> => {
    const chunks: Buffer[] = [];
    const stdinEnded = new Promise<void>((resolve) => {
      channel.on('data', (d: Buffer) => chunks.push(d));
      channel.once('end', resolve);
      channel.once('close', resolve);
    });
    await Promise.race([stdinEnded, sleep(2000)]);
    const script = Buffer.concat(chunks).toString('utf8');
    const lines = [`simulated: ${argv.join(' ')}`, ...script.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#')).map((l) => `simulated: ${l}`)];
    for (const line of lines) {
      if (killed) return { signal: 'KILL' };
      channel.write(`${line}\n`);
      await sleep(20 / ctx.speed);
    }
    await flushed(channel);
    return { code: 0 };
  })();
  return { done, kill: () => (killed = true) };
}

async function pctPush(ctx: NodeContext, args: string[], channel: ServerChannel): Promise<ExitStatus> {
  const positional: string[] = [];
  const options: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const option = /^--?(perms|user|group)$/.exec(arg);
    if (option) {
      const value = args[++i];
      if (value === undefined) return fail(channel, `400 unable to parse option\n`, 255);
      options[option[1]!] = value;
    } else {
      positional.push(arg);
    }
  }
  const [vmidArg, source, destination] = positional;
  if (positional.length !== 3 || !source || !destination) {
    return fail(channel, '400 wrong number of arguments\npct push <vmid> <file> <destination> [OPTIONS]\n', 255);
  }
  const found = lookUp(ctx, channel, vmidArg);
  if ('error' in found) return found.error;
  const { ct } = found;
  if (ct.status !== 'running') return fail(channel, 'can only push files to a running CT\n', 255);

  const perms = options.perms === undefined ? 0o644 : parsePerms(options.perms);
  if (perms === null) return fail(channel, `400 Parameter verification failed.\nperms: invalid format\n`, 255);
  const uid = await lookUpId(ct.rootDir, 'passwd', options.user ?? '0');
  if (uid === null) return fail(channel, 'no such user\n', 255);
  const gid = await lookUpId(ct.rootDir, 'group', options.group ?? '0');
  if (gid === null) return fail(channel, 'no such group\n', 255);

  let content: Buffer;
  try {
    content = await readFile(nodePath(ctx.stagingDir, source));
  } catch {
    return fail(channel, `can't open file ${source} - No such file or directory\n`, 255);
  }
  // Without bwrap nothing inside the CT changes (the mkdir before a push did not run either): the push is simulated.
  if (!ctx.runtime && !ctx.sandboxed) return { code: 0 };
  try {
    await writeIntoCt(ct.rootDir, destination, content, perms, uid, gid, { ownUsr: ctx.runtime !== undefined });
  } catch (error) {
    return fail(channel, `failed to open ${destination} for writing: ${describeFsError(error)}\n`, 255);
  }
  return { code: 0 };
}

// The errno text a CT-side open() would report, without the host path behind it.
function describeFsError(error: unknown): string {
  const messages: Record<string, string> = {
    ENOENT: 'No such file or directory', ENOTDIR: 'Not a directory', EISDIR: 'Is a directory', EACCES: 'Permission denied',
    EROFS: 'Read-only file system', ELOOP: 'Too many levels of symbolic links', ENOSPC: 'No space left on device',
  };
  const code = (error as NodeJS.ErrnoException).code;
  return (code && messages[code]) ?? (error as Error).message;
}

function parsePerms(raw: string): number | null {
  if (/^0x[0-9a-f]+$/i.test(raw)) return Number.parseInt(raw.slice(2), 16) & 0o7777;
  if (/^[0-7]{1,4}$/.test(raw)) return Number.parseInt(raw, 8);
  return null;
}

/** A user or group name (or numeric id) resolved against the CT's own /etc/passwd or /etc/group. */
async function lookUpId(rootDir: string, database: 'passwd' | 'group', nameOrId: string): Promise<number | null> {
  if (/^\d+$/.test(nameOrId)) return Number(nameOrId);
  const content = await readFile(join(rootDir, 'etc', database), 'utf8').catch(() => '');
  for (const line of content.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === nameOrId && fields[2] !== undefined && /^\d+$/.test(fields[2])) return Number(fields[2]);
  }
  return null;
}

/**
 * Writes a file at a path as seen from inside the CT: symlinks are followed the way the CT sees them (an absolute
 * link target is relative to the CT root), so a link the CT made can never send a write to the host.
 */
export async function writeIntoCt(
  rootDir: string, ctPath: string, content: Buffer, mode: number, uid: number, gid: number, options: { ownUsr?: boolean } = {},
): Promise<void> {
  if (!ctPath.startsWith('/')) throw new Error('destination must be an absolute path');
  const resolved = await resolveInCt(rootDir, ctPath);
  if (resolved === '/') throw Object.assign(new Error('Is a directory'), { code: 'EISDIR' });
  // /usr (but /usr/local) is the host's, read-only, as the sandbox shows it.
  const readOnly = options.ownUsr ? /^\/(proc|dev|sys)(\/|$)/ : /^\/(usr|proc|dev|sys)(\/|$)/;
  if (readOnly.test(resolved) && !resolved.startsWith('/usr/local/')) {
    throw Object.assign(new Error('Read-only file system'), { code: 'EROFS' });
  }
  const hostPath = join(rootDir, resolved);
  const fh = await open(hostPath, 'w', mode);
  try {
    await fh.writeFile(content);
  } finally {
    await fh.close();
  }
  if (process.getuid?.() === 0) await chown(hostPath, uid, gid);
  await chmod(hostPath, mode);
}

async function resolveInCt(rootDir: string, ctPath: string, hops = 0): Promise<string> {
  const parts = ctPath.split('/').filter((p) => p && p !== '.');
  const current: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (part === '..') {
      current.pop();
      continue;
    }
    const hostPath = join(rootDir, ...current, part);
    const stats = await lstat(hostPath).catch(() => null);
    if (stats?.isSymbolicLink()) {
      if (hops >= 40) throw Object.assign(new Error('Too many levels of symbolic links'), { code: 'ELOOP' });
      const target = await readlink(hostPath);
      const base = target.startsWith('/') ? target : posix.join('/', ...current, target);
      return resolveInCt(rootDir, posix.join(base, ...parts.slice(i + 1)), hops + 1);
    }
    current.push(part);
  }
  return `/${current.join('/')}`;
}

function finished(status: ExitStatus): RunningCommand {
  return { done: Promise.resolve(status), kill: () => {} };
}

/** Resolves once everything written to the channel so far has gone out (or the client is gone). */
export function flushed(channel: ServerChannel): Promise<void> {
  const drained = (stream: NodeJS.WritableStream) => new Promise<void>((resolve) => stream.write(Buffer.alloc(0), () => resolve()));
  const closed = new Promise<void>((resolve) => channel.once('close', () => resolve()));
  return Promise.race([Promise.all([drained(channel), drained(channel.stderr)]).then(() => undefined), closed]);
}
