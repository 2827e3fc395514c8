// Package sets: everyone signed in reads; admins create, rename, describe and delete sets and edit their packages.
import { Router, type Request, type Response } from 'express';
import type { PackageSetsRepository } from '../../db/package-sets-repository.ts';
import * as library from '../../domain/package-sets/package-set-library.ts';
import type { ImportPreview, PackageSet } from '../../domain/package-sets/package-set.ts';
import { PACKAGE_MANAGERS } from '../../domain/templates/template.ts';
import { ConflictError, ValidationError } from '../../lib/errors.ts';
import { auditTarget } from '../middleware/audit-writes.ts';
import { allow } from '../middleware/auth.ts';
import { flash } from '../middleware/session.ts';
import { renderPage } from '../render.ts';

export interface PackageSetRoutesDeps {
  packageSets: PackageSetsRepository;
}

const SECTION = '/package-sets';
const param = (req: Request) => String(req.params.id);
const setUrl = (set: { id: number }) => `/package-sets/${set.id}`;

interface ShowState {
  setForm?: library.SetForm;
  importForm?: library.ImportForm;
  preview?: ImportPreview;
  addForm?: Record<string, unknown>;
  errors?: Record<string, string>;
}

async function renderShow(deps: PackageSetRoutesDeps, req: Request, res: Response, set: PackageSet, state: ShowState = {}, status = 200) {
  renderPage(req, res, 'pages/package-sets/show', {
    title: set.name,
    section: SECTION,
    set,
    usedBy: await deps.packageSets.templatesUsing(set.name),
    managers: PACKAGE_MANAGERS,
    canEdit: req.user?.role === 'admin',
    setForm: state.setForm ?? { name: set.name, description: set.description },
    importForm: state.importForm ?? { manager: 'apt', lines: '' },
    addForm: state.addForm ?? {},
    preview: state.preview,
    errors: state.errors ?? {},
  }, status);
}

/** Runs a change; a ValidationError shows the set's page again with the messages and what was typed. */
async function change(deps: PackageSetRoutesDeps, req: Request, res: Response, work: () => Promise<string>, state: ShowState) {
  try {
    flash(req, 'success', await work());
    res.redirect(303, `/package-sets/${param(req)}`);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    const set = await library.getSet(deps.packageSets, param(req));
    await renderShow(deps, req, res, set, { ...state, errors: err.fields }, 422);
  }
}

export function packageSetRoutes(deps: PackageSetRoutesDeps): Router {
  const router = Router();
  const repo = deps.packageSets;

  router.get('/package-sets', allow.readers, async (req, res) => {
    renderPage(req, res, 'pages/package-sets/index', { title: 'Package sets', section: SECTION, sets: await repo.list(), canEdit: req.user?.role === 'admin', form: { name: '', description: '' }, errors: {} });
  });

  router.post('/package-sets', allow.admins, async (req, res) => {
    const form = library.setFormFromBody(req.body);
    auditTarget(res, form.name);
    try {
      const id = await library.createSet(repo, form);
      flash(req, 'success', `Package set “${form.name}” created. Add its packages below.`);
      res.redirect(303, `/package-sets/${id}`);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      renderPage(req, res, 'pages/package-sets/index', { title: 'Package sets', section: SECTION, sets: await repo.list(), canEdit: true, form, errors: err.fields }, 422);
    }
  });

  router.get('/package-sets/:id', allow.readers, async (req, res) => {
    await renderShow(deps, req, res, await library.getSet(repo, param(req)));
  });

  router.post('/package-sets/:id', allow.admins, async (req, res) => {
    const setForm = library.setFormFromBody(req.body);
    await change(deps, req, res, async () => {
      const { set, diskTemplates } = await library.updateSet(repo, param(req), setForm);
      auditTarget(res, set.name);
      const disk = diskTemplates.length ? ` Disk templates ${diskTemplates.join(', ')} still name the old one in their packages/*.sets files: update them before the next Rescan.` : '';
      return `Package set “${set.name}” saved.${disk}`;
    }, { setForm });
  });

  router.post('/package-sets/:id/packages', allow.admins, async (req, res) => {
    await change(deps, req, res, async () => `Added ${await library.addPackage(repo, param(req), req.body ?? {})}.`, { addForm: req.body ?? {} });
  });

  router.post('/package-sets/:id/packages/remove', allow.admins, async (req, res) => {
    const removed = await library.removePackage(repo, param(req), req.body ?? {});
    flash(req, 'success', `Removed ${removed}.`);
    res.redirect(303, `/package-sets/${param(req)}`);
  });

  // Bulk import: "Preview" shows what would happen; "Add" (offered on the preview) saves what it listed as new.
  router.post('/package-sets/:id/import', allow.admins, async (req, res) => {
    const importForm = library.importFormFromBody(req.body);
    if (req.body?._action !== 'save') {
      const { set, preview } = await library.previewSetImport(repo, param(req), importForm);
      auditTarget(res, set.name);
      return renderShow(deps, req, res, set, { importForm, preview });
    }
    const { set, added, skipped } = await library.importIntoSet(repo, param(req), importForm);
    auditTarget(res, set.name);
    flash(req, 'success', `Imported ${added} package${added === 1 ? '' : 's'} into “${set.name}”${skipped ? ` (${skipped} line${skipped === 1 ? '' : 's'} skipped as shown in the preview)` : ''}.`);
    res.redirect(303, setUrl(set));
  });

  router.get('/package-sets/:id/delete', allow.admins, async (req, res) => {
    const { set, usedBy } = await library.deletionCheck(repo, param(req));
    renderPage(req, res, 'pages/package-sets/delete', { title: `Delete ${set.name}`, section: SECTION, set, usedBy, error: undefined });
  });

  router.post('/package-sets/:id/delete', allow.admins, async (req, res) => {
    try {
      const set = await library.deleteSet(repo, param(req));
      auditTarget(res, set.name);
      flash(req, 'success', `Package set “${set.name}” deleted.`);
      res.redirect(303, '/package-sets');
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      const { set, usedBy } = await library.deletionCheck(repo, param(req));
      renderPage(req, res, 'pages/package-sets/delete', { title: `Delete ${set.name}`, section: SECTION, set, usedBy, error: err.message }, 409);
    }
  });

  return router;
}
