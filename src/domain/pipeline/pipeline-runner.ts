// The runner owns ordering, recording and failure handling; each step only does its phase, checking the real
// state first so that a re-run — a Retry, or a job BullMQ redelivers after a worker crash — resumes where it
// stopped: one CT, no file pushed twice, no completed script run again, and an attempt marker in the log.
import type { ContainersRepository } from '../../db/containers-repository.ts';
import type { ContainerExtrasRepository } from '../../db/container-extras-repository.ts';
import type { EventsRepository } from '../../db/events-repository.ts';
import type { HealthRepository } from '../../db/health-repository.ts';
import type { HistoryRepository } from '../../db/history-repository.ts';
import type { NodeRecord, NodesRepository } from '../../db/nodes-repository.ts';
import type { SettingsRepository } from '../../db/settings-repository.ts';
import type { UsersRepository } from '../../db/users-repository.ts';
import type { Logger } from '../../logger.ts';
import type { SecretBox } from '../../lib/secret-box.ts';
import { NodeShell } from '../../proxmox/node-shell.ts';
import { waitForTask } from '../../proxmox/task-waiter.ts';
import type { ContainerConfig } from '../containers/container-config.ts';
import { proxmoxClientFor, shellTargetFor } from '../nodes/node-access.ts';
import { SANDBOX_FIX, simulatorRunsCommands } from '../nodes/simulator-badge.ts';
import { EventRecorder } from '../progress/event-recorder.ts';
import { PHASES, isPhaseKey, type PhaseKey } from '../progress/phases.ts';
import type { Publish } from '../progress/progress-channel.ts';
import { DEFAULT_TIMINGS, type PipelineContext, type PipelineTimings } from './pipeline-context.ts';
import { ForeignGuestError, confirmOwnCt, confirmStillOwnCt } from './ct-mark.ts';
import { VmidTakenError, WorkerShutdown, describeFailure, failureKindOf, isInterruption } from './pipeline-errors.ts';
import { creatingStep } from './steps/creating-step.ts';
import { deployingStep } from './steps/deploying-step.ts';
import { finalizingStep } from './steps/finalizing-step.ts';
import { startingStep } from './steps/starting-step.ts';
import { syncingStep } from './steps/syncing-step.ts';
import type { Container } from '../containers/container.ts';
import { rootPasswordAad } from '../sealed-secrets.ts';
import { recordBuildEnded } from '../history/record-history.ts';
import { runHealthCheck } from '../health/health-check.ts';
import type { UsageMonitor } from '../usage/usage-monitor.ts';

export interface PipelineDeps {
  repos: {
    containers: ContainersRepository;
    events: EventsRepository;
    nodes: NodesRepository;
    containerExtras: ContainerExtrasRepository;
    settings: SettingsRepository;
    users: UsersRepository;
    history: HistoryRepository;
    health: HealthRepository;
  };
  secrets: SecretBox;
  publish: Publish;
  logger: Logger;
  timings?: Partial<PipelineTimings>;
  /** Tells the container's open pages when its history changed after its last event (left out where none can be open). */
  usage?: Pick<UsageMonitor, 'announce'>;
}

const STEPS: Record<PhaseKey, (ctx: PipelineContext) => Promise<void>> = {
  creating: creatingStep,
  starting: startingStep,
  deploying: deployingStep,
  syncing: syncingStep,
  finalizing: finalizingStep,
};

export { WorkerShutdown };

export type RunOutcome = 'ready' | 'failed' | 'cancelled' | 'interrupted' | 'skipped';

/**
 * Runs (or resumes) a container's build. Every attempt that ends — ready, failed or cancelled — leaves one entry in
 * the container's history; so does a settled build whose entry a crashed worker never wrote (`skipped`).
 * `requestedBy`: the user who pressed Deploy or Retry.
 */
export async function runCreatePipeline(deps: PipelineDeps, containerId: string, signal: AbortSignal, options: { requestedBy?: number } = {}): Promise<RunOutcome> {
  const outcome = await runAttempt(deps, containerId, signal);
  if (outcome !== 'interrupted') {
    // Written after the attempt's last event (its outcome needs the container as that event left it): a page whose
    // stream already ended hears of the entry through the doorbell.
    const writtenFor = await recordBuildEnded(deps.repos, containerId, options.requestedBy).catch((err: Error) => {
      deps.logger.error({ err, containerId }, 'could not write the history entry of a build attempt');
      return undefined;
    });
    if (writtenFor) await deps.usage?.announce(writtenFor);
  }
  return outcome;
}

async function runAttempt(deps: PipelineDeps, containerId: string, signal: AbortSignal): Promise<RunOutcome> {
  const container = await deps.repos.containers.findById(containerId);
  if (!container || !['queued', 'creating'].includes(container.lifecycle)) return 'skipped';
  const node = await deps.repos.nodes.findById(container.nodeId);
  const recorder = await EventRecorder.resume({ events: deps.repos.events, publish: deps.publish, logger: deps.logger }, container);
  const log = deps.logger.child({ containerId, vmid: container.vmid });

  const attempt = container.attempt + 1;
  const resumeFrom: PhaseKey = isPhaseKey(container.currentStep) ? container.currentStep : 'creating';
  if (attempt > 1) {
    const why = container.lifecycle === 'creating' ? 'the previous run stopped before finishing (worker restart or crash)' : 'retry requested';
    await recorder.attempt(attempt, resumeFrom, `resuming at ${PHASES.find((p) => p.key === resumeFrom)!.label} — ${why}.`);
  } else {
    await deps.repos.containers.update(containerId, { attempt });
  }

  if (!node) {
    await recorder.fail('The node this container was deployed to has been removed from Launchpad. Add it again under Nodes, then Retry.');
    await recorder.close();
    return 'failed';
  }

  const commandsSimulated = node.isSimulator && !(await simulatorRunsCommands(deps.repos.settings));
  if (commandsSimulated) {
    recorder.log(
      'system',
      `Node ${node.name} is the embedded Proxmox VE simulator without bubblewrap: commands inside the CT are NOT run — files, packages and scripts are only simulated, and their output says so. Install bubblewrap on the Launchpad host (${SANDBOX_FIX}) and restart Launchpad to run them.`,
    );
  } else if (node.isSimulator) {
    recorder.log('system', `Node ${node.name} is the embedded Proxmox VE simulator: no real cluster is touched; scripts run in a sandbox on the Launchpad host.`);
  }
  let shell: NodeShell | undefined;
  let api: ReturnType<typeof proxmoxClientFor> | undefined;
  try {
    api = proxmoxClientFor(node, deps.secrets);
    const ctx: PipelineContext = {
      container,
      config: container.config as unknown as ContainerConfig,
      node,
      api,
      shell: async () => (shell ??= await NodeShell.connect(shellTargetFor(node, deps.secrets), { signal })),
      recorder,
      repos: deps.repos,
      secrets: deps.secrets,
      logger: log,
      signal,
      timings: { ...DEFAULT_TIMINGS, ...deps.timings },
      vmid: container.vmid ?? 0,
      ip: container.ip,
      commandsSimulated,
      rootPassword: () => (container.rootPasswordEnc ? deps.secrets.open(container.rootPasswordEnc, rootPasswordAad(container.id)) : undefined),
      checkHealth: () =>
        runHealthCheck({ repos: deps.repos, secrets: deps.secrets, logger: log }, containerId, { trigger: 'build', userId: null }, { connection: ctx.shell, duringBuild: true, signal }),
      confirmStillOurs: () => confirmStillOwnCt(ctx.api, node.name, ctx.container, ctx.vmid),
    };
    for (const phase of PHASES) {
      signal.throwIfAborted();
      // Create settles which CT is ours; every later phase first checks that the VMID still holds it.
      if (phase.key !== 'creating') await ctx.confirmStillOurs();
      await STEPS[phase.key](ctx);
    }
    await recorder.close();
    log.info('container ready');
    return 'ready';
  } catch (err) {
    if (signal.aborted && isInterruption(signal.reason)) {
      recorder.log('system', signal.reason.message);
      await recorder.close().catch(() => undefined);
      return 'interrupted';
    }
    if (signal.aborted) {
      await recorder.cancelled(signal.reason instanceof Error ? signal.reason.message : 'Cancelled.');
      await recorder.close().catch(() => undefined);
      return 'cancelled';
    }
    const message = describeFailure(err, { node });
    log.warn({ err }, 'build failed');
    // Before the failure itself, which ends the page's stream and offers Retry: the destroy's lines reach the viewers,
    // and no Retry races it.
    const config = container.config as unknown as ContainerConfig;
    const vmid = (await deps.repos.containers.findById(containerId))?.vmid;
    const othersGuest = err instanceof ForeignGuestError || err instanceof VmidTakenError;
    if (config.destroyOnFailure && api && vmid && !othersGuest) await destroyAfterFailure(api, node, vmid, container, recorder, log);
    await recorder.fail(message, failureKindOf(err));
    await recorder.close().catch(() => undefined);
    return 'failed';
  } finally {
    await shell?.close().catch(() => undefined);
    api?.close();
  }
}

/** "Destroy the container if creation fails": best effort, reported in the log either way. */
async function destroyAfterFailure(api: ReturnType<typeof proxmoxClientFor>, node: NodeRecord, vmid: number, container: Container, recorder: EventRecorder, log: Logger) {
  try {
    const exists = (await api.listLxc(node.name)).find((ct) => ct.vmid === vmid);
    if (!exists) return;
    await confirmOwnCt(api, node.name, container, vmid);
    recorder.log('system', `Destroying CT ${vmid} as requested (“destroy the container if creation fails”)…`);
    const upid = await api.deleteLxc(node.name, vmid, { purge: true, force: true });
    await waitForTask(api, upid, { onLine: (line) => recorder.log('task', line) });
    recorder.log('system', `CT ${vmid} destroyed. Retry creates it again from the start.`);
  } catch (err) {
    log.warn({ err }, 'destroy after failure failed');
    recorder.log('system', `Could not destroy CT ${vmid}: ${describeFailure(err, { node })}`);
  }
}
