// Start, stop, shut down or reboot a built container, as a worker job that writes its own live log. Each action
// reads the CT's real state first, so a job redelivered after a worker crash just finishes the work (a start on a
// running CT is already done). After its task it waits for the CT to be in the state asked for: at once normally,
// up to minutes for a CT that is a Proxmox HA resource, whose start, stop and shutdown only hand the request to the HA
// manager (ct-status-wait.ts). Its history entry is written while the lock is still held (a crash before it leaves
// the job to run again; after it, the job's key keeps the entry single). The action lock (containers.current_action)
// is released BEFORE the final event: viewers end their stream on that event only once no action holds the container.
import type { NodeRecord } from '../../db/nodes-repository.ts';
import type { ProxmoxClient } from '../../proxmox/api-client.ts';
import type { LxcStatus } from '../../proxmox/api-types.ts';
import { waitForTask } from '../../proxmox/task-waiter.ts';
import { NodeShell } from '../../proxmox/node-shell.ts';
import { proxmoxClientFor, shellTargetFor } from '../nodes/node-access.ts';
import { readIpv4 } from './ct-address.ts';
import { EventRecorder } from '../progress/event-recorder.ts';
import { findOwnCt } from './ct-mark.ts';
import { DEFAULT_TIMINGS, sleep, type PipelineTimings } from './pipeline-context.ts';
import { CtIsTemplateError, StepError, describeFailure } from './pipeline-errors.ts';
import type { PipelineDeps } from './pipeline-runner.ts';
import type { Container } from '../containers/container.ts';
import { SHUTDOWN_TIMEOUT_S, type PowerAction, ACTION_WORDS } from '../containers/lifecycle-actions.ts';
import { recordActionEnded, type JobRequest } from '../history/record-history.ts';
import { awaitStatus, type HaRequest } from './ct-status-wait.ts';

/** After a start or reboot, how long to look for the (possibly new) DHCP address before leaving the last known one. */
const IP_REFRESH_MAX_MS = 60_000;
const TASK_TIMEOUT_MS = 10 * 60_000;

export type ActionOutcome = 'done' | 'failed' | 'skipped';

export async function runLifecycleAction(
  deps: PipelineDeps,
  containerId: string,
  action: PowerAction,
  options: { resumed?: boolean; request?: JobRequest } = {},
): Promise<ActionOutcome> {
  const container = await deps.repos.containers.findById(containerId);
  // The lock is the request's ticket: without it this action already ran to its end (or was never asked for).
  if (!container || container.currentAction !== action) return 'skipped';
  const recorder = await EventRecorder.resume({ events: deps.repos.events, publish: deps.publish, logger: deps.logger }, container);
  const timings: PipelineTimings = { ...DEFAULT_TIMINGS, ...deps.timings };
  let outcome: { ok: true; status: string } | { ok: false; message: string };
  try {
    if (options.resumed) recorder.log('system', `The worker stopped during this ${ACTION_WORDS[action].noun}; checking the CT and finishing it.`);
    outcome = { ok: true, status: await perform({ deps, container, action, recorder, timings }) };
  } catch (err) {
    deps.logger.warn({ err, containerId, action }, 'container action failed');
    const node = await deps.repos.nodes.findById(container.nodeId).catch(() => undefined);
    outcome = { ok: false, message: `${ACTION_WORDS[action].label} failed: ${describeFailure(err, { node })}` };
  }
  try {
    const result = outcome.ok ? { ok: true, text: outcome.status } : { ok: false, text: outcome.message };
    await recordActionEnded(deps.repos, containerId, action, result, options.request ?? {});
  } catch (err) {
    deps.logger.error({ err, containerId, action }, 'could not write the history entry of a container action');
  } finally {
    await deps.repos.containers.releaseAction(containerId, action);
  }
  await recorder.actionEnded(outcome.ok ? outcome.status : outcome.message, outcome.ok ? undefined : outcome.message);
  await recorder.close();
  return outcome.ok ? 'done' : 'failed';
}

interface ActionRun {
  deps: PipelineDeps;
  container: Container;
  action: PowerAction;
  recorder: EventRecorder;
  timings: PipelineTimings;
}

/** Does the action and returns the sentence the status line ends with. */
async function perform(run: ActionRun): Promise<string> {
  const { deps, container, action, recorder } = run;
  if (container.lifecycle !== 'ready') throw new StepError(`Only a ready container can ${ACTION_WORDS[action].noun}; this one is ${container.lifecycle}.`);
  const node = await deps.repos.nodes.findById(container.nodeId);
  if (!node) throw new StepError('Its node has been removed from Launchpad.');
  if (!container.vmid) throw new StepError('It has no VMID on the node.');
  const vmid = container.vmid;
  const api = proxmoxClientFor(node, deps.secrets);
  try {
    const ct = await ourCt(api, node, vmid, container);
    const ha = ct.ha?.managed === true;
    const task = (upid: string) =>
      waitForTask(api, upid, { pollIntervalMs: run.timings.pollMs, timeoutMs: TASK_TIMEOUT_MS, onLine: (line) => recorder.log('task', line) });
    const arrive = (wanted: LxcStatus['status'], haRequest: HaRequest | undefined) =>
      awaitStatus({ api, nodeName: node.name, vmid, pollMs: run.timings.pollMs, recorder }, wanted, haRequest);

    if (action === 'start' || (action === 'reboot' && ct.status !== 'running')) {
      if (ct.status === 'running') {
        recorder.log('system', `CT ${vmid} is already running.`);
      } else {
        await recorder.logStatus(action === 'reboot' ? `CT ${vmid} is not running; starting it instead of a reboot…` : `Starting CT ${vmid}…`);
        await task(await api.startLxc(node.name, vmid));
      }
      await arrive('running', ha ? 'start' : undefined);
      await refreshIp(run, api, node, vmid);
      return `CT ${vmid} is running.`;
    }
    if (action === 'reboot') {
      // vzreboot checks no config lock: it stops the CT, and the start that follows fails in the prestart hook's lock
      // check (pve-container LXC.pm vm_reboot, src/lxc-pve-prestart-hook), leaving the CT down. Start, stop and
      // shutdown refuse a locked CT in their own tasks; a reboot must be refused here, before anything is stopped.
      if (ct.lock && ct.lock !== 'mounted') {
        throw new StepError(
          `CT ${vmid} is locked (${ct.lock}) in Proxmox: another operation (${ct.lock}) is working on it. A reboot now would stop it and Proxmox would refuse to start it again while the lock is held, so it was left running. Try again once the ${ct.lock} has finished (the CT's Task History on ${node.name} shows it).`,
        );
      }
      // A reboot is no HA request (pve-container's vzreboot even for an HA resource): the task restarts the CT itself.
      await recorder.logStatus(`Rebooting CT ${vmid}…`);
      await task(await api.rebootLxc(node.name, vmid, { timeout: SHUTDOWN_TIMEOUT_S }));
      await arrive('running', undefined);
      await refreshIp(run, api, node, vmid);
      return `CT ${vmid} rebooted and is running.`;
    }
    if (ct.status !== 'running') {
      recorder.log('system', `CT ${vmid} is already stopped.`);
    } else if (action === 'stop') {
      await recorder.logStatus(`Stopping CT ${vmid}…`);
      await task(await api.stopLxc(node.name, vmid));
    } else {
      // The HA stack shuts down with the timeout alone: no hard stop follows.
      await recorder.logStatus(ha ? `Shutting down CT ${vmid} (the HA manager gives it ${SHUTDOWN_TIMEOUT_S} s)…` : `Shutting down CT ${vmid} (stopped hard if it is not down within ${SHUTDOWN_TIMEOUT_S} s)…`);
      await task(await api.shutdownLxc(node.name, vmid, { timeout: SHUTDOWN_TIMEOUT_S, forceStop: true }));
    }
    await arrive('stopped', ha ? action : undefined);
    return action === 'stop' ? `CT ${vmid} is stopped.` : `CT ${vmid} is shut down.`;
  } finally {
    api.close();
  }
}

/**
 * The CT's status/current (with its HA state) — only if it carries this container's mark (ct-mark.ts); any other
 * guest is left alone. A CT converted to a template is refused here, in Launchpad's words, before any task could fail
 * with Proxmox's.
 */
async function ourCt(api: ProxmoxClient, node: NodeRecord, vmid: number, container: Container): Promise<LxcStatus> {
  const ct = await findOwnCt(api, node.name, container, vmid);
  if (!ct) throw new StepError(`CT ${vmid} no longer exists on ${node.name} — it was removed outside Launchpad. Use “Forget this entry” to drop this entry.`);
  if (ct.template) throw new CtIsTemplateError(vmid);
  return api.getLxcStatus(node.name, vmid);
}

/**
 * DHCP may hand out a new address after a start: keep the stored IP current, without failing the action over it. On a
 * node without …/interfaces (PVE 8.0) the address is read inside the CT, over an SSH session opened for that.
 */
async function refreshIp(run: ActionRun, api: ProxmoxClient, node: NodeRecord, vmid: number): Promise<void> {
  const deadline = Date.now() + Math.min(run.timings.ipWaitMs, IP_REFRESH_MAX_MS);
  let shell: NodeShell | undefined;
  const lookup = {
    api,
    nodeName: node.name,
    vmid,
    shell: async () => (shell ??= await NodeShell.connect(shellTargetFor(node, run.deps.secrets))),
    timeoutMs: run.timings.commandTimeoutMs,
  };
  try {
    for (;;) {
      const { ip } = await readIpv4(lookup);
      if (ip) {
        if (ip !== run.container.ip) await run.deps.repos.containers.update(run.container.id, { ip });
        run.recorder.log('system', `eth0 has ${ip}.`);
        return;
      }
      if (Date.now() > deadline) {
        run.recorder.log('system', `No IPv4 address on eth0 yet; keeping the last known one (${run.container.ip ?? 'none'}).`);
        return;
      }
      await sleep(run.timings.pollMs);
    }
  } catch (err) {
    // The action itself is done: an address that cannot be read now is no reason to report it failed.
    run.deps.logger.warn({ err, containerId: run.container.id }, 'could not read the address after a power action');
    run.recorder.log('system', `Could not read eth0's address (${describeFailure(err)}); keeping the last known one (${run.container.ip ?? 'none'}).`);
  } finally {
    await shell?.close().catch(() => undefined);
  }
}
