// The wizard's draft: everything typed so far, kept in the session so Back, a reload or a second tab resume it.
// Values are kept as typed (a step saves even what does not validate yet, so nothing is lost on the way back);
// `completed` records which steps last passed their checks. The root password is sealed with the deploy id, so
// the session store never holds it in clear.
import { randomUUID } from 'node:crypto';
import type { PackageManager, Template } from '../templates/template.ts';
import { PACKAGE_MANAGERS } from '../templates/template.ts';
import { repeated, single, type CreationRequest } from './creation-request.ts';
import { defaultScripts, DEFAULT_BRIDGE, templateDefaults, templateGroups } from './creation-validation.ts';
import { checkHostname, MAX_FIELD_CHARS } from './field-rules.ts';
import type { ContainerConfig } from '../containers/container-config.ts';

export const WIZARD_STEPS = [
  { key: 'template', label: 'Template' },
  { key: 'configure', label: 'Configure' },
  { key: 'packages', label: 'Packages' },
  { key: 'scripts', label: 'Scripts' },
  { key: 'review', label: 'Review' },
] as const;

export type WizardStep = (typeof WIZARD_STEPS)[number]['key'];

export interface ConfigureDraft {
  node: string;
  ostemplate: string;
  hostname: string;
  vmid: string;
  /**
   * The VMID the node proposed when the form was shown. Left unchanged it means "the next free one": Deploy takes
   * the next free VMID then, since a container queued meanwhile (not on the node yet) may hold this one.
   */
  vmidSuggested: string;
  sshPublicKey: string;
  cores: string;
  memory: string;
  swap: string;
  disk: string;
  storage: string;
  bridge: string;
  ipMode: 'dhcp' | 'static';
  /** The static CIDR, kept while DHCP is selected so switching back does not lose it. */
  ip: string;
  gateway: string;
  nameserver: string;
  unprivileged: boolean;
  nesting: boolean;
  onboot: boolean;
  tags: string;
  destroyOnFailure: boolean;
}

export interface WizardDraft {
  /** Generated when the draft starts and reused as the container id: a double Deploy creates one container. */
  deployId: string;
  /** Template id as text; '' = from scratch; null = not chosen yet. */
  template: string | null;
  /** Steps whose saved input last passed validation. */
  completed: WizardStep[];
  configure: ConfigureDraft;
  /**
   * Set by the last accepted Configure when a guest on the cluster already has the hostname (“web-2 already exists on
   * pve as CT 101 — deploy another?”): Proxmox allows it, so Review asks instead of refusing.
   */
  hostnameWarning?: string;
  passwordEnc: string | null;
  packageGroups: PackageManager[];
  /** Package sets to install: the template's (each can be switched off) and any added in the wizard. */
  packageSets: string[];
  extraPackages: string;
  /** Every script of the template, in the chosen run order. */
  scriptOrder: string[];
  scriptsEnabled: string[];
}

export const stepUrl = (step: WizardStep) => `/containers/new/${step}`;

const STEP_KEYS: readonly WizardStep[] = WIZARD_STEPS.map((s) => s.key);
const indexOf = (step: WizardStep) => STEP_KEYS.indexOf(step);

export function newDraft(): WizardDraft {
  const defaults = templateDefaults(null);
  return {
    deployId: randomUUID(),
    template: null,
    completed: [],
    configure: {
      node: '',
      ostemplate: '',
      hostname: '',
      vmid: '',
      vmidSuggested: '',
      sshPublicKey: '',
      cores: String(defaults.cores),
      memory: String(defaults.memory),
      swap: String(defaults.swap),
      disk: String(defaults.disk),
      storage: '',
      bridge: DEFAULT_BRIDGE,
      ipMode: 'dhcp',
      ip: '',
      gateway: '',
      nameserver: '',
      unprivileged: defaults.unprivileged,
      nesting: defaults.nesting,
      onboot: false,
      tags: '',
      destroyOnFailure: false,
    },
    passwordEnc: null,
    packageGroups: [],
    packageSets: [],
    extraPackages: '',
    scriptOrder: [],
    scriptsEnabled: [],
  };
}

/** A draft someone has begun (a template chosen, or from scratch): a link must not replace it without asking. */
export const inProgress = (draft: WizardDraft | undefined): draft is WizardDraft => draft !== undefined && draft.template !== null;

/** The same choices, whichever deploy id each was started with. */
export const sameChoices = (a: WizardDraft, b: WizardDraft) => JSON.stringify({ ...a, deployId: '' }) === JSON.stringify({ ...b, deployId: '' });

/** The first step that still needs input (Review once the four before it are done). */
export function firstOpenStep(draft: WizardDraft): WizardStep {
  return STEP_KEYS.find((step) => step !== 'review' && !draft.completed.includes(step)) ?? 'review';
}

/** A step can be opened once every step before it is done. */
export const canOpen = (draft: WizardDraft, step: WizardStep) => indexOf(step) <= indexOf(firstOpenStep(draft));

export const nextStep = (step: WizardStep): WizardStep => STEP_KEYS[Math.min(indexOf(step) + 1, STEP_KEYS.length - 1)]!;
export const previousStep = (step: WizardStep): WizardStep => STEP_KEYS[Math.max(indexOf(step) - 1, 0)]!;

export function markStep(draft: WizardDraft, step: WizardStep, done: boolean): WizardDraft {
  const others = draft.completed.filter((s) => s !== step);
  return { ...draft, completed: done ? STEP_KEYS.filter((s) => s === step || others.includes(s)) : others };
}

export interface StepperItem {
  key: WizardStep;
  label: string;
  number: number;
  url: string;
  state: 'done' | 'current' | 'open' | 'locked';
}

export function stepper(draft: WizardDraft, current: WizardStep): StepperItem[] {
  return WIZARD_STEPS.map((s, i) => ({
    key: s.key,
    label: s.label,
    number: i + 1,
    url: stepUrl(s.key),
    state: s.key === current ? 'current' : draft.completed.includes(s.key) ? 'done' : canOpen(draft, s.key) ? 'open' : 'locked',
  }));
}

/**
 * Choosing a template: the same one keeps everything; another one brings its defaults (resources, flags, tags, OS,
 * packages, scripts) and re-opens the later steps, keeping what is not the template's business (node, hostname,
 * password, network).
 */
export function chooseTemplate(draft: WizardDraft, template: Template | null): WizardDraft {
  const ref = template ? String(template.id) : '';
  if (draft.template === ref) return markStep(draft, 'template', true);
  const d = templateDefaults(template);
  const hostname = draft.configure.hostname || (template && !checkHostname(template.name) ? template.name : '');
  return {
    ...draft,
    template: ref,
    completed: ['template'],
    configure: {
      ...draft.configure,
      hostname,
      ostemplate: '',
      cores: String(d.cores),
      memory: String(d.memory),
      swap: String(d.swap),
      disk: String(d.disk),
      unprivileged: d.unprivileged,
      nesting: d.nesting,
      tags: d.tags.join('; '),
    },
    packageGroups: templateGroups(template),
    packageSets: [...(template?.packageSets ?? [])],
    scriptOrder: [...(template?.scripts ?? [])].sort((a, b) => a.position - b.position).map((s) => s.name),
    scriptsEnabled: defaultScripts(template),
  };
}

// A draft lives in the session: no field keeps more than any valid value could need.
const clip = (text: string) => text.slice(0, MAX_FIELD_CHARS);
const text = (value: unknown) => clip(single(value).trim());
const checked = (value: unknown) => single(value) === '1';

/** The Configure form as posted (checkboxes come as a hidden 0 followed by the box's 1). */
export function configureFromBody(body: Record<string, unknown>): ConfigureDraft {
  const ip = text(body.ip);
  const ipMode = single(body.ip_mode) === 'static' || (body.ip_mode === undefined && ip !== '' && ip !== 'dhcp') ? 'static' : 'dhcp';
  return {
    node: text(body.node),
    ostemplate: text(body.ostemplate),
    hostname: text(body.hostname),
    vmid: text(body.vmid),
    vmidSuggested: text(body.vmid_suggested),
    sshPublicKey: clip(single(body.ssh_public_key).trim()),
    cores: text(body.cores),
    memory: text(body.memory),
    swap: text(body.swap),
    disk: text(body.disk),
    storage: text(body.storage),
    bridge: text(body.bridge),
    ipMode,
    ip: ip === 'dhcp' ? '' : ip,
    gateway: text(body.gateway),
    nameserver: text(body.nameserver),
    unprivileged: checked(body.unprivileged),
    nesting: checked(body.nesting),
    onboot: checked(body.onboot),
    tags: clip(single(body.tags)),
    destroyOnFailure: checked(body.destroy_on_failure),
  };
}

/** A draft lives in the session: more sets than anyone picks is not kept. */
const MAX_DRAFT_SETS = 100;

/** The Packages form: checked groups (known ones only), checked package sets and the extra apt packages. */
export function packagesFromBody(body: Record<string, unknown>): Pick<WizardDraft, 'packageGroups' | 'packageSets' | 'extraPackages'> {
  const groups = repeated(body.package_groups) ?? [];
  const sets = [...new Set((repeated(body.package_sets) ?? []).map(clip))].slice(0, MAX_DRAFT_SETS);
  return { packageGroups: PACKAGE_MANAGERS.filter((m) => groups.includes(m)), packageSets: sets, extraPackages: clip(single(body.extra_packages)) };
}

/**
 * The Scripts form: the posted order (hidden `order` fields) and ticked boxes (`scripts`), kept to the template's
 * scripts — any it has that the post left out go last, so none can disappear from the list.
 */
export function scriptsFromBody(draft: WizardDraft, body: Record<string, unknown>): Pick<WizardDraft, 'scriptOrder' | 'scriptsEnabled'> {
  const known = new Set(draft.scriptOrder);
  const posted = [...new Set((repeated(body.order) ?? []).filter((name) => known.has(name)))];
  const scriptOrder = [...posted, ...draft.scriptOrder.filter((name) => !posted.includes(name))];
  const ticked = new Set(repeated(body.scripts) ?? []);
  return { scriptOrder, scriptsEnabled: scriptOrder.filter((name) => ticked.has(name)) };
}

/** Applies `up:<name>` / `down:<name>` to the order; anything else leaves it as it is. */
export function moveScript(order: string[], move: string): string[] {
  const m = /^(up|down):(.+)$/s.exec(move);
  const from = m ? order.indexOf(m[2]!) : -1;
  const to = from + (m?.[1] === 'up' ? -1 : 1);
  if (from < 0 || to < 0 || to >= order.length) return order;
  const next = [...order];
  [next[from], next[to]] = [next[to]!, next[from]!];
  return next;
}

export const acceptsSuggestedVmid = (c: ConfigureDraft) => c.vmid !== '' && c.vmid === c.vmidSuggested;

/** The draft as the form contract's request (the password opened by the caller; the wizard asks for it once). */
export function draftRequest(draft: WizardDraft, password: string): CreationRequest {
  const c = draft.configure;
  return {
    template: draft.template ?? '',
    node: c.node,
    ostemplate: c.ostemplate,
    hostname: c.hostname,
    vmid: acceptsSuggestedVmid(c) ? '' : c.vmid,
    password,
    passwordConfirm: password,
    sshPublicKey: c.sshPublicKey,
    cores: c.cores,
    memory: c.memory,
    swap: c.swap,
    disk: c.disk,
    storage: c.storage,
    bridge: c.bridge,
    ip: c.ipMode === 'static' ? c.ip : 'dhcp',
    gateway: c.ipMode === 'static' ? c.gateway : '',
    nameserver: c.nameserver,
    unprivileged: c.unprivileged ? '1' : '0',
    nesting: c.nesting ? '1' : '0',
    onboot: c.onboot ? '1' : '0',
    destroyOnFailure: c.destroyOnFailure ? '1' : '0',
    tags: c.tags,
    packageGroups: draft.packageGroups,
    packageSets: draft.packageSets,
    extraPackages: draft.extraPackages,
    scripts: draft.scriptOrder.filter((name) => draft.scriptsEnabled.includes(name)),
    deployId: draft.deployId,
  };
}

/**
 * “Deploy again”: a draft holding what another container was deployed with — its template, node, OS template,
 * resources, network, packages and scripts — so a build that failed over one choice (a misspelt extra package, a
 * full storage) can be deployed again with that choice changed. Two things are not copied: the VMID (the node
 * proposes its next free one, since the other container may still hold it) and the root password (sealed for that
 * container alone; the Configure step asks for it). The draft starts on Configure with only the template step done,
 * so every later step's checks run again before Review.
 */
export function draftFromContainer(config: Partial<ContainerConfig>, nodeName: string, template: Template | null): WizardDraft {
  const draft = chooseTemplate(newDraft(), template);
  const templateScripts = draft.scriptOrder;
  const chosen = (config.scripts ?? []).filter((name) => templateScripts.includes(name));
  const ip = config.ip ?? 'dhcp';
  const text = (value: string | number | null | undefined, fallback: string) => (value === undefined || value === null ? fallback : clip(String(value)));
  return {
    ...draft,
    configure: {
      ...draft.configure,
      node: clip(nodeName),
      ostemplate: text(config.ostemplate, ''),
      hostname: text(config.hostname, draft.configure.hostname),
      sshPublicKey: text(config.sshPublicKey, ''),
      cores: text(config.cores, draft.configure.cores),
      memory: text(config.memory, draft.configure.memory),
      swap: text(config.swap, draft.configure.swap),
      disk: text(config.disk, draft.configure.disk),
      storage: text(config.storage, ''),
      bridge: text(config.bridge, draft.configure.bridge),
      ipMode: ip === 'dhcp' ? 'dhcp' : 'static',
      ip: ip === 'dhcp' ? '' : clip(ip),
      gateway: text(config.gateway, ''),
      nameserver: text(config.nameserver, ''),
      unprivileged: config.unprivileged ?? draft.configure.unprivileged,
      nesting: config.nesting ?? draft.configure.nesting,
      onboot: config.onboot ?? false,
      tags: config.tags ? clip(config.tags.join('; ')) : draft.configure.tags,
      destroyOnFailure: config.destroyOnFailure ?? false,
    },
    packageGroups: config.packageGroups ? PACKAGE_MANAGERS.filter((m) => config.packageGroups!.includes(m)) : draft.packageGroups,
    packageSets: config.packageSets ? [...config.packageSets].slice(0, MAX_DRAFT_SETS) : draft.packageSets,
    extraPackages: clip((config.extraPackages ?? []).join(' ')),
    // The scripts that ran, in the order they ran, then the template's others (switched off).
    scriptOrder: [...chosen, ...templateScripts.filter((name) => !chosen.includes(name))],
    scriptsEnabled: config.scripts ? chosen : draft.scriptsEnabled,
  };
}
