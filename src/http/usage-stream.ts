// The usage stream of a built container's page (GET /containers/:id/live): the usage panel and the Proxmox status
// badge each time the node is polled (rendered once per poll for every viewer in this process), the whole state when
// the CT starts or stops (actions change with it) or when the worker announces a change the page cannot see (a health
// check's result, a history entry), and — when something happens to the container (an action
// starts, it is destroyed) — a last `done` message that renders the page's state and swaps the stream slot to the
// progress stream. The viewers' interest is what keeps the node being polled (src/domain/usage/usage-monitor.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ContainersRepository } from '../db/containers-repository.ts';
import type { Container, LiveStatus } from '../domain/containers/container.ts';
import { templateStatus } from '../domain/containers/container-list.ts';
import { showsUsage } from '../domain/containers/container-page.ts';
import type { EventRelay } from '../domain/progress/event-relay.ts';
import { isSettled } from '../domain/progress/progress-feed.ts';
import type { UsageChange, UsageMonitor } from '../domain/usage/usage-monitor.ts';
import { usageView, type UsageSnapshot } from '../domain/usage/usage.ts';
import type { ContainerFragments } from './container-fragments.ts';
import { openEventStream } from './sse.ts';
import { StreamLife } from './stream-life.ts';

export interface UsageStreamDeps {
  usage: UsageMonitor;
  relay: EventRelay;
  containers: ContainersRepository;
  fragments: ContainerFragments;
  /**
   * This viewer's page state, out of band, as of now (the container read again): `final` with the stream slot, or a
   * refresh without it — unless the state says the usage stream is over (its CT gone or another guest's), which
   * makes it final (`last`). `round`: the snapshot that prompted a refresh — the status the last poll saw (so no extra
   * request to the node, see pollStatus), and the key under which every viewer of that round shares one read.
   */
  render(how: 'final' | 'refresh', round?: UsageSnapshot): Promise<{ html: string; last: boolean }>;
  /** The id of the container's newest history entry now (the page says which one it shows). */
  newestHistoryId(containerId: string): Promise<number>;
  sse: { maxPendingBytes: number; heartbeatMs: number };
}

/**
 * The poll's status, when the page may take it as its CT's: a running or stopped guest under the container's hostname.
 * Anything else — the CT gone from the node, another name at its VMID — is for the node to say, mark and all
 * (container-list.ts liveStatusOf): the monitor polls by VMID and cannot tell another guest there from ours.
 */
export function pollStatus(snapshot: UsageSnapshot, container: Pick<Container, 'vmid' | 'hostname'>): LiveStatus | undefined {
  const status = statusOf(snapshot, container.vmid!);
  const name = snapshot.sample?.name;
  return snapshot.problem?.missing || (name !== undefined && name !== container.hostname) ? undefined : status;
}

/** What the badge says about CT `vmid`, from the poll (no extra request to the node). */
export function statusOf(snapshot: UsageSnapshot, vmid: number): LiveStatus | undefined {
  const s = snapshot.sample;
  if (snapshot.problem) return { state: 'unknown', reason: snapshot.problem.reason };
  if (s?.template) return templateStatus(vmid);
  return s && { state: s.status, uptime: s.status === 'running' ? s.uptime : undefined, lock: s.lock };
}

// Every viewer of a container in this process gets the same snapshot object from the monitor: render it once.
const rendered = new WeakMap<UsageSnapshot, string>();
function usageMessage(fragments: ContainerFragments, snapshot: UsageSnapshot, container: Container): string {
  let html = rendered.get(snapshot);
  if (html === undefined) {
    html = fragments.usageUpdate(usageView(snapshot, Date.now()), statusOf(snapshot, container.vmid!), container.id);
    rendered.set(snapshot, html);
  }
  return html;
}

/** Whether the page may still want the usage stream; whether its CT is still its own, the node says (stateFor). */
const watchesUsage = (c: Container) => isSettled(c) && showsUsage(c);

/**
 * `historySeen`: the newest history entry the page shows. One written between the page's render and this stream's
 * subscription (a build's entry lands just after its last event) would be missed by the doorbell, so it is looked
 * for once the stream listens.
 */
export async function streamUsage(req: IncomingMessage, res: ServerResponse, deps: UsageStreamDeps, container: Container, historySeen: number | undefined): Promise<void> {
  const sse = openEventStream(req, res, { maxPendingBytes: deps.sse.maxPendingBytes, heartbeatMs: deps.sse.heartbeatMs, group: `usage:${container.id}` });
  if (!watchesUsage(container)) {
    // Opened from a page that is out of date: hand it the current state (and the right stream) and end.
    sse.send(0, 'done', (await deps.render('final')).html);
    return sse.end();
  }
  const life = new StreamLife(res, sse);

  let checking = false;
  const checkContainer = async () => {
    if (checking || life.stopped) return;
    checking = true;
    try {
      const latest = await deps.containers.findById(container.id);
      // Still watched, and on the node this stream polls (an entry that followed its CT to another node gets the
      // page's final state, whose next stream polls the new node).
      if (life.stopped || (latest && watchesUsage(latest) && latest.nodeId === container.nodeId)) return;
      // Stopped before the render: no refresh of this stream may follow its last message.
      life.stop();
      life.finish(latest ? (await deps.render('final')).html : '');
    } finally {
      checking = false;
    }
  };
  life.hold(await deps.relay.subscribe(container.id, { onMessage: () => life.orEnd(checkContainer()), onResync: () => life.orEnd(checkContainer()), lastSent: Number.MAX_SAFE_INTEGER }));

  const refresh = (snapshot: UsageSnapshot) =>
    life.orEnd(
      deps.render('refresh', snapshot).then(({ html, last }) => {
        if (life.stopped) return;
        if (!last) return void sse.send(0, 'usage', html);
        // Its CT is gone (or another guest's): the page's final state, with no usage stream to follow.
        life.finish(html);
      }),
    );
  const onSnapshot = (snapshot: UsageSnapshot, change: UsageChange) => {
    if (life.stopped) return;
    if (change === 'usage') return void sse.sendShared(0, 'usage', usageMessage(deps.fragments, snapshot, container));
    // Started or stopped (what it offers changed too), or its health or history did: this viewer's whole state, with
    // the status the last poll saw.
    refresh(snapshot);
  };
  const unwatch = await deps.usage.watch({ id: container.id, nodeId: container.nodeId!, vmid: container.vmid! }, onSnapshot);
  life.hold(unwatch);
  if (life.stopped) return;
  // What is known already, so the panel is current before the next poll; then `live` for the page's indicator, once
  // the stream has looked for a history entry the page missed (so a change after `live` reaches it only through the
  // doorbell, as its viewers' shared round).
  const known = await deps.usage.snapshot(container.id);
  sse.sendShared(0, 'usage', usageMessage(deps.fragments, known, container));
  // (A round of its own: what is read for it must be newer than the entry just found.)
  if (historySeen !== undefined && (await deps.newestHistoryId(container.id)) !== historySeen) refresh({ ...known });
  if (!life.stopped) sse.send(0, 'live', '0');
}
