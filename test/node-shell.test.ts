// NodeShell against the simulated node: host-key pinning, authentication and connection failures as distinct typed
// errors, argv quoting end to end, stdin/line handling.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchHostKeyFingerprint, NodeShell, sshFingerprint } from '../src/proxmox/node-shell.ts';
import { CommandAbortedError, HostKeyMismatchError, SshAuthError, SshConnectError } from '../src/proxmox/ssh-errors.ts';
import { startSimNode, type SimNode } from './support/simulator-ssh-fixture.ts';
import { generateEd25519KeyPair } from '../src/lib/ssh-keys.ts';

let node: SimNode;

beforeAll(async () => {
  node = await startSimNode();
  await node.addContainer(100);
});

afterAll(async () => {
  await node?.close();
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('sshFingerprint', () => {
  it('matches ssh-keygen -lf for a public key line, its private key and the raw blob', async () => {
    const pair = generateEd25519KeyPair();
    const dir = await mkdtemp(join(tmpdir(), 'fp-'));
    try {
      await writeFile(join(dir, 'key.pub'), `${pair.public}\n`);
      const expected = execFileSync('ssh-keygen', ['-lf', join(dir, 'key.pub')], { encoding: 'utf8' }).split(' ')[1];
      expect(expected).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
      expect(sshFingerprint(pair.public)).toBe(expected);
      expect(sshFingerprint(pair.private)).toBe(expected);
      const blob = Buffer.from(pair.public.split(' ')[1]!, 'base64');
      expect(sshFingerprint(blob)).toBe(expected);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('is what fetchHostKeyFingerprint reads from the node', async () => {
    expect(await fetchHostKeyFingerprint(node.target.host, node.target.port)).toBe(node.host.hostKeyFingerprint);
  });
});

describe('NodeShell.connect', () => {
  it('accepts the pinned fingerprint written with or without the SHA256: prefix and base64 padding', async () => {
    const bare = `${node.target.hostKeyFingerprint.replace(/^SHA256:/, '')}=`;
    const shell = await NodeShell.connect({ ...node.target, hostKeyFingerprint: bare });
    expect((await shell.pctExec(100, ['true'], { timeoutMs: 10_000 })).exitCode).toBe(0);
    await shell.close();
  });

  it('aborts with HostKeyMismatchError when the node offers another key, never falling back', async () => {
    const other = sshFingerprint(generateEd25519KeyPair().public);
    const error = await NodeShell.connect({ ...node.target, hostKeyFingerprint: other }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HostKeyMismatchError);
    expect(error).not.toBeInstanceOf(SshAuthError);
    expect(error).toMatchObject({ expected: other, actual: node.host.hostKeyFingerprint, retryable: false });
  });

  it('fails with SshAuthError for a key the node does not accept, or the wrong user', async () => {
    const stranger = generateEd25519KeyPair();
    await expect(NodeShell.connect({ ...node.target, privateKey: stranger.private })).rejects.toBeInstanceOf(SshAuthError);
    await expect(NodeShell.connect({ ...node.target, username: 'admin' })).rejects.toBeInstanceOf(SshAuthError);
  });

  it('fails with a retryable SshConnectError when nothing listens', async () => {
    const error = await NodeShell.connect({ ...node.target, port: await freePort() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SshConnectError);
    expect(error).toMatchObject({ retryable: true });
    expect((error as Error).message).toMatch(/connection refused/);
  });

  it('gives up when its signal aborts', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(NodeShell.connect(node.target, { signal: controller.signal })).rejects.toBeInstanceOf(CommandAbortedError);
  });
});

describe('NodeShell.exec', () => {
  let shell: NodeShell;
  beforeAll(async () => {
    shell = await NodeShell.connect(node.target);
  });
  afterAll(async () => {
    await shell?.close();
  });

  it('delivers hostile arguments to the command inside the CT exactly as given', async () => {
    const hostile = ["it's", '$(touch /tmp/pwned)', '`id`', '${HOME}', 'a b\tc', 'line1\nline2', '', '-n', '--', 'ü 日本 🙂', '\\', '"', '*', ';|&'];
    const lines: string[] = [];
    const { exitCode } = await shell.pctExec(100, ['printf', '%s\\0', ...hostile], { timeoutMs: 10_000, onLine: (_s, t) => lines.push(t) });
    expect(exitCode).toBe(0);
    expect(lines.join('\n').split('\0').slice(0, -1)).toEqual(hostile);
  });

  it('sends stdin byte-exact and collapses \\r redraws while keeping ANSI colours', async () => {
    const payload = Buffer.concat([Buffer.from('binary\0\xff\r\n', 'latin1'), Buffer.alloc(200_000, 0x61)]);
    const lines: string[] = [];
    const { exitCode } = await shell.pctExec(100, ['sh', '-c', "sha256sum | cut -d' ' -f1; printf '10%%\\r50%%\\r100%%\\n\\033[32mok\\033[0m'"], {
      stdin: payload,
      timeoutMs: 10_000,
      onLine: (_s, t) => lines.push(t),
    });
    expect(exitCode).toBe(0);
    expect(lines).toEqual([createHash('sha256').update(payload).digest('hex'), '100%', '\x1b[32mok\x1b[0m']);
  });

  it('resolves with a non-zero exit code rather than throwing, and reports a signal', async () => {
    expect(await shell.pctExec(100, ['false'], { timeoutMs: 10_000 })).toEqual({ exitCode: 1 });
    expect(await shell.pctExec(100, ['sh', '-c', 'kill -TERM $$'], { timeoutMs: 10_000 })).toEqual({ exitCode: 143 });
  });

  it('rejects at once when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(shell.pctExec(100, ['true'], { timeoutMs: 10_000, signal: controller.signal })).rejects.toBeInstanceOf(CommandAbortedError);
  });

  it('reports a lost connection as SshConnectError', async () => {
    const other = await startSimNode();
    await other.addContainer(100);
    const doomed = await NodeShell.connect(other.target);
    await other.close();
    await expect(doomed.pctExec(100, ['true'], { timeoutMs: 5_000 })).rejects.toBeInstanceOf(SshConnectError);
  });
});
