import type { Request, Response } from 'express';
import type { Views } from '../views.ts';

declare module 'express-serve-static-core' {
  // app.locals: shared by every request of this app.
  interface Locals {
    views: Views;
    /** Set when the embedded Proxmox simulator is registered: every page shows a badge (and without bubblewrap a banner). */
    simulator?: { title: string; sandboxed: boolean; rootfs?: 'debian' | 'host'; fix?: { nodes: string; command: string } };
  }
}

/** What every page's layout needs: the user and what their role may use, a CSRF token, the one-shot flash message, the simulator badge. */
function pageContext(req: Request) {
  const flash = req.session?.flash;
  if (flash) delete req.session.flash;
  const role = req.user?.role;
  return {
    user: req.user,
    // What the signed-in role may use, so pages leave out buttons it cannot use (the route rules still decide).
    can: { admin: role === 'admin', deploy: role === 'admin' || role === 'operator' },
    csrfToken: req.formToken ? req.formToken() : '',
    flash,
    simulator: req.app.locals.simulator,
  };
}

export function renderPage(req: Request, res: Response, name: string, data: Record<string, unknown> = {}, status = 200): void {
  const html = req.app.locals.views.render(name, { ...pageContext(req), ...data });
  // A signed-in page is kept nowhere: after Sign out, Back must not show it from the browser's cache.
  if (req.user && !res.get('Cache-Control')) res.set('Cache-Control', 'private, no-store');
  res.status(status).type('html').send(html);
}

/** A bare fragment (no layout), for htmx swaps. */
export function renderFragment(req: Request, res: Response, name: string, data: Record<string, unknown>, status = 200): void {
  res.status(status).type('html').send(req.app.locals.views.render(name, data));
}

/** A fragment already rendered from partials (src/http/container-fragments.ts), for htmx swaps. */
export function sendFragment(res: Response, html: string, status = 200): void {
  res.status(status).type('html').send(html);
}

export const isHtmx = (req: Request) => req.headers['hx-request'] === 'true';

/** A script asking for JSON (Accept: application/json ranks it above HTML); a browser's Accept never does. */
export const wantsJson = (req: Request) => req.accepts(['html', 'json']) === 'json';
