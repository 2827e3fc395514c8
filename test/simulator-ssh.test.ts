// The simulated node's SSH side, driven through the real client (NodeShell): pct exec runs for real in a bubblewrap
// sandbox rooted in the CT's directory, pct push/status answer like pct, errors read like pct's.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeShell, type OutputStream } from '../src/proxmox/node-shell.ts';
import { CommandAbortedError, CommandTimeoutError, NodeCommandError, NotRootError, SshAuthError } from '../src/proxmox/ssh-errors.ts';
import { prepareRootfs } from '../src/simulator/ct-rootfs.ts';
import { startSimNode, type SimNode } from './support/simulator-ssh-fixture.ts';

type Line = [OutputStream, string];

let node: SimNode;
let shell: NodeShell;

beforeAll(async () => {
  node = await startSimNode();
  await node.addContainer(100, 'web1');
  shell = await NodeShell.connect(node.target);
});

afterAll(async () => {
  await shell?.close();
  await node?.close();
});

async function run(vmid: number, argv: string[], stdin?: string): Promise<{ exitCode: number; lines: Line[] }> {
  const lines: Line[] = [];
  const { exitCode } = await shell.pctExec(vmid, argv, { stdin, timeoutMs: 20_000, onLine: (stream, text) => lines.push([stream, text]) });
  return { exitCode, lines };
}

/** A raw exec request, for command lines NodeShell would never produce. */
function rawExec(command: string, username = 'root'): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const client = new ssh2.Client();
  return new Promise((resolve, reject) => {
    client.on('error', reject);
    client.on('ready', () => client.exec(command, (error, channel) => {
      if (error) return reject(error);
      let stdout = '';
      let stderr = '';
      let code: number | null = null;
      channel.on('data', (d: Buffer) => (stdout += d.toString()));
      channel.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      channel.on('exit', (c: number | null) => (code = c));
      channel.on('close', () => {
        client.end();
        resolve({ code, stdout, stderr });
      });
      channel.end();
    }));
    client.connect({ host: node.target.host, port: node.target.port, username, privateKey: node.clientKey.private });
  });
}

function nodeTmpListing(): Promise<string[]> {
  const client = new ssh2.Client();
  return new Promise((resolve, reject) => {
    client.on('error', reject);
    client.on('ready', () => client.sftp((error, sftp) => {
      if (error) return reject(error);
      sftp.readdir('/tmp', (err, list) => {
        client.end();
        if (err) reject(err);
        else resolve(list.map((entry) => entry.filename));
      });
    }));
    client.connect({ host: node.target.host, port: node.target.port, username: 'root', privateKey: node.clientKey.private });
  });
}

function processesMatching(token: string): number {
  let count = 0;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(token)) count++;
    } catch {
      // the process ended while we looked
    }
  }
  return count;
}

async function eventually(check: () => boolean, ms = 3000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

describe('simulated node: pct exec', () => {
  it('runs in a real bubblewrap sandbox here (bubblewrap is installed by .ci/run)', () => {
    expect(node.host.sandboxed).toBe(true);
  });

  it('keeps stdout and stderr apart and returns the exit code', async () => {
    const result = await run(100, ['sh', '-c', 'echo hi; echo err >&2; exit 3']);
    expect(result.exitCode).toBe(3);
    expect(result.lines).toContainEqual(['stdout', 'hi']);
    expect(result.lines).toContainEqual(['stderr', 'err']);
    expect(result.lines).toHaveLength(2);
  });

  it('runs a script from stdin, stopping at the first failure under set -e', async () => {
    const result = await run(100, ['bash', '-s'], 'set -e\necho one\nfalse\necho never\n');
    expect(result.exitCode).toBe(1);
    expect(result.lines).toEqual([['stdout', 'one']]);
  });

  it("writes land in the CT's directory, /usr is read-only, and the CT sees its own hostname and os-release", async () => {
    const ct = node.containers.get(100)!;
    const result = await run(100, ['bash', '-s'], [
      'echo written-in-ct > /etc/launchpad-test',
      'hostname',
      '. /etc/os-release; echo "$PRETTY_NAME"',
      'touch /usr/launchpad-test 2>&1 || echo "usr-write-failed"',
      'id -u www-data',
    ].join('\n'));
    expect(result.exitCode).toBe(0);
    expect(await readFile(join(ct.rootDir, 'etc/launchpad-test'), 'utf8')).toBe('written-in-ct\n');
    expect(existsSync('/etc/launchpad-test')).toBe(false);
    const out = result.lines.map(([, text]) => text);
    expect(out).toContain('web1');
    expect(out).toContain('Debian GNU/Linux 12 (bookworm)');
    expect(out.some((l) => l.includes('Read-only file system'))).toBe(true);
    expect(out).toContain('usr-write-failed');
    expect(out).toContain('33');
    expect(existsSync('/usr/launchpad-test')).toBe(false);
  });

  it('streams every line of a large output in order', async () => {
    const lines: string[] = [];
    const { exitCode } = await shell.pctExec(100, ['seq', '1', '20000'], { timeoutMs: 20_000, onLine: (_s, t) => lines.push(t) });
    expect(exitCode).toBe(0);
    expect(lines).toHaveLength(20000);
    expect(lines[0]).toBe('1');
    expect(lines[19999]).toBe('20000');
  });

  it('kills the command when it times out', async () => {
    const token = '31.4159';
    const started = Date.now();
    await expect(shell.pctExec(100, ['sh', '-c', `sleep ${token}; touch /tmp/survived-timeout`], { timeoutMs: 400 }))
      .rejects.toBeInstanceOf(CommandTimeoutError);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await eventually(() => processesMatching(`sleep\0${token}`) === 0)).toBe(true);
  });

  it('kills the command when it is aborted', async () => {
    const ct = node.containers.get(100)!;
    const controller = new AbortController();
    const pending = shell.pctExec(100, ['sh', '-c', 'sleep 1.2718; touch /tmp/survived-abort'], { timeoutMs: 10_000, signal: controller.signal });
    await eventually(() => processesMatching('sleep\x001.2718') > 0);
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(CommandAbortedError);
    expect(await eventually(() => processesMatching('sleep\x001.2718') === 0)).toBe(true);
    await new Promise((r) => setTimeout(r, 1500));
    expect(existsSync(join(ct.rootDir, 'tmp/survived-abort'))).toBe(false);
  });

  it('refuses a stopped CT and an unknown one the way pct does', async () => {
    const stopped = await node.addContainer(101);
    stopped.status = 'stopped';
    const onStopped = await run(101, ['true']);
    expect(onStopped).toEqual({ exitCode: 255, lines: [['stderr', "container '101' not running!"]] });
    const unknown = await run(999, ['true']);
    expect(unknown).toEqual({ exitCode: 255, lines: [['stderr', "Configuration file 'nodes/sim/lxc/999.conf' does not exist"]] });
  });

  it('answers only pct, and never expands what a shell would', async () => {
    expect(await rawExec('uname -a')).toMatchObject({ code: 127, stderr: 'bash: line 1: uname: command not found\n' });
    const expanded = await rawExec('pct exec 100 -- touch /tmp/$(id -u)');
    expect(expanded.code).not.toBe(0);
    expect(readdirSync(join(node.containers.get(100)!.rootDir, 'tmp'))).not.toContain('0');
  });
});

describe('simulated node: who signed in', () => {
  it('id answers for root; a login a test adds has its own id, and pct refuses it as real pct does', async () => {
    expect(await rawExec('id -u')).toEqual({ code: 0, stdout: '0\n', stderr: '' });
    expect(await rawExec('id')).toEqual({ code: 0, stdout: 'uid=0(root) gid=0(root) groups=0(root)\n', stderr: '' });
    await expect(NodeShell.connect({ ...node.target, username: 'deploy' })).rejects.toBeInstanceOf(SshAuthError);

    node.host.addLogin('deploy', 1000);
    expect(await rawExec('id -u', 'deploy')).toEqual({ code: 0, stdout: '1000\n', stderr: '' });
    expect(await rawExec('id -un', 'deploy')).toEqual({ code: 0, stdout: 'deploy\n', stderr: '' });
    expect(await rawExec('pct status 100', 'deploy')).toEqual({ code: 255, stdout: '', stderr: 'please run as root\n' });
    expect(await rawExec('pct exec 100 -- true', 'deploy')).toEqual({ code: 255, stdout: '', stderr: 'please run as root\n' });

    // Through the client: the refusal of the connection's first pct command is an error of its own.
    const asDeploy = await NodeShell.connect({ ...node.target, username: 'deploy' });
    try {
      const refused = await asDeploy.pctExec(100, ['test', '-d', '/etc'], { timeoutMs: 10_000 }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(NotRootError);
      expect((refused as Error).message).toBe(`pct answered “please run as root”: Launchpad signs in to ${node.target.host} as deploy, and pct runs only as root.`);
    } finally {
      await asDeploy.close();
    }
    // Once pct has run on a connection, what a command prints is the command's own business.
    const asRoot = await NodeShell.connect(node.target);
    try {
      expect(await asRoot.pctExec(100, ['true'], { timeoutMs: 10_000 })).toEqual({ exitCode: 0 });
      const lines: Line[] = [];
      const script = await asRoot.pctExec(100, ['sh', '-c', 'echo "please run as root" >&2; exit 1'], { timeoutMs: 10_000, onLine: (stream, text) => lines.push([stream, text]) });
      expect({ exitCode: script.exitCode, lines }).toEqual({ exitCode: 1, lines: [['stderr', 'please run as root']] });
    } finally {
      await asRoot.close();
    }
  });
});

describe('simulated node: pct push, pct status, SFTP', () => {
  it('pushes with perms and owner, and removes its staged copy from the node', async () => {
    const ct = node.containers.get(100)!;
    await shell.pctPush(100, 'server { listen 80; }\n', '/etc/site.conf', { perms: '0640', user: 'www-data', group: 'www-data', timeoutMs: 10_000 });
    const path = join(ct.rootDir, 'etc/site.conf');
    expect(readFileSync(path, 'utf8')).toBe('server { listen 80; }\n');
    const stats = statSync(path);
    expect(stats.mode & 0o7777).toBe(0o640);
    expect([stats.uid, stats.gid]).toEqual([33, 33]);
    expect((await nodeTmpListing()).filter((name) => name.startsWith('launchpad-push-'))).toEqual([]);
  });

  it('delivers a hostile file name and binary content byte-exact', async () => {
    const ct = node.containers.get(100)!;
    const name = "/root/it's $(touch pwned) `id` \n ü ;rm -rf.txt";
    const content = Buffer.concat([Buffer.from('$(id) `id` \'"\\ \r\n'), Buffer.from([0, 0xff, 0xfe, 0x80]), Buffer.from('日本🙂')]);
    await shell.pctPush(100, content, name, { timeoutMs: 10_000 });
    expect(readFileSync(join(ct.rootDir, name)).equals(content)).toBe(true);
    expect(statSync(join(ct.rootDir, name)).mode & 0o7777).toBe(0o644);
    expect(existsSync(join(ct.rootDir, 'root/pwned'))).toBe(false);
  });

  it("follows the CT's symlinks inside the CT, never onto the host", async () => {
    const ct = node.containers.get(100)!;
    await symlink('/etc/launchpad-link-target', join(ct.rootDir, 'etc/link'));
    await shell.pctPush(100, 'inside', '/etc/link', { timeoutMs: 10_000 });
    expect(readFileSync(join(ct.rootDir, 'etc/launchpad-link-target'), 'utf8')).toBe('inside');
    expect(existsSync('/etc/launchpad-link-target')).toBe(false);
  });

  it('fails like pct for a missing directory, an unknown user and a stopped CT', async () => {
    const missingDir = await shell.pctPush(100, 'x', '/no/such/dir/file', { timeoutMs: 10_000 }).catch((e: unknown) => e);
    expect(missingDir).toBeInstanceOf(NodeCommandError);
    expect(missingDir).toMatchObject({ exitCode: 255, output: ['failed to open /no/such/dir/file for writing: No such file or directory'] });
    await expect(shell.pctPush(100, 'x', '/usr/bin/evil', { timeoutMs: 10_000 })).rejects.toThrow(/Read-only file system/);
    await expect(shell.pctPush(100, 'x', '/etc/x', { user: 'nobody-here', timeoutMs: 10_000 })).rejects.toThrow(/no such user/);
    const stopped = await node.addContainer(102);
    stopped.status = 'stopped';
    await expect(shell.pctPush(102, 'x', '/etc/x', { timeoutMs: 10_000 })).rejects.toThrow(/can only push files to a running CT/);
    expect(existsSync(join(stopped.rootDir, 'etc/x'))).toBe(false);
  });

  it('reports status as pct status prints it', async () => {
    const ct = await node.addContainer(103);
    expect(await shell.pctStatus(103)).toBe('running');
    ct.status = 'stopped';
    expect(await shell.pctStatus(103)).toBe('stopped');
    expect(await rawExec('pct status 103')).toMatchObject({ code: 0, stdout: 'status: stopped\n' });
    await expect(shell.pctStatus(998)).rejects.toThrow(/nodes\/sim\/lxc\/998\.conf' does not exist/);
  });
});

describe('simulated node: shims inside the CT', () => {
  it('apt-get records packages for dpkg, starts their services, and ss/ip/systemctl report them', async () => {
    await mkdir(join(node.containers.get(100)!.rootDir, 'etc/launchpad'), { recursive: true });
    const first = await run(100, ['bash', '-s'], 'set -e\napt-get install -y nginx\n');
    expect(first.exitCode).toBe(0);
    const text = first.lines.map(([, t]) => t);
    expect(text).toContain('Reading package lists...');
    expect(text.some((l) => /^Setting up nginx \(1\.22\.1-9/.test(l))).toBe(true);

    const again = await run(100, ['bash', '-s'], [
      'apt-get install -y nginx',
      "dpkg-query -W -f='${Status} ${Version}\\n' nginx",
      'systemctl is-active nginx',
      'systemctl is-enabled nginx',
      'ss -ltnp',
      'ip -4 addr show dev eth0',
      'systemctl stop nginx; systemctl is-active nginx; echo "is-active=$?"',
      'apt-get install -y nonexistent-package; echo "apt=$?"',
    ].join('\n'));
    const out = again.lines.map(([, t]) => t);
    expect(out.some((l) => /nginx is already the newest version \(1\.22\.1-9/.test(l))).toBe(true);
    expect(out).toContain('install ok installed 1.22.1-9+deb12u1');
    expect(out).toContain('active');
    expect(out).toContain('enabled');
    expect(out.some((l) => /^LISTEN .*0\.0\.0\.0:80 .*"nginx"/.test(l))).toBe(true);
    expect(out.some((l) => /^LISTEN .*0\.0\.0\.0:22 .*"sshd"/.test(l))).toBe(true);
    expect(out.some((l) => l.includes('inet 10.0.0.42/24') && l.includes('eth0'))).toBe(true);
    expect(out).toContain('inactive');
    expect(out).toContain('is-active=3');
    expect(again.lines).toContainEqual(['stderr', 'E: Unable to locate package nonexistent-package']);
    expect(out).toContain('apt=100');
  });

  it('prepareRootfs run again on a CT keeps what the CT installed', async () => {
    const ct = node.containers.get(100)!;
    await prepareRootfs(ct.rootDir, { hostname: ct.hostname });
    const result = await run(100, ['dpkg-query', '-W', '-f=${Version}', 'nginx']);
    expect(result).toEqual({ exitCode: 0, lines: [['stdout', '1.22.1-9+deb12u1']] });
  });

  it('useradd and chpasswd edit the CT accounts for real', async () => {
    const ct = node.containers.get(100)!;
    const result = await run(100, ['bash', '-s'], "useradd --create-home --shell /bin/bash --groups sudo dev\nprintf '%s\\n' 'dev:s3cret pass' | chpasswd\nid dev\nstat -c '%U %a' /home/dev\n");
    expect(result.exitCode).toBe(0);
    expect(result.lines.map(([, t]) => t)).toEqual(['uid=1000(dev) gid=1000(dev) groups=1000(dev),27(sudo)', 'dev 700']);
    expect(readFileSync(join(ct.rootDir, 'etc/shadow'), 'utf8')).toMatch(/^dev:\$6\$/m);
  });
});

describe('simulated node without bubblewrap', () => {
  it('runs nothing and marks every line as simulated', async () => {
    const fallback = await startSimNode({ sandboxed: false });
    try {
      const ct = await fallback.addContainer(200);
      const client = await NodeShell.connect(fallback.target);
      const lines: Line[] = [];
      const { exitCode } = await client.pctExec(200, ['bash', '-s'], {
        stdin: 'echo hi > /etc/should-not-exist\n# a comment\nexit 4\n',
        timeoutMs: 10_000,
        onLine: (s, t) => lines.push([s, t]),
      });
      await client.close();
      expect(fallback.host.sandboxed).toBe(false);
      expect(exitCode).toBe(0);
      expect(lines.length).toBeGreaterThan(1);
      for (const [, text] of lines) expect(text).toMatch(/simulated/);
      expect(existsSync(join(ct.rootDir, 'etc/should-not-exist'))).toBe(false);
    } finally {
      await fallback.close();
    }
  });
});
