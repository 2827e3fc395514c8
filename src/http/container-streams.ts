// The live streams of a container page — the build's progress (GET /containers/:id/events), the built CT's usage
// (GET /containers/:id/live) and a stopped build's quiet watch (GET /containers/:id/watch) — opened for a viewer whose
// access has been checked. Two doors lead here: the Express routes (API tokens, and every request the gateway does not
// take) and the stream gateway, which answers a page's own streams before Express (src/http/stream-gateway.ts). Both share one set of stream slots, one replay
// limit and one set of shared reads, so the process counts and reads the same whichever way a viewer came in. Each
// stream closes when its account loses access (src/http/stream-access.ts).
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import pLimit from 'p-limit';
import type { Deps } from '../deps.ts';
import type { Container, Viewer } from '../domain/containers/container.ts';
import { stateFor, type ContainerFacts } from '../domain/containers/container-page.ts';
import { mayActOn, seesEveryContainer } from '../domain/roles.ts';
import { SharedReads } from '../domain/containers/shared-reads.ts';
import { ProgressFeed } from '../domain/progress/progress-feed.ts';
import { replayCache } from '../domain/progress/replay-cache.ts';
import { streamHolder } from '../domain/access/access-changes.ts';
import { ValidationError } from '../lib/errors.ts';
import type { ContainerFragments } from './container-fragments.ts';
import { openEventStream } from './sse.ts';
import { watchStream } from './stream-access.ts';
import { StreamLimits, type StreamRefusal } from './stream-limits.ts';
import { pollStatus, streamUsage } from './usage-stream.ts';
import { streamWatch } from './watch-stream.ts';

/** Stands for a viewer's CSRF token in a state message rendered for many (never a token: tokens are hex). */
const TOKEN_STAND_IN = `csrf-stand-in-${randomBytes(12).toString('base64url')}`;

/**
 * Who opens a stream: the user and their session (the streams of each are counted), the API token it came with (none:
 * a browser session), the CSRF token their forms carry, and the access changes heard before all this was read
 * (src/domain/access/access-changes.ts).
 */
export interface StreamViewer {
  user: Viewer;
  sessionId: string;
  tokenId: number | undefined;
  /** When the token or session stops working, if it does (the stream ends then; see credentialsEnd). */
  credentialsEnd?: Date;
  csrfToken: string;
  checkedAfter: number;
}

/** Who opens a stream that renders no forms (log.txt?follow): what its slot and access checks need. */
export type StreamOpener = Omit<StreamViewer, 'csrfToken'>;

/** The stream's cursor: Last-Event-ID (native reconnect), else ?after= (our reconnect), else 0. */
export function parseCursor(lastEventId: string | undefined, after: unknown): number {
  const raw = lastEventId ?? (typeof after === 'string' ? after : undefined) ?? '0';
  if (!/^\d{1,10}$/.test(raw)) throw new ValidationError({ after: 'The cursor must be a whole number.' }, 'Bad cursor');
  return Number(raw);
}

/** ?seen=: the seq a stopped build's page was rendered up to (the watch stream's cursor; required). */
export function parseSeen(seen: unknown): number {
  if (typeof seen !== 'string' || !/^\d{1,10}$/.test(seen)) throw new ValidationError({ seen: 'seen must be the seq the page shows (a whole number).' }, 'Bad seen');
  return Number(seen);
}

/** ?history=: the newest history entry the page shows, if it says. */
export const parseHistorySeen = (history: unknown) => (typeof history === 'string' && /^\d{1,15}$/.test(history) ? Number(history) : undefined);

/** The usage stream's ?seen=: the seq the page's log ends at, if it says (a page rendered before it was sent does not). */
export const parseUsageSeen = (seen: unknown) => (seen === undefined ? undefined : parseSeen(seen));

const REFUSALS: Record<StreamRefusal, [number, string]> = {
  process: [503, 'Too many live viewers on this server; retrying shortly.'],
  session: [429, 'Too many live views open in this browser session; close one (or a tab) and it resumes.'],
  user: [429, 'Too many live views open for your account on this server; close some (tabs in other browsers, scripts following a log) and it resumes.'],
};

/** A live view refused for want of a slot: the process's, this browser session's or this account's (it retries after Retry-After). */
export function refuseStream(res: ServerResponse, refused: StreamRefusal): void {
  const [status, text] = REFUSALS[refused];
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Retry-After': '5', 'X-Content-Type-Options': 'nosniff' }).end(text);
}

export type ContainerStreams = ReturnType<typeof containerStreams>;

export function containerStreams(deps: Pick<Deps, 'repos' | 'relay' | 'config' | 'usage' | 'secrets' | 'access'>, fragments: ContainerFragments) {
  // Replays share at most 6 of the pool's 10 connections, whatever the number of viewers catching up.
  const replayLimit = pLimit(6);
  const limits = new StreamLimits({ perProcess: deps.config.sse.maxStreams, perSession: deps.config.sse.maxStreamsPerSession, perUser: deps.config.sse.maxStreamsPerUser });
  // Reads many viewers of one container make at once, made once (src/domain/containers/shared-reads.ts).
  const shared = new SharedReads(deps.repos, { liveStatus: deps, usage: (id) => deps.usage.snapshot(id), limit: replayLimit });
  const { sse } = deps.config;

  // A stream's last message (and a usage round's refresh) is the page's state, the same for every viewer of the same
  // facts who may act on the container — and for every one who may not — but for the CSRF token in its forms. A
  // hundred viewers ending together would render it a hundred times in one turn of the event loop (about 2 ms each,
  // a 200 ms stall for everyone else): it is rendered once per facts and kind of viewer with a stand-in token, which
  // each viewer's own token replaces.
  const rendered = new WeakMap<ContainerFacts, Map<string, string>>();
  // (`progressAfter`: the watch stream's hand-over, see ContainerFragments.final.)
  const stateMessage = (how: 'final' | 'refresh', facts: ContainerFacts, viewer: StreamViewer, progressAfter?: number): string => {
    const render = (token: string) => (how === 'final' ? fragments.final(stateFor(facts, viewer.user), token, progressAfter) : fragments.refresh(stateFor(facts, viewer.user), token));
    if (!/^[\w-]+$/.test(viewer.csrfToken)) return render(viewer.csrfToken);
    // What differs between viewers: their actions (mayActOn) and whether the owner's name is shown (seesEveryContainer).
    const key = `${how}:${mayActOn(viewer.user, facts.container.ownerId)}:${seesEveryContainer(viewer.user.role)}:${progressAfter ?? ''}`;
    let forFacts = rendered.get(facts);
    if (!forFacts) rendered.set(facts, (forFacts = new Map()));
    let html = forFacts.get(key);
    if (html === undefined) forFacts.set(key, (html = render(TOKEN_STAND_IN)));
    return html.replaceAll(TOKEN_STAND_IN, viewer.csrfToken);
  };

  /**
   * A slot for this viewer's stream, held until it closes, and closed when the viewer loses access; false when it is
   * refused (and answered here, before anything else was written).
   */
  const admit = (res: ServerResponse, viewer: StreamOpener): boolean => {
    const slot = limits.acquire({ userId: viewer.user.id, sessionId: viewer.sessionId });
    if ('refused' in slot) {
      refuseStream(res, slot.refused);
      return false;
    }
    if (!watchStream(deps.access, res, streamHolder(viewer.user.id, viewer.tokenId, viewer.sessionId), viewer.checkedAfter, viewer.credentialsEnd)) {
      slot.release();
      return false;
    }
    res.on('close', slot.release);
    return true;
  };

  return {
    admit,
    /** The container behind a stream this user opens (NotFoundError if they may not see it). */
    visibleContainer: (user: Viewer, id: string) => shared.visibleContainer(user, id),

    /** Every event after `cursor`, then live until the build settles; its last message is the page's state. */
    async progress(req: IncomingMessage, res: ServerResponse, viewer: StreamViewer, container: Container, cursor: number): Promise<void> {
      if (!admit(res, viewer)) return;
      const writer = openEventStream(req, res, {
        maxPendingBytes: sse.maxPendingBytes, heartbeatMs: sse.heartbeatMs, stallMs: sse.stallMs, lastEventId: cursor, group: `progress:${container.id}`,
      });
      const feed = new ProgressFeed(
        {
          events: deps.repos.events,
          readContainer: (id) => shared.container(id),
          relay: deps.relay,
          fragments,
          replayLimit,
          replayCache,
          finalFragments: async (latest) => stateMessage('final', await shared.finalFacts(latest), viewer),
        },
        container.id,
        cursor,
        writer,
      );
      res.on('close', () => feed.close());
      await feed.start();
    },

    /** The built container's usage at each poll of its node, its state when that changes. */
    /** `seen`: the seq the page's log ends at — where the progress stream it hands over to starts, so no line is missed. */
    async usage(req: IncomingMessage, res: ServerResponse, viewer: StreamViewer, container: Container, historySeen: number | undefined, seen?: number): Promise<void> {
      if (!admit(res, viewer)) return;
      await streamUsage(req, res, {
        usage: deps.usage,
        relay: deps.relay,
        containers: deps.repos.containers,
        fragments,
        newestHistoryId: (id) => deps.repos.history.newestId(id),
        sse,
        render: async (how, round) => {
          const facts = await shared.roundFacts(container, round && { snapshot: round, status: pollStatus(round, container) });
          // A refresh whose state has no usage stream any more (the CT gone, or another guest's) is the last message.
          const last = how === 'final' || stateFor(facts, viewer.user).stream !== 'usage';
          return { html: stateMessage(last ? 'final' : how, facts, viewer, last ? seen : undefined), last };
        },
      }, container, historySeen);
    },

    /** A stopped build's page (or a gone CT's), rendered up to `seen`: quiet until the container moves on, then its state and progress. */
    async watch(req: IncomingMessage, res: ServerResponse, viewer: StreamViewer, container: Container, seen: number): Promise<void> {
      if (!admit(res, viewer)) return;
      await streamWatch(req, res, {
        relay: deps.relay,
        readContainer: (id, sharedRead) => (sharedRead ? shared.container(id) : deps.repos.containers.findById(id)),
        render: async (latest, from) => stateMessage('final', await shared.finalFacts(latest), viewer, from),
        sse,
      }, container, seen);
    },
  };
}
