// A page's live streams, answered before Express (issue 18). A stream is a request that stays open for as long as the
// page does, and a request that went through Express keeps what its middleware put on it for all that time: the
// session and its save/touch helpers, the request logger, Express's own per-request state and method wrappers —
// about 12 KB of a held viewer's 19 KB of heap (docs/performance.md). So the streams a container page opens
// (GET /containers/:id/events, /live and /watch) are taken here when they are the ordinary case — a signed-in browser
// session (read, never written: a stream neither sends a cookie nor extends the session), a user who may read, a
// container they may see, a well-formed cursor — and opened by the very functions the Express routes call
// (src/http/container-streams.ts). Everything else (API tokens, no session, a disabled account, a foreign or
// unknown container, a bad cursor, the session store failing) is left to Express, which answers it as before.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SessionData } from 'express-session';
import type { User } from '../db/users-repository.ts';
import type { AccessChanges } from '../domain/access/access-changes.ts';
import type { Viewer } from '../domain/containers/container.ts';
import { hasRole } from '../domain/roles.ts';
import type { Logger } from '../logger.ts';
import { signedInUsers } from './middleware/auth.ts';
import { sessionEnd } from './middleware/session.ts';
import { parseCursor, parseHistorySeen, parseSeen, parseUsageSeen, type ContainerStreams, type StreamViewer } from './container-streams.ts';

export interface GatewayDeps {
  readSession(cookieHeader: string | undefined): Promise<{ id: string; data: SessionData } | undefined>;
  users: { findById(id: number): Promise<User | undefined> };
  streams: ContainerStreams;
  /** Access changes heard so far, noted before the session is read (the stream closes if one about its user follows). */
  access: Pick<AccessChanges, 'heard'>;
  logger: Logger;
}

const STREAM_PATH = /^\/containers\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/(events|live|watch)$/;

/**
 * `(req, res, next)`: serves the request if it is a page's stream it can take, else calls `next` (Express) before
 * anything was written.
 */
export function streamGateway(deps: GatewayDeps) {
  const signedIn = signedInUsers(deps.users);

  /** The signed-in viewer of this request, if its session and account allow a stream. */
  async function viewerOf(req: IncomingMessage): Promise<StreamViewer | undefined> {
    if (req.headers.authorization) return undefined; // API tokens go through bearerAuth
    const checkedAfter = deps.access.heard;
    const session = await deps.readSession(req.headers.cookie);
    const userId = session?.data.userId;
    const csrfToken = session?.data.csrfToken;
    if (userId === undefined || typeof csrfToken !== 'string') return undefined;
    const user = await signedIn(session!.data);
    if (!user || !hasRole(user.role, 'viewer')) return undefined;
    // What a stream keeps of the account: who it is and what it may do (not the row, password hash and all).
    const who: Viewer = { id: user.id, role: user.role };
    return { user: who, sessionId: session!.id, tokenId: undefined, credentialsEnd: sessionEnd(session!.data), csrfToken, checkedAfter };
  }

  return async (req: IncomingMessage, res: ServerResponse, next: () => void): Promise<void> => {
    const match = req.method === 'GET' ? STREAM_PATH.exec(req.url!.split('?', 1)[0]!) : null;
    if (!match) return next();
    const [, id, kind] = match as unknown as [string, string, 'events' | 'live' | 'watch'];
    const queryAt = req.url!.indexOf('?');
    let opened = false;
    try {
      const query = new URLSearchParams(queryAt < 0 ? '' : req.url!.slice(queryAt + 1));
      if (query.getAll('after').length > 1 || query.getAll('history').length > 1 || query.getAll('seen').length > 1) return next();
      const viewer = await viewerOf(req);
      if (!viewer) return next();
      const container = await deps.streams.visibleContainer(viewer.user, id).catch(() => undefined);
      if (!container) return next();
      const lastEventId = req.headers['last-event-id'];
      const cursor = kind === 'events' ? parseCursor(typeof lastEventId === 'string' ? lastEventId : undefined, query.get('after') ?? undefined) : 0;
      const seen = kind === 'watch' ? parseSeen(query.get('seen') ?? undefined) : kind === 'live' ? parseUsageSeen(query.get('seen') ?? undefined) : 0;
      const started = Date.now();
      res.on('close', () => deps.logger.info({ req: { method: 'GET', url: `/containers/${id}/${kind}` }, res: { statusCode: res.statusCode }, responseTime: Date.now() - started }, 'stream closed'));
      opened = true;
      if (kind === 'events') await deps.streams.progress(req, res, viewer, container, cursor);
      else if (kind === 'watch') await deps.streams.watch(req, res, viewer, container, seen!);
      else await deps.streams.usage(req, res, viewer, container, parseHistorySeen(query.get('history') ?? undefined), seen);
    } catch (err) {
      // Before anything was sent Express answers (a bad cursor: 422; the database gone: 503); after, the stream ends
      // and the browser reconnects.
      if (!opened && !res.headersSent) return next();
      deps.logger.warn({ err }, 'stream failed');
      res.destroy();
    }
  };
}
