import { randomUUID } from 'node:crypto';
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { isConnectionError, isUnstorableTextError } from '../lib/db-errors.ts';
import { AppError, BadRequestError, ConflictError, UnavailableError, ValidationError } from '../lib/errors.ts';
import { isHtmx, renderFragment, renderPage, wantsJson } from './render.ts';

const HEADINGS: Record<number, string> = {
  400: 'That request could not be understood',
  403: 'Not allowed',
  404: 'Not found',
  409: 'That cannot be done right now',
  413: 'That was too large',
  422: 'Some fields need attention',
  429: 'Too many requests',
  503: 'A service is unavailable',
};

/** A refusal by a rule, which waiting does not change (409 otherwise reads as "not now"). */
const RULE_HEADING = 'That is not allowed';

/** Sections whose items have a page of their own (/containers/:id); the others' actions lead back to their list. */
const ITEM_PAGES: Record<string, string> = { containers: 'the container', templates: 'the template', 'package-sets': 'the package set' };
const SECTION_NAMES: Record<string, string> = { containers: 'Containers', templates: 'Templates', 'package-sets': 'Package sets', nodes: 'Nodes', users: 'Users', account: 'your account' };

/**
 * Where a refused action's page leads back to: the page of what was acted on (POST /containers/:id/retry → the
 * container), else its section's list (POST /users/:id/delete → /users). A page that was not found leads home.
 */
function wayBack(req: Request): { href: string; label: string } {
  const [section = '', id, ...action] = req.path.split('/').filter(Boolean);
  if (req.method === 'GET' || !SECTION_NAMES[section]) return { href: '/', label: 'Back to Launchpad' };
  if (id && id !== 'new' && action.length > 0 && ITEM_PAGES[section]) return { href: `/${section}/${id}`, label: `Back to ${ITEM_PAGES[section]}` };
  return { href: `/${section}`, label: `Back to ${SECTION_NAMES[section]}` };
}

/** The error page, or for htmx requests the same explanation swapped into the main area (never a silent failure). */
function explain(req: Request, res: Response, status: number, message: string, errorId?: string, heading = HEADINGS[status]): void {
  const data = { status, heading: heading ?? 'Something went wrong', message, errorId, back: wayBack(req) };
  if (isHtmx(req)) {
    // The panel replaces the main area, whatever part of the page the request's element meant to swap or select
    // (the wizard selects #wizard from its answers: without HX-Reselect the panel would be filtered out, a blank page).
    res.set({ 'HX-Retarget': '#main', 'HX-Reswap': 'innerHTML', 'HX-Reselect': '#error-panel' });
    return renderFragment(req, res, 'partials/error-panel', data, status);
  }
  renderPage(req, res, 'pages/errors/error', { title: data.heading, ...data }, status);
}

export const notFound: RequestHandler = (req, res) => explain(req, res, 404, 'There is nothing at this address, or you may not see it.');

/** The one place errors become responses. Unknown errors get an id that is logged with the stack. */
export const errorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  if (isConnectionError(err)) {
    req.log?.warn({ err: (err as Error).message }, 'database unreachable');
    err = new UnavailableError('The database cannot be reached right now. Launchpad reconnects on its own: try again in a moment (and check that PostgreSQL is running).');
  } else if (isUnstorableTextError(err)) {
    req.log?.warn({ err: (err as Error).message, path: req.path }, 'input with a character Postgres cannot store reached a query');
    err = new BadRequestError('Something you sent contains a character Launchpad cannot store (such as a NUL byte). Remove it and try again.');
  }
  const status: number =
    err instanceof AppError ? err.status : typeof err?.status === 'number' && err.status >= 400 && err.status < 600 ? err.status : 500;
  const expose = status < 500 || err instanceof AppError;
  let errorId: string | undefined;
  if (status >= 500) {
    errorId = randomUUID().slice(0, 8);
    req.log?.error({ err, errorId }, 'request failed');
  }
  if (res.headersSent) {
    res.end();
    return;
  }
  if (req.headers.accept === 'text/event-stream' || req.path.endsWith('.txt')) {
    res.status(status).type('text/plain').send(expose ? String(err.message) : `Internal error ${errorId}`);
    return;
  }
  const message = expose ? String(err.message) : 'Something went wrong on our side. Try again; if it keeps happening, check the server log.';
  if (wantsJson(req)) {
    res.status(status).json({ error: message, ...(err instanceof ValidationError ? { fields: err.fields } : {}), ...(errorId ? { error_id: errorId } : {}) });
    return;
  }
  explain(req, res, status, message, errorId, err instanceof ConflictError && err.kind === 'rule' ? RULE_HEADING : undefined);
};
