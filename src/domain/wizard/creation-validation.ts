// Validation of a CreationRequest, in the three parts the wizard's steps own (configure, packages, scripts) and as
// a whole for Deploy: the steps and POST /containers call the same functions, so nothing a step accepted can be
// refused later for another reason than the world having changed (a VMID taken meanwhile, a node gone away).
import type { NodeRecord } from '../../db/nodes-repository.ts';
import { NotFoundError, UnavailableError, ValidationError } from '../../lib/errors.ts';
import type { ContainerConfig, TemplateSnapshot } from '../containers/container-config.ts';
import { getTemplate } from '../templates/catalogue.ts';
import { resolvePackages, type PackageSource } from '../package-sets/package-set.ts';
import {
  DEFAULTS, LIMITS, PACKAGE_MANAGERS, checkSetName, parseBoolean, splitPackageSpec, type PackageManager, type Template, type TemplatePackage,
} from '../templates/template.ts';
import type { CreationRequest } from './creation-request.ts';
import {
  checkBridge, checkGateway, checkHostname, checkNameserver, checkOsTemplateVolid, checkPassword, checkStorageId, matchOsTemplate,
  parseAmount, parseCidr, parseExtraPackages, parseSshPublicKeys, parseTags, parseVmid, vmidTakenMessage,
} from './field-rules.ts';
import { hostnameInUse, probeNode, type BridgeOption, type NodeChoices, type WizardDeps } from './node-choices.ts';
import { osPackageConflict, type OsPackageConflict } from './os-distribution.ts';

/** Field name (as in the form contract) → message. */
export type FieldErrors = Record<string, string>;

export const DEFAULT_BRIDGE = 'vmbr0';

export interface ConfigureValues {
  node: NodeRecord;
  vmid: number;
  /** The VMID was not typed but taken from /cluster/nextid (so another free one may replace it). */
  vmidIsNextFree: boolean;
  password: string;
  settings: Pick<
    ContainerConfig,
    | 'ostemplate' | 'hostname' | 'cores' | 'memory' | 'swap' | 'disk' | 'storage' | 'bridge' | 'ip' | 'gateway' | 'nameserver'
    | 'unprivileged' | 'nesting' | 'onboot' | 'tags' | 'sshPublicKey' | 'destroyOnFailure'
  >;
}

export type PackageValues = Pick<ContainerConfig, 'packageGroups' | 'extraPackages' | 'packageSets' | 'resolvedPackages'>;
export type ScriptValues = Pick<ContainerConfig, 'scripts'>;

/** The node could not be asked: why, and the fields refused only for that reason (values it would have offered). */
export interface NodeProblem {
  message: string;
  fields: string[];
}

/** Refused while the node could not be asked, with other fields wrong too (422): the node's problem leads. */
export class NodeProblemValidationError extends ValidationError {
  constructor(
    fields: FieldErrors,
    readonly nodeProblem: string,
  ) {
    super(fields, nodeProblem);
  }
}

/** Refused because the node cannot be asked, with nothing else wrong in the request: try again later (503). */
export class NodeUnavailableError extends UnavailableError {
  constructor(
    readonly nodeProblem: string,
    readonly fields: FieldErrors,
  ) {
    super(nodeProblem);
  }
}

/**
 * The error for a refused request. When the node could not be asked its problem leads (it is what to fix first):
 * 503 if that is all that is wrong, else 422 with the problem as the summary above the field messages.
 */
export function refusal(errors: FieldErrors, nodeProblem: NodeProblem | undefined): ValidationError | NodeUnavailableError {
  if (!nodeProblem) return new ValidationError(errors);
  const onlyNode = Object.keys(errors).every((field) => nodeProblem.fields.includes(field));
  return onlyNode ? new NodeUnavailableError(nodeProblem.message, errors) : new NodeProblemValidationError(errors, nodeProblem.message);
}

/** vmbr0 when the node has it (or its bridges are unknown), else the node's first bridge. */
export function defaultBridge(bridges: BridgeOption[]): string {
  return bridges.length === 0 || bridges.some((b) => b.iface === DEFAULT_BRIDGE) ? DEFAULT_BRIDGE : bridges[0]!.iface;
}

/**
 * The OS template against the template's packages in the groups switched on (the draft's, else the template's): an
 * Alpine or Fedora OS cannot run the apt-get that installs them, and the build would find out only at its package
 * step. Refused at Configure on the OS template, and at Packages on the groups (switching apt back on after choosing
 * such an OS), so that no later step refuses what an earlier one accepted. The sentence names both sides.
 */
function osPackageRefusal(
  ostemplate: string,
  template: Template | null,
  groups: readonly string[] | undefined,
): (OsPackageConflict & { because: string }) | undefined {
  const conflict = template && osPackageConflict(ostemplate, template, groups ?? templateGroups(template));
  if (!conflict) return undefined;
  return { ...conflict, because: `Template “${template.name}” installs packages with ${conflict.needed}; ${conflict.os.name} uses ${conflict.os.packageManager}.` };
}

/** Collects the first message per field. */
function collector() {
  const errors: FieldErrors = {};
  const note = (field: string, message: string | undefined) => {
    if (message && !errors[field]) errors[field] = message;
  };
  return { errors, note };
}

/** The settings a template (or, from scratch, Launchpad) proposes. */
export function templateDefaults(template: Template | null) {
  const t = template ?? { ...DEFAULTS, tags: [] as string[] };
  return { os: t.osTemplate, cores: t.cores, memory: t.memory, swap: t.swap, disk: t.disk, unprivileged: t.unprivileged, nesting: t.nesting, tags: t.tags };
}

function flag(text: string, fallback: boolean, field: string, note: (f: string, m: string | undefined) => void): boolean {
  if (text === '') return fallback;
  const value = parseBoolean(text);
  if (value === undefined) note(field, 'Use 1 (yes) or 0 (no).');
  return value ?? fallback;
}

export interface ConfigureCheck {
  errors: FieldErrors;
  values: ConfigureValues | undefined;
  /** What the node offered, so a rejected form is shown again without asking the node twice. */
  choices: NodeChoices;
  nodeProblem: NodeProblem | undefined;
  /** With `warnHostname`: the hostname is already a guest's name on the cluster (allowed, but worth a question). */
  hostnameWarning: string | undefined;
}

/**
 * The Configure step's fields, checked against the template's defaults and what the node offers right now. Each
 * check asks the node once: the next free VMID only when none was typed, a typed one only whether it is free.
 */
export async function checkConfigure(
  deps: WizardDeps,
  request: CreationRequest,
  template: Template | null,
  options: { warnHostname?: boolean } = {},
): Promise<ConfigureCheck> {
  const { errors, note } = collector();
  const defaults = templateDefaults(template);
  const probe = await probeNode(deps, request.node, { nextId: request.vmid === '', guests: options.warnHostname });
  try {
    const { choices } = probe;
    const node = choices.node;
    if (!node) note('node', choices.problem);
    const reachable = node !== undefined && choices.problem === undefined;
    const nodeName = node?.name ?? request.node;
    // Fields refused only because the node could not list what it offers.
    const nodeProblem: NodeProblem | undefined = node && choices.problem ? { message: choices.problem, fields: [] } : undefined;
    const unlisted = (field: string, message: string) => {
      note(field, message);
      nodeProblem?.fields.push(field);
    };

    note('hostname', checkHostname(request.hostname));
    const passwordErrors = checkPassword(request.password, request.passwordConfirm);
    note('password', passwordErrors.password);
    note('password_confirm', passwordErrors.password_confirm);

    let sshPublicKey: string | null = null;
    if (request.sshPublicKey) {
      const parsed = parseSshPublicKeys(request.sshPublicKey);
      if ('error' in parsed) note('ssh_public_key', parsed.error);
      else sshPublicKey = parsed.keys || null;
    }

    const amount = (field: 'cores' | 'memory' | 'swap' | 'disk', what: string): number => {
      if (request[field] === '') return defaults[field];
      const parsed = parseAmount(request[field], field, what);
      if (typeof parsed === 'string') note(field, parsed);
      return typeof parsed === 'number' ? parsed : defaults[field];
    };
    const cores = amount('cores', 'Cores');
    const memory = amount('memory', 'Memory (MiB)');
    const swap = amount('swap', 'Swap (MiB)');
    const disk = amount('disk', 'Disk (GiB)');

    let ostemplate = request.ostemplate;
    if (!ostemplate) {
      ostemplate = matchOsTemplate(choices.osTemplates, defaults.os) ?? '';
      if (!ostemplate && reachable) {
        note('ostemplate', `Node “${nodeName}” has no OS template matching ${defaults.os}. Download one (pveam download local ${defaults.os}-standard_…) or choose another.`);
      } else if (!ostemplate && node) {
        unlisted('ostemplate', 'The node’s OS templates could not be listed; type the volume id, e.g. local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst.');
      }
    } else if (checkOsTemplateVolid(ostemplate)) {
      note('ostemplate', checkOsTemplateVolid(ostemplate));
    } else if (reachable && !choices.osTemplates.includes(ostemplate)) {
      note('ostemplate', `Node “${nodeName}” has no OS template ${ostemplate}. Choose one it has downloaded.`);
    }
    const osRefused = ostemplate ? osPackageRefusal(ostemplate, template, request.packageGroups) : undefined;
    if (osRefused) note('ostemplate', `${osRefused.because} Choose a ${osRefused.alternatives} OS template.`);

    const storage = request.storage || (choices.storages[0]?.storage ?? '');
    if (!storage) {
      if (reachable) note('storage', `Node “${nodeName}” has no enabled storage for container disks (content “rootdir”).`);
      else if (node) unlisted('storage', 'The node’s storages could not be listed; type the storage id, e.g. local-lvm.');
    } else if (checkStorageId(storage)) {
      note('storage', checkStorageId(storage));
    } else if (reachable && !choices.storages.some((s) => s.storage === storage)) {
      const offered = choices.storages.map((s) => s.storage).join(', ');
      note('storage', `Storage “${storage}” does not hold container disks on node “${nodeName}”${offered ? ` (choose ${offered})` : ''}.`);
    }

    const bridge = request.bridge || defaultBridge(choices.bridges);
    if (checkBridge(bridge)) {
      note('bridge', checkBridge(bridge));
    } else if (reachable && !choices.bridges.some((b) => b.iface === bridge)) {
      const offered = choices.bridges.map((b) => b.iface).join(', ');
      note('bridge', offered
        ? `Node “${nodeName}” has no bridge “${bridge}” (choose ${offered}).`
        : `Node “${nodeName}” has no bridge for containers. Create one under System → Network on the node (e.g. vmbr0), then Refresh choices.`);
    }

    let ip = 'dhcp';
    let gateway: string | null = null;
    if (request.ip !== '' && request.ip.toLowerCase() !== 'dhcp') {
      const cidr = parseCidr(request.ip);
      if (typeof cidr === 'string') note('ip', cidr);
      else {
        ip = request.ip;
        if (request.gateway) note('gateway', checkGateway(request.gateway, cidr));
        gateway = request.gateway || null;
      }
    }
    if (request.nameserver) note('nameserver', checkNameserver(request.nameserver));

    const unprivileged = flag(request.unprivileged, defaults.unprivileged, 'unprivileged', note);
    const nesting = flag(request.nesting, defaults.nesting, 'nesting', note);
    const onboot = flag(request.onboot, false, 'onboot', note);
    const destroyOnFailure = flag(request.destroyOnFailure, false, 'destroy_on_failure', note);
    if (nesting && !unprivileged) {
      // Proxmox lets only root@pam set features on a privileged CT; Launchpad talks to it with an API token.
      note('nesting', 'Nesting needs an unprivileged container (on a privileged one only root@pam may set it). Turn one of them off.');
    }

    let tags = defaults.tags;
    if (request.tags !== undefined) {
      const parsed = parseTags(request.tags);
      if ('error' in parsed) note('tags', parsed.error);
      else tags = parsed.tags;
    }

    let vmid = 0;
    const vmidIsNextFree = request.vmid === '';
    if (vmidIsNextFree) {
      if (choices.nextId !== undefined) vmid = choices.nextId;
      else if (node) unlisted('vmid', 'The node could not be asked for the next free VMID; type one (100 or more).');
    } else {
      const parsed = parseVmid(request.vmid);
      if (typeof parsed === 'string') note('vmid', parsed);
      else {
        vmid = parsed;
        if ((await probe.isVmidFree(vmid)) === false) note('vmid', vmidTakenMessage(vmid));
      }
    }

    const hostnameWarning = errors.hostname ? undefined : hostnameInUse(choices.guests, request.hostname);
    if (Object.keys(errors).length || !node) return { errors, values: undefined, choices, nodeProblem, hostnameWarning };
    return {
      errors,
      choices,
      nodeProblem,
      hostnameWarning,
      values: {
        node,
        vmid,
        vmidIsNextFree,
        password: request.password,
        settings: {
          ostemplate, hostname: request.hostname, cores, memory, swap, disk, storage, bridge, ip, gateway,
          nameserver: request.nameserver || null, unprivileged, nesting, onboot, tags, sshPublicKey, destroyOnFailure,
        },
      },
    };
  } finally {
    probe.close();
  }
}

/** The package groups the template has, in apt, npm, pip order. */
export const templateGroups = (template: Template | null): PackageManager[] =>
  PACKAGE_MANAGERS.filter((m) => template?.packages.some((p) => p.manager === m));

export const EXTRA_PACKAGES_SOURCE = 'the extra packages';
export const templateSource = (template: Template) => `template “${template.name}”`;
export const setSource = (name: string) => `set “${name}”`;

/** What the package choices resolve to: each source (a template group, a set, the extra packages) and the merged list. */
export interface PackageResolution {
  sources: PackageSource[];
  packages: TemplatePackage[];
}

/**
 * The Packages step's fields: groups, package sets (they must exist now) and extra apt packages, resolved into one
 * list; two different version pins of one package are refused, naming both sources.
 */
export async function checkPackages(
  deps: Pick<WizardDeps, 'repos'>,
  request: CreationRequest,
  template: Template | null,
): Promise<{ errors: FieldErrors; values: PackageValues | undefined; resolution: PackageResolution | undefined }> {
  const { errors, note } = collector();
  let packageGroups = templateGroups(template);
  if (request.packageGroups !== undefined) {
    const unknown = request.packageGroups.find((g) => !(PACKAGE_MANAGERS as readonly string[]).includes(g));
    if (unknown !== undefined) note('package_groups', `“${unknown.slice(0, 20)}” is not a package group: use apt, npm or pip.`);
    packageGroups = PACKAGE_MANAGERS.filter((m) => request.packageGroups!.includes(m));
  }
  const extra = parseExtraPackages(request.extraPackages);
  if ('error' in extra) note('extra_packages', extra.error);
  // The OS chosen at Configure, or — left empty — the template's own (`debian-12`): its name says the distribution.
  const osRefused = osPackageRefusal(request.ostemplate || (template?.osTemplate ?? ''), template, packageGroups);
  if (osRefused) {
    note('package_groups', `${osRefused.because} Switch the ${osRefused.needed} group off, or choose a ${osRefused.alternatives} OS template.`);
  }

  const setNames = [...new Set(request.packageSets ?? template?.packageSets ?? [])];
  for (const name of setNames) note('package_sets', checkSetName(name));
  if (setNames.length > LIMITS.packageSets) note('package_sets', `Choose at most ${LIMITS.packageSets} package sets.`);
  const sets = errors.package_sets ? [] : await deps.repos.packageSets.findByNames(setNames);
  const missing = errors.package_sets ? undefined : setNames.find((name) => !sets.some((s) => s.name === name));
  if (missing !== undefined) {
    note('package_sets', `There is no package set “${missing}”${template?.packageSets.includes(missing) ? ` (template “${template.name}” names it)` : ''}. Create it on the Package sets page, or switch it off.`);
  }
  // The sets and extra packages against the OS too: their apt packages need an apt distribution as much as the
  // template's do.
  const os = request.ostemplate || (template?.osTemplate ?? '');
  const anyGroup = PACKAGE_MANAGERS as readonly string[];
  for (const set of sets) {
    const conflict = osPackageConflict(os, set, anyGroup);
    if (conflict) note('package_sets', `Package set “${set.name}” installs packages with ${conflict.needed}; ${conflict.os.name} uses ${conflict.os.packageManager}. Switch it off, or choose a ${conflict.alternatives} OS template.`);
  }
  const extraConflict = 'error' in extra ? undefined : osPackageConflict(os, { packages: extra.packages.map(() => ({ manager: 'apt' as const })) }, anyGroup);
  if (extraConflict) note('extra_packages', `Extra packages are installed with apt; ${extraConflict.os.name} uses ${extraConflict.os.packageManager}. Remove them, or choose a ${extraConflict.alternatives} OS template.`);
  if (Object.keys(errors).length || 'error' in extra) return { errors, values: undefined, resolution: undefined };

  const sources: PackageSource[] = [];
  if (template) sources.push({ label: templateSource(template), packages: template.packages.filter((p) => packageGroups.includes(p.manager)) });
  for (const set of sets) sources.push({ label: setSource(set.name), packages: set.packages });
  sources.push({ label: EXTRA_PACKAGES_SOURCE, packages: extra.packages.map((spec) => ({ manager: 'apt' as const, ...splitPackageSpec('apt', spec) })) });
  const { packages, conflicts } = resolvePackages(sources);
  for (const conflict of conflicts) {
    const field = conflict.between.includes(EXTRA_PACKAGES_SOURCE) ? 'extra_packages' : 'package_sets';
    errors[field] = errors[field] ? `${errors[field]} ${conflict.message}` : conflict.message;
  }
  if (Object.keys(errors).length) return { errors, values: undefined, resolution: { sources, packages } };
  return {
    errors,
    values: { packageGroups, extraPackages: extra.packages, packageSets: setNames, resolvedPackages: packages },
    resolution: { sources, packages },
  };
}

/** The template's enabled scripts in its own order: what runs when nobody chose otherwise. */
export const defaultScripts = (template: Template | null): string[] =>
  [...(template?.scripts ?? [])].sort((a, b) => a.position - b.position).filter((s) => s.enabled).map((s) => s.name);

export function checkScripts(request: CreationRequest, template: Template | null): { errors: FieldErrors; values: ScriptValues | undefined } {
  const { errors, note } = collector();
  const scripts = request.scripts ?? defaultScripts(template);
  const known = new Set(template?.scripts.map((s) => s.name));
  for (const [index, name] of scripts.entries()) {
    const shown = `“${name.slice(0, 80)}”`;
    if (!known.has(name)) note('scripts', template ? `The template has no script named ${shown}.` : 'A container built from scratch has no scripts to run.');
    else if (scripts.indexOf(name) !== index) note('scripts', `${shown} is listed twice; each script runs once.`);
  }
  return Object.keys(errors).length ? { errors, values: undefined } : { errors, values: { scripts } };
}

/** The template a request names ('' = from scratch), or a message for the `template` field. */
export async function resolveTemplate(deps: WizardDeps, ref: string): Promise<{ template: Template | null } | { error: string }> {
  if (ref === '') return { template: null };
  try {
    const template = await getTemplate(deps.repos.templates, ref.slice(0, 100));
    if (template.loadError) return { error: `Template “${template.name}” cannot be deployed until it loads: ${template.loadError}` };
    return { template };
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
    return { error: `There is no template “${ref.slice(0, 64).replace(/\p{Cc}/gu, '�')}”. Use a template id or name from the catalogue, or leave it empty to start from scratch.` };
  }
}

/** Everything Deploy needs once the whole request is valid. */
export interface ValidCreation {
  template: Template | null;
  node: NodeRecord;
  vmid: number;
  vmidIsNextFree: boolean;
  password: string;
  config: ContainerConfig;
}

/** The template's scripts, files and packages as they are now: a retry runs what was reviewed. */
export function snapshotOf(template: Template | null): TemplateSnapshot {
  if (!template) return { scripts: [], files: [], packages: [] };
  return {
    scripts: [...template.scripts].sort((a, b) => a.position - b.position).map((s) => ({ name: s.name, content: s.content })),
    files: template.files.map((f) => ({ name: f.name, targetPath: f.targetPath, content: f.content, mode: f.mode, owner: f.owner, policy: f.policy })),
    packages: template.packages.map((p) => ({ manager: p.manager, name: p.name, version: p.version })),
  };
}

/** Validates the whole request: the same three checks as the steps, plus the template itself. */
export async function checkCreation(
  deps: WizardDeps,
  request: CreationRequest,
): Promise<{ errors: FieldErrors; value: ValidCreation | undefined; nodeProblem: NodeProblem | undefined }> {
  const resolved = await resolveTemplate(deps, request.template);
  if ('error' in resolved) return { errors: { template: resolved.error }, value: undefined, nodeProblem: undefined };
  const { template } = resolved;
  const configure = await checkConfigure(deps, request, template);
  const packages = await checkPackages(deps, request, template);
  const scripts = checkScripts(request, template);
  const errors = { ...configure.errors, ...packages.errors, ...scripts.errors };
  const { nodeProblem } = configure;
  if (!configure.values || !packages.values || !scripts.values) return { errors, value: undefined, nodeProblem };
  const { node, vmid, vmidIsNextFree, password, settings } = configure.values;
  return {
    errors,
    nodeProblem,
    value: {
      template,
      node,
      vmid,
      vmidIsNextFree,
      password,
      config: { templateName: template?.name ?? null, ...settings, ...packages.values, ...scripts.values, vmidEntered: !vmidIsNextFree, template: snapshotOf(template) },
    },
  };
}
