import { Router, type Request, type Response } from 'express';
import type { PackageSetsRepository } from '../../db/package-sets-repository.ts';
import type { TemplatesRepository } from '../../db/templates-repository.ts';
import * as catalogue from '../../domain/templates/catalogue.ts';
import { emptyForm, formFromBody, formFromTemplate, type TemplateForm } from '../../domain/templates/template-form.ts';
import { PACKAGE_MANAGERS } from '../../domain/templates/template.ts';
import { ConflictError, ValidationError } from '../../lib/errors.ts';
import type { Logger } from '../../logger.ts';
import { flash } from '../middleware/session.ts';
import { auditTarget } from '../middleware/audit-writes.ts';
import { allow } from '../middleware/auth.ts';
import type { TemplateTestsRepository } from '../../db/template-tests-repository.ts';
import { findTemplateTest, requestTemplateTest } from '../../domain/templates/template-test.ts';
import type { Redis } from '../../lib/redis.ts';
import type { Queue } from 'bullmq';
import type { TemplateTestFragments } from '../template-test-fragments.ts';
import { streamTemplateTest } from '../template-test-stream.ts';
import { credentialsEnd, holderOf, watchStream } from '../stream-access.ts';
import type { AccessChanges } from '../../domain/access/access-changes.ts';
import { renderFragment, renderPage } from '../render.ts';

export interface TemplateRoutesDeps {
  templates: TemplatesRepository;
  packageSets: PackageSetsRepository;
  templateTests: TemplateTestsRepository;
  queue: Queue;
  redis: Redis;
  testFragments: TemplateTestFragments;
  templatesDir: string;
  /** SSE_HEARTBEAT_MS: the run page's stream and its watchdog (public/js/live-progress.js) go by the same interval. */
  heartbeatMs: number;
  /** A run's stream closes when its admin loses access (demoted, disabled). */
  access: Pick<AccessChanges, 'watch'>;
  logger: Logger;
}

const SECTION = '/templates';
const param = (req: Request) => String(req.params.id);

async function renderForm(deps: TemplateRoutesDeps, req: Request, res: Response, view: { form: TemplateForm; templateId?: number; errors?: Record<string, string> }, status = 200) {
  const editing = view.templateId !== undefined;
  const setNames = await deps.packageSets.names();
  renderPage(req, res, 'pages/templates/form', {
    title: editing ? `Edit ${view.form.name}` : 'New template',
    section: SECTION,
    action: editing ? `/templates/${view.templateId}` : '/templates',
    templateId: view.templateId,
    form: view.form,
    errors: view.errors ?? {},
    managers: PACKAGE_MANAGERS,
    // Every set there is, plus any the form names that does not exist (shown as missing, so it can be unticked).
    setChoices: [...setNames, ...view.form.packageSets.filter((n) => !setNames.includes(n))].map((name) => ({
      name, checked: view.form.packageSets.includes(name), missing: !setNames.includes(name),
    })),
  }, status);
}

/** Saves the posted form, or shows it again: with another empty row when asked for one, with messages when invalid. */
async function saveForm(deps: TemplateRoutesDeps, req: Request, res: Response, templateId?: number) {
  const { form, action } = formFromBody(req.body);
  auditTarget(res, form.name);
  if (action !== 'save') return renderForm(deps, req, res, { form, templateId });
  try {
    const id = await catalogue.saveCustomTemplate(deps.templates, form, templateId, await deps.packageSets.names());
    flash(req, 'success', `Template “${form.name}” saved.`);
    res.redirect(303, `/templates/${id}`);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    await renderForm(deps, req, res, { form, templateId, errors: err.fields }, 422);
  }
}

/** A run's page shows at most this many lines (a template test prints a few hundred). */
const LINES_IN_PAGE = 5000;

export function templateRoutes(deps: TemplateRoutesDeps): Router {
  const router = Router();
  const testDeps = { repos: { templates: deps.templates, templateTests: deps.templateTests }, queue: deps.queue };

  router.get('/templates', allow.readers, async (req, res) => {
    const result = await catalogue.searchCatalogue(deps.templates, req.query);
    res.vary('HX-Target');
    // The search box swaps only the results; history restores and plain requests get the whole page.
    if (req.headers['hx-target'] === 'template-results') return renderFragment(req, res, 'partials/template-list', result);
    renderPage(req, res, 'pages/templates/index', { title: 'Templates', section: SECTION, ...result });
  });

  router.post('/templates/rescan', allow.admins, async (req, res) => {
    auditTarget(res, deps.templatesDir);
    const { loaded, broken, removed } = await catalogue.syncCatalogue(deps.templates, deps.templatesDir, req.log ?? deps.logger);
    const parts = [`${loaded.length} loaded`, `${broken.length} broken`, `${removed.length} removed`];
    flash(req, broken.length ? 'error' : 'success', `Rescanned ${deps.templatesDir}: ${parts.join(', ')}.`);
    res.redirect(303, '/templates');
  });

  router.get('/templates/new', allow.admins, async (req, res) => {
    const from = typeof req.query.from === 'string' && req.query.from ? await catalogue.getTemplate(deps.templates, req.query.from) : undefined;
    const form = from ? { ...formFromTemplate(from), name: `${from.name}-copy`.slice(0, 64) } : emptyForm();
    await renderForm(deps, req, res, { form });
  });

  router.post('/templates', allow.admins, (req, res) => saveForm(deps, req, res));

  router.get('/templates/:id', allow.readers, async (req, res) => {
    const template = await catalogue.getTemplate(deps.templates, param(req));
    const sets = await deps.packageSets.findByNames(template.packageSets);
    const packageSets = template.packageSets.map((name) => ({ name, set: sets.find((s) => s.name === name) }));
    const tests = await deps.templateTests.recent(template.id);
    renderPage(req, res, 'pages/templates/show', { title: template.name, section: SECTION, template, packageSets, managers: PACKAGE_MANAGERS, tests });
  });

  // "Test in the simulator": admins only — a run takes a worker for a minute and builds a real root filesystem.
  router.post('/templates/:id/test', allow.admins, async (req, res) => {
    try {
      const run = await requestTemplateTest(testDeps, req.user!.id, param(req));
      auditTarget(res, run.templateName);
      res.redirect(303, `/templates/${run.templateId}/tests/${run.id}`);
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      flash(req, 'error', err.message);
      res.redirect(303, `/templates/${param(req)}`);
    }
  });

  router.get('/templates/:id/tests/:run', allow.admins, async (req, res) => {
    const run = await findTemplateTest(testDeps, param(req), String(req.params.run));
    const lines = await deps.templateTests.linesAfter(run.id, 0, LINES_IN_PAGE);
    renderPage(req, res, 'pages/templates/test-run', {
      title: `Test of ${run.templateName}`, section: SECTION, run,
      report: deps.testFragments.report(run), lines: deps.testFragments.lines(lines), lastLine: lines.at(-1)?.lineNo ?? 0,
      heartbeatMs: deps.heartbeatMs,
    });
  });

  router.get('/templates/:id/tests/:run/events', allow.admins, async (req, res) => {
    const run = await findTemplateTest(testDeps, param(req), String(req.params.run));
    if (!watchStream(deps.access, res, holderOf(req), req.accessCheckedAfter ?? 0, credentialsEnd(req))) return;
    const after = Number(req.get('Last-Event-ID') ?? req.query.after ?? 0);
    await streamTemplateTest(req, res, { templateTests: deps.templateTests, redis: deps.redis, fragments: deps.testFragments }, run, {
      after: Number.isSafeInteger(after) && after >= 0 ? after : 0,
      heartbeatMs: deps.heartbeatMs,
    });
  });

  router.get('/templates/:id/edit', allow.admins, async (req, res) => {
    const template = await catalogue.editableTemplate(deps.templates, param(req));
    await renderForm(deps, req, res, { form: formFromTemplate(template), templateId: template.id });
  });

  router.post('/templates/:id', allow.admins, async (req, res) => {
    const template = await catalogue.editableTemplate(deps.templates, param(req));
    await saveForm(deps, req, res, template.id);
  });

  router.get('/templates/:id/delete', allow.admins, async (req, res) => {
    const { template, references } = await catalogue.deletionCheck(deps.templates, param(req));
    renderPage(req, res, 'pages/templates/delete', { title: `Delete ${template.name}`, section: SECTION, template, references, error: undefined });
  });

  router.post('/templates/:id/delete', allow.admins, async (req, res) => {
    try {
      const template = await catalogue.deleteTemplate(deps.templates, param(req));
      auditTarget(res, template.name);
      flash(req, 'success', `Template “${template.name}” deleted.`);
      res.redirect(303, '/templates');
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      const { template, references } = await catalogue.deletionCheck(deps.templates, param(req));
      auditTarget(res, template.name);
      renderPage(req, res, 'pages/templates/delete', { title: `Delete ${template.name}`, section: SECTION, template, references, error: err.message }, 409);
    }
  });

  return router;
}
