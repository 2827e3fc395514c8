// The template vocabulary shared by the on-disk parser, the UI form, the repository and the pipeline, plus the
// field rules both ways of authoring a template obey. Each rule returns a message a person can act on, or undefined.

import { NON_TEXT_CONTROL_CHARACTER, firstControlCharacter } from '../../lib/control-characters.ts';
import { CT_LIMITS } from '../containers/ct-limits.ts';

export const PACKAGE_MANAGERS = ['apt', 'npm', 'pip'] as const;
export type PackageManager = (typeof PACKAGE_MANAGERS)[number];

export const FILE_POLICIES = ['replace', 'default', 'backup'] as const;
/** replace: always write; default: write only if the target is absent; backup: keep the old file as `<target>.bak`. */
export type FilePolicy = (typeof FILE_POLICIES)[number];

export type TemplateSource = 'filesystem' | 'custom';

export interface TemplateScript {
  /** `NN-name.sh` for disk templates; any safe file name for custom ones. */
  name: string;
  /** 1-based run order. */
  position: number;
  content: string;
  enabled: boolean;
}

export interface TemplateFile {
  /** The file's name in the template (for disk templates: its name under `files/`). */
  name: string;
  /** Absolute path of the file inside the container, directory and file name included. */
  targetPath: string;
  content: string;
  /** Octal, four digits (`0644`). */
  mode: string;
  /** `user:group` (or `user`), resolved inside the container. */
  owner: string;
  policy: FilePolicy;
}

export interface TemplatePackage {
  manager: PackageManager;
  name: string;
  /** An exact version (`apt` name=version, `npm` name@version, `pip` name==version), or null for the default. */
  version: string | null;
}

/** Everything that makes up a template, however it was authored. */
export interface TemplateDefinition {
  name: string;
  description: string;
  /** Matched against the node's downloaded OS templates, e.g. `debian-12`. */
  osTemplate: string;
  cores: number;
  /** MiB */
  memory: number;
  /** MiB */
  swap: number;
  /** GiB */
  disk: number;
  unprivileged: boolean;
  nesting: boolean;
  tags: string[];
  scripts: TemplateScript[];
  files: TemplateFile[];
  packages: TemplatePackage[];
  /** Package sets the template names (packages/<any>.sets, or picked in the editor); absent = none. */
  packageSets?: string[];
}

export interface Template extends TemplateDefinition {
  packageSets: string[];
  id: number;
  source: TemplateSource;
  /** The template's directory for disk templates. */
  path: string | null;
  /** Why a disk template could not be loaded (file and line); such a template cannot be deployed. */
  loadError: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** What a list or a wizard card shows. */
export interface TemplateSummary {
  id: number;
  name: string;
  description: string;
  source: TemplateSource;
  osTemplate: string;
  tags: string[];
  loadError: string | null;
  scriptCount: number;
  fileCount: number;
  packageCount: number;
}

export const DEFAULTS = {
  description: '',
  osTemplate: 'debian-12',
  cores: 1,
  memory: 512,
  swap: 512,
  disk: 4,
  unprivileged: true,
  nesting: false,
  mode: '0644',
  owner: 'root:root',
  policy: 'replace' as FilePolicy,
} as const;

export const LIMITS = {
  cores: CT_LIMITS.cores,
  memory: CT_LIMITS.memory,
  swap: CT_LIMITS.swap,
  disk: CT_LIMITS.disk,
  descriptionLength: 2_000,
  tags: 20,
  scripts: 50,
  files: 50,
  packages: 500,
  packageSets: 50,
  /** Templates carry scripts and configuration files, not payloads. */
  contentBytes: 1024 * 1024,
} as const;

// A letter first, so a name never looks like an id in a URL or in the `template` form field of POST /containers.
const NAME = /^[A-Za-z][A-Za-z0-9._-]{0,63}$/;
const TAG = /^[a-z0-9_][a-z0-9_+.-]{0,63}$/;
const OS = /^[a-z0-9][a-z0-9._-]{0,127}$/;
const SCRIPT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const MODE = /^0?[0-7]{3}$/;
const ACCOUNT = '(?:[a-z_][a-z0-9_-]{0,31}\\$?|[0-9]{1,10})';
const OWNER = new RegExp(`^${ACCOUNT}(?::${ACCOUNT})?$`);

// Package names follow each ecosystem's own grammar; versions are kept to characters no shell treats specially.
const PACKAGE_RULES: Record<PackageManager, { name: RegExp; version: RegExp; separator: string; example: string }> = {
  apt: { name: /^[a-z0-9][a-z0-9+.-]{1,99}$/, version: /^[0-9][A-Za-z0-9.+~:-]{0,63}$/, separator: '=', example: 'nginx or nginx=1.22.1-9' },
  npm: {
    name: /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9~-][a-z0-9._~-]{0,213}$/,
    version: /^[A-Za-z0-9.^~*+-]{1,64}$/,
    separator: '@',
    example: 'typescript or typescript@5.6.3',
  },
  pip: { name: /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$/, version: /^[A-Za-z0-9.*+!-]{1,64}$/, separator: '==', example: 'requests or requests==2.32.3' },
};

export function checkName(name: string): string | undefined {
  if (!name) return 'Give the template a name.';
  if (!NAME.test(name)) return 'Use 1–64 letters, digits, dots, dashes or underscores, starting with a letter.';
  return undefined;
}

/** Package sets are named in `.sets` files and form fields, one name per line: no spaces, nothing a shell reads. */
const SET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function checkSetName(name: string): string | undefined {
  if (!name) return 'Give the package set a name.';
  if (!SET_NAME.test(name)) return `“${name.slice(0, 80)}” is not a package set name: use 1–64 letters, digits, dots, dashes or underscores, starting with a letter or digit.`;
  return undefined;
}

export function checkTag(tag: string): string | undefined {
  return TAG.test(tag) ? undefined : `“${tag}” is not a valid tag: use lowercase letters, digits, _ + . - (Proxmox tag rules).`;
}

export function checkOs(os: string): string | undefined {
  return OS.test(os) ? undefined : 'Use an OS template prefix such as debian-12 or ubuntu-24.04 (lowercase letters, digits, . _ -).';
}

export function checkDescription(description: string): string | undefined {
  const control = firstControlCharacter(description, NON_TEXT_CONTROL_CHARACTER);
  if (control) return `The description contains a control character (${control}); only tabs and line breaks are allowed. Remove it and save again.`;
  return description.length > LIMITS.descriptionLength ? `Keep the description under ${LIMITS.descriptionLength} characters.` : undefined;
}

export function checkScriptName(name: string): string | undefined {
  return SCRIPT_NAME.test(name) ? undefined : 'Use a file name: letters, digits, dots, dashes, underscores (e.g. 10-setup.sh).';
}

export function checkFileName(name: string): string | undefined {
  return FILE_NAME.test(name) ? undefined : 'Use a file name: letters, digits, dots, dashes, underscores.';
}

export function checkTargetPath(target: string): string | undefined {
  if (!target.startsWith('/')) return 'Use an absolute path inside the container, e.g. /etc/app/app.conf.';
  if (target.endsWith('/')) return 'Name the file, not only its directory.';
  if (target.length > 1024 || /[\0\n\r]/.test(target)) return 'That path contains characters a path cannot have.';
  if (target.split('/').some((part) => part === '..' || part === '.')) return 'Write the path without . or .. segments.';
  return undefined;
}

/** Accepts 3 or 4 octal digits; the stored form always has 4. */
export function normalizeMode(mode: string): string | undefined {
  return MODE.test(mode) ? mode.padStart(4, '0') : undefined;
}

export function checkOwner(owner: string): string | undefined {
  return OWNER.test(owner) ? undefined : 'Use user or user:group (names or numeric ids), e.g. root:root or www-data:www-data.';
}

export function checkContent(content: string): string | undefined {
  if (content.includes('\0')) return 'Binary content is not supported.';
  if (Buffer.byteLength(content) > LIMITS.contentBytes) return 'Keep scripts and files under 1 MiB.';
  return undefined;
}

export function checkPackage(manager: PackageManager, name: string, version: string | null): string | undefined {
  const rule = PACKAGE_RULES[manager];
  if (!rule.name.test(name)) return `“${name}” is not a valid ${manager} package name (e.g. ${rule.example}).`;
  if (version !== null && !rule.version.test(version)) return `“${version}” is not a valid version for ${name}.`;
  return undefined;
}

/** Splits `name=version` / `name@version` / `name==version` (per manager) into its parts, without validating. */
export function splitPackageSpec(manager: PackageManager, spec: string): { name: string; version: string | null } {
  const separator = PACKAGE_RULES[manager].separator;
  // npm scopes start with @, so the version separator is the last @ after the first character.
  const at = manager === 'npm' ? spec.lastIndexOf('@') : spec.indexOf(separator);
  if (at <= 0) return { name: spec, version: null };
  return { name: spec.slice(0, at), version: spec.slice(at + separator.length) };
}

export const formatPackageSpec = (p: Pick<TemplatePackage, 'manager' | 'name' | 'version'>) =>
  p.version === null ? p.name : `${p.name}${PACKAGE_RULES[p.manager].separator}${p.version}`;

/** Tags as typed by a person: separated by `;`, `,` or spaces, lower-cased, duplicates dropped. */
export function splitTags(text: string): string[] {
  return [...new Set(text.split(/[;,\s]+/).map((t) => t.trim().toLowerCase()).filter(Boolean))];
}

/** Parses 0/1, yes/no, true/false, on/off; undefined for anything else. */
export function parseBoolean(text: string): boolean | undefined {
  const v = text.trim().toLowerCase();
  if (['1', 'yes', 'true', 'on'].includes(v)) return true;
  if (['0', 'no', 'false', 'off'].includes(v)) return false;
  return undefined;
}

/** A whole number within [min, max], or a message saying what is expected. */
export function parseWholeNumber(text: string, range: { min: number; max: number }): number | string {
  const trimmed = text.trim();
  const value = /^[0-9]+$/.test(trimmed) ? Number(trimmed) : NaN;
  if (!Number.isSafeInteger(value) || value < range.min || value > range.max) {
    return `must be a whole number from ${range.min} to ${range.max}`;
  }
  return value;
}

/** A template directory that cannot be loaded: the file (relative to the catalogue), the line where known, and why. */
export class TemplateLoadError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly detail: string,
  ) {
    super(`${file}${line === undefined ? '' : `:${line}`}: ${detail}`);
  }
}
