// A live stream stays open only while the account that opened it keeps its access (src/domain/access/access-changes.ts):
// what a stream registers, whichever door it came in by — the stream gateway, or an Express route (API tokens,
// log.txt?follow, a template test's stream).
import type { ServerResponse } from 'node:http';
import type { Request, RequestHandler } from 'express';
import { streamHolder, type AccessChanges, type StreamHolder } from '../domain/access/access-changes.ts';
import { sessionEnd } from './middleware/session.ts';

declare module 'express-serve-static-core' {
  interface Request {
    /** The access changes this process had heard before the request's credentials were read (noteAccessChecks). */
    accessCheckedAfter?: number;
  }
}

/** Before a request's session or token is read: notes how many access changes had been heard (see watch()). */
export function noteAccessChecks(access: Pick<AccessChanges, 'heard'>): RequestHandler {
  return (req, _res, next) => {
    req.accessCheckedAfter = access.heard;
    next();
  };
}

/** Who holds a stream an Express request opens: the signed-in user, and the API token it came with (if any). */
export const holderOf = (req: Request): StreamHolder => streamHolder(req.user!.id, req.apiTokenId, req.sessionID);

/**
 * When the credentials an Express request came with stop working, if they do: the earlier of its API token's expiry
 * and its browser session's. Read before the response starts: express-session renews a rolling session's cookie as
 * it sends the headers, but the store keeps the expiry read here until the response has ended.
 */
export function credentialsEnd(req: Request): Date | undefined {
  const ends = [req.apiTokenExpiresAt, req.session ? sessionEnd(req.session) : undefined].filter((d) => d !== undefined);
  return ends.length ? new Date(Math.min(...ends.map((d) => d.getTime()))) : undefined;
}

/** A stream whose account lost access between being checked and opening: the page reloads and is checked afresh. */
function refuseStaleStream(res: ServerResponse): void {
  res.writeHead(401, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' }).end('Your access changed while this view opened: reload the page (or sign in again).');
}

/**
 * Registers the stream `res` carries so that it closes when its holder loses access, and forgets it when it closes.
 * False when the holder lost access already — the stream is refused here (nothing written yet). `until`: when the
 * credentials it was opened with stop working, if they do (an API token's or a browser session's expiry) — the stream
 * ends then too. A session renewed meanwhile is not lost: the browser reconnects, and is checked afresh.
 */
export function watchStream(access: Pick<AccessChanges, 'watch'>, res: ServerResponse, holder: StreamHolder, checkedAfter: number, until?: Date): boolean {
  const unwatch = access.watch(res, holder, checkedAfter);
  if (!unwatch) {
    refuseStaleStream(res);
    return false;
  }
  res.on('close', unwatch);
  if (until) endAt(res, until);
  return true;
}

/** The longest a timer waits (about 24.8 days); a later end is waited for in such steps. */
const LONGEST_TIMER_MS = 2 ** 31 - 1;

function endAt(res: ServerResponse, at: Date): void {
  const wait = at.getTime() - Date.now();
  const timer = setTimeout(() => (wait > LONGEST_TIMER_MS ? endAt(res, at) : res.destroy()), Math.min(Math.max(wait, 0), LONGEST_TIMER_MS));
  res.once('close', () => clearTimeout(timer));
}
