// SSH to the Proxmox node that hosts a CT, and the few pct commands Launchpad needs there. Arguments go through
// shellJoin; scripts travel on stdin and files over SFTP, so no user value is ever part of a command line's syntax.
import { createHash, randomUUID } from 'node:crypto';
import { constants as osConstants } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import ssh2, { type Client, type ClientChannel, type SFTPWrapper } from 'ssh2';
import { LineSplitter } from './line-splitter.ts';
import { shellJoin } from './shell-quote.ts';
import {
  CommandAbortedError, CommandOutputLimitError, CommandTimeoutError, HostKeyMismatchError, NodeCommandError, NotRootError, SshAuthError, SshConnectError,
} from './ssh-errors.ts';

export interface NodeShellTarget {
  host: string;
  port: number;
  username: string;
  privateKey: string | Buffer;
  /** Pinned host key, OpenSSH style: `SHA256:<base64 without padding>`. */
  hostKeyFingerprint: string;
}

export type OutputStream = 'stdout' | 'stderr';

export interface ExecOptions {
  /** Sent on the command's stdin, then EOF; without it the command reads EOF at once. */
  stdin?: string | Buffer;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Each complete output line (`\r` redraws collapsed, ANSI escapes kept), stdout and stderr kept apart. */
  onLine?: (stream: OutputStream, text: string) => void;
  /**
   * For a caller that keeps the output in memory (CAPTURED_OUTPUT_CHARS): past this many characters of both streams
   * the command is stopped and the call fails with CommandOutputLimitError. What runs in a CT is the CT's to change
   * (a file Launchpad reads back may be a link to /dev/zero): without a bound, one CT could fill the worker's memory.
   * Left out where each line is passed on (a script's output, streamed into the log).
   */
  maxOutputChars?: number;
}

/** What a caller that keeps a command's whole output (a file read back, `ss`, `systemctl is-active`) lets it print. */
export const CAPTURED_OUTPUT_CHARS = 1024 * 1024;

export interface ExecResult {
  /** The command's exit code; 128 + n when it was ended by signal n. */
  exitCode: number;
  signal?: string;
}

export interface PushOptions {
  /** Octal mode string, e.g. '0640'. pct's default is 0644. */
  perms?: string;
  /** Owner inside the CT, a name or a numeric id. */
  user?: string | number;
  group?: string | number;
  timeoutMs: number;
  signal?: AbortSignal;
}

const DEFAULT_READY_TIMEOUT_MS = 20_000;

/** What pct prints (and nothing else) when it is not run as root: pve-common RESTEnvironment.pm setup_default_cli_env. */
const PCT_NEEDS_ROOT = 'please run as root';

export class NodeShell {
  private sftpSession: Promise<SFTPWrapper> | undefined;
  private lost: Error | undefined;
  /** Set once a pct command ran: from then on its output is the command's, whatever it says. */
  private pctRuns = false;

  private constructor(private readonly client: Client, readonly target: NodeShellTarget) {
    client.on('error', (error) => (this.lost = new SshConnectError(target.host, target.port, error.message)));
    client.on('close', () => (this.lost ??= new SshConnectError(target.host, target.port, 'the connection was closed')));
  }

  static connect(target: NodeShellTarget, opts: { readyTimeoutMs?: number; signal?: AbortSignal } = {}): Promise<NodeShell> {
    const expected = normalizeFingerprint(target.hostKeyFingerprint);
    const client = new ssh2.Client();
    let offered: string | undefined;
    return new Promise((resolve, reject) => {
      const settle = (outcome: () => void) => {
        opts.signal?.removeEventListener('abort', onAbort);
        client.removeAllListeners('ready').removeAllListeners('error');
        outcome();
      };
      const onAbort = () => settle(() => {
        client.on('error', () => {}).end();
        reject(new CommandAbortedError(`ssh ${target.username}@${target.host}`));
      });
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });

      client.once('ready', () => settle(() => resolve(new NodeShell(client, target))));
      client.once('error', (error: Error & { level?: string }) => settle(() => {
        client.on('error', () => {});
        if (offered !== undefined && offered !== expected) reject(new HostKeyMismatchError(target.host, expected, offered));
        else if (error.level === 'client-authentication') reject(new SshAuthError(target.host, target.username));
        else reject(new SshConnectError(target.host, target.port, describeConnectError(error)));
      }));
      try {
        client.connect({
          host: target.host,
          port: target.port,
          username: target.username,
          privateKey: target.privateKey,
          readyTimeout: opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
          keepaliveInterval: 15_000,
          keepaliveCountMax: 4,
          // Without hostHash ssh2 hands us the raw key blob, which we hash exactly as OpenSSH does.
          hostVerifier: (key: Buffer) => {
            offered = fingerprintOfBlob(key);
            return offered === expected;
          },
        });
      } catch (error) {
        settle(() => reject(new SshAuthError(target.host, target.username, `the private key cannot be used (${(error as Error).message})`)));
      }
    });
  }

  /**
   * Runs argv on the node (each argument quoted by shellJoin) and resolves with its exit status, whatever it is —
   * except when the connection's first pct command is refused for not being root (NotRootError): no pct command
   * could ever work then, so waiting or retrying is pointless.
   */
  async exec(argv: readonly string[], opts: ExecOptions): Promise<ExecResult> {
    if (argv[0] !== 'pct' || this.pctRuns) return this.run(argv, opts);
    const stderr: string[] = [];
    let stdout = false;
    const result = await this.run(argv, {
      ...opts,
      onLine: (stream, text) => {
        if (stream === 'stderr') stderr.push(text);
        else stdout = true;
        opts.onLine?.(stream, text);
      },
    });
    if (result.exitCode !== 0 && !stdout && stderr.length === 1 && stderr[0] === PCT_NEEDS_ROOT) {
      throw new NotRootError(this.target.host, this.target.username, `pct answered “${PCT_NEEDS_ROOT}”`);
    }
    this.pctRuns = true;
    return result;
  }

  private run(argv: readonly string[], opts: ExecOptions): Promise<ExecResult> {
    const command = shellJoin(argv);
    const label = describe(argv);
    return new Promise((resolve, reject) => {
      let printed = 0;
      const line = (stream: OutputStream) => (text: string) => {
        if (opts.maxOutputChars !== undefined && (printed += text.length + 1) > opts.maxOutputChars) {
          return finish(new CommandOutputLimitError(label, opts.maxOutputChars));
        }
        opts.onLine?.(stream, text);
      };
      const stdout = new LineSplitter(line('stdout'));
      const stderr = new LineSplitter(line('stderr'));
      let channel: ClientChannel | undefined;
      let result: ExecResult | undefined;
      let settled = false;

      const finish = (error?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        stdout.end();
        stderr.end();
        if (error) {
          if (channel) stopChannel(channel);
          reject(error);
        } else {
          resolve(result!);
        }
      };
      const onAbort = () => finish(new CommandAbortedError(label));
      const timer = setTimeout(() => finish(new CommandTimeoutError(label, opts.timeoutMs)), opts.timeoutMs);
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      if (this.lost) return finish(this.lost);

      this.client.exec(command, (error, ch) => {
        if (error) return finish(new SshConnectError(this.target.host, this.target.port, error.message));
        if (settled) return stopChannel(ch);
        channel = ch;
        ch.on('data', (chunk: Buffer) => stdout.push(chunk));
        ch.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
        ch.on('exit', (code: number | null, signalName?: string) => {
          result = code !== null && code !== undefined
            ? { exitCode: code }
            : { exitCode: 128 + signalNumber(signalName), signal: signalName ?? 'unknown' };
        });
        ch.on('close', () => finish(result ? undefined : new SshConnectError(this.target.host, this.target.port, `the connection closed while \`${label}\` was running`)));
        ch.end(opts.stdin);
      });
    });
  }

  pctExec(vmid: number, argv: readonly string[], opts: ExecOptions): Promise<ExecResult> {
    return this.exec(['pct', 'exec', String(vmid), '--', ...argv], opts);
  }

  /** Copies content to destPath inside the CT: SFTP to a private temp file on the node, then `pct push`. */
  async pctPush(vmid: number, content: string | Buffer, destPath: string, opts: PushOptions): Promise<void> {
    const deadline = Date.now() + opts.timeoutMs;
    const staged = `/tmp/launchpad-push-${randomUUID()}`;
    const label = `pct push ${vmid} … ${destPath}`;
    const sftp = await bounded(label, opts.timeoutMs, opts.signal, this.sftp());
    try {
      await bounded(label, opts.timeoutMs, opts.signal, new Promise<void>((resolve, reject) => {
        sftp.writeFile(staged, typeof content === 'string' ? Buffer.from(content, 'utf8') : content, { mode: 0o600 }, (error) =>
          error ? reject(new SshConnectError(this.target.host, this.target.port, `uploading to ${staged} failed: ${error.message}`)) : resolve());
      }));
      const argv = ['pct', 'push', String(vmid), staged, destPath];
      if (opts.perms !== undefined) argv.push('--perms', opts.perms);
      if (opts.user !== undefined) argv.push('--user', String(opts.user));
      if (opts.group !== undefined) argv.push('--group', String(opts.group));
      const output: string[] = [];
      const { exitCode } = await this.exec(argv, {
        timeoutMs: Math.max(1, deadline - Date.now()),
        signal: opts.signal,
        onLine: (_stream, text) => output.push(text),
      });
      if (exitCode !== 0) throw new NodeCommandError(label, exitCode, output.slice(-5));
    } finally {
      // Best effort: a connection that is gone cannot clean up, and must not hold the caller.
      await Promise.race([new Promise<void>((resolve) => sftp.unlink(staged, () => resolve())), delay(5_000)]);
    }
  }

  async pctStatus(vmid: number, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<'running' | 'stopped'> {
    const output: string[] = [];
    const argv = ['pct', 'status', String(vmid)];
    const { exitCode } = await this.exec(argv, { timeoutMs: opts.timeoutMs ?? 30_000, signal: opts.signal, onLine: (_s, text) => output.push(text) });
    const status = output.map((line) => /^status:\s*(\w+)/.exec(line)?.[1]).find(Boolean);
    if (exitCode !== 0 || (status !== 'running' && status !== 'stopped')) throw new NodeCommandError(argv.join(' '), exitCode, output.slice(-5));
    return status;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.lost) return resolve();
      this.client.once('close', () => resolve());
      this.client.end();
    });
  }

  private sftp(): Promise<SFTPWrapper> {
    this.sftpSession ??= new Promise<SFTPWrapper>((resolve, reject) => {
      this.client.sftp((error, sftp) => {
        if (error) {
          this.sftpSession = undefined;
          return reject(new SshConnectError(this.target.host, this.target.port, `SFTP is not available: ${error.message}`));
        }
        sftp.on('close', () => (this.sftpSession = undefined));
        resolve(sftp);
      });
    });
    return this.sftpSession;
  }
}

/**
 * OpenSSH-style fingerprint `SHA256:<base64 without padding>` of a public key: an OpenSSH public key line, a
 * private key (its public half is used), or the raw key blob as sent on the wire.
 */
export function sshFingerprint(key: string | Buffer): string {
  if (Buffer.isBuffer(key)) return fingerprintOfBlob(key);
  const parsed = ssh2.utils.parseKey(key);
  const first = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!first || first instanceof Error) throw new Error(`Not an SSH key${first instanceof Error ? `: ${first.message}` : ''}`);
  return fingerprintOfBlob(first.getPublicSSH());
}

/** Connects only far enough to see the host key the node offers, for an explicit trust-on-first-use step. */
export function fetchHostKeyFingerprint(host: string, port: number, opts: { timeoutMs?: number } = {}): Promise<string> {
  const client = new ssh2.Client();
  let offered: string | undefined;
  return new Promise((resolve, reject) => {
    client.on('error', (error: Error) => {
      if (offered) resolve(offered);
      else reject(new SshConnectError(host, port, describeConnectError(error)));
    });
    client.connect({
      host,
      port,
      username: 'launchpad-host-key-probe',
      readyTimeout: opts.timeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
      hostVerifier: (key: Buffer) => {
        offered = fingerprintOfBlob(key);
        return false; // never authenticate: we only wanted to see the key
      },
    });
  });
}

function fingerprintOfBlob(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

function normalizeFingerprint(raw: string): string {
  const trimmed = raw.trim().replace(/^SHA256:/i, '').replace(/=+$/, '');
  return `SHA256:${trimmed}`;
}

function describeConnectError(error: Error & { level?: string; code?: string }): string {
  if (error.level === 'client-timeout') return 'timed out waiting for the SSH handshake';
  if (error.code === 'ECONNREFUSED') return 'connection refused';
  if (error.code === 'EHOSTUNREACH' || error.code === 'ENETUNREACH') return 'host unreachable';
  if (error.code === 'ENOTFOUND') return 'host name not found';
  return error.message;
}

// Ask the node to kill the command, then drop the channel. The simulator kills the whole sandbox on either; a real
// sshd honours the signal request for command sessions, but what `pct exec` left running inside the CT may outlive it.
function stopChannel(channel: ClientChannel): void {
  try {
    channel.signal('KILL');
  } catch {
    // the channel may already be closing
  }
  channel.close();
}

function signalNumber(name: string | undefined): number {
  const signals = osConstants.signals as Record<string, number | undefined>;
  return (name && signals[`SIG${name.replace(/^SIG/, '')}`]) || 0;
}

/** A short, secret-free description of a command for error messages. */
function describe(argv: readonly string[]): string {
  const text = argv.join(' ');
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
}

function bounded<T>(label: string, timeoutMs: number, signal: AbortSignal | undefined, work: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new CommandTimeoutError(label, timeoutMs)), timeoutMs);
    const onAbort = () => reject(new CommandAbortedError(label));
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    });
  });
}
