// The simulated Proxmox node's SSH server: one accepted client key for root (and for any login a test adds), exec
// requests for `pct …`, `id` and `curl`, and SFTP into a per-host staging directory that stands in for the node's
// filesystem.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2, { type Connection, type ParsedKey, type Session } from 'ssh2';
import { sshFingerprint } from '../proxmox/node-shell.ts';
import { serveNodeSftp } from './node-sftp.ts';
import { startNodeCommand, type NodeContext, type NodeLogin, type RunningCommand } from './pct-commands.ts';
import { probeSandbox } from './sandbox.ts';
import type { SshHostHandle, SshHostOptions } from './types.ts';

export async function startSshHost(options: SshHostOptions): Promise<SshHostHandle> {
  // Debian-mode CTs are namespaces of their own: they need no bubblewrap.
  return startSshHostWith(options, { sandboxed: options.runtime ? true : await probeSandbox() });
}

/** startSshHost with the sandbox decision made by the caller (tests use it to exercise the no-bwrap answers). */
export async function startSshHostWith(options: SshHostOptions, mode: { sandboxed: boolean }): Promise<SshHostHandle> {
  const authorizedKey = parseOneKey(options.authorizedPublicKey, 'authorizedPublicKey');
  const hostKeyFingerprint = sshFingerprint(options.hostKey);
  const stagingDir = await mkdtemp(join(tmpdir(), 'launchpad-sim-node-'));
  await mkdir(join(stagingDir, 'tmp'), { mode: 0o1777 });
  await mkdir(join(stagingDir, 'root'), { mode: 0o700 });
  const ctx: Omit<NodeContext, 'login'> = { state: options.state, stagingDir, sandboxed: mode.sandboxed, speed: options.speed, runtime: options.runtime, faults: options.faults };
  const commands: string[] = [];
  // Login name → user id. The configured user is root, as Launchpad's nodes need.
  const logins = new Map<string, number>([[options.user, 0]]);

  const connections = new Set<Connection>();
  const running = new Set<RunningCommand>();

  const server = new ssh2.Server({ hostKeys: [options.hostKey] }, (connection) => {
    connections.add(connection);
    connection.on('close', () => connections.delete(connection));
    connection.on('error', () => {}); // a client that vanishes mid-handshake is not our problem
    let login: NodeLogin | undefined;
    connection.on('authentication', (auth) => {
      const uid = logins.get(auth.username);
      if (auth.method !== 'publickey' || uid === undefined || !auth.key.data.equals(authorizedKey.getPublicSSH())) {
        return auth.reject(['publickey']);
      }
      // Without a signature the client is only asking whether this key would do; with one it must prove it holds it.
      if (auth.signature && auth.blob && authorizedKey.verify(auth.blob, auth.signature, auth.hashAlgo) !== true) {
        return auth.reject(['publickey']);
      }
      login = { name: auth.username, uid };
      auth.accept();
    });
    connection.on('ready', () => {
      const signedIn = { ...ctx, login: login! };
      connection.on('session', (accept) => serveSession(accept(), signedIn, running, commands));
    });
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
    });
  } catch (error) {
    await rm(stagingDir, { recursive: true, force: true });
    throw error;
  }
  const address = server.address() as AddressInfo;

  return {
    host: address.address,
    port: address.port,
    hostKeyFingerprint,
    sandboxed: ctx.sandboxed,
    commands,
    addLogin(name, uid) {
      logins.set(name, uid);
    },
    async close() {
      for (const command of running) command.kill();
      for (const connection of connections) connection.end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(stagingDir, { recursive: true, force: true });
    },
  };
}

function serveSession(session: Session, ctx: NodeContext, running: Set<RunningCommand>, log: string[]): void {
  let command: RunningCommand | undefined;
  session.on('exec', (accept, _reject, info) => {
    const channel = accept();
    log.push(info.command);
    if (log.length > 10_000) log.splice(0, log.length - 10_000);
    command = startNodeCommand(ctx, info.command, channel);
    const current = command;
    running.add(current);
    channel.on('close', () => current.kill());
    void current.done.then((status) => {
      running.delete(current);
      if ('code' in status) channel.exit(status.code);
      else channel.exit(status.signal, false, '');
      channel.end();
    });
  });
  // The client gives up on a command (timeout, cancel) by sending a signal; every signal ends it, as SIGKILL would.
  session.on('signal', (accept) => {
    accept?.();
    command?.kill();
  });
  session.on('sftp', (accept) => serveNodeSftp(accept(), ctx.stagingDir));
  session.on('env', (accept) => accept?.());
  session.on('pty', (_accept, reject) => reject?.());
  session.on('shell', (_accept, reject) => reject?.());
  session.on('subsystem', (_accept, reject) => reject?.());
}

function parseOneKey(text: string, what: string): ParsedKey {
  const parsed = ssh2.utils.parseKey(text);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key instanceof Error) throw new Error(`${what} is not a usable SSH key${key instanceof Error ? `: ${key.message}` : ''}`);
  return key;
}
