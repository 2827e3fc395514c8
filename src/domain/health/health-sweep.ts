// The worker's periodic health sweep: every ready container that nothing holds (no action, no live build run) is
// checked. Nodes are swept side by side, each over one SSH connection, a few containers at a time, so a node with
// many containers sees a steady trickle of small commands rather than a burst, and one slow node holds up no other.
// A container an action or build takes meanwhile is skipped when its turn comes (runHealthCheck asks again).
import pLimit from 'p-limit';
import { NodeShell } from '../../proxmox/node-shell.ts';
import { shellTargetFor } from '../nodes/node-access.ts';
import { runHealthCheck, type HealthCheckDeps, type NodeCommands } from './health-check.ts';

/** Checks running at once on one node. */
export const SWEEP_CONCURRENCY_PER_NODE = 2;

export interface SweepResult {
  checked: number;
  /** Held by an action or build when their turn came, or with no services. */
  skipped: number;
}

export async function runHealthSweep(deps: HealthCheckDeps, options: { leaseStaleMs: number; signal?: AbortSignal }): Promise<SweepResult> {
  const containers = await deps.repos.containers.healthCheckable(options.leaseStaleMs);
  const byNode = new Map<number, typeof containers>();
  for (const c of containers) byNode.set(c.nodeId!, [...(byNode.get(c.nodeId!) ?? []), c]);
  const result: SweepResult = { checked: 0, skipped: 0 };
  await Promise.all(
    [...byNode].map(async ([nodeId, ours]) => {
      const node = await deps.repos.nodes.findById(nodeId);
      // One connection for the node's checks, opened on first use; if it cannot be opened, each check says why.
      let shell: Promise<NodeShell> | undefined;
      const connection = (): Promise<NodeCommands> => (shell ??= NodeShell.connect(shellTargetFor(node!, deps.secrets), { signal: options.signal }));
      const limit = pLimit(SWEEP_CONCURRENCY_PER_NODE);
      try {
        await Promise.all(
          ours.map((c) =>
            limit(async () => {
              if (options.signal?.aborted) return;
              const outcome = await runHealthCheck(deps, c.id, { trigger: 'schedule', userId: null }, { connection: node ? connection : undefined, leaseStaleMs: options.leaseStaleMs, signal: options.signal });
              if (typeof outcome === 'object') result.checked++;
              else result.skipped++;
            }),
          ),
        );
      } finally {
        await shell?.then((s) => s.close()).catch(() => undefined);
      }
    }),
  );
  return result;
}
