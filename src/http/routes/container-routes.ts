import { Router, type Request, type Response } from 'express';
import type { Deps } from '../../deps.ts';
import {
  cancelContainer,
  destroyContainer,
  followMovedCt,
  forgetContainer,
  requestPowerAction,
  retryContainer,
  revealCredentials,
} from '../../domain/containers/container-actions.ts';
import { liveStatusOf, loadContainerList } from '../../domain/containers/container-list.ts';
import { findVisibleContainer, loadContainerPage, loadContainerState, type ContainerPageDeps } from '../../domain/containers/container-page.ts';
import { ConflictError, ForbiddenError, ValidationError } from '../../lib/errors.ts';
import type { ContainerFragments } from '../container-fragments.ts';
import { allow } from '../middleware/auth.ts';
import { generateCsrfToken } from '../middleware/csrf.ts';
import { flash } from '../middleware/session.ts';
import { recordAudit } from '../../domain/access/audit.ts';
import { containerJson, containerLinks } from '../../domain/containers/container-json.ts';
import { followLog } from '../../domain/containers/log-follow.ts';
import { checkHealthNow } from '../../domain/health/health-request.ts';
import { attemptLogSlice } from '../../domain/history/attempt-page.ts';
import { isHtmx, renderFragment, renderPage, sendFragment, wantsJson } from '../render.ts';
import { credentialsEnd } from '../stream-access.ts';
import { parseCursor, parseHistorySeen, parseSeen, parseUsageSeen, type ContainerStreams, type StreamOpener, type StreamViewer } from '../container-streams.ts';
import { ACTION_WORDS, POWER_ACTIONS } from '../../domain/containers/lifecycle-actions.ts';

/** Who opens a stream, as its slot and its access are counted and checked. */
const streamOpener = (req: Request): StreamOpener => ({
  user: req.user!,
  sessionId: req.sessionID ?? `token:${req.user!.id}`,
  tokenId: req.apiTokenId,
  credentialsEnd: credentialsEnd(req),
  checkedAfter: req.accessCheckedAfter ?? 0,
});
/** A signed-in (or token) viewer of a stream, as the stream functions need them. */
const streamViewer = (req: Request): StreamViewer => ({ ...streamOpener(req), csrfToken: generateCsrfToken(req) });

export function containerRoutes(
  deps: Pick<Deps, 'repos' | 'relay' | 'config' | 'queue' | 'redis' | 'logger' | 'secrets' | 'usage'>,
  fragments: ContainerFragments,
  streams: ContainerStreams,
): Router {
  const router = Router();
  const pageDeps: ContainerPageDeps = deps.repos;
  const usage = (id: string) => deps.usage.snapshot(id);

  router.get('/containers', allow.readers, async (req, res) => {
    const list = await loadContainerList(deps, req.user!, req.query);
    if (wantsJson(req)) return res.json({ containers: list.rows.map((r) => containerJson(r.container, r.nodeName, r.owner, r.live)) });
    // The table body polls itself (hx-target="this"): answer it with just the rows.
    if (isHtmx(req) && req.get('HX-Target') === 'container-rows') {
      return sendFragment(res, fragments.listUpdate(list, generateCsrfToken(req)));
    }
    renderPage(req, res, 'pages/containers/index', { title: 'Containers', section: '/containers', list });
  });

  router.get('/containers/:id', allow.readers, async (req, res) => {
    if (wantsJson(req)) {
      const container = await findVisibleContainer(deps.repos, req.user!, req.params.id);
      const state = await loadContainerState(pageDeps, container, req.user!, { liveStatus: deps });
      const services = state.services.map(({ name, kind, port, url, status }) => ({ name, kind, port, url, status }));
      return res.json({ ...containerJson(container, state.nodeName, state.owner, state.ctStatus), actions: state.actions, services });
    }
    const from = typeof req.query.from === 'string' && /^\d{1,9}$/.test(req.query.from) ? Number(req.query.from) : undefined;
    const page = await loadContainerPage(pageDeps, req.user!, req.params.id, { fromLine: from, liveStatus: deps, usage });
    renderPage(req, res, 'pages/containers/show', {
      title: page.container.hostname,
      section: '/containers',
      page,
      state: fragments.state(page, generateCsrfToken(req), false),
      logRows: fragments.logRows(page.logEntries),
      heartbeatMs: deps.config.sse.heartbeatMs,
      renderedAt: new Date(),
      reloadWithoutScript: page.live,
      lean: true,
    });
  });

  // A page's own streams usually come in through the stream gateway (src/http/stream-gateway.ts) and never reach
  // these routes; API tokens, and anything the gateway leaves to Express (no session, a foreign container, a bad
  // cursor), do.
  router.get('/containers/:id/events', allow.readers, async (req, res) => {
    const container = await streams.visibleContainer(req.user!, req.params.id);
    const cursor = parseCursor(req.get('Last-Event-ID'), req.query.after);
    await streams.progress(req, res, streamViewer(req), container, cursor);
  });

  // The built container's usage stream: usage and status at each poll of its node, its state when that changes.
  router.get('/containers/:id/live', allow.readers, async (req, res) => {
    const container = await streams.visibleContainer(req.user!, req.params.id);
    await streams.usage(req, res, streamViewer(req), container, parseHistorySeen(req.query.history), parseUsageSeen(req.query.seen));
  });

  // The quiet stream of a failed or cancelled build, or of a built container whose CT is gone: nothing until the
  // container moves on past ?seen=, then its state.
  router.get('/containers/:id/watch', allow.readers, async (req, res) => {
    const container = await streams.visibleContainer(req.user!, req.params.id);
    await streams.watch(req, res, streamViewer(req), container, parseSeen(req.query.seen));
  });

  /** The live Proxmox status badge, asked once by a panel rendered without it. */
  router.get('/containers/:id/status', allow.readers, async (req, res) => {
    const container = await findVisibleContainer(deps.repos, req.user!, req.params.id);
    const status = await liveStatusOf(deps, container);
    sendFragment(res, fragments.liveStatus(container.id, status));
  });

  // ?from=N starts at line N; ?follow=1 keeps the response open, writing lines as they are recorded, until the
  // build ends (curl -N shows a live build in a terminal); ?attempt=N has only the lines build attempt N wrote.
  router.get('/containers/:id/log.txt', allow.readers, async (req, res) => {
    const container = await findVisibleContainer(deps.repos, req.user!, req.params.id);
    const from = typeof req.query.from === 'string' ? req.query.from : '1';
    if (!/^\d{1,9}$/.test(from) || Number(from) < 1) throw new ValidationError({ from: 'from must be a line number (1 or more).' }, 'from must be a line number (1 or more).');
    const follow = req.query.follow === '1' || req.query.follow === 'true';
    const attempt = req.query.attempt === undefined ? undefined : await attemptLogSlice(deps.repos, container, req.query.attempt);
    if (attempt && follow) throw new ValidationError({ follow: 'follow works on the whole log: leave out attempt to follow a build live.' }, 'follow works on the whole log: leave out attempt to follow a build live.');
    if (follow && !streams.admit(res, streamOpener(req))) return;
    res.status(200).set({
      'Content-Type': 'text/plain; charset=utf-8',
      'X-Content-Type-Options': 'nosniff',
      'Content-Disposition': `inline; filename="${container.hostname}-${container.id.slice(0, 8)}${attempt ? `-attempt-${String(req.query.attempt)}` : ''}.log"`,
      'Cache-Control': 'no-store',
    });
    const write = async (text: string) => {
      const ok = res.write(text);
      // Through the compression middleware a write sits in the compressor until flushed: send each batch now.
      (res as { flush?: () => void }).flush?.();
      if (!ok && !res.destroyed) await new Promise((resolve) => res.once('drain', resolve));
    };
    if (!follow) {
      for await (const batch of deps.repos.events.logLineBatches(container.id, Number(from) - 1, attempt)) {
        if (res.destroyed) return;
        await write(batch.map((l) => `${l.text}\n`).join(''));
      }
      res.end();
      return;
    }
    res.set('X-Accel-Buffering', 'no');
    const stop = new AbortController();
    res.on('close', () => stop.abort());
    await followLog({ events: deps.repos.events, containers: deps.repos.containers, relay: deps.relay }, container.id, Number(from) - 1, write, stop.signal);
    if (!res.destroyed) res.end();
  });

  /**
   * After an action: back to the container page, loaded afresh (HX-Redirect) — an HX-Location swap of the body would
   * leave its log viewer holding the elements it replaced.
   */
  const backToContainer = (req: Request, res: Response, id: string) => {
    if (wantsJson(req)) res.status(202).json({ id, ...containerLinks(id) });
    else if (isHtmx(req)) res.set('HX-Redirect', `/containers/${id}`).status(204).end();
    else res.redirect(303, `/containers/${id}`);
  };
  const actor = (req: Request) => req.user!;

  /**
   * Every container action leaves an audit entry: success, or why it was refused (never a secret: messages only).
   * Its Target is the hostname, as a deploy's is, read before the action (a forgotten entry is gone after it).
   */
  const audited = (action: string, handler: (req: Request<{ id: string }>, res: Response) => Promise<void>) => async (req: Request<{ id: string }>, res: Response) => {
    const hostname = (await deps.repos.containers.findById(req.params.id))?.hostname;
    const entry = { action: `container.${action}`, containerId: req.params.id, target: hostname ?? req.params.id };
    try {
      await handler(req, res);
    } catch (err) {
      const outcome = err instanceof ForbiddenError ? 'denied' : 'failure';
      await recordAudit(deps, req, { ...entry, outcome, details: { status: (err as { status?: number }).status ?? 500, message: (err as Error).message } });
      throw err;
    }
    const refused = res.locals.refusal as { status: number; message: string } | undefined;
    if (refused) return void (await recordAudit(deps, req, { ...entry, outcome: 'failure', details: refused }));
    await recordAudit(deps, req, { ...entry, outcome: res.statusCode < 400 ? 'success' : 'failure', details: res.statusCode < 400 ? {} : { status: res.statusCode } });
  };

  router.post('/containers/:id/cancel', allow.operators, audited('cancel', async (req, res) => {
    await cancelContainer(deps, actor(req), req.params.id);
    flash(req, 'info', 'Cancel requested: the running step stops in a moment.');
    backToContainer(req, res, req.params.id);
  }));

  router.post('/containers/:id/retry', allow.operators, audited('retry', async (req, res) => {
    await retryContainer(deps, actor(req), req.params.id);
    flash(req, 'info', 'Retrying: finished steps are checked and skipped.');
    backToContainer(req, res, req.params.id);
  }));

  router.get('/containers/:id/destroy', allow.operators, async (req, res) => {
    const container = await findVisibleContainer(deps.repos, req.user!, req.params.id);
    renderPage(req, res, 'pages/containers/destroy', { title: `Destroy ${container.hostname}`, section: '/containers', container });
  });

  router.post('/containers/:id/destroy', allow.operators, audited('destroy', async (req, res) => {
    try {
      await destroyContainer(deps, actor(req), req.params.id, req.body?.confirm_hostname);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      const container = await findVisibleContainer(deps.repos, req.user!, req.params.id);
      return renderPage(req, res, 'pages/containers/destroy', { title: `Destroy ${container.hostname}`, section: '/containers', container, errors: err.fields, typed: req.body?.confirm_hostname }, 422);
    }
    flash(req, 'info', 'Destroying: the container is stopped and purged from Proxmox.');
    backToContainer(req, res, req.params.id);
  }));

  /** Without htmx a 409 page says what is in progress; htmx does not show error bodies, so the page it returns to does. */
  const conflictShownOnPage = (req: Request, res: Response, err: unknown): boolean => {
    if (!(err instanceof ConflictError && isHtmx(req))) return false;
    // The answer is a redirect, but the action was refused: that is what the audit entry says (see audited).
    res.locals.refusal = { status: err.status, message: err.message };
    flash(req, 'error', err.message, { focus: true });
    backToContainer(req, res, req.params.id as string);
    return true;
  };

  for (const action of POWER_ACTIONS) {
    router.post(`/containers/:id/${action}`, allow.operators, audited(action, async (req, res) => {
      try {
        await requestPowerAction(deps, actor(req), req.params.id, action);
      } catch (err) {
        if (conflictShownOnPage(req, res, err)) return;
        throw err;
      }
      flash(req, 'info', `${ACTION_WORDS[action].label} requested: follow it in the log below.`, { focus: true });
      backToContainer(req, res, req.params.id);
    }));
  }

  router.post('/containers/:id/forget', allow.operators, audited('forget', async (req, res) => {
    try {
      await forgetContainer(deps, actor(req), req.params.id);
    } catch (err) {
      if (conflictShownOnPage(req, res, err)) return;
      throw err;
    }
    flash(req, 'success', 'Forgotten: the entry is gone from the list; its history stays at its own address.');
    if (isHtmx(req)) res.set('HX-Redirect', '/containers').status(204).end();
    else res.redirect(303, '/containers');
  }));

  router.post('/containers/:id/follow', allow.operators, audited('follow', async (req, res) => {
    let node;
    try {
      node = await followMovedCt(deps, actor(req), req.params.id);
    } catch (err) {
      if (conflictShownOnPage(req, res, err)) return;
      throw err;
    }
    if (wantsJson(req)) return void res.json({ id: req.params.id, node, ...containerLinks(req.params.id) });
    flash(req, 'success', `Followed: Launchpad manages this container on ${node} from now on.`, { focus: true });
    backToContainer(req, res, req.params.id);
  }));

  // "Check now": the worker checks the services; the answer is the health section (htmx) or the page with its result.
  router.post('/containers/:id/health', allow.operators, audited('health', async (req, res) => {
    let checked;
    try {
      checked = await checkHealthNow(deps, actor(req), req.params.id);
    } catch (err) {
      if (conflictShownOnPage(req, res, err)) return;
      throw err;
    }
    if (wantsJson(req)) return void res.status(checked.result ? 200 : 202).json({ id: checked.container.id, health: checked.result ?? null });
    if (isHtmx(req)) return sendFragment(res, fragments.health(checked.view, generateCsrfToken(req)));
    flash(req, 'info', checked.result ? `Health checked: ${checked.result.summary}.` : 'Health check queued: a worker has not answered yet; its result appears here shortly.');
    backToContainer(req, res, req.params.id);
  }));

  router.post('/containers/:id/credentials', allow.operators, audited('reveal_credentials', async (req, res) => {
    const { hostname, credentials } = await revealCredentials(deps, actor(req), req.params.id);
    res.set('Cache-Control', 'no-store');
    if (isHtmx(req)) return renderFragment(req, res, 'partials/containers/credentials', { credentials });
    renderPage(req, res, 'pages/containers/credentials', { title: `Credentials of ${hostname}`, section: '/containers', hostname, credentials, containerId: req.params.id });
  }));

  return router;
}
