// Reads one on-disk template directory (SPEC §5) into a TemplateDefinition. Nothing here executes anything: the
// shell-style template.conf is tokenised, never sourced. Every problem becomes a TemplateLoadError naming the file
// (relative to the catalogue) and, where it has one, the line.
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import {
  DEFAULTS, LIMITS, PACKAGE_MANAGERS, FILE_POLICIES, TemplateLoadError,
  checkContent, checkDescription, checkOs, checkOwner, checkPackage, checkSetName, checkTag, checkTargetPath, normalizeMode,
  parseBoolean, parseWholeNumber, splitPackageSpec,
  type FilePolicy, type PackageManager, type TemplateDefinition, type TemplateFile, type TemplatePackage, type TemplateScript,
} from './template.ts';
import { parseConf } from './shell-conf.ts';

// ---------------------------------------------------------------------------------------------------------------
// template.conf

const CONF_KEYS = [
  'TEMPLATE_DESCRIPTION', 'TEMPLATE_TAGS', 'TEMPLATE_OS', 'TEMPLATE_CPU', 'TEMPLATE_RAM', 'TEMPLATE_SWAP', 'TEMPLATE_DISK',
  'TEMPLATE_UNPRIVILEGED', 'TEMPLATE_NESTING',
] as const;
type ConfSettings = Pick<TemplateDefinition, 'description' | 'osTemplate' | 'cores' | 'memory' | 'swap' | 'disk' | 'unprivileged' | 'nesting' | 'tags'>;

/** template.conf → the template's settings; unset keys take the defaults. Other (non-TEMPLATE_) keys may serve as variables. */
export function parseTemplateConf(text: string, file: string): ConfSettings {
  const entries = parseConf(text, file);
  for (const [key, entry] of entries) {
    if (key.startsWith('TEMPLATE_') && !(CONF_KEYS as readonly string[]).includes(key)) {
      throw new TemplateLoadError(file, entry.line, `unknown setting ${key} (known: ${CONF_KEYS.join(', ')})`);
    }
  }
  const failAt = (key: string, detail: string): never => {
    throw new TemplateLoadError(file, entries.get(key)?.line, `${key} ${detail}`);
  };
  const number = (key: string, range: { min: number; max: number }, fallback: number): number => {
    const entry = entries.get(key);
    if (!entry) return fallback;
    const parsed = parseWholeNumber(entry.value, range);
    return typeof parsed === 'number' ? parsed : failAt(key, `${parsed}, got “${entry.value}”`);
  };
  const boolean = (key: string, fallback: boolean): boolean => {
    const entry = entries.get(key);
    if (!entry) return fallback;
    return parseBoolean(entry.value) ?? failAt(key, `must be 1 or 0 (yes/no, true/false), got “${entry.value}”`);
  };

  const description = (entries.get('TEMPLATE_DESCRIPTION')?.value ?? DEFAULTS.description).trim();
  const descriptionProblem = checkDescription(description);
  if (descriptionProblem) failAt('TEMPLATE_DESCRIPTION', descriptionProblem);

  const osTemplate = entries.get('TEMPLATE_OS')?.value.trim() ?? DEFAULTS.osTemplate;
  const osProblem = checkOs(osTemplate);
  if (osProblem) failAt('TEMPLATE_OS', osProblem);

  const tags = [...new Set((entries.get('TEMPLATE_TAGS')?.value ?? '').split(';').map((t) => t.trim().toLowerCase()).filter(Boolean))];
  for (const tag of tags) {
    const problem = checkTag(tag);
    if (problem) failAt('TEMPLATE_TAGS', problem);
  }
  if (tags.length > LIMITS.tags) failAt('TEMPLATE_TAGS', `has more than ${LIMITS.tags} tags`);

  return {
    description,
    osTemplate,
    tags,
    cores: number('TEMPLATE_CPU', LIMITS.cores, DEFAULTS.cores),
    memory: number('TEMPLATE_RAM', LIMITS.memory, DEFAULTS.memory),
    swap: number('TEMPLATE_SWAP', LIMITS.swap, DEFAULTS.swap),
    disk: number('TEMPLATE_DISK', LIMITS.disk, DEFAULTS.disk),
    unprivileged: boolean('TEMPLATE_UNPRIVILEGED', DEFAULTS.unprivileged),
    nesting: boolean('TEMPLATE_NESTING', DEFAULTS.nesting),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Package lists: one package per line, `#` comments, an optional version in the manager's own syntax.

export interface ListedPackage extends TemplatePackage {
  line: number;
}

export function parsePackageList(text: string, manager: PackageManager, file: string): ListedPackage[] {
  const packages: ListedPackage[] = [];
  text.split('\n').forEach((raw, index) => {
    const spec = raw.replace(/(^|\s)#.*$/, '').trim();
    if (!spec) return;
    if (/\s/.test(spec)) throw new TemplateLoadError(file, index + 1, `one package per line, found “${spec}”`);
    const { name, version } = splitPackageSpec(manager, spec);
    const problem = checkPackage(manager, name, version);
    if (problem) throw new TemplateLoadError(file, index + 1, problem);
    packages.push({ manager, name, version, line: index + 1 });
  });
  return packages;
}

// ---------------------------------------------------------------------------------------------------------------
// The directory

const SCRIPT_FILE = /^([0-9]+)-[A-Za-z0-9._-]+\.sh$/;
const SIDECARS = ['path', 'policy', 'mode', 'owner'] as const;
type Sidecar = (typeof SIDECARS)[number];

/** `NN-name.sh` files in numeric order (9 before 10), ties by name. */
export function orderScriptNames(names: string[]): string[] {
  const number = (name: string) => Number(SCRIPT_FILE.exec(name)?.[1] ?? Infinity);
  return [...names].sort((a, b) => number(a) - number(b) || (a < b ? -1 : a > b ? 1 : 0));
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A template is only what is inside its directory: a symbolic link (to /etc/shadow, to a key) would show a host
 * file to every signed-in user and push it into containers. Links are refused by lstat, never followed.
 */
async function refuseSymlink(absolute: string, file: string): Promise<void> {
  const info = await lstat(absolute);
  if (!info.isSymbolicLink()) return;
  const target = await readlink(absolute).catch(() => '?');
  throw new TemplateLoadError(file, undefined, `is a symbolic link (to ${target}); a template may only use files inside its own directory — copy the file in instead`);
}

async function readText(absolute: string, file: string): Promise<string> {
  await refuseSymlink(absolute, file);
  const bytes = await readFile(absolute);
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new TemplateLoadError(file, undefined, 'is not UTF-8 text (binary files are not supported)');
  }
  const problem = checkContent(text);
  if (problem) throw new TemplateLoadError(file, undefined, problem);
  return text;
}

/** Regular files in a directory (symbolic links refused, the directory's too), dotfiles skipped; [] when absent. */
async function listFiles(dir: string, shown: string): Promise<string[]> {
  let names: string[];
  try {
    await refuseSymlink(dir, shown);
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const files: string[] = [];
  for (const name of names.filter((n) => !n.startsWith('.')).sort()) {
    await refuseSymlink(path.join(dir, name), `${shown}/${name}`);
    const info = await lstat(path.join(dir, name));
    if (!info.isFile()) throw new TemplateLoadError(`${shown}/${name}`, undefined, 'is not a regular file (sub-directories are not supported here)');
    files.push(name);
  }
  return files;
}

/** A one-value sidecar file: the first line that is not blank or a `#` comment. */
async function readSidecar(absolute: string, file: string): Promise<{ value: string; line: number }> {
  const lines = (await readText(absolute, file)).split('\n');
  const values = lines.map((l, i) => ({ value: l.trim(), line: i + 1 })).filter((l) => l.value && !l.value.startsWith('#'));
  if (values.length !== 1) throw new TemplateLoadError(file, values[1]?.line, 'must hold exactly one value');
  return values[0]!;
}

async function loadScripts(dir: string, prefix: string): Promise<TemplateScript[]> {
  const names = (await listFiles(path.join(dir, 'scripts'), `${prefix}scripts`)).filter((n) => !n.endsWith('.md'));
  for (const name of names) {
    if (!SCRIPT_FILE.test(name)) throw new TemplateLoadError(`${prefix}scripts/${name}`, undefined, 'scripts must be named NN-name.sh (e.g. 10-install.sh) so their order is clear');
  }
  if (names.length > LIMITS.scripts) throw new TemplateLoadError(`${prefix}scripts`, undefined, `holds more than ${LIMITS.scripts} scripts`);
  const scripts: TemplateScript[] = [];
  for (const [index, name] of orderScriptNames(names).entries()) {
    const content = await readText(path.join(dir, 'scripts', name), `${prefix}scripts/${name}`);
    scripts.push({ name, position: index + 1, content, enabled: true });
  }
  return scripts;
}

async function loadPackages(dir: string, prefix: string): Promise<TemplatePackage[]> {
  const seen = new Map<string, ListedPackage & { file: string }>();
  for (const name of await listFiles(path.join(dir, 'packages'), `${prefix}packages`)) {
    if (name.endsWith('.md') || name.endsWith(SETS_SUFFIX)) continue;
    const file = `${prefix}packages/${name}`;
    const manager = PACKAGE_MANAGERS.find((m) => name.endsWith(`.${m}`));
    if (!manager) throw new TemplateLoadError(file, undefined, 'package lists end in .apt, .npm or .pip (or .sets, naming package sets)');
    for (const pkg of parsePackageList(await readText(path.join(dir, 'packages', name), file), manager, file)) {
      const key = `${manager}:${pkg.name}`;
      const earlier = seen.get(key);
      if (earlier && earlier.version !== pkg.version) {
        throw new TemplateLoadError(file, pkg.line, `${pkg.name} is also listed at ${earlier.file}:${earlier.line} with another version`);
      }
      if (!earlier) seen.set(key, { ...pkg, file });
    }
  }
  return [...seen.values()].map(({ manager, name, version }) => ({ manager, name, version }));
}

// Package set references: `packages/<any>.sets`, one set name per line, `#` comments. Sets are looked up by name when
// the template is shown or deployed, so a template may name a set an admin has not created yet.
const SETS_SUFFIX = '.sets';

export function parseSetNames(text: string, file: string): Array<{ name: string; line: number }> {
  const names: Array<{ name: string; line: number }> = [];
  text.split('\n').forEach((raw, index) => {
    const name = raw.replace(/(^|\s)#.*$/, '').trim();
    if (!name) return;
    const problem = checkSetName(name);
    if (problem) throw new TemplateLoadError(file, index + 1, problem);
    if (!names.some((n) => n.name === name)) names.push({ name, line: index + 1 });
  });
  return names;
}

async function loadPackageSetNames(dir: string, prefix: string): Promise<string[]> {
  const names: string[] = [];
  for (const name of await listFiles(path.join(dir, 'packages'), `${prefix}packages`)) {
    if (!name.endsWith(SETS_SUFFIX)) continue;
    const file = `${prefix}packages/${name}`;
    for (const set of parseSetNames(await readText(path.join(dir, 'packages', name), file), file)) {
      if (!names.includes(set.name)) names.push(set.name);
    }
  }
  if (names.length > LIMITS.packageSets) throw new TemplateLoadError(`${prefix}packages`, undefined, `names more than ${LIMITS.packageSets} package sets`);
  return names;
}

async function loadFiles(dir: string, prefix: string): Promise<TemplateFile[]> {
  const filesDir = path.join(dir, 'files');
  const names = await listFiles(filesDir, `${prefix}files`);
  const sidecarOf = (name: string) => SIDECARS.find((s) => name.endsWith(`.${s}`));
  const payloads = names.filter((n) => !sidecarOf(n));
  for (const name of names) {
    const sidecar = sidecarOf(name);
    if (sidecar && !payloads.includes(name.slice(0, -sidecar.length - 1))) {
      throw new TemplateLoadError(`${prefix}files/${name}`, undefined, `is a .${sidecar} sidecar but there is no file ${name.slice(0, -sidecar.length - 1)} beside it`);
    }
  }
  if (payloads.length > LIMITS.files) throw new TemplateLoadError(`${prefix}files`, undefined, `holds more than ${LIMITS.files} files`);

  const files: TemplateFile[] = [];
  for (const name of payloads) {
    const shown = (s?: Sidecar) => `${prefix}files/${name}${s ? `.${s}` : ''}`;
    const sidecar = async (s: Sidecar) => (names.includes(`${name}.${s}`) ? readSidecar(path.join(filesDir, `${name}.${s}`), shown(s)) : undefined);

    const directory = await sidecar('path');
    if (!directory) throw new TemplateLoadError(shown(), undefined, `has no ${name}.path sidecar naming its target directory in the container`);
    const targetPath = path.posix.join(directory.value, name);
    const targetProblem = directory.value.startsWith('/') ? checkTargetPath(targetPath) : 'Use an absolute directory, e.g. /etc/app.';
    if (targetProblem) throw new TemplateLoadError(shown('path'), directory.line, targetProblem);

    const policy = await sidecar('policy');
    if (policy && !(FILE_POLICIES as readonly string[]).includes(policy.value)) {
      throw new TemplateLoadError(shown('policy'), policy.line, `policy must be one of ${FILE_POLICIES.join(', ')}, got “${policy.value}”`);
    }
    const mode = await sidecar('mode');
    const normalizedMode = mode ? normalizeMode(mode.value) : DEFAULTS.mode;
    if (!normalizedMode) throw new TemplateLoadError(shown('mode'), mode!.line, `mode must be octal like 0644, got “${mode!.value}”`);
    const owner = await sidecar('owner');
    const ownerProblem = owner && checkOwner(owner.value);
    if (ownerProblem) throw new TemplateLoadError(shown('owner'), owner!.line, ownerProblem);

    files.push({
      name,
      targetPath,
      content: await readText(path.join(filesDir, name), shown()),
      mode: normalizedMode,
      owner: owner?.value ?? DEFAULTS.owner,
      policy: (policy?.value as FilePolicy | undefined) ?? DEFAULTS.policy,
    });
  }
  return files;
}

/**
 * Loads `<templatesDir>/<name>/`. Error messages name files as `<name>/…` relative to the catalogue directory.
 */
export async function loadTemplateDir(templatesDir: string, name: string): Promise<TemplateDefinition> {
  const dir = path.join(templatesDir, name);
  const prefix = `${name}/`;
  await refuseSymlink(dir, prefix);
  let confText: string;
  try {
    confText = await readText(path.join(dir, 'template.conf'), `${prefix}template.conf`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new TemplateLoadError(`${prefix}template.conf`, undefined, 'is missing; every template needs one');
    throw err;
  }
  const settings = parseTemplateConf(confText, `${prefix}template.conf`);
  return {
    name,
    ...settings,
    scripts: await loadScripts(dir, prefix),
    files: await loadFiles(dir, prefix),
    packages: await loadPackages(dir, prefix),
    packageSets: await loadPackageSetNames(dir, prefix),
  };
}
