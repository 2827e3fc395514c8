import { Router, type Request, type Response } from 'express';
import type { NodeRecord, NodesRepository } from '../../db/nodes-repository.ts';
import { RecentTests, testConnection, type ConnectionReport } from '../../domain/nodes/connection-test.ts';
import { emptyNodeForm, formFromNode, nodeFormFromBody, withoutSecrets, type NodeForm } from '../../domain/nodes/node-form.ts';
import * as nodes from '../../domain/nodes/node-management.ts';
import { ConflictError, ValidationError } from '../../lib/errors.ts';
import type { Redis } from '../../lib/redis.ts';
import type { SecretBox } from '../../lib/secret-box.ts';
import { auditTarget } from '../middleware/audit-writes.ts';
import { allow } from '../middleware/auth.ts';
import { fingerprintRateLimit } from '../middleware/login-rate-limit.ts';
import { flash } from '../middleware/session.ts';
import { isHtmx, renderFragment, renderPage } from '../render.ts';

export interface NodeRoutesDeps {
  repos: { nodes: NodesRepository };
  secrets: SecretBox;
  redis: Redis;
  /** Redis key prefix of the fingerprint rate limit. */
  rateLimitPrefix: string;
}

const SECTION = '/nodes';

interface FormView {
  form: NodeForm;
  node?: NodeRecord;
  errors?: Record<string, string>;
  /** Set after "Fetch fingerprints" found nothing to fetch. */
  fingerprintNote?: string;
  report?: ConnectionReport;
}

/** The fingerprint panel's data: the page includes it, and "Fetch fingerprints" swaps it alone. */
function fingerprintPanel(view: FormView) {
  return {
    form: withoutSecrets(view.form),
    errors: view.errors ?? {},
    fetchAction: view.node ? `/nodes/${view.node.id}/fingerprints` : '/nodes/fingerprints',
    note: view.fingerprintNote,
  };
}

function renderForm(req: Request, res: Response, view: FormView, status = 200) {
  const node = view.node;
  renderPage(req, res, 'pages/nodes/form', {
    title: node ? `Edit ${node.name}` : 'New node',
    section: SECTION,
    action: node ? `/nodes/${node.id}` : '/nodes',
    node,
    report: view.report,
    posted: req.method === 'POST',
    ...fingerprintPanel(view),
  }, status);
}

export function nodeRoutes(deps: NodeRoutesDeps): Router {
  const router = Router();
  const recent = new RecentTests();
  const fingerprintLimit = fingerprintRateLimit(deps.redis, deps.rateLimitPrefix);

  async function save(req: Request, res: Response, node?: NodeRecord) {
    const form = nodeFormFromBody(req.body);
    auditTarget(res, node?.name ?? form.name);
    try {
      const saved = node ? await nodes.updateNode(deps, node, form) : await nodes.createNode(deps, form);
      auditTarget(res, saved.name);
      recent.forget(saved.id);
      flash(req, 'success', `Node “${saved.name}” saved. Use “Test connection” to check it.`);
      res.redirect(303, `/nodes/${saved.id}/edit`);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      renderForm(req, res, { form, node, errors: err.fields }, 422);
    }
  }

  async function fetchFingerprints(req: Request, res: Response, node?: NodeRecord) {
    const form = nodeFormFromBody(req.body);
    auditTarget(res, node?.name ?? (form.name || form.sshHost));
    const fetched = await nodes.fetchFingerprints(form);
    const view: FormView = { form: fetched.form, node, errors: fetched.errors, fingerprintNote: fetched.note };
    res.vary('HX-Request');
    if (isHtmx(req)) return renderFragment(req, res, 'partials/nodes/fingerprints', fingerprintPanel(view));
    renderForm(req, res, view);
  }

  router.get('/nodes', allow.readers, async (req, res) => {
    const list = await nodes.listNodes(deps.repos.nodes);
    renderPage(req, res, 'pages/nodes/index', {
      title: 'Nodes',
      section: SECTION,
      nodes: list.map((summary) => ({ ...summary, lastTest: recent.get(summary.node.id) })),
    });
  });

  router.get('/nodes/new', allow.admins, (req, res) => renderForm(req, res, { form: emptyNodeForm() }));
  router.post('/nodes', allow.admins, (req, res) => save(req, res));
  router.post('/nodes/fingerprints', allow.admins, fingerprintLimit, (req, res) => fetchFingerprints(req, res));

  router.get('/nodes/:id/edit', allow.admins, async (req, res) => {
    const node = await nodes.getNode(deps.repos.nodes, req.params.id);
    renderForm(req, res, { form: formFromNode(node), node });
  });

  router.post('/nodes/:id', allow.admins, async (req, res) => save(req, res, await nodes.getNode(deps.repos.nodes, req.params.id)));

  router.post('/nodes/:id/fingerprints', allow.admins, fingerprintLimit, async (req, res) => fetchFingerprints(req, res, await nodes.getNode(deps.repos.nodes, req.params.id)));

  router.post('/nodes/:id/test', allow.admins, async (req, res) => {
    const node = await nodes.getNode(deps.repos.nodes, req.params.id);
    auditTarget(res, node.name);
    const report = await testConnection(deps, node);
    recent.record(report);
    res.vary('HX-Request');
    if (isHtmx(req)) return renderFragment(req, res, 'partials/nodes/test-result', { report });
    renderForm(req, res, { form: formFromNode(node), node, report });
  });

  router.get('/nodes/:id/delete', allow.admins, async (req, res) => {
    const { node, containers } = await nodes.deletionCheck(deps.repos.nodes, req.params.id);
    renderPage(req, res, 'pages/nodes/delete', { title: `Remove ${node.name}`, section: SECTION, node, containers, error: undefined });
  });

  router.post('/nodes/:id/delete', allow.admins, async (req, res) => {
    try {
      const node = await nodes.deleteNode(deps.repos.nodes, req.params.id);
      auditTarget(res, node.name);
      recent.forget(node.id);
      flash(req, 'success', `Node “${node.name}” removed.`);
      res.redirect(303, '/nodes');
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      const { node, containers } = await nodes.deletionCheck(deps.repos.nodes, req.params.id);
      auditTarget(res, node.name);
      renderPage(req, res, 'pages/nodes/delete', { title: `Remove ${node.name}`, section: SECTION, node, containers, error: err.message }, 409);
    }
  });

  return router;
}
