import { Router, type Request, type Response } from 'express';
import pLimit from 'p-limit';
import type { Deps } from '../../deps.ts';
import {
  cancelContainer,
  destroyContainer,
  forgetContainer,
  requestPowerAction,
  retryContainer,
  revealCredentials,
} from '../../domain/containers/container-actions.ts';
import { liveStatusOf, loadContainerList } from '../../domain/containers/container-list.ts';
import { findVisibleContainer, loadContainerPage, loadContainerState, type ContainerPageDeps } from '../../domain/containers/container-page.ts';
import { ProgressFeed } from '../../domain/progress/progress-feed.ts';
import { replayCache } from '../../domain/progress/replay-cache.ts';
import { ConflictError, ValidationError } from '../../lib/errors.ts';
import type { ContainerFragments } from '../container-fragments.ts';
import { allow } from '../middleware/auth.ts';
import { generateCsrfToken } from '../middleware/csrf.ts';
import { flash } from '../middleware/session.ts';
import { isHtmx, renderFragment, renderPage, sendFragment } from '../render.ts';
import { openEventStream } from '../sse.ts';
import { StreamLimits } from '../stream-limits.ts';
import { ACTION_WORDS, POWER_ACTIONS } from '../../domain/containers/lifecycle-actions.ts';


/** The stream's cursor: Last-Event-ID (native reconnect), else ?after= (our reconnect), else 0. */
function parseCursor(lastEventId: string | undefined, after: unknown): number {
  const raw = lastEventId ?? (typeof after === 'string' ? after : undefined) ?? '0';
  if (!/^\d{1,10}$/.test(raw)) throw new ValidationError({ after: 'The cursor must be a whole number.' }, 'Bad cursor');
  return Number(raw);
}

export function containerRoutes(deps: Pick<Deps, 'repos' | 'relay' | 'config' | 'queue' | 'redis' | 'logger' | 'secrets'>, fragments: ContainerFragments): Router {
  const router = Router();
  const pageDeps: ContainerPageDeps = deps.repos;
  // Replays share at most 6 of the pool's 10 connections, whatever the number of viewers catching up.
  const replayLimit = pLimit(6);
  const limits = new StreamLimits({ perProcess: deps.config.sse.maxStreams, perSession: deps.config.sse.maxStreamsPerSession });

  router.get('/containers', allow.readers, async (req, res) => {
    const list = await loadContainerList(deps, req.user!, req.query);
    // The table body polls itself (hx-target="this"): answer it with just the rows.
    if (isHtmx(req) && req.get('HX-Target') === 'container-rows') {
      return sendFragment(res, fragments.listUpdate(list, generateCsrfToken(req)));
    }
    renderPage(req, res, 'pages/containers/index', { title: 'Containers', section: '/containers', list });
  });

  router.get('/containers/:id', allow.readers, async (req, res) => {
    const from = typeof req.query.from === 'string' && /^\d{1,9}$/.test(req.query.from) ? Number(req.query.from) : undefined;
    const page = await loadContainerPage(pageDeps, req.user!, req.params.id, { fromLine: from, liveStatus: deps });
    renderPage(req, res, 'pages/containers/show', {
      title: page.container.hostname,
      section: '/containers',
      page,
      state: fragments.state(page, generateCsrfToken(req), false),
      logRows: fragments.logRows(page.logEntries),
      heartbeatMs: deps.config.sse.heartbeatMs,
      renderedAt: new Date(),
      reloadWithoutScript: page.live,
    });
  });

  router.get('/containers/:id/events', allow.readers, async (req, res) => {
    const viewer = req.user!;
    const container = await findVisibleContainer(deps.repos, viewer, req.params.id);
    const cursor = parseCursor(req.get('Last-Event-ID'), req.query.after);
    const slot = limits.acquire(req.sessionID);
    if ('refused' in slot) {
      const [status, text] = slot.refused === 'process' ? [503, 'Too many live viewers on this server; retrying shortly.'] : [429, 'Too many live views open in this browser session.'];
      res.status(status).set('Retry-After', '5').type('text/plain').send(text);
      return;
    }
    const csrfToken = generateCsrfToken(req);
    const writer = openEventStream(res, { maxPendingBytes: deps.config.sse.maxPendingBytes, heartbeatMs: deps.config.sse.heartbeatMs, lastEventId: cursor });
    const feed = new ProgressFeed(
      {
        events: deps.repos.events,
        containers: deps.repos.containers,
        relay: deps.relay,
        fragments,
        replayLimit,
        replayCache,
        finalFragments: async (id) => {
          const latest = await deps.repos.containers.findById(id);
          return latest ? fragments.final(await loadContainerState(pageDeps, latest, viewer, { liveStatus: deps }), csrfToken) : '';
        },
      },
      container.id,
      cursor,
      writer,
    );
    res.on('close', () => {
      feed.close();
      slot.release();
    });
    await feed.start();
  });

  /** The live Proxmox status badge, which polls itself on the container page. */
  router.get('/containers/:id/status', allow.readers, async (req, res) => {
    const container = await findVisibleContainer(deps.repos, req.user!, req.params.id);
    const status = await liveStatusOf(deps, container);
    renderFragment(req, res, 'partials/containers/live-status', { containerId: container.id, status });
  });

  router.get('/containers/:id/log.txt', allow.readers, async (req, res) => {
    const container = await findVisibleContainer(deps.repos, req.user!, req.params.id);
    res.status(200).set({
      'Content-Type': 'text/plain; charset=utf-8',
      'X-Content-Type-Options': 'nosniff',
      'Content-Disposition': `inline; filename="${container.hostname}-${container.id.slice(0, 8)}.log"`,
      'Cache-Control': 'no-store',
    });
    for await (const batch of deps.repos.events.logLineBatches(container.id)) {
      if (res.destroyed) return;
      const ok = res.write(batch.map((l) => `${l.text}\n`).join(''));
      if (!ok) await new Promise((resolve) => res.once('drain', resolve));
    }
    res.end();
  });

  /** After an action: back to the container page (htmx follows HX-Location without a full reload). */
  const backToContainer = (req: Request, res: Response, id: string) =>
    isHtmx(req) ? res.set('HX-Location', `/containers/${id}`).status(204).end() : res.redirect(303, `/containers/${id}`);
  const actor = (req: Request) => req.user!;

  router.post('/containers/:id/cancel', allow.operators, async (req, res) => {
    await cancelContainer(deps, actor(req), req.params.id);
    flash(req, 'info', 'Cancel requested: the running step stops in a moment.');
    backToContainer(req, res, req.params.id);
  });

  router.post('/containers/:id/retry', allow.operators, async (req, res) => {
    await retryContainer(deps, actor(req), req.params.id);
    flash(req, 'info', 'Retrying: finished steps are checked and skipped.');
    backToContainer(req, res, req.params.id);
  });

  router.get('/containers/:id/destroy', allow.operators, async (req, res) => {
    const container = await findVisibleContainer(deps.repos, req.user!, req.params.id);
    renderPage(req, res, 'pages/containers/destroy', { title: `Destroy ${container.hostname}`, section: '/containers', container });
  });

  router.post('/containers/:id/destroy', allow.operators, async (req, res) => {
    try {
      await destroyContainer(deps, actor(req), req.params.id, req.body?.confirm_hostname);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      const container = await findVisibleContainer(deps.repos, req.user!, req.params.id);
      return renderPage(req, res, 'pages/containers/destroy', { title: `Destroy ${container.hostname}`, section: '/containers', container, errors: err.fields, typed: req.body?.confirm_hostname }, 422);
    }
    flash(req, 'info', 'Destroying: the container is stopped and purged from Proxmox.');
    backToContainer(req, res, req.params.id);
  });

  /** Without htmx a 409 page says what is in progress; htmx does not show error bodies, so the page it returns to does. */
  const conflictShownOnPage = (req: Request, res: Response, err: unknown): boolean => {
    if (!(err instanceof ConflictError && isHtmx(req))) return false;
    flash(req, 'error', err.message);
    backToContainer(req, res, req.params.id as string);
    return true;
  };

  for (const action of POWER_ACTIONS) {
    router.post(`/containers/:id/${action}`, allow.operators, async (req, res) => {
      try {
        await requestPowerAction(deps, actor(req), req.params.id, action);
      } catch (err) {
        if (conflictShownOnPage(req, res, err)) return;
        throw err;
      }
      flash(req, 'info', `${ACTION_WORDS[action].label} requested: follow it in the log below.`);
      backToContainer(req, res, req.params.id);
    });
  }

  router.post('/containers/:id/forget', allow.operators, async (req, res) => {
    try {
      await forgetContainer(deps, actor(req), req.params.id);
    } catch (err) {
      if (conflictShownOnPage(req, res, err)) return;
      throw err;
    }
    flash(req, 'success', 'Forgotten: the entry is gone from the list; its history stays at its own address.');
    if (isHtmx(req)) res.set('HX-Location', '/containers').status(204).end();
    else res.redirect(303, '/containers');
  });

  router.post('/containers/:id/credentials', allow.operators, async (req, res) => {
    const { hostname, credentials } = await revealCredentials(deps, actor(req), req.params.id);
    res.set('Cache-Control', 'no-store');
    if (isHtmx(req)) return renderFragment(req, res, 'partials/containers/credentials', { credentials });
    renderPage(req, res, 'pages/containers/credentials', { title: `Credentials of ${hostname}`, section: '/containers', hostname, credentials, containerId: req.params.id });
  });

  return router;
}
