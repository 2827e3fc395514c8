// Package sets: named groups of packages ("our standard tools") kept once and reused by templates and the wizard.
// The vocabulary, the bulk-import reader with its preview, and how packages from several
// sources (a template's groups, its sets, sets added in the wizard, extra packages) resolve into one list.
import { parsePackageList } from '../templates/template-parser.ts';
import { LIMITS, PACKAGE_MANAGERS, formatPackageSpec, type PackageManager, type TemplatePackage, TemplateLoadError } from '../templates/template.ts';

export interface PackageSet {
  id: number;
  name: string;
  description: string;
  /** In apt, npm, pip order, then by name. */
  packages: TemplatePackage[];
  createdAt: Date;
  updatedAt: Date;
}

export interface PackageSetSummary {
  id: number;
  name: string;
  description: string;
  counts: Record<PackageManager, number>;
  /** Templates that name this set, by name. */
  usedBy: string[];
}

export interface TemplateReference {
  id: number;
  name: string;
  source: 'filesystem' | 'custom';
}

/** The most packages one set holds: the same budget a template has. */
export const MAX_SET_PACKAGES = LIMITS.packages;

export const isPackageManager = (value: string): value is PackageManager => (PACKAGE_MANAGERS as readonly string[]).includes(value);

// ---------------------------------------------------------------------------------------------------------------
// Bulk import: one package per line in its manager's syntax (`name`, `name=1.2` apt, `name@1.2` npm, `name==1.2` pip),
// `#` comments; a line may start with `apt:`, `npm:` or `pip:` to leave the manager chosen for the paste.

export interface ImportedPackage extends TemplatePackage {
  line: number;
}

export interface ImportPreview {
  /** The manager for lines without a prefix. */
  manager: PackageManager;
  toAdd: ImportedPackage[];
  duplicates: Array<ImportedPackage & { reason: string }>;
  invalid: Array<{ line: number; text: string; reason: string }>;
}

/** Most lines a paste may hold: enough for any set, small enough to show in a preview. */
export const MAX_IMPORT_LINES = 2000;

const PREFIX = /^(apt|npm|pip):\s*/;

/**
 * Reads pasted lines against what the set already holds: what would be added, what is already there (or listed
 * earlier in the paste), and which lines are invalid and why. Nothing is saved here.
 */
export function previewImport(text: string, manager: PackageManager, existing: TemplatePackage[]): ImportPreview {
  const preview: ImportPreview = { manager, toAdd: [], duplicates: [], invalid: [] };
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  if (lines.length > MAX_IMPORT_LINES) {
    preview.invalid.push({ line: MAX_IMPORT_LINES + 1, text: '…', reason: `Paste at most ${MAX_IMPORT_LINES} lines at a time.` });
    lines.length = MAX_IMPORT_LINES;
  }
  lines.forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    const prefix = PREFIX.exec(trimmed);
    const lineManager = prefix ? (prefix[1] as PackageManager) : manager;
    // Each line is read exactly as a template's package list line is, with the same grammar and messages.
    let listed: TemplatePackage | undefined;
    try {
      listed = parsePackageList(prefix ? trimmed.slice(prefix[0].length) : trimmed, lineManager, 'import')[0];
    } catch (err) {
      if (!(err instanceof TemplateLoadError)) throw err;
      const reason = err.detail.charAt(0).toUpperCase() + err.detail.slice(1);
      return preview.invalid.push({ line, text: trimmed.replace(/(^|\s)#.*$/, '').trim().slice(0, 120), reason: /[.)]$/.test(reason) ? reason : `${reason}.` });
    }
    if (!listed) return;
    const { name, version } = listed;
    const pkg = { manager: lineManager, name, version, line };
    const inSet = existing.find((p) => p.manager === lineManager && p.name === name);
    if (inSet) {
      const reason = inSet.version === version
        ? 'Already in the set.'
        : `Already in the set as ${formatPackageSpec(inSet)}; remove it first to change the version.`;
      return preview.duplicates.push({ ...pkg, reason });
    }
    const earlier = preview.toAdd.find((p) => p.manager === lineManager && p.name === name);
    if (earlier) {
      const reason = earlier.version === version
        ? `Listed already on line ${earlier.line}.`
        : `Listed already on line ${earlier.line} as ${formatPackageSpec(earlier)}; keep one of the two.`;
      return preview.duplicates.push({ ...pkg, reason });
    }
    preview.toAdd.push(pkg);
  });
  const room = MAX_SET_PACKAGES - existing.length;
  if (preview.toAdd.length > room) {
    for (const p of preview.toAdd.splice(Math.max(0, room))) {
      preview.invalid.push({ line: p.line, text: formatPackageSpec(p), reason: `A set holds at most ${MAX_SET_PACKAGES} packages.` });
    }
    preview.invalid.sort((a, b) => a.line - b.line);
  }
  return preview;
}

// ---------------------------------------------------------------------------------------------------------------
// Resolution

/** Where packages come from, named the way a message names it: “template “dev-box””, “set “base-tools””. */
export interface PackageSource {
  label: string;
  packages: TemplatePackage[];
}

/**
 * Merges the sources into one list per manager, each package once, in the order first met. A pin wins over an
 * unpinned mention; two different pins of the same package are a conflict naming both sources.
 */
export interface PinConflict {
  message: string;
  /** The two sources' labels. */
  between: [string, string];
}

export function resolvePackages(sources: PackageSource[]): { packages: TemplatePackage[]; conflicts: PinConflict[] } {
  const merged = new Map<string, TemplatePackage & { pinnedBy: string | null }>();
  const conflicts: PinConflict[] = [];
  for (const source of sources) {
    for (const p of source.packages) {
      const key = `${p.manager}:${p.name}`;
      const earlier = merged.get(key);
      if (!earlier) {
        merged.set(key, { manager: p.manager, name: p.name, version: p.version, pinnedBy: p.version === null ? null : source.label });
      } else if (p.version !== null && earlier.version === null) {
        earlier.version = p.version;
        earlier.pinnedBy = source.label;
      } else if (p.version !== null && earlier.version !== p.version) {
        const message = `${p.name} (${p.manager}): ${earlier.pinnedBy} pins ${earlier.version} but ${source.label} pins ${p.version}. Remove one pin, or turn one of them off.`;
        if (!conflicts.some((c) => c.message === message)) conflicts.push({ message, between: [earlier.pinnedBy!, source.label] });
      }
    }
  }
  const order = (m: PackageManager) => PACKAGE_MANAGERS.indexOf(m);
  const packages = [...merged.values()]
    .map(({ manager, name, version }) => ({ manager, name, version }))
    .sort((a, b) => order(a.manager) - order(b.manager));
  return { packages, conflicts };
}

/** Packages grouped by manager as `name`/`name=version` specs, managers without packages left out. */
export function specsByManager(packages: TemplatePackage[]): Array<{ manager: PackageManager; packages: string[] }> {
  return PACKAGE_MANAGERS.map((manager) => ({ manager, packages: packages.filter((p) => p.manager === manager).map(formatPackageSpec) }))
    .filter((g) => g.packages.length > 0);
}
