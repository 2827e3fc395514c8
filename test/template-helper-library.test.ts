import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HELPER_LIBRARY_SOURCE, parseCredentialsFile, parseServicesFile } from '../src/domain/templates/helper-library.ts';

let state: string;
beforeEach(async () => {
  state = await mkdtemp(path.join(tmpdir(), 'launchpad-lib-'));
});
afterEach(async () => {
  await rm(state, { recursive: true, force: true });
});

/** Runs a snippet the way the pipeline runs a template script: bash, strict mode, the library sourced first. */
function script(body: string, pathEnv = process.env.PATH): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'bash',
      ['--norc', '--noprofile', '-c', `set -euo pipefail\nsource "$1"\n${body}`, 'test', HELPER_LIBRARY_SOURCE],
      { env: { PATH: pathEnv, LAUNCHPAD_STATE_DIR: path.join(state, 'launchpad') } },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('helper library', () => {
  it('exports DEBIAN_FRONTEND and logs warnings and errors to stderr', async () => {
    const r = await script('log_info "hello"; log_warn "careful"; log_error "broken"; bash --norc -c \'echo "$DEBIAN_FRONTEND"\'');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('[INFO] hello\nnoninteractive\n');
    expect(r.stderr).toBe('[WARN] careful\n[ERROR] broken\n');
  });

  it('saves credentials once per key, mode 600, and reads them back', async () => {
    const r = await script(`
      save_credential DB_PASSWORD first
      save_credential DB_USER app
      save_credential DB_PASSWORD 'second=with equals & $symbols'
      get_credential DB_PASSWORD
      get_credential MISSING || echo "no MISSING"`);
    expect(r).toMatchObject({ code: 0, stdout: 'second=with equals & $symbols\nno MISSING\n' });
    const file = path.join(state, 'launchpad', 'credentials');
    const text = await readFile(file, 'utf8');
    expect(text).toBe('DB_USER=app\nDB_PASSWORD=second=with equals & $symbols\n');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(Object.fromEntries(parseCredentialsFile(text))).toEqual({ DB_USER: 'app', DB_PASSWORD: 'second=with equals & $symbols' });
  });

  it('registers services without duplicates when a script runs twice', async () => {
    const body = 'register_service http 80 http://10.0.0.5/ nginx\nregister_service postgresql 5432\nregister_service app 3000 - -\nregister_service ssh 22 - ssh.service\n';
    expect((await script(body)).code).toBe(0);
    expect((await script(body.replace('10.0.0.5', '10.0.0.6'))).code).toBe(0);
    const text = await readFile(path.join(state, 'launchpad', 'services'), 'utf8');
    expect(text).toBe('http 80 http://10.0.0.6/ nginx\npostgresql 5432\napp 3000 - -\nssh 22 - ssh.service\n');
    expect(parseServicesFile(text)).toEqual([
      { name: 'http', port: 80, url: 'http://10.0.0.6/', unit: 'nginx' },
      { name: 'postgresql', port: 5432, url: null, unit: 'postgresql' },
      { name: 'app', port: 3000, url: null, unit: null },
      { name: 'ssh', port: 22, url: null, unit: 'ssh.service' },
    ]);
  });

  it.each([
    ['register_service http 70000', 'PORT 1-65535'],
    ['register_service http eighty', 'usage: register_service'],
    ["register_service http 80 - 'nginx;reboot'", 'UNIT must be a systemd unit name'],
    ['register_service http 80 - -nginx', 'UNIT must be a systemd unit name'],
    ['save_credential "bad key" x', 'usage: save_credential'],
    [`save_credential KEY $'two\\nlines'`, 'must be a single line'],
  ])('refuses %s (status 2, which stops a strict script)', async (call, message) => {
    const r = await script(`${call}\necho unreachable`);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stdout).not.toContain('unreachable');
  });

  it('generates alphanumeric passwords of the asked length, different each time', async () => {
    const r = await script('generate_password 32; generate_password');
    const [a, b] = r.stdout.trim().split('\n');
    expect(a).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(b).toMatch(/^[A-Za-z0-9]{24}$/);
    expect(a!.slice(0, 24)).not.toBe(b);
  });

  it('finds the global IPv4 address even when `ip` lists loopback first', async () => {
    const bin = path.join(state, 'bin');
    await mkdir(bin);
    await writeFile(
      path.join(bin, 'ip'),
      "#!/bin/sh\nprintf '1: lo    inet 127.0.0.1/8 scope host lo\\\\ valid_lft forever\\n2: eth0    inet 10.1.2.3/24 brd 10.1.2.255 scope global eth0\\\\ valid_lft 7181sec\\n'\n",
    );
    await chmod(path.join(bin, 'ip'), 0o755);
    const r = await script('primary_ip', `${bin}:${process.env.PATH}`);
    expect(r).toMatchObject({ code: 0, stdout: '10.1.2.3\n' });
  });
});
