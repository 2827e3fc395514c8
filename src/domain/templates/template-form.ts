// The custom-template form: what a browser posts, read into a TemplateForm that can be shown again unchanged, and
// validated into a TemplateDefinition with one message per field. Field names are plain form names:
// `scripts[0][name]`, `files[2][target]`, `packages_apt` … (the app parses bodies with extended: false).
import path from 'node:path';
import { ValidationError } from '../../lib/errors.ts';
import { repeated } from '../wizard/creation-request.ts';
import { parsePackageList } from './template-parser.ts';
import { DEFAULTS, FILE_POLICIES, LIMITS, PACKAGE_MANAGERS, checkContent, checkDescription, checkFileName, checkName, checkOs, checkOwner, checkScriptName, checkSetName, checkTag, checkTargetPath, formatPackageSpec, normalizeMode, parseWholeNumber, splitTags, type FilePolicy, type PackageManager, type Template, type TemplateDefinition, type TemplateFile, type TemplatePackage, type TemplateScript, TemplateLoadError } from './template.ts';

export interface ScriptFormRow {
  name: string;
  content: string;
  enabled: boolean;
}

export interface FileFormRow {
  name: string;
  target: string;
  mode: string;
  owner: string;
  policy: string;
  content: string;
}

export interface TemplateForm {
  name: string;
  description: string;
  tags: string;
  osTemplate: string;
  cores: string;
  memory: string;
  swap: string;
  disk: string;
  unprivileged: boolean;
  nesting: boolean;
  scripts: ScriptFormRow[];
  files: FileFormRow[];
  packages: Record<PackageManager, string>;
  /** Names of the package sets the template pulls in (checkboxes `package_sets`). */
  packageSets: string[];
}

/** What the form's extra submit buttons ask for instead of saving: another empty script or file row. */
export type FormAction = 'save' | 'add_script' | 'add_file';

export const blankScript = (): ScriptFormRow => ({ name: '', content: '', enabled: true });
export const blankFile = (): FileFormRow => ({ name: '', target: '', mode: DEFAULTS.mode, owner: DEFAULTS.owner, policy: DEFAULTS.policy, content: '' });

export function emptyForm(): TemplateForm {
  return {
    name: '',
    description: '',
    tags: '',
    osTemplate: DEFAULTS.osTemplate,
    cores: String(DEFAULTS.cores),
    memory: String(DEFAULTS.memory),
    swap: String(DEFAULTS.swap),
    disk: String(DEFAULTS.disk),
    unprivileged: DEFAULTS.unprivileged,
    nesting: DEFAULTS.nesting,
    scripts: [blankScript()],
    files: [],
    packages: { apt: '', npm: '', pip: '' },
    packageSets: [],
  };
}

export function formFromTemplate(t: Template): TemplateForm {
  return {
    name: t.name,
    description: t.description,
    tags: t.tags.join('; '),
    osTemplate: t.osTemplate,
    cores: String(t.cores),
    memory: String(t.memory),
    swap: String(t.swap),
    disk: String(t.disk),
    unprivileged: t.unprivileged,
    nesting: t.nesting,
    scripts: t.scripts.map((s) => ({ name: s.name, content: s.content, enabled: s.enabled })),
    files: t.files.map((f) => ({ name: f.name, target: f.targetPath, mode: f.mode, owner: f.owner, policy: f.policy, content: f.content })),
    packages: Object.fromEntries(
      PACKAGE_MANAGERS.map((m) => [m, t.packages.filter((p) => p.manager === m).map(formatPackageSpec).join('\n')]),
    ) as Record<PackageManager, string>,
    packageSets: [...t.packageSets],
  };
}

// A repeated field arrives as an array with extended: false; the last value wins, like a browser's own form state.
const text = (value: unknown): string => {
  const v = Array.isArray(value) ? value[value.length - 1] : value;
  return typeof v === 'string' ? v.replace(/\r\n/g, '\n') : '';
};
const checked = (value: unknown) => text(value) !== '' && text(value) !== '0';

/** Collects `<group>[<index>][<field>]` keys into rows ordered by index; rows marked `remove` are dropped. */
function rows(body: Record<string, unknown>, group: 'scripts' | 'files'): Record<string, unknown>[] {
  const pattern = new RegExp(`^${group}\\[(\\d{1,3})\\]\\[([a-z_]+)\\]$`);
  const byIndex = new Map<number, Record<string, unknown>>();
  for (const [key, value] of Object.entries(body)) {
    const m = pattern.exec(key);
    if (!m) continue;
    const index = Number(m[1]);
    const row = byIndex.get(index) ?? {};
    row[m[2]!] = value;
    byIndex.set(index, row);
  }
  return [...byIndex.entries()].sort(([a], [b]) => a - b).map(([, row]) => row).filter((row) => !checked(row.remove));
}

/** Reads a posted form; every value is kept as typed so a rejected form comes back intact. */
export function formFromBody(body: Record<string, unknown> = {}): { form: TemplateForm; action: FormAction } {
  const form: TemplateForm = {
    name: text(body.name).trim(),
    description: text(body.description).trim(),
    tags: text(body.tags),
    osTemplate: text(body.os_template).trim(),
    cores: text(body.cores).trim(),
    memory: text(body.memory).trim(),
    swap: text(body.swap).trim(),
    disk: text(body.disk).trim(),
    unprivileged: checked(body.unprivileged),
    nesting: checked(body.nesting),
    scripts: rows(body, 'scripts').map((r) => ({ name: text(r.name).trim(), content: text(r.content), enabled: checked(r.enabled) })),
    files: rows(body, 'files').map((r) => ({
      name: text(r.name).trim(),
      target: text(r.target).trim(),
      mode: text(r.mode).trim(),
      owner: text(r.owner).trim(),
      policy: text(r.policy).trim(),
      content: text(r.content),
    })),
    packages: { apt: text(body.packages_apt), npm: text(body.packages_npm), pip: text(body.packages_pip) },
    packageSets: [...new Set(repeated(body.package_sets) ?? [])],
  };
  const requested = text(body._action);
  const action: FormAction = requested === 'add_script' || requested === 'add_file' ? requested : 'save';
  if (action === 'add_script') form.scripts.push(blankScript());
  if (action === 'add_file') form.files.push(blankFile());
  return { form, action };
}

const isBlankScript = (s: ScriptFormRow) => !s.name && !s.content.trim();
const isBlankFile = (f: FileFormRow) => !f.name && !f.target && !f.content.trim();

/**
 * The form as a TemplateDefinition, or a ValidationError whose keys are the form's field names. Empty script and
 * file rows are skipped (the form always offers one to fill in).
 */
export function definitionFromForm(form: TemplateForm): TemplateDefinition {
  const errors: Record<string, string> = {};
  const note = (field: string, message: string | undefined) => {
    if (message && !errors[field]) errors[field] = message;
  };

  note('name', checkName(form.name));
  note('description', checkDescription(form.description));
  note('os_template', checkOs(form.osTemplate));
  const tags = splitTags(form.tags);
  for (const tag of tags) note('tags', checkTag(tag));
  if (tags.length > LIMITS.tags) note('tags', `Use at most ${LIMITS.tags} tags.`);

  const number = (field: 'cores' | 'memory' | 'swap' | 'disk', value: string, unit: string): number => {
    const parsed = parseWholeNumber(value, LIMITS[field]);
    if (typeof parsed === 'number') return parsed;
    note(field, `${unit[0]!.toUpperCase()}${unit.slice(1)} ${parsed}.`);
    return 0;
  };
  const cores = number('cores', form.cores, 'cores');
  const memory = number('memory', form.memory, 'memory (MiB)');
  const swap = number('swap', form.swap, 'swap (MiB)');
  const disk = number('disk', form.disk, 'disk (GiB)');

  const scripts: TemplateScript[] = [];
  form.scripts.forEach((s, i) => {
    if (isBlankScript(s)) return;
    const field = (f: string) => `scripts[${i}][${f}]`;
    note(field('name'), s.name ? checkScriptName(s.name) : 'Name the script, e.g. 10-setup.sh.');
    if (scripts.some((other) => other.name === s.name)) note(field('name'), 'Another script already has this name.');
    note(field('content'), s.content.trim() ? checkContent(s.content) : 'The script is empty.');
    scripts.push({ name: s.name, position: scripts.length + 1, content: s.content, enabled: s.enabled });
  });
  if (scripts.length > LIMITS.scripts) note('scripts', `Use at most ${LIMITS.scripts} scripts.`);

  const files: TemplateFile[] = [];
  form.files.forEach((f, i) => {
    if (isBlankFile(f)) return;
    const field = (name: string) => `files[${i}][${name}]`;
    const name = f.name || path.posix.basename(f.target);
    note(field('target'), f.target ? checkTargetPath(f.target) : 'Give the absolute path of the file in the container.');
    note(field('name'), name ? checkFileName(name) : 'Name the file.');
    if (files.some((other) => other.name === name)) note(field('name'), 'Another file already has this name.');
    if (f.target && files.some((other) => other.targetPath === f.target)) note(field('target'), 'Another file already goes there.');
    const mode = normalizeMode(f.mode || DEFAULTS.mode);
    if (!mode) note(field('mode'), 'Use an octal mode such as 0644 or 0600.');
    const owner = f.owner || DEFAULTS.owner;
    note(field('owner'), checkOwner(owner));
    const policy = (f.policy || DEFAULTS.policy) as FilePolicy;
    if (!FILE_POLICIES.includes(policy)) note(field('policy'), `Choose one of ${FILE_POLICIES.join(', ')}.`);
    note(field('content'), checkContent(f.content));
    files.push({ name, targetPath: f.target, content: f.content, mode: mode ?? DEFAULTS.mode, owner, policy });
  });
  if (files.length > LIMITS.files) note('files', `Use at most ${LIMITS.files} files.`);

  const packages: TemplatePackage[] = [];
  for (const manager of PACKAGE_MANAGERS) {
    try {
      for (const { name, version, line } of parsePackageList(form.packages[manager], manager, manager)) {
        const earlier = packages.find((p) => p.manager === manager && p.name === name);
        if (earlier && earlier.version !== version) note(`packages_${manager}`, `Line ${line}: ${name} is listed twice with different versions.`);
        if (!earlier) packages.push({ manager, name, version });
      }
    } catch (err) {
      if (!(err instanceof TemplateLoadError)) throw err;
      note(`packages_${manager}`, `Line ${err.line}: ${err.detail}`);
    }
  }
  if (packages.length > LIMITS.packages) note('packages_apt', `Use at most ${LIMITS.packages} packages in all.`);
  for (const name of form.packageSets) note('package_sets', checkSetName(name));
  if (form.packageSets.length > LIMITS.packageSets) note('package_sets', `Use at most ${LIMITS.packageSets} package sets.`);

  if (Object.keys(errors).length) throw new ValidationError(errors);
  return {
    name: form.name,
    description: form.description,
    osTemplate: form.osTemplate,
    cores, memory, swap, disk,
    unprivileged: form.unprivileged,
    nesting: form.nesting,
    tags,
    scripts,
    files,
    packages,
    packageSets: form.packageSets,
  };
}
