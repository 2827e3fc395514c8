// The template catalogue: disk templates synced into the database (at boot and on "Rescan"), custom templates
// authored in the UI, and the queries the pages and the wizard ask of both.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { TemplatesRepository } from '../../db/templates-repository.ts';
import { CONTROL_CHARACTER } from '../../lib/control-characters.ts';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../lib/errors.ts';
import type { Logger } from '../../logger.ts';
import { definitionFromForm, type TemplateForm } from './template-form.ts';
import { loadTemplateDir } from './template-parser.ts';
import { DEFAULTS, checkName, type Template, type TemplateDefinition, type TemplateSummary, TemplateLoadError } from './template.ts';

export interface SyncResult {
  /** Templates that loaded cleanly (changed or not). */
  loaded: string[];
  /** The subset of `loaded` and `broken` whose stored version was added or changed by this sync. */
  updated: string[];
  broken: { name: string; error: string }[];
  /** Disk templates no longer on disk, now gone from the catalogue. */
  removed: string[];
}

/**
 * Template directories: sub-directories that are not hidden and do not start with `_` (room for shared material).
 * A symbolic link in their place is listed too, so it is reported as broken rather than silently ignored.
 */
async function templateDirectories(templatesDir: string, logger: Logger): Promise<string[]> {
  try {
    const entries = await readdir(templatesDir, { withFileTypes: true });
    return entries.filter((e) => (e.isDirectory() || e.isSymbolicLink()) && !e.name.startsWith('.') && !e.name.startsWith('_')).map((e) => e.name).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    logger.warn({ templatesDir }, `template directory ${templatesDir} does not exist (TEMPLATES_DIR); no disk templates are listed`);
    return [];
  }
}

const brokenDefinition = (name: string): TemplateDefinition => ({
  name,
  description: '',
  osTemplate: DEFAULTS.osTemplate,
  cores: DEFAULTS.cores,
  memory: DEFAULTS.memory,
  swap: DEFAULTS.swap,
  disk: DEFAULTS.disk,
  unprivileged: DEFAULTS.unprivileged,
  nesting: DEFAULTS.nesting,
  tags: [],
  scripts: [],
  files: [],
  packages: [],
  packageSets: [],
});

// Database order and disk order of children can differ (collations), so compare in one canonical order.
function fingerprint(d: TemplateDefinition, dir: string | null, loadError: string | null): string {
  const byKey = <T>(key: (x: T) => string) => (a: T, b: T) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);
  return JSON.stringify({
    settings: [d.description, d.osTemplate, d.cores, d.memory, d.swap, d.disk, d.unprivileged, d.nesting, d.tags],
    dir,
    loadError,
    scripts: [...d.scripts].sort(byKey((s) => `${String(s.position).padStart(4, '0')}:${s.name}`)).map((s) => [s.name, s.position, s.content, s.enabled]),
    files: [...d.files].sort(byKey((f) => f.name)).map((f) => [f.name, f.targetPath, f.content, f.mode, f.owner, f.policy]),
    packages: [...d.packages].sort(byKey((p) => `${p.manager}:${p.name}`)).map((p) => [p.manager, p.name, p.version]),
    packageSets: d.packageSets ?? [],
  });
}

/**
 * Brings the database in line with `templatesDir`: each template directory is parsed and upserted (one transaction
 * per template, skipped when nothing changed); one that fails to parse is stored with its error so the catalogue
 * shows it; disk templates whose directory is gone are deleted. Custom templates are never touched.
 */
export async function syncCatalogue(repo: TemplatesRepository, templatesDir: string, logger: Logger): Promise<SyncResult> {
  const root = path.resolve(templatesDir);
  const result: SyncResult = { loaded: [], updated: [], broken: [], removed: [] };
  const onDisk = new Set<string>();

  for (const name of await templateDirectories(root, logger)) {
    const nameProblem = checkName(name);
    if (nameProblem && name.length > 64) {
      logger.warn({ name }, 'template directory name is longer than 64 characters; skipped');
      continue;
    }
    onDisk.add(name);
    let definition: TemplateDefinition;
    let loadError: string | null = null;
    try {
      if (nameProblem) throw new TemplateLoadError(`${name}/`, undefined, `the directory name is not a valid template name. ${nameProblem}`);
      definition = await loadTemplateDir(root, name);
    } catch (err) {
      // An unreadable file (permissions, a dangling symlink) breaks this template, not the catalogue.
      const fsCode = (err as NodeJS.ErrnoException).code;
      if (!(err instanceof TemplateLoadError) && !fsCode) throw err;
      definition = brokenDefinition(name);
      loadError = err instanceof TemplateLoadError ? err.message : `${name}/: ${fsCode}: ${(err as Error).message.replace(root + path.sep, '')}`;
    }
    const dir = path.join(root, name);
    const stored = await repo.findByName(name);
    if (stored?.source === 'custom') {
      logger.warn({ name }, `disk template ${name} skipped: a custom template already has that name`);
      result.broken.push({ name, error: `${name}/: a custom template already has this name; rename one of them` });
      continue;
    }
    if (loadError) {
      logger.warn({ name, error: loadError }, 'template could not be loaded');
      result.broken.push({ name, error: loadError });
    } else {
      result.loaded.push(name);
    }
    if (stored && fingerprint(stored, stored.path, stored.loadError) === fingerprint(definition, dir, loadError)) continue;
    if ((await repo.upsertFilesystem(definition, dir, loadError)) !== 'taken') result.updated.push(name);
  }

  const gone = (await repo.filesystemTemplates()).filter((t) => !onDisk.has(t.name));
  await repo.deleteByIds(gone.map((t) => t.id));
  result.removed = gone.map((t) => t.name);

  logger.info(
    { templatesDir: root, loaded: result.loaded.length, updated: result.updated, broken: result.broken.map((b) => b.name), removed: result.removed },
    'template catalogue synced',
  );
  return result;
}

export async function listTemplates(repo: TemplatesRepository, filter: { q?: string; tag?: string } = {}): Promise<TemplateSummary[]> {
  return repo.list(filter);
}

const queryText = (value: unknown, max: number) => (typeof value === 'string' ? value.trim().slice(0, max) : '');

/** The catalogue page: the filter as understood (to echo back in the form), the matching templates, every tag. */
export async function searchCatalogue(repo: TemplatesRepository, query: Record<string, unknown>) {
  const q = queryText(query.q, 100);
  const tag = queryText(query.tag, 64).toLowerCase();
  const [templates, tags] = await Promise.all([repo.list({ q, tag }), repo.tags()]);
  return { q, tag, templates, tags };
}

/** A template by id (a number or its digits) or by name. */
export async function getTemplate(repo: TemplatesRepository, ref: number | string): Promise<Template> {
  // No template name holds a control character (and Postgres cannot even compare one holding NUL).
  if (typeof ref === 'string' && CONTROL_CHARACTER.test(ref)) throw new NotFoundError('That template');
  const template = typeof ref === 'number' || /^[0-9]{1,9}$/.test(ref) ? await repo.findById(Number(ref)) : await repo.findByName(ref);
  if (!template) throw new NotFoundError('That template');
  return template;
}

/** A custom template, the only kind the UI edits or deletes; disk templates are read-only (ForbiddenError). */
export async function editableTemplate(repo: TemplatesRepository, ref: number | string): Promise<Template> {
  const template = await getTemplate(repo, ref);
  if (template.source !== 'custom') {
    throw new ForbiddenError(
      `“${template.name}” comes from the template directory and is read-only here: edit ${template.path ?? 'its files'} on disk, then press Rescan.`,
    );
  }
  return template;
}

/**
 * Validates the form and creates (no id) or replaces (the id of a custom template) a template; returns its id. With
 * `knownSets`, every package set the form picks must be one of them.
 */
export async function saveCustomTemplate(repo: TemplatesRepository, form: TemplateForm, id?: number, knownSets?: string[]): Promise<number> {
  const missing = knownSets && form.packageSets.find((name) => !knownSets.includes(name));
  const unknownSet: Record<string, string> = missing ? { package_sets: `There is no package set “${missing.slice(0, 64)}”. Create it on the Package sets page, or untick it.` } : {};
  let definition: TemplateDefinition;
  try {
    definition = definitionFromForm(form);
  } catch (err) {
    throw err instanceof ValidationError ? new ValidationError({ ...unknownSet, ...err.fields }) : err;
  }
  if (missing) throw new ValidationError(unknownSet);
  const taken = new ValidationError({ name: `A template named “${definition.name}” already exists. Choose another name.` });
  if (id === undefined) {
    const created = await repo.createCustom(definition);
    if (created === 'taken') throw taken;
    return created;
  }
  await editableTemplate(repo, id);
  const outcome = await repo.updateCustom(id, definition);
  if (outcome === 'taken') throw taken;
  if (outcome === 'missing') throw new NotFoundError('That template');
  return id;
}

/** What the delete confirmation page shows: the template and how many containers still use it. */
export async function deletionCheck(repo: TemplatesRepository, ref: number | string): Promise<{ template: Template; references: number }> {
  const template = await editableTemplate(repo, ref);
  return { template, references: await repo.referenceCount(template.id) };
}

/** Deletes a custom template no live container uses; ConflictError otherwise. */
export async function deleteTemplate(repo: TemplatesRepository, ref: number | string): Promise<Template> {
  const template = await editableTemplate(repo, ref);
  const outcome = await repo.deleteUnreferenced(template.id);
  if (!outcome) throw new NotFoundError('That template');
  if (!outcome.deleted) {
    const containers = outcome.references === 1 ? 'a container uses' : `${outcome.references} containers use`;
    throw new ConflictError(`“${template.name}” cannot be deleted while ${containers} it. Destroy those containers first.`, 'rule');
  }
  return template;
}
