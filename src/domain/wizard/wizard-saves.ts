// The wizard's steps, posted: what each post does to the draft. Every post saves what was typed first — Back and
// the stepper never lose input — and only "Continue" insists on valid input, using the same checks Deploy runs again
// (creation-validation.ts); a rejected step is shown again through wizard-views.ts.
import type { Template } from '../templates/template.ts';
import { single } from './creation-request.ts';
import { checkConfigure, checkPackages, checkScripts, resolveTemplate } from './creation-validation.ts';
import type { ContainerConfig } from '../containers/container-config.ts';
import type { Viewer } from '../containers/container.ts';
import { findVisibleContainer } from '../containers/container-page.ts';
import { checkPassword } from './field-rules.ts';
import { type WizardDeps } from './node-choices.ts';
import { canOpen, chooseTemplate, configureFromBody, draftFromContainer, draftRequest, firstOpenStep, markStep, moveScript, newDraft, nextStep, packagesFromBody, previousStep, scriptsFromBody, stepper, stepUrl, type WizardDraft, type WizardStep } from './wizard-draft.ts';
import { draftPasswordAad } from '../sealed-secrets.ts';

import { configureView, draftTemplate, isWizardStep, openPassword, packagesView, scriptsView, type StepOutcome, type TemplateStepView } from './wizard-views.ts';

type Nav = { kind: 'next' } | { kind: 'back' } | { kind: 'goto'; step: WizardStep } | { kind: 'stay' };

/** What the pressed button asked for: Continue (the default, also for Enter), Back, a stepper entry, or to stay. */
function navOf(body: Record<string, unknown>): Nav {
  const nav = single(body.nav);
  if (nav === 'back') return { kind: 'back' };
  if (nav === 'refresh' || single(body.move)) return { kind: 'stay' };
  const goto = /^goto:(.+)$/.exec(nav)?.[1];
  if (goto && isWizardStep(goto)) return { kind: 'goto', step: goto };
  return { kind: 'next' };
}

/** Where a navigation that does not need valid input leads; a step that cannot be opened yet yields the first open one. */
function target(draft: WizardDraft, step: WizardStep, nav: Nav): string {
  const wanted = nav.kind === 'back' ? previousStep(step) : nav.kind === 'goto' ? nav.step : step;
  return stepUrl(canOpen(draft, wanted) ? wanted : firstOpenStep(draft));
}

/** A step saved without validation stays done only if nothing in it changed. */
const saveUnchecked = (before: WizardDraft, after: WizardDraft, step: WizardStep, changed: boolean) =>
  changed && before.completed.includes(step) ? markStep(after, step, false) : after;

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export async function saveStep(deps: WizardDeps, draft: WizardDraft, step: WizardStep, body: Record<string, unknown>): Promise<StepOutcome> {
  const nav = navOf(body);
  if (step === 'template') return saveTemplateStep(deps, draft, body, nav);
  const resolved = await draftTemplate(deps, draft);
  if ('error' in resolved) return { draft: markStep(draft, 'template', false), redirect: stepUrl('template') };
  if (!canOpen(draft, step)) return { draft, redirect: stepUrl(firstOpenStep(draft)) };
  const { template } = resolved;
  if (step === 'configure') return saveConfigureStep(deps, draft, template, body, nav);
  if (step === 'packages') return savePackagesStep(deps, draft, template, body, nav);
  if (step === 'scripts') return saveScriptsStep(draft, template, body, nav);
  return { draft, redirect: target(draft, step, nav) };
}

async function saveTemplateStep(deps: WizardDeps, draft: WizardDraft, body: Record<string, unknown>, nav: Nav): Promise<StepOutcome> {
  const chosen = body.template === undefined ? undefined : single(body.template).trim();
  const resolved = chosen === undefined ? undefined : await resolveTemplate(deps, chosen);
  const saved = resolved && 'template' in resolved ? chooseTemplate(draft, resolved.template) : draft;
  if (nav.kind !== 'next') return { draft: saved, redirect: target(saved, 'template', nav) };
  if (!resolved || 'error' in resolved) {
    const errors = { template: resolved && 'error' in resolved ? resolved.error : 'Choose a template, or start from scratch.' };
    const view: TemplateStepView = {
      step: 'template', stepper: stepper(saved, 'template'), errors, templateName: null, templates: await deps.repos.templates.list(), selected: chosen ?? null,
    };
    return { draft: saved, status: 422, view };
  }
  return { draft: saved, redirect: stepUrl('configure') };
}

async function saveConfigureStep(deps: WizardDeps, draft: WizardDraft, template: Template | null, body: Record<string, unknown>, nav: Nav): Promise<StepOutcome> {
  const form = configureFromBody(body);
  const typed = { password: single(body.password), confirm: single(body.password_confirm) };
  const newPassword = typed.password !== '' || typed.confirm !== '';
  // A valid new password is sealed right away, so a rejected form need not ask for it again.
  const passwordOk = newPassword && Object.keys(checkPassword(typed.password, typed.confirm)).length === 0;
  const passwordEnc = passwordOk ? deps.secrets.seal(typed.password, draftPasswordAad(draft.deployId)) : draft.passwordEnc;
  const saved: WizardDraft = { ...draft, configure: form, passwordEnc };
  if (nav.kind !== 'next') {
    const after = saveUnchecked(draft, saved, 'configure', !same(form, draft.configure) || newPassword);
    return { draft: after, redirect: target(after, 'configure', nav) };
  }

  const request = newPassword
    ? { ...draftRequest(saved, typed.password), passwordConfirm: typed.confirm }
    : draftRequest(saved, openPassword(deps, saved));
  const { errors, choices, hostnameWarning } = await checkConfigure(deps, request, template, { warnHostname: true });
  if (form.ipMode === 'static' && !form.ip) errors.ip = 'Type the static address with its prefix length, e.g. 192.168.1.50/24, or choose DHCP.';
  if (Object.keys(errors).length) {
    const rejected = markStep(saved, 'configure', false);
    return { draft: rejected, status: 422, view: configureView(rejected, template, form, choices, errors) };
  }
  return { draft: markStep({ ...saved, hostnameWarning }, 'configure', true), redirect: stepUrl(nextStep('configure')) };
}

async function savePackagesStep(deps: WizardDeps, draft: WizardDraft, template: Template | null, body: Record<string, unknown>, nav: Nav): Promise<StepOutcome> {
  const packages = packagesFromBody(body);
  const saved: WizardDraft = { ...draft, ...packages };
  if (nav.kind !== 'next') {
    const before = { packageGroups: draft.packageGroups, packageSets: draft.packageSets, extraPackages: draft.extraPackages };
    const after = saveUnchecked(draft, saved, 'packages', !same(packages, before));
    return { draft: after, redirect: target(after, 'packages', nav) };
  }
  const { errors } = await checkPackages(deps, draftRequest(saved, ''), template);
  if (Object.keys(errors).length) {
    const rejected = markStep(saved, 'packages', false);
    return { draft: rejected, status: 422, view: await packagesView(deps, rejected, template, errors) };
  }
  return { draft: markStep(saved, 'packages', true), redirect: stepUrl(nextStep('packages')) };
}

function saveScriptsStep(draft: WizardDraft, template: Template | null, body: Record<string, unknown>, nav: Nav): StepOutcome {
  const posted = scriptsFromBody(draft, body);
  const scriptOrder = moveScript(posted.scriptOrder, single(body.move));
  const saved: WizardDraft = { ...draft, scriptOrder, scriptsEnabled: scriptOrder.filter((name) => posted.scriptsEnabled.includes(name)) };
  if (nav.kind !== 'next') return { draft: saved, redirect: target(saved, 'scripts', nav) };
  const { errors } = checkScripts(draftRequest(saved, ''), template);
  if (Object.keys(errors).length) return { draft: saved, status: 422, view: scriptsView(saved, template, errors) };
  return { draft: markStep(saved, 'scripts', true), redirect: stepUrl(nextStep('scripts')) };
}

/**
 * “Deploy again” from a container's page: a new draft with that container's choices (draftFromContainer), which
 * replaces the draft in progress (the route asks first when there is one). The template must still be in the
 * catalogue and load — the new build runs what the catalogue holds now, as any Deploy does; a container of a node
 * removed since starts with no node chosen.
 */
export async function startFromContainer(deps: WizardDeps, viewer: Viewer, id: string): Promise<{ draft: WizardDraft; hostname: string } | { error: string }> {
  const container = await findVisibleContainer(deps.repos, viewer, id);
  const config = container.config as Partial<ContainerConfig>;
  if (!config.ostemplate) return { error: `${container.hostname} was not deployed through the wizard, so it has no settings to copy. Start a new container instead.` };
  let template: Template | null = null;
  if (config.templateName) {
    if (container.templateId === null) {
      return { error: `Template “${config.templateName}” is no longer in the catalogue, so ${container.hostname} cannot be deployed again as it was. Choose a template for a new container instead.` };
    }
    const resolved = await resolveTemplate(deps, String(container.templateId));
    if ('error' in resolved) return { error: resolved.error };
    template = resolved.template;
  }
  const node = container.nodeId === null ? undefined : await deps.repos.nodes.findById(container.nodeId);
  return { draft: draftFromContainer(config, node?.name ?? '', template), hostname: container.hostname };
}

/**
 * The Review page's Deploy form posts its deploy id and nothing else (a script's form names at least the hostname):
 * a post of that shape comes from a wizard page, whatever the session's draft is now.
 */
export function isReviewDeploy(body: Record<string, unknown> = {}): boolean {
  const fields = Object.keys(body).filter((key) => key !== '_csrf');
  return fields.length === 1 && fields[0] === 'deploy_id' && single(body.deploy_id).trim() !== '';
}

/**
 * Deploy pressed on a Review page whose draft is no longer the session's: another tab replaced it (“Deploy again…”,
 * Start over) or deployed it. Its container, if that draft was deployed; else the wizard where the draft now stands.
 */
export async function staleDeploy(deps: WizardDeps, viewer: Viewer, deployId: string, draft: WizardDraft | undefined): Promise<{ containerId: string } | { redirect: string; message: string }> {
  const deployed = await deps.repos.containers.findVisible(deployId, viewer);
  if (deployed) return { containerId: deployed.id };
  return {
    redirect: stepUrl(firstOpenStep(draft ?? newDraft())),
    message: 'Nothing was deployed: the draft on that page was replaced in another tab (or finished there). Check this draft and deploy again.',
  };
}
