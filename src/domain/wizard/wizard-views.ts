// The wizard's steps, shown: what each one displays (a view model for its Eta page), read from the draft and the
// node. Posting a step is wizard-saves.ts.
import type { TemplateSummary, Template } from '../templates/template.ts';
import { PACKAGE_MANAGERS, formatPackageSpec, type PackageManager } from '../templates/template.ts';
import { FIELD_LABELS, FIELD_STEP, single, type CreationRequest } from './creation-request.ts';
import { specsByManager } from '../package-sets/package-set.ts';
import { checkPackages, defaultBridge, resolveTemplate, templateDefaults, type FieldErrors, type PackageResolution } from './creation-validation.ts';
import { checkHostname, matchOsTemplate, volidFile } from './field-rules.ts';
import { hostnameInUse, hostnameWarningOn, loadNodeChoices, type NodeChoices, type WizardDeps } from './node-choices.ts';
import { acceptsSuggestedVmid, canOpen, draftRequest, firstOpenStep, markStep, stepper, stepUrl, WIZARD_STEPS, type ConfigureDraft, type StepperItem, type WizardDraft, type WizardStep } from './wizard-draft.ts';
import { draftPasswordAad } from '../sealed-secrets.ts';

interface BaseView {
  step: WizardStep;
  stepper: StepperItem[];
  errors: FieldErrors;
  /** The template's name, or null from scratch. */
  templateName: string | null;
}

export interface TemplateStepView extends BaseView {
  step: 'template';
  templates: TemplateSummary[];
  /** The chosen template id as text, '' = from scratch, null = none yet. */
  selected: string | null;
}

export interface ConfigureStepView extends BaseView {
  step: 'configure';
  form: ConfigureDraft;
  passwordSet: boolean;
  choices: NodeChoices;
  templateOs: string;
  /** The hostname is already a guest's name on the cluster: a question, not an error. */
  hostnameWarning: string | undefined;
}

export interface PackagesStepView extends BaseView {
  step: 'packages';
  groups: Array<{ manager: PackageManager; packages: string[]; checked: boolean }>;
  /** The template's sets first (each switchable), then the others that can be added. */
  sets: PackageSetChoice[];
  extraPackages: string;
}

export interface PackageSetChoice {
  name: string;
  description: string;
  packages: Array<{ manager: PackageManager; packages: string[] }>;
  fromTemplate: boolean;
  checked: boolean;
  /** Named (by the template or the draft) but no such set exists. */
  missing: boolean;
}

export interface ScriptsStepView extends BaseView {
  step: 'scripts';
  scripts: Array<{ name: string; enabled: boolean; content: string; lines: number }>;
}

export interface ReviewStepView extends BaseView {
  step: 'review';
  deployId: string;
  summary: ReviewSummary;
  /** Messages from a refused Deploy, each with the step where it is fixed. */
  problems: Array<{ field: string; label: string; message: string; url: string }>;
  /** Why a refused Deploy could not ask the node: shown before the field messages it explains. */
  nodeProblem: string | undefined;
  hostnameWarning: string | undefined;
}

export type StepView = TemplateStepView | ConfigureStepView | PackagesStepView | ScriptsStepView | ReviewStepView;

export type StepOutcome = { draft: WizardDraft; redirect: string } | { draft: WizardDraft; status: 422; view: StepView };

export const isWizardStep = (value: string): value is WizardStep => WIZARD_STEPS.some((s) => s.key === value);

/** The draft's template; a template deleted since it was chosen sends the person back to choose again. */
export async function draftTemplate(deps: WizardDeps, draft: WizardDraft): Promise<{ template: Template | null } | { error: string }> {
  if (draft.template === null) return { error: 'Choose a template, or start from scratch.' };
  return resolveTemplate(deps, draft.template);
}

export function openPassword(deps: WizardDeps, draft: WizardDraft): string {
  if (!draft.passwordEnc) return '';
  try {
    return deps.secrets.open(draft.passwordEnc, draftPasswordAad(draft.deployId));
  } catch {
    // Sealed under an earlier ENCRYPTION_KEY: ask for it again.
    return '';
  }
}

/** A draft's request with its password opened: what Deploy validates and submits. */
export const requestOfDraft = (deps: WizardDeps, draft: WizardDraft): CreationRequest => draftRequest(draft, openPassword(deps, draft));

/** The Configure form with what the node offers filled in: its OS template for the template's OS, a disk storage, a bridge, the next VMID. */
function preselect(form: ConfigureDraft, choices: NodeChoices, os: string): ConfigureDraft {
  const volids = choices.osTemplates;
  const storages = choices.storages.map((s) => s.storage);
  const bridges = choices.bridges.map((b) => b.iface);
  return {
    ...form,
    node: choices.node?.name ?? form.node,
    ostemplate: volids.length && !volids.includes(form.ostemplate) ? (matchOsTemplate(volids, os) ?? volids[0]!) : form.ostemplate,
    storage: storages.length && !storages.includes(form.storage) ? storages[0]! : form.storage,
    bridge: bridges.length && !bridges.includes(form.bridge) ? defaultBridge(choices.bridges) : form.bridge,
    ...(choices.nextId !== undefined && (form.vmid === '' || acceptsSuggestedVmid(form))
      ? { vmid: String(choices.nextId), vmidSuggested: String(choices.nextId) }
      : {}),
  };
}

export function configureView(draft: WizardDraft, template: Template | null, form: ConfigureDraft, choices: NodeChoices, errors: FieldErrors): ConfigureStepView {
  const os = templateDefaults(template).os;
  return {
    hostnameWarning: errors.hostname ? undefined : hostnameInUse(choices.guests, form.hostname),
    step: 'configure',
    stepper: stepper(draft, 'configure'),
    errors,
    templateName: template?.name ?? null,
    form: preselect(form, choices, os),
    passwordSet: draft.passwordEnc !== null,
    choices,
    templateOs: os,
  };
}

export async function packagesView(deps: WizardDeps, draft: WizardDraft, template: Template | null, errors: FieldErrors): Promise<PackagesStepView> {
  const fromTemplate = template?.packageSets ?? [];
  const chosen = draft.packageSets ?? fromTemplate;
  const names = [...new Set([...fromTemplate, ...chosen, ...(await deps.repos.packageSets.names())])];
  const sets = await deps.repos.packageSets.findByNames(names);
  return {
    step: 'packages',
    stepper: stepper(draft, 'packages'),
    errors,
    templateName: template?.name ?? null,
    groups: PACKAGE_MANAGERS.map((manager) => ({
      manager,
      packages: (template?.packages ?? []).filter((p) => p.manager === manager).map(formatPackageSpec),
      checked: draft.packageGroups.includes(manager),
    })).filter((g) => g.packages.length > 0),
    sets: names.map((name) => {
      const set = sets.find((s) => s.name === name);
      return {
        name,
        description: set?.description ?? '',
        packages: specsByManager(set?.packages ?? []),
        fromTemplate: fromTemplate.includes(name),
        checked: chosen.includes(name),
        missing: !set,
      };
    }),
    extraPackages: draft.extraPackages,
  };
}

export function scriptsView(draft: WizardDraft, template: Template | null, errors: FieldErrors): ScriptsStepView {
  const byName = new Map(template?.scripts.map((s) => [s.name, s]));
  return {
    step: 'scripts',
    stepper: stepper(draft, 'scripts'),
    errors,
    templateName: template?.name ?? null,
    scripts: draft.scriptOrder.map((name) => {
      const content = byName.get(name)?.content ?? '';
      return { name, enabled: draft.scriptsEnabled.includes(name), content, lines: content.split('\n').filter(Boolean).length };
    }),
  };
}

export interface ReviewSummary {
  template: string;
  node: string;
  ostemplate: string;
  hostname: string;
  vmid: string;
  resources: { cores: string; memory: string; swap: string; disk: string; storage: string };
  network: { bridge: string; ip: string; gateway: string; nameserver: string };
  unprivileged: boolean;
  nesting: boolean;
  onboot: boolean;
  tags: string[];
  passwordSet: boolean;
  sshKeys: number;
  destroyOnFailure: boolean;
  /** What will be installed, per manager, each package once (groups, sets and extra packages resolved). */
  packages: Array<{ manager: PackageManager; packages: string[] }>;
  /** Where they come from: the template, each set, the extra packages (those that contribute). */
  packageSources: string[];
  scripts: string[];
  skippedScripts: string[];
}

function reviewView(draft: WizardDraft, template: Template | null, resolution: PackageResolution | undefined, errors: FieldErrors, nodeProblem?: string): ReviewStepView {
  const c = draft.configure;
  const request = draftRequest(draft, '');
  const summary: ReviewSummary = {
    template: template?.name ?? 'From scratch',
    node: c.node,
    ostemplate: c.ostemplate ? volidFile(c.ostemplate) : `the node’s ${templateDefaults(template).os} template`,
    hostname: c.hostname,
    vmid: c.vmid === '' ? 'the next free one' : acceptsSuggestedVmid(c) ? `the next free one (now ${c.vmid})` : c.vmid,
    resources: { cores: c.cores, memory: c.memory, swap: c.swap, disk: c.disk, storage: c.storage },
    network: { bridge: c.bridge, ip: request.ip === 'dhcp' ? 'DHCP' : request.ip, gateway: request.gateway, nameserver: c.nameserver },
    unprivileged: c.unprivileged,
    nesting: c.nesting,
    onboot: c.onboot,
    tags: c.tags.split(/[;,\s]+/).filter(Boolean),
    passwordSet: draft.passwordEnc !== null,
    sshKeys: c.sshPublicKey.split('\n').filter((l) => l.trim()).length,
    destroyOnFailure: c.destroyOnFailure,
    packages: specsByManager(resolution?.packages ?? []),
    packageSources: (resolution?.sources ?? []).filter((s) => s.packages.length > 0).map((s) => s.label),
    scripts: request.scripts ?? [],
    skippedScripts: draft.scriptOrder.filter((name) => !draft.scriptsEnabled.includes(name)),
  };
  const problems = Object.entries(errors).map(([field, message]) => ({
    field,
    label: FIELD_LABELS[field] ?? field,
    message,
    url: stepUrl(FIELD_STEP[field] ?? 'configure'),
  }));
  return {
    step: 'review', stepper: stepper(draft, 'review'), errors, templateName: template?.name ?? null, deployId: draft.deployId, summary, problems, nodeProblem,
    hostnameWarning: draft.hostnameWarning,
  };
}

/** A step's page, or where to go instead (a step whose earlier steps are not done yet, a template that is gone). */
export async function showStep(deps: WizardDeps, draft: WizardDraft, step: WizardStep): Promise<{ draft: WizardDraft; redirect: string } | { draft: WizardDraft; view: StepView }> {
  if (step === 'template') {
    const resolved = draft.template === null ? undefined : await draftTemplate(deps, draft);
    const errors: FieldErrors = resolved && 'error' in resolved ? { template: resolved.error } : {};
    return { draft, view: { step, stepper: stepper(draft, step), errors, templateName: null, templates: await deps.repos.templates.list(), selected: draft.template } };
  }
  const resolved = await draftTemplate(deps, draft);
  if ('error' in resolved) {
    const reopened = markStep(draft, 'template', false);
    return { draft: reopened, redirect: stepUrl('template') };
  }
  if (!canOpen(draft, step)) return { draft, redirect: stepUrl(firstOpenStep(draft)) };
  const { template } = resolved;
  switch (step) {
    case 'configure': {
      const choices = await loadNodeChoices(deps, draft.configure.node, { guests: true });
      return { draft, view: configureView(draft, template, draft.configure, choices, {}) };
    }
    case 'packages':
      return { draft, view: await packagesView(deps, draft, template, {}) };
    case 'scripts':
      return { draft, view: scriptsView(draft, template, {}) };
    case 'review': {
      // A set deleted or changed since the Packages step: back there, where Continue says what is wrong.
      const { errors, resolution } = await checkPackages(deps, draftRequest(draft, ''), template);
      if (Object.keys(errors).length) return { draft: markStep(draft, 'packages', false), redirect: stepUrl('packages') };
      return { draft, view: reviewView(draft, template, resolution, {}) };
    }
  }
}

/** The Review page again, with the messages of a refused Deploy (and first the node's problem, when it had one). */
export async function reviewWithErrors(deps: WizardDeps, draft: WizardDraft, errors: FieldErrors, nodeProblem?: string): Promise<ReviewStepView> {
  const resolved = await draftTemplate(deps, draft);
  const template = 'template' in resolved ? resolved.template : null;
  const { resolution } = await checkPackages(deps, draftRequest(draft, ''), template);
  return reviewView(draft, template, resolution, errors, nodeProblem);
}

/** The node-dependent part of Configure for another node (the node select's live refresh). */
export async function nodeChoicesFor(deps: WizardDeps, draft: WizardDraft, query: Record<string, unknown>) {
  const resolved = draft.template === null ? undefined : await draftTemplate(deps, draft);
  const template = resolved && 'template' in resolved ? resolved.template : null;
  const form: ConfigureDraft = {
    ...draft.configure,
    node: single(query.node).trim(),
    ostemplate: single(query.ostemplate).trim(),
    storage: single(query.storage).trim(),
    bridge: single(query.bridge).trim(),
    vmid: single(query.vmid).trim(),
    vmidSuggested: single(query.vmid_suggested).trim(),
  };
  const choices = await loadNodeChoices(deps, form.node);
  return { form: preselect(form, choices, templateDefaults(template).os), choices, errors: {} };
}

/** The live check beside the Hostname field: the question about a name a guest already has, or nothing. */
export async function hostnameWarningFor(deps: WizardDeps, draft: WizardDraft, query: Record<string, unknown>): Promise<string | undefined> {
  const hostname = single(query.hostname).trim();
  if (checkHostname(hostname)) return undefined;
  return hostnameWarningOn(deps, single(query.node).trim() || draft.configure.node, hostname);
}

