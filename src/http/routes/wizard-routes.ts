// The creation wizard (one URL per step, the draft in the session) and POST /containers, which Deploy and scripts
// (README.md, section "Creating containers from scripts") both use. Mounted before containerRoutes so
// /containers/new is not read as a container id.
import { allow } from '../middleware/auth.ts';
import { Router, type Request, type Response } from 'express';
import type { Deps } from '../../deps.ts';
import { createContainer } from '../../domain/containers/create-container.ts';
import { FIELD_LABELS, requestFromBody, single } from '../../domain/wizard/creation-request.ts';
import { NodeProblemValidationError, NodeUnavailableError, resolveTemplate } from '../../domain/wizard/creation-validation.ts';
import { firstOpenStep, inProgress, newDraft, sameChoices, stepUrl, WIZARD_STEPS, type WizardDraft, type WizardStep } from '../../domain/wizard/wizard-draft.ts';
import * as wizard from '../../domain/wizard/wizard-views.ts';
import { isReviewDeploy, saveStep, staleDeploy, startFromContainer } from '../../domain/wizard/wizard-saves.ts';
import { ValidationError } from '../../lib/errors.ts';
import { flash, saveSession } from '../middleware/session.ts';
import { recordAudit } from '../../domain/access/audit.ts';
import { containerLinks } from '../../domain/containers/container-json.ts';
import { isHtmx, renderFragment, renderPage, wantsJson } from '../render.ts';

declare module 'express-session' {
  interface SessionData {
    /** The wizard's draft: a reload, Back or a second tab resume it; Deploy and "Start over" clear it. */
    wizardDraft?: WizardDraft;
    /** Why Deploy was refused, shown once by the Review step it redirects to (so the address bar names that page). */
    deployRefusal?: { deployId: string; errors: Record<string, string>; nodeProblem?: string };
  }
}

export type WizardRoutesDeps = Pick<Deps, 'repos' | 'secrets' | 'nodeLists' | 'queue' | 'logger'>;

const SECTION = '/containers';
const draftOf = (req: Request) => req.session.wizardDraft ?? newDraft();
const stepParam = (req: Request): WizardStep | undefined => {
  const step = String(req.params.step);
  return wizard.isWizardStep(step) ? step : undefined;
};

function renderStep(req: Request, res: Response, view: wizard.StepView, status = 200) {
  const label = WIZARD_STEPS.find((s) => s.key === view.step)!.label;
  // The flash goes inside #wizard, the part an htmx step swaps (the layout's own place is outside it).
  renderPage(req, res, 'pages/wizard/step', { title: `New container · ${label}`, section: SECTION, view, flashInside: true }, status);
}

/**
 * Where a created container is shown: a redirect, or for htmx a full page load (a 303 would be swapped in; an
 * HX-Location swap would keep the wizard's head, without the container page's log viewer).
 */
function showContainer(req: Request, res: Response, id: string) {
  if (wantsJson(req)) res.status(201).location(`/containers/${id}`).json({ id, ...containerLinks(id) });
  else if (isHtmx(req)) res.set('HX-Redirect', `/containers/${id}`).status(200).end();
  else res.redirect(303, `/containers/${id}`);
}

export function wizardRoutes(deps: WizardRoutesDeps): Router {
  const router = Router();

  // A template page's Deploy link names its template (?template=<id>): chosen as on the first step, then on to the next.
  // A container page's “Deploy again” names the container (?from=<id>): its settings, on the Configure step.
  // A GET is a link anyone can make, another site's too: it never replaces a draft in progress that would change —
  // the page asks first, and only its form (a POST with the session's CSRF token) starts over.
  const startFrom = async (req: Request, res: Response, from: string, ask: boolean) => {
    const outcome = await startFromContainer(deps, req.user!, from);
    if ('error' in outcome) {
      flash(req, 'error', outcome.error);
      return res.redirect(303, `/containers/${encodeURIComponent(from)}`);
    }
    const current = req.session.wizardDraft;
    if (ask && inProgress(current) && !sameChoices(current, outcome.draft)) {
      return askToStartOver(req, res, current, { from }, `the settings of ${outcome.hostname}`);
    }
    req.session.wizardDraft = outcome.draft;
    flash(req, 'info', `The settings of ${outcome.hostname} are filled in. The VMID and root password are not copied: choose them, check each step, then deploy.`);
    return res.redirect(303, stepUrl('configure'));
  };

  const startWithTemplate = async (req: Request, res: Response, template: string, ask: boolean) => {
    const current = req.session.wizardDraft;
    const resolved = await resolveTemplate(deps, template);
    const replaces = inProgress(current) && 'template' in resolved && current.template !== String(resolved.template?.id ?? '');
    if (replaces && ask) return askToStartOver(req, res, current, { template }, `template “${resolved.template?.name ?? ''}”`);
    // Confirmed, it starts over: a new draft, as the question said. Else the draft as it is — a template that does not
    // resolve changes nothing in it (the Template step says why).
    const outcome = await saveStep(deps, replaces ? newDraft() : draftOf(req), 'template', { template });
    req.session.wizardDraft = outcome.draft;
    if ('redirect' in outcome) return res.redirect(303, outcome.redirect);
    return renderStep(req, res, outcome.view, outcome.status);
  };

  async function askToStartOver(req: Request, res: Response, draft: WizardDraft, start: { from: string } | { template: string }, what: string) {
    const resolved = await wizard.draftTemplate(deps, draft);
    const templateName = 'template' in resolved ? resolved.template?.name ?? null : null;
    const draftName = draft.configure.hostname || (templateName ? `a container from “${templateName}”` : 'a container from scratch');
    renderPage(req, res, 'pages/wizard/start-over', { title: 'New container · Start over?', section: SECTION, what, draftName, start, resume: stepUrl(firstOpenStep(draft)) });
  }

  router.get('/containers/new', allow.operators, async (req, res) => {
    if (typeof req.query.from === 'string' && req.query.from !== '') return startFrom(req, res, req.query.from, true);
    if (typeof req.query.template === 'string' && req.query.template !== '') return startWithTemplate(req, res, req.query.template, true);
    res.redirect(303, stepUrl(firstOpenStep(draftOf(req))));
  });

  // “Start over” confirmed on that page: replaces the draft in progress.
  router.post('/containers/new', allow.operators, async (req, res) => {
    const from = single(req.body?.from).trim();
    const template = single(req.body?.template).trim();
    if (from !== '') return startFrom(req, res, from, false);
    if (template !== '') return startWithTemplate(req, res, template, false);
    res.redirect(303, stepUrl(firstOpenStep(draftOf(req))));
  });

  router.post('/containers/new/reset', allow.operators, async (req, res) => {
    delete req.session.wizardDraft;
    flash(req, 'info', 'The draft was discarded. Start again by choosing a template.');
    res.redirect(303, '/containers/new');
  });

  // The node select's live refresh: the node-dependent fields (OS template, storage, VMID) for another node.
  router.get('/containers/new/configure/choices', allow.operators, async (req, res) => {
    const choices = await wizard.nodeChoicesFor(deps, draftOf(req), req.query);
    renderFragment(req, res, 'partials/wizard/node-choices', choices);
  });

  // The Hostname field's live check: does a guest on the cluster already have this name?
  router.get('/containers/new/configure/hostname', allow.operators, async (req, res) => {
    const warning = await wizard.hostnameWarningFor(deps, draftOf(req), req.query);
    renderFragment(req, res, 'partials/wizard/hostname-warning', { warning });
  });

  router.get('/containers/new/:step', allow.operators, async (req, res, next) => {
    const step = stepParam(req);
    if (!step) return next();
    const outcome = await wizard.showStep(deps, draftOf(req), step);
    req.session.wizardDraft = outcome.draft;
    if ('redirect' in outcome) return res.redirect(303, outcome.redirect);
    const refusal = req.session.deployRefusal;
    delete req.session.deployRefusal;
    if (step === 'review' && refusal?.deployId === outcome.draft.deployId) {
      return renderStep(req, res, await wizard.reviewWithErrors(deps, outcome.draft, refusal.errors, refusal.nodeProblem));
    }
    renderStep(req, res, outcome.view);
  });

  router.post('/containers/new/:step', allow.operators, async (req, res, next) => {
    const step = stepParam(req);
    if (!step || step === 'review') return next();
    const outcome = await saveStep(deps, draftOf(req), step, req.body ?? {});
    req.session.wizardDraft = outcome.draft;
    if ('redirect' in outcome) return res.redirect(303, outcome.redirect);
    renderStep(req, res, outcome.view, outcome.status);
  });

  // Deploy (the Review page posts its deploy id; the draft holds the rest) or a script's complete form.
  router.post('/containers', allow.operators, async (req, res) => {
    const draft = req.session.wizardDraft;
    const fromWizard = draft !== undefined && single(req.body?.deploy_id).trim() === draft.deployId;
    if (!fromWizard && !wantsJson(req) && isReviewDeploy(req.body)) {
      const stale = await staleDeploy(deps, req.user!, single(req.body.deploy_id).trim(), draft);
      if ('containerId' in stale) return showContainer(req, res, stale.containerId);
      flash(req, 'info', stale.message);
      return res.redirect(303, stale.redirect);
    }
    const request = fromWizard ? wizard.requestOfDraft(deps, draft) : requestFromBody(req.body);
    try {
      const { containerId } = await createContainer(deps, req.user!, request);
      await recordAudit(deps, req, { action: 'container.deploy', containerId, target: request.hostname, details: { template: request.template, node: request.node, via: req.apiTokenId !== undefined ? 'token' : 'session' } });
      if (fromWizard) {
        delete req.session.wizardDraft;
        await saveSession(req);
      }
      showContainer(req, res, containerId);
    } catch (err) {
      // 422: something in the request is wrong; 503: only the node's silence is (its problem is then the summary).
      if (!(err instanceof ValidationError) && !(err instanceof NodeUnavailableError)) throw err;
      await recordAudit(deps, req, { action: 'container.deploy', outcome: 'failure', target: request.hostname, details: { template: request.template, node: request.node, status: err.status, fields: Object.keys(err.fields ?? {}) } });
      const nodeProblem = err instanceof NodeUnavailableError || err instanceof NodeProblemValidationError ? err.nodeProblem : undefined;
      if (fromWizard) {
        // Redirect-after-POST: the Review step shows the messages at its own URL, so a reload stays on it.
        req.session.deployRefusal = { deployId: draft.deployId, errors: err.fields, nodeProblem };
        return res.redirect(303, stepUrl('review'));
      }
      if (wantsJson(req)) return res.status(err.status).json({ error: err.message, fields: err.fields });
      const page = { title: 'Container not created', section: SECTION, nodeProblem, errors: err.fields, labels: FIELD_LABELS };
      renderPage(req, res, 'pages/wizard/rejected', page, err.status);
    }
  });

  return router;
}
