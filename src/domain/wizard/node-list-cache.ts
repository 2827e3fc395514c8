// What a node offers (its storages, OS templates, bridges, guests) changes rarely, yet every wizard page and every
// Continue needs it: a few seconds of memory per node and endpoint spare the node a call per page, and concurrent
// requests for the same list share the one call in flight. Failures are not remembered, so the next page asks
// again. Checks (is VMID N free? the next free VMID) never come from here: they must be answered by the node now.
export const NODE_LIST_TTL_MS = 5_000;

interface Entry {
  value: Promise<unknown>;
  /** While the call is in flight: Infinity (everyone shares it). */
  expiresAt: number;
}

export class NodeListCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly ttlMs = NODE_LIST_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** The list under (node, endpoint): remembered, in flight, or loaded now. */
  get<T>(nodeId: number, endpoint: string, load: () => Promise<T>): Promise<T> {
    const key = `${nodeId} ${endpoint}`;
    const now = this.now();
    const hit = this.entries.get(key);
    if (hit && hit.expiresAt > now) return hit.value as Promise<T>;
    this.prune(now);
    const value = load();
    const entry: Entry = { value, expiresAt: Infinity };
    this.entries.set(key, entry);
    value.then(
      () => {
        entry.expiresAt = this.now() + this.ttlMs;
      },
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    return value;
  }

  private prune(now: number): void {
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
  }
}
