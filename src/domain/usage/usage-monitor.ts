// Live usage for container pages, at one Proxmox request per node per interval whatever the number of viewers and
// web processes. Each web process keeps the viewers of its own pages; Redis holds the rest:
//
//   interest   ZSET <p>usage:watch:<node>   member "<container>:<vmid>", score = until when someone looks (ms)
//   poller     <p>usage:poller:<node>       the process that polls the node, a lease renewed every tick
//   results    <p>usage:latest:<container>  the last sample (JSON); <p>usage:series:<container> the 15-minute series
//   doorbell   PUBLISH <p>usage:node:<node> the samples of one poll, for every process with viewers on that node;
//              also rung by the worker (announce) when a container's stored state changed outside any stream — a
//              health check's result, a build's history entry — so its open pages re-render that state
//
// Every process with viewers on a node ticks every interval: it renews its viewers' interest and tries to hold the
// node's lease; the holder asks the node once (`GET /nodes/{node}/lxc`: every CT's status, CPU, memory, swap, disk,
// network counters and uptime in one answer), stores the samples and publishes them. A CT seen for the first time
// gets its last 15 minutes from `rrddata` once, so its sparklines are not empty on the first view. When the last
// viewer leaves, its process stops ticking for the node, the interest expires, and nobody polls.
import { randomUUID } from 'node:crypto';
import type { NodesRepository } from '../../db/nodes-repository.ts';
import type { Redis } from '../../lib/redis.ts';
import type { SecretBox } from '../../lib/secret-box.ts';
import type { Logger } from '../../logger.ts';
import type { LxcStatus } from '../../proxmox/api-types.ts';
import { proxmoxClientFor } from '../nodes/node-access.ts';
import { appendPoint, nextSample, pointOf, pointsFromRrd, SERIES_WINDOW_MS, type UsagePoint, type UsageSample, type UsageSnapshot } from './usage.ts';

export interface UsageMonitorDeps {
  /** Commands and PUBLISH. */
  redis: Redis;
  /** Made on first use: a connection of its own for SUBSCRIBE (the worker never opens it). */
  subscriber: () => Redis;
  nodes: NodesRepository;
  secrets: SecretBox;
  logger: Logger;
  /** How often a node is asked (USAGE_POLL_MS). */
  intervalMs: number;
  /** Key prefix (the queue prefix), so installs and test files sharing one Redis stay apart. */
  prefix: string;
}

export interface WatchedContainer {
  id: string;
  nodeId: number;
  vmid: number;
}

/**
 * What a viewer is told: a new snapshot (`usage`); one in which the CT went from running to stopped or back
 * (`status`); or that the container's stored state changed meanwhile (`state`: a health check, a history entry).
 */
export type UsageChange = 'usage' | 'status' | 'state';
export type UsageListener = (snapshot: UsageSnapshot, change: UsageChange) => void;

interface Watched {
  container: WatchedContainer;
  listeners: Set<UsageListener>;
  snapshot: UsageSnapshot;
}

interface PollMessage {
  at: number;
  samples: Record<string, { sample?: UsageSample; seeded?: UsagePoint[]; problem?: string; missing?: true }>;
  /** Containers whose stored state changed (announce). */
  changed?: string[];
}

// Hold the lease if free or ours; answers 1 when this process is the node's poller.
const CLAIM = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`;

const NODE_TIMEOUT_MS = 3_000;

export class UsageMonitor {
  private readonly id = randomUUID();
  private readonly watched = new Map<string, Watched>();
  private readonly subscribedNodes = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private sub: Redis | undefined;
  private ticking = false;
  /** Polls this process made (for the bench and tests). */
  polls = 0;

  constructor(private readonly deps: UsageMonitorDeps) {}

  private key(...parts: Array<string | number>): string {
    return `${this.deps.prefix}:usage:${parts.join(':')}`;
  }

  /** What is known now: this process's copy while someone here watches, else what Redis holds. */
  async snapshot(containerId: string): Promise<UsageSnapshot> {
    const local = this.watched.get(containerId);
    if (local) return local.snapshot;
    return this.readStored(containerId);
  }

  /** Starts delivering snapshots of the container to `listener`; the returned function stops it. */
  async watch(container: WatchedContainer, listener: UsageListener): Promise<() => void> {
    let entry = this.watched.get(container.id);
    if (!entry) {
      const stored = await this.readStored(container.id);
      // Another viewer of the same container may have arrived meanwhile: join its entry, never replace it (its
      // listeners would be told nothing more).
      entry = this.watched.get(container.id) ?? { container, listeners: new Set(), snapshot: stored };
      this.watched.set(container.id, entry);
    }
    entry.listeners.add(listener);
    try {
      await this.subscribeNode(container.nodeId);
      await this.deps.redis.zadd(this.key('watch', container.nodeId), Date.now() + this.deps.intervalMs * 3, `${container.id}:${container.vmid}`);
    } catch (err) {
      // Redis away: the next tick renews the interest (ioredis re-subscribes when it is back).
      this.subscribedNodes.delete(container.nodeId);
      this.deps.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'live usage: Redis did not answer; retrying at the next tick');
    }
    if (!this.timer) {
      this.timer = setInterval(() => void this.tick(), this.deps.intervalMs);
      this.timer.unref();
      void this.tick();
    }
    return () => {
      const current = this.watched.get(container.id);
      if (!current?.listeners.delete(listener) || current.listeners.size > 0) return;
      this.watched.delete(container.id);
      if (this.watched.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  /**
   * Tells every process with viewers of this container that its stored state changed outside its streams (a health
   * check stored, a build's history entry written after its last event): their pages re-render it. One PUBLISH on
   * the node's channel, which those processes already hear; nobody listening costs nothing. Never throws: a page
   * that misses it is current again at its next reload.
   */
  async announce(container: { id: string; nodeId: number | null }): Promise<void> {
    if (container.nodeId === null) return;
    const message: PollMessage = { at: Date.now(), samples: {}, changed: [container.id] };
    await this.deps.redis.publish(this.key('node', container.nodeId), JSON.stringify(message)).catch((err: Error) =>
      this.deps.logger.warn({ err: err.message, containerId: container.id }, 'could not tell open pages that a container changed'),
    );
  }

  get viewerCount(): number {
    let n = 0;
    for (const w of this.watched.values()) n += w.listeners.size;
    return n;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.watched.clear();
    if (this.sub) await this.sub.quit().catch(() => this.sub?.disconnect());
  }

  /** What Redis holds; nothing (never an error) while Redis is away, so a page or a stream's last message still renders. */
  private async readStored(containerId: string): Promise<UsageSnapshot> {
    let latest: string | null;
    let series: string[];
    try {
      [latest, series] = await Promise.all([
        this.deps.redis.get(this.key('latest', containerId)),
        this.deps.redis.lrange(this.key('series', containerId), 0, -1),
      ]);
    } catch (err) {
      this.deps.logger.warn({ err: err instanceof Error ? err.message : String(err), containerId }, 'live usage: Redis did not answer; the page shows no figures this time');
      return { series: [] };
    }
    const stored = latest ? (JSON.parse(latest) as { sample?: UsageSample; problem?: UsageSnapshot['problem'] }) : {};
    const now = Date.now();
    return { ...stored, series: series.map((p) => JSON.parse(p) as UsagePoint).filter((p) => now - p.t <= SERIES_WINDOW_MS) };
  }

  private async subscribeNode(nodeId: number): Promise<void> {
    if (this.subscribedNodes.has(nodeId)) return;
    this.subscribedNodes.add(nodeId);
    if (!this.sub) {
      this.sub = this.deps.subscriber();
      this.sub.on('message', (_channel: string, payload: string) => this.deliver(JSON.parse(payload) as PollMessage));
    }
    await this.sub.subscribe(this.key('node', nodeId));
  }

  /** One round: renew interest for every container watched here, and poll the nodes this process holds. */
  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const byNode = new Map<number, Watched[]>();
      for (const w of this.watched.values()) byNode.set(w.container.nodeId, [...(byNode.get(w.container.nodeId) ?? []), w]);
      const until = Date.now() + this.deps.intervalMs * 3;
      await Promise.all(
        [...byNode].map(async ([nodeId, list]) => {
          await this.subscribeNode(nodeId);
          await this.deps.redis.zadd(this.key('watch', nodeId), ...list.flatMap((w) => [String(until), `${w.container.id}:${w.container.vmid}`]));
          const held = await this.deps.redis.eval(CLAIM, 1, this.key('poller', nodeId), this.id, Math.round(this.deps.intervalMs * 2.5));
          if (held === 1) await this.poll(nodeId);
        }),
      );
    } catch (err) {
      this.deps.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'live usage: a polling round failed');
    } finally {
      this.ticking = false;
    }
  }

  /** Asks the node once for every CT someone looks at, stores the samples and rings the doorbell. */
  private async poll(nodeId: number): Promise<void> {
    const watchKey = this.key('watch', nodeId);
    const now = Date.now();
    await this.deps.redis.zremrangebyscore(watchKey, '-inf', now);
    const members = (await this.deps.redis.zrange(watchKey, '0', '-1')).map((m) => {
      const at = m.lastIndexOf(':');
      return { id: m.slice(0, at), vmid: Number(m.slice(at + 1)) };
    });
    if (members.length === 0) return;
    this.polls++;
    const message: PollMessage = { at: now, samples: {} };
    const node = await this.deps.nodes.findById(nodeId);
    let guests: LxcStatus[] | undefined;
    let failure: string | undefined;
    let client;
    try {
      if (!node) throw new Error('Its node has been removed from Launchpad.');
      client = proxmoxClientFor(node, this.deps.secrets, { requestTimeoutMs: NODE_TIMEOUT_MS, connectTimeoutMs: NODE_TIMEOUT_MS, retry: { attempts: 1 } });
      guests = await client.listLxc(node.name);
    } catch (err) {
      failure = `${node?.name ?? 'The node'} did not answer: ${err instanceof Error ? err.message : String(err)}`;
    }
    try {
      const stored = await this.deps.redis.mget(...members.map((m) => this.key('latest', m.id)));
      const write = this.deps.redis.multi();
      for (const [i, m] of members.entries()) {
        const before = stored[i] ? (JSON.parse(stored[i]!) as { sample?: UsageSample; problem?: UsageSnapshot['problem'] }) : {};
        const prev = before.sample;
        const guest = guests?.find((g) => g.vmid === m.vmid);
        const problem = failure ?? (guest ? undefined : `CT ${m.vmid} is not on ${node?.name ?? 'its node'}.`);
        if (problem || !guest) {
          // Keep the last known values; say why they are not fresh.
          const missing = failure === undefined ? ({ missing: true } as const) : {};
          write.set(this.key('latest', m.id), JSON.stringify({ sample: prev, problem: { reason: problem, at: before.problem?.at ?? now, ...missing } }), 'PX', SERIES_WINDOW_MS * 4);
          message.samples[m.id] = { problem, ...missing };
          continue;
        }
        const sample = nextSample(prev, guest, now);
        let seeded: UsagePoint[] | undefined;
        if (!prev && sample.status === 'running' && client && node) {
          seeded = pointsFromRrd(await client.getLxcRrdData(node.name, m.vmid).catch(() => []), now).filter((p) => p.t < now);
          for (const p of seeded) write.rpush(this.key('series', m.id), JSON.stringify(p));
        }
        write.set(this.key('latest', m.id), JSON.stringify({ sample }), 'PX', SERIES_WINDOW_MS * 4);
        if (sample.status === 'running') write.rpush(this.key('series', m.id), JSON.stringify(pointOf(sample)));
        write.ltrim(this.key('series', m.id), -Math.ceil(SERIES_WINDOW_MS / this.deps.intervalMs) - 20, -1);
        write.pexpire(this.key('series', m.id), SERIES_WINDOW_MS * 4);
        message.samples[m.id] = { sample, ...(seeded?.length ? { seeded } : {}) };
      }
      write.publish(this.key('node', nodeId), JSON.stringify(message));
      await write.exec();
    } finally {
      client?.close();
    }
  }

  /** A poll's results reached this process: update the watched containers and tell their viewers. */
  private deliver(message: PollMessage): void {
    for (const [id, update] of Object.entries(message.samples)) {
      const w = this.watched.get(id);
      if (!w) continue;
      const before = w.snapshot;
      let series = before.series;
      if (update.seeded) series = [...update.seeded, ...series].sort((a, b) => a.t - b.t);
      const snapshot: UsageSnapshot = update.sample
        ? { sample: update.sample, series: update.sample.status === 'running' ? appendPoint(series, pointOf(update.sample)) : series }
        : { sample: before.sample, series, problem: { reason: update.problem ?? 'No values.', at: before.problem?.at ?? message.at, ...(update.missing ? { missing: true as const } : {}) } };
      w.snapshot = snapshot;
      // A CT converted to a template while stopped changes what the page offers as much as a start does; so does a CT
      // gone from the node that answered, or back (it may be another guest at the VMID now), or another name there.
      const statusChanged =
        (!!update.sample && !!before.sample && (before.sample.status !== update.sample.status || !!before.sample.template !== !!update.sample.template || before.sample.name !== update.sample.name)) ||
        !!before.problem?.missing !== !!snapshot.problem?.missing;
      this.tell(w, statusChanged ? 'status' : 'usage');
    }
    for (const id of message.changed ?? []) {
      const w = this.watched.get(id);
      if (!w) continue;
      // The same values in a new object: each announce is a round of its own, so the viewers' re-renders of it can
      // share one read keyed by it (and none of an earlier round's).
      w.snapshot = { ...w.snapshot };
      this.tell(w, 'state');
    }
  }

  private tell(w: Watched, change: UsageChange): void {
    for (const listener of w.listeners) {
      try {
        listener(w.snapshot, change);
      } catch (err) {
        this.deps.logger.error({ err, containerId: w.container.id }, 'live usage: a viewer could not be updated');
      }
    }
  }
}
