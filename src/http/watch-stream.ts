// The quiet stream of a failed or cancelled build's page (GET /containers/:id/watch?seen=<seq>), and of a built
// container's whose CT is gone or became a template. Teammates keep such a page open while its owner presses Retry
// (or someone destroys or forgets it): the page must follow. The stream says
// nothing but the heartbeat until the container has anything the page does not show — any event after `seen`, the seq
// the page was rendered up to — and then sends one `done`: the page's state as a reload would render it (a Retry's
// queued build offers Cancel, not Retry) and a stream slot that opens the progress stream from `seen`, which replays
// what happened since (the retry's first lines) and follows it live. Nothing is polled: the container's
// relay subscription (the doorbell the usage stream listens to) is all it waits on.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Container } from '../domain/containers/container.ts';
import { isWatchedQuietly } from '../domain/containers/container-page.ts';
import type { EventRelay } from '../domain/progress/event-relay.ts';
import { isSettled } from '../domain/progress/progress-feed.ts';
import { openEventStream } from './sse.ts';
import { StreamLife } from './stream-life.ts';

export interface WatchStreamDeps {
  relay: EventRelay;
  /** The container as it stands; `shared`: a read the viewers ringing together may share (one doorbell, one read). */
  readContainer(id: string, shared: boolean): Promise<Container | undefined>;
  /** This viewer's page state as of `latest`, out of band, its stream slot opening the progress stream after `seen`. */
  render(latest: Container, seen: number): Promise<string>;
  sse: { maxPendingBytes: number; heartbeatMs: number };
}

/** Whether a page rendered up to `seen` still shows the container as it stands: settled, nothing since. */
export const pageIsCurrent = (seen: number, latest: Container | undefined): boolean =>
  latest !== undefined && isWatchedQuietly(latest) && isSettled(latest) && latest.lastSeq <= seen;

export async function streamWatch(req: IncomingMessage, res: ServerResponse, deps: WatchStreamDeps, container: Container, seen: number): Promise<void> {
  const sse = openEventStream(req, res, { maxPendingBytes: deps.sse.maxPendingBytes, heartbeatMs: deps.sse.heartbeatMs, group: `watch:${container.id}` });
  const life = new StreamLife(res, sse);
  const handOver = async (latest: Container | undefined) => {
    const html = latest ? await deps.render(latest, seen) : '';
    if (!life.stopped) life.finish(html);
  };
  // Opened by a page that is already behind (it changed between the page's render and this request): at once.
  if (!pageIsCurrent(seen, container)) return handOver(container);

  // One look at a time; a doorbell during a look means one more look after it, so no change falls between two.
  let looking = false;
  let again = false;
  const look = async (shared: boolean) => {
    if (looking) {
      again = true;
      return;
    }
    looking = true;
    try {
      do {
        again = false;
        const latest = await deps.readContainer(container.id, shared);
        if (life.stopped) return;
        if (!pageIsCurrent(seen, latest)) return await handOver(latest);
      } while (again);
    } finally {
      looking = false;
    }
  };
  const ring = () => life.orEnd(look(true));
  // lastSent = seen: the relay's periodic check (one query for every watched container) rings a page whose
  // container moved on while its message was lost (a failed publish).
  const unsubscribe = await deps.relay.subscribe(container.id, { onMessage: ring, onResync: ring, lastSent: seen });
  life.hold(unsubscribe);
  if (life.stopped) return;
  // What happened between the read that opened this stream and the subscription (a Retry pressed just then rang no
  // one here): looked for once it listens, with a read of its own (a shared one may have started before the change).
  life.orEnd(
    look(false).then(() => {
      if (!life.stopped) sse.send(0, 'live', '0');
    }),
  );
}
