import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HELPER_LIBRARY_SOURCE } from '../src/domain/templates/helper-library.ts';
import { loadTemplateDir, orderScriptNames, parsePackageList, parseTemplateConf } from '../src/domain/templates/template-parser.ts';
import { TemplateLoadError } from '../src/domain/templates/template.ts';
import { parseConf } from '../src/domain/templates/shell-conf.ts';

const run = promisify(execFile);
const SAMPLES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../templates');

let root: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'launchpad-parser-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Writes a template directory from a { relative path: content } map. */
async function writeTemplate(name: string, files: Record<string, string>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(root, name, rel);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
  }
}

const loadError = async (name: string) => {
  try {
    await loadTemplateDir(root, name);
  } catch (err) {
    if (err instanceof TemplateLoadError) return err.message;
    throw err;
  }
  throw new Error(`${name} loaded without an error`);
};

describe('template.conf', () => {
  it('reads inline comments, quotes, escapes, export and ${VAR:-default} values', () => {
    const conf = parseConf(
      [
        '# a comment line',
        'PLAIN=debian-12   # inline comment',
        "SINGLE='a \"literal\" $NOT_EXPANDED # not a comment'",
        'DOUBLE="two words # still the value" # but this is a comment',
        'export EXPORTED=yes',
        'ESCAPED="say \\"hi\\" for \\$5"',
        'FALLBACK="${UNSET_VAR:-4}"',
        'EMPTY=',
        'COLON_DASH="${EMPTY:-used}"',
        'DASH="${EMPTY-unused}"',
        'REUSED="${PLAIN}/$PLAIN and ${SINGLE:-x}"',
        'GLUED=pre"mid dle"\'post\'',
        'MULTI="line one',
        'line two"',
        'AFTER=ok',
      ].join('\n'),
      't/template.conf',
    );
    const value = (k: string) => conf.get(k)?.value;
    expect(value('PLAIN')).toBe('debian-12');
    expect(value('SINGLE')).toBe('a "literal" $NOT_EXPANDED # not a comment');
    expect(value('DOUBLE')).toBe('two words # still the value');
    expect(value('EXPORTED')).toBe('yes');
    expect(value('ESCAPED')).toBe('say "hi" for $5');
    expect(value('FALLBACK')).toBe('4');
    expect(value('EMPTY')).toBe('');
    expect(value('COLON_DASH')).toBe('used');
    expect(value('DASH')).toBe('');
    expect(value('REUSED')).toBe('debian-12/debian-12 and a "literal" $NOT_EXPANDED # not a comment');
    expect(value('GLUED')).toBe('premid dlepost');
    expect(value('MULTI')).toBe('line one\nline two');
    expect(conf.get('AFTER')).toEqual({ value: 'ok', line: 15 });
  });

  it('maps settings with defaults, `;`-separated tags and 0/1 booleans', () => {
    const settings = parseTemplateConf(
      'TEMPLATE_DESCRIPTION="A box"\nTEMPLATE_TAGS="Web; db;;web"\nTEMPLATE_CPU="${CPU:-3}"\nTEMPLATE_NESTING=1\nTEMPLATE_UNPRIVILEGED=no\nHELPER=x\n',
      'x/template.conf',
    );
    expect(settings).toEqual({
      description: 'A box', osTemplate: 'debian-12', tags: ['web', 'db'], cores: 3, memory: 512, swap: 512, disk: 4, unprivileged: false, nesting: true,
    });
  });

  it.each([
    ['TEMPLATE_DESCRIPTION=ok\n\nTEMPLATE_CPU=two\n', 'x/template.conf:3: TEMPLATE_CPU must be a whole number from 1 to 8192, got “two”'],
    ['TEMPLATE_RAM=0\n', 'x/template.conf:1: TEMPLATE_RAM must be a whole number from 16'],
    ['TEMPLATE_NESTING=maybe\n', 'x/template.conf:1: TEMPLATE_NESTING must be 1 or 0'],
    ['# c\nTEMPLATE_MEMORY=512\n', 'x/template.conf:2: unknown setting TEMPLATE_MEMORY'],
    ['TEMPLATE_DESCRIPTION=two words\n', 'x/template.conf:1: unexpected text after the value'],
    ['\nTEMPLATE_DESCRIPTION="open\nstill open\n', 'x/template.conf:2: unterminated double quote'],
    ["TEMPLATE_OS='debian-12\n", "x/template.conf:1: unterminated single quote"],
    ['A=1\nTEMPLATE_OS="$(cat /etc/os-release)"\n', 'x/template.conf:2: command substitution $(…) is not supported'],
    ['TEMPLATE_OS=`uname`\n', 'x/template.conf:1: command substitution `…` is not supported'],
    ['TEMPLATE_OS = debian-12\n', 'x/template.conf:1: expected KEY=value'],
    ['TEMPLATE_TAGS="ok;Not Valid!"\n', 'x/template.conf:1: TEMPLATE_TAGS “not valid!” is not a valid tag'],
  ])('rejects %j with the file and line', (text, message) => {
    expect(() => parseTemplateConf(text, 'x/template.conf')).toThrow(message);
  });
});

describe('package lists', () => {
  it('reads one package per line with comments and per-manager version syntax', () => {
    expect(parsePackageList('# tools\nnginx\n  curl=7.88.1-10+deb12u5  # pinned\n\n', 'apt', 'p.apt').map(({ name, version, line }) => [name, version, line])).toEqual([
      ['nginx', null, 2],
      ['curl', '7.88.1-10+deb12u5', 3],
    ]);
    expect(parsePackageList('@scope/tool@1.2.3\ntypescript\nleft-pad@^1.3.0\n', 'npm', 'p.npm').map((p) => [p.name, p.version])).toEqual([
      ['@scope/tool', '1.2.3'],
      ['typescript', null],
      ['left-pad', '^1.3.0'],
    ]);
    expect(parsePackageList('requests==2.32.3\nflask\n', 'pip', 'p.pip').map((p) => [p.name, p.version])).toEqual([
      ['requests', '2.32.3'],
      ['flask', null],
    ]);
  });

  it('names the line of a bad entry', () => {
    expect(() => parsePackageList('nginx\nnginx curl\n', 'apt', 'x/packages/a.apt')).toThrow('x/packages/a.apt:2: one package per line');
    expect(() => parsePackageList('ok\n\nBad_Name\n', 'apt', 'x/packages/a.apt')).toThrow('x/packages/a.apt:3: “Bad_Name” is not a valid apt package name');
    expect(() => parsePackageList('requests==$(id)\n', 'pip', 'r.pip')).toThrow('r.pip:1:');
  });
});

describe('template directories', () => {
  it('loads scripts in numeric order, files with sidecars and packages from every list', async () => {
    await writeTemplate('full', {
      'template.conf': 'TEMPLATE_DESCRIPTION="Full example"\nTEMPLATE_DISK=12 # GiB\n',
      'scripts/10-second.sh': 'echo second\n',
      'scripts/9-first.sh': 'echo first\n',
      'scripts/100-third.sh': 'echo third\n',
      'scripts/README.md': 'notes are ignored',
      'packages/base.apt': '# base\nnginx\ncurl\n',
      'packages/more.apt': 'curl\n',
      'packages/tools.npm': 'typescript@5.6.3\n',
      'packages/py.pip': 'requests==2.32.3 # http\n',
      'files/app.conf': 'key = value\n',
      'files/app.conf.path': '# where it goes\n/etc/app/\n',
      'files/app.conf.policy': 'backup\n',
      'files/app.conf.mode': '640\n',
      'files/app.conf.owner': 'www-data:www-data\n',
      'files/index.html': '<h1>hi</h1>\n',
      'files/index.html.path': '/var/www/html',
    });
    const t = await loadTemplateDir(root, 'full');
    expect(t.name).toBe('full');
    expect(t.description).toBe('Full example');
    expect(t.disk).toBe(12);
    expect(t.scripts.map((s) => [s.position, s.name, s.content])).toEqual([
      [1, '9-first.sh', 'echo first\n'],
      [2, '10-second.sh', 'echo second\n'],
      [3, '100-third.sh', 'echo third\n'],
    ]);
    expect(t.files).toEqual([
      { name: 'app.conf', targetPath: '/etc/app/app.conf', content: 'key = value\n', mode: '0640', owner: 'www-data:www-data', policy: 'backup' },
      { name: 'index.html', targetPath: '/var/www/html/index.html', content: '<h1>hi</h1>\n', mode: '0644', owner: 'root:root', policy: 'replace' },
    ]);
    expect(t.packages).toEqual([
      { manager: 'apt', name: 'nginx', version: null },
      { manager: 'apt', name: 'curl', version: null },
      { manager: 'pip', name: 'requests', version: '2.32.3' },
      { manager: 'npm', name: 'typescript', version: '5.6.3' },
    ]);
  });

  it('orders script names numerically, not alphabetically', () => {
    expect(orderScriptNames(['20-b.sh', '3-c.sh', '100-a.sh', '20-a.sh'])).toEqual(['3-c.sh', '20-a.sh', '20-b.sh', '100-a.sh']);
  });

  it.each([
    ['no-conf', { 'scripts/10-a.sh': 'true\n' }, 'no-conf/template.conf: is missing'],
    ['no-path', { 'template.conf': '', 'files/motd': 'hi\n' }, 'no-path/files/motd: has no motd.path sidecar'],
    ['rel-path', { 'template.conf': '', 'files/motd': 'hi\n', 'files/motd.path': 'etc\n' }, 'rel-path/files/motd.path:1: Use an absolute directory'],
    ['orphan', { 'template.conf': '', 'files/gone.policy': 'replace\n' }, 'orphan/files/gone.policy: is a .policy sidecar but there is no file gone beside it'],
    ['bad-policy', { 'template.conf': '', 'files/a': 'x', 'files/a.path': '/etc', 'files/a.policy': '\nsometimes\n' }, 'bad-policy/files/a.policy:2: policy must be one of replace, default, backup'],
    ['bad-mode', { 'template.conf': '', 'files/a': 'x', 'files/a.path': '/etc', 'files/a.mode': '0999' }, 'bad-mode/files/a.mode:1: mode must be octal'],
    ['bad-script', { 'template.conf': '', 'scripts/setup.sh': 'true\n' }, 'bad-script/scripts/setup.sh: scripts must be named NN-name.sh'],
    ['bad-list', { 'template.conf': '', 'packages/x.yum': 'nginx\n' }, 'bad-list/packages/x.yum: package lists end in .apt, .npm or .pip'],
    ['bad-package', { 'template.conf': '', 'packages/a.apt': '# ok\nnginx\nnot valid\n' }, 'bad-package/packages/a.apt:3: one package per line'],
    ['clash', { 'template.conf': '', 'packages/a.apt': 'curl=1.0\n', 'packages/b.apt': '\ncurl=2.0\n' }, 'clash/packages/b.apt:2: curl is also listed at clash/packages/a.apt:1'],
    ['binary', { 'template.conf': '', 'files/blob': '\u0000\u0001', 'files/blob.path': '/opt' }, 'binary/files/blob: Binary content is not supported'],
    ['bad-conf', { 'template.conf': 'TEMPLATE_DESCRIPTION=fine\nTEMPLATE_CPU=lots\n' }, 'bad-conf/template.conf:2: TEMPLATE_CPU must be a whole number'],
  ])('reports %s with the file (and line)', async (name, files, message) => {
    await writeTemplate(name, files);
    expect(await loadError(name)).toContain(message);
  });
});

describe('sample templates', () => {
  it('ship at least three, each loading cleanly with scripts, files and packages that register a service', async () => {
    const names = (await readdir(SAMPLES, { withFileTypes: true })).filter((e) => e.isDirectory() && !e.name.startsWith('_')).map((e) => e.name);
    expect(names).toEqual(expect.arrayContaining(['static-web', 'postgresql', 'dev-box']));
    for (const name of names) {
      const t = await loadTemplateDir(SAMPLES, name);
      expect(t.osTemplate, name).toBe('debian-12');
      expect(t.scripts.length, name).toBeGreaterThan(0);
      expect(t.files.length, name).toBeGreaterThan(0);
      expect(t.packages.filter((p) => p.manager === 'apt').length, name).toBeGreaterThan(0);
      expect(t.scripts.map((s) => s.content).join('\n'), name).toMatch(/^\s*register_service [a-z]+ \d+/m);
      for (const script of t.scripts) expect(script.content, `${name}/${script.name}`).toMatch(/^set -euo pipefail$/m);
    }
  });

  it('pass bash -n, as does the helper library', async () => {
    const scripts = [HELPER_LIBRARY_SOURCE];
    for (const name of await readdir(SAMPLES)) {
      const dir = path.join(SAMPLES, name, 'scripts');
      for (const file of await readdir(dir).catch(() => [])) scripts.push(path.join(dir, file));
    }
    expect(scripts.length).toBeGreaterThan(6);
    for (const script of scripts) {
      await expect(run('bash', ['-n', script]), script).resolves.toBeDefined();
    }
  });
});
