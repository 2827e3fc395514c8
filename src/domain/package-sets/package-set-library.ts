// What the Package sets pages do: create, rename, describe and delete sets; add and remove packages one at a time
// or by a previewed bulk import. Every write goes through here, so the rules (names, per-ecosystem package
// grammar, the size limit, "in use by templates") hold for the UI and any later caller alike.
import type { PackageSetsRepository } from '../../db/package-sets-repository.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../lib/errors.ts';
import { checkDescription, checkPackage, checkSetName, formatPackageSpec, splitPackageSpec, type PackageManager } from '../templates/template.ts';
import {
  MAX_SET_PACKAGES, isPackageManager, previewImport,
  type ImportPreview, type PackageSet, type TemplateReference,
} from './package-set.ts';

const text = (value: unknown): string => {
  const v = Array.isArray(value) ? value[value.length - 1] : value;
  return typeof v === 'string' ? v.replace(/\r\n/g, '\n') : '';
};

export interface SetForm {
  name: string;
  description: string;
}

export const setFormFromBody = (body: Record<string, unknown> = {}): SetForm => ({ name: text(body.name).trim(), description: text(body.description).trim() });

function checkSetForm(form: SetForm): SetForm {
  const errors: Record<string, string> = {};
  const name = checkSetName(form.name);
  if (name) errors.name = name;
  const description = checkDescription(form.description);
  if (description) errors.description = description;
  if (Object.keys(errors).length) throw new ValidationError(errors);
  return form;
}

const taken = (name: string) => new ValidationError({ name: `A package set named “${name}” already exists. Choose another name.` });

export async function getSet(repo: PackageSetsRepository, ref: string): Promise<PackageSet> {
  const set = /^[0-9]{1,9}$/.test(ref) ? await repo.findById(Number(ref)) : undefined;
  if (!set) throw new NotFoundError('That package set');
  return set;
}

export async function createSet(repo: PackageSetsRepository, form: SetForm): Promise<number> {
  const valid = checkSetForm(form);
  const id = await repo.create(valid);
  if (id === 'taken') throw taken(valid.name);
  return id;
}

/** Renames and describes a set; the templates naming it are updated with it (disk templates until their next Rescan). */
export async function updateSet(repo: PackageSetsRepository, ref: string, form: SetForm): Promise<{ set: PackageSet; diskTemplates: string[] }> {
  const before = await getSet(repo, ref);
  const valid = checkSetForm(form);
  const diskTemplates = valid.name === before.name ? [] : (await repo.templatesUsing(before.name)).filter((t) => t.source === 'filesystem').map((t) => t.name);
  const outcome = await repo.update(before.id, valid);
  if (outcome === 'taken') throw taken(valid.name);
  if (outcome === 'missing') throw new NotFoundError('That package set');
  return { set: await getSet(repo, String(before.id)), diskTemplates };
}

/** One package, typed as manager + name + optional version (the same grammar as template package lists). */
export async function addPackage(repo: PackageSetsRepository, ref: string, body: Record<string, unknown>): Promise<string> {
  const set = await getSet(repo, ref);
  const manager = text(body.manager).trim();
  const name = text(body.package).trim();
  const version = text(body.version).trim() || null;
  if (!isPackageManager(manager)) throw new ValidationError({ manager: 'Choose apt, npm or pip.' });
  if (!name) throw new ValidationError({ package: 'Type a package name.' });
  // A version typed into the name field (nginx=1.22) is read as a pin, like a package list line.
  const split = version === null ? splitPackageSpec(manager, name) : { name, version };
  const problem = checkPackage(manager, split.name, split.version);
  if (problem) throw new ValidationError({ package: problem });
  const pkg = { manager, name: split.name, version: split.version };
  const existing = set.packages.find((p) => p.manager === manager && p.name === pkg.name);
  if (existing) throw new ValidationError({ package: `${formatPackageSpec(existing)} is already in the set (${manager}). Remove it first to change the version.` });
  if (set.packages.length >= MAX_SET_PACKAGES) throw new ValidationError({ package: `A set holds at most ${MAX_SET_PACKAGES} packages.` });
  await repo.addPackages(set.id, [pkg]);
  return `${manager} ${formatPackageSpec(pkg)}`;
}

export async function removePackage(repo: PackageSetsRepository, ref: string, body: Record<string, unknown>): Promise<string> {
  const set = await getSet(repo, ref);
  const manager = text(body.manager).trim();
  const name = text(body.package).trim();
  if (!isPackageManager(manager) || !(await repo.removePackage(set.id, manager, name))) {
    throw new NotFoundError(`Package ${name.slice(0, 80)} in “${set.name}”`);
  }
  return `${manager} ${name}`;
}

export interface ImportForm {
  manager: PackageManager;
  lines: string;
}

export function importFormFromBody(body: Record<string, unknown> = {}): ImportForm {
  const manager = text(body.manager).trim();
  return { manager: isPackageManager(manager) ? manager : 'apt', lines: text(body.lines) };
}

/** The preview of a paste against the set as it is now. */
export async function previewSetImport(repo: PackageSetsRepository, ref: string, form: ImportForm): Promise<{ set: PackageSet; preview: ImportPreview }> {
  const set = await getSet(repo, ref);
  return { set, preview: previewImport(form.lines, form.manager, set.packages) };
}

/**
 * Adds what the preview lists as new (read again now, so a package added meanwhile is not added twice); duplicates
 * and invalid lines are left out, as the preview said.
 */
export async function importIntoSet(repo: PackageSetsRepository, ref: string, form: ImportForm): Promise<{ set: PackageSet; added: number; skipped: number }> {
  const { set, preview } = await previewSetImport(repo, ref, form);
  const added = await repo.addPackages(set.id, preview.toAdd);
  return { set, added, skipped: preview.duplicates.length + preview.invalid.length + (preview.toAdd.length - added) };
}

export async function deletionCheck(repo: PackageSetsRepository, ref: string): Promise<{ set: PackageSet; usedBy: TemplateReference[] }> {
  const set = await getSet(repo, ref);
  return { set, usedBy: await repo.templatesUsing(set.name) };
}

/** Deletes a set no template names; ConflictError (naming the templates) otherwise. */
export async function deleteSet(repo: PackageSetsRepository, ref: string): Promise<PackageSet> {
  const set = await getSet(repo, ref);
  const outcome = await repo.deleteUnused(set.id);
  if (!outcome) throw new NotFoundError('That package set');
  if (!outcome.deleted) {
    const names = outcome.usedBy.map((t) => `“${t.name}”`).join(', ');
    const one = outcome.usedBy.length === 1;
    throw new ConflictError(
      `“${set.name}” cannot be deleted while ${one ? `template ${names} uses` : `templates ${names} use`} it. Remove it from ${one ? 'that template' : 'those templates'} first (custom: Edit; disk: its packages/*.sets file, then Rescan).`,
      'rule',
    );
  }
  return set;
}
