import type { ContainersRepository } from '../../db/containers-repository.ts';
import type { ContainerExtrasRepository } from '../../db/container-extras-repository.ts';
import type { EventsRepository } from '../../db/events-repository.ts';
import type { NodeRecord } from '../../db/nodes-repository.ts';
import type { Logger } from '../../logger.ts';
import type { SecretBox } from '../../lib/secret-box.ts';
import type { ProxmoxClient } from '../../proxmox/api-client.ts';
import type { NodeShell } from '../../proxmox/node-shell.ts';
import type { ContainerConfig } from '../containers/container-config.ts';
import type { EventRecorder } from '../progress/event-recorder.ts';
import type { Container } from '../containers/container.ts';
import type { HealthCheck } from '../health/service-health.ts';

/** Timing knobs; tests against a fast simulator shorten the polls. */
export interface PipelineTimings {
  /** Poll interval for task status, config locks and IP addresses. */
  pollMs: number;
  /** How long to wait for the config lock to clear before starting. */
  lockWaitMs: number;
  /** How long to wait for an IPv4 address after start. */
  ipWaitMs: number;
  /** Per template script. */
  scriptTimeoutMs: number;
  /** Per package-manager run. */
  packageTimeoutMs: number;
  /** Per small command (markers, file checks). */
  commandTimeoutMs: number;
  /**
   * How long a followed task's node may stay unreachable before the build stops following it (the task itself runs
   * on; a Retry reads the rest of its log, see task-following.ts).
   */
  taskContactMs: number;
}

export const DEFAULT_TIMINGS: PipelineTimings = {
  pollMs: 1000,
  lockWaitMs: 120_000,
  ipWaitMs: 180_000,
  scriptTimeoutMs: 30 * 60_000,
  packageTimeoutMs: 30 * 60_000,
  commandTimeoutMs: 60_000,
  taskContactMs: 60_000,
};

/** Everything a step may touch for one container; built by the runner for each run. */
export interface PipelineContext {
  container: Container;
  config: ContainerConfig;
  node: NodeRecord;
  api: ProxmoxClient;
  /** Opens (once) the SSH session to the node that hosts the CT. */
  shell(): Promise<NodeShell>;
  recorder: EventRecorder;
  repos: { containers: ContainersRepository; containerExtras: ContainerExtrasRepository; events: EventsRepository };
  secrets: SecretBox;
  logger: Logger;
  signal: AbortSignal;
  timings: PipelineTimings;
  /** The VMID, once the creating step has settled it. */
  vmid: number;
  /** The CT's IPv4 address, once the starting step found it. */
  ip: string | null;
  /** Unseals the root password (only the creating step needs it). */
  rootPassword(): string | undefined;
  /**
   * True on the embedded simulator started without bubblewrap: nothing runs inside the CT, so each step says its
   * work was simulated rather than done.
   */
  commandsSimulated: boolean;
  /** Checks the registered services over this run's node connection and stores the result (the build's check). */
  checkHealth(): Promise<HealthCheck | 'busy' | 'no-services'>;
  /** Throws unless the CT at `vmid` still carries this container's mark (ct-mark.ts confirmStillOwnCt). */
  confirmStillOurs(): Promise<void>;
}

/** What a step appends to a line about work inside the CT when that work was only simulated. */
export const simulatedNote = (ctx: Pick<PipelineContext, 'commandsSimulated'>) =>
  ctx.commandsSimulated ? ' — simulated: bubblewrap is missing on the Launchpad host, so nothing ran inside the CT' : '';

export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
