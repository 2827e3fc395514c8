// Destroy: stop the CT if it runs (for an HA resource, waiting until the HA manager has it down), delete it with
// purge, mark the container destroyed. A CT already gone from the node counts as destroyed (someone removed it by
// hand). Nothing is sent unless the CT carries this container's mark
// (ct-mark.ts): a guest that took over the VMID survives, and the entry offers "Forget" instead. The history entry
// is written before the final event (which ends the `destroying` state): a job delivered again after a crash in
// between runs again, finds the CT gone, and its key keeps the entry single.
import { waitForTask } from '../../proxmox/task-waiter.ts';
import { proxmoxClientFor } from '../nodes/node-access.ts';
import { EventRecorder } from '../progress/event-recorder.ts';
import { findOwnCt } from './ct-mark.ts';
import { StepError, describeFailure } from './pipeline-errors.ts';
import { awaitStatus } from './ct-status-wait.ts';
import { DEFAULT_TIMINGS } from './pipeline-context.ts';
import type { PipelineDeps } from './pipeline-runner.ts';
import { recordDestroyEnded, type JobRequest } from '../history/record-history.ts';

export async function runDestroyPipeline(
  deps: PipelineDeps,
  containerId: string,
  /** `from`: the lifecycle it had before, which a destroy that fails returns it to (a ready container stays ready). */
  { request = {}, from = 'failed' }: { request?: JobRequest; from?: 'ready' | 'failed' | 'cancelled' } = {},
): Promise<'destroyed' | 'failed' | 'skipped'> {
  const container = await deps.repos.containers.findById(containerId);
  if (!container || container.lifecycle !== 'destroying') return 'skipped';
  const recorder = await EventRecorder.resume({ events: deps.repos.events, publish: deps.publish, logger: deps.logger }, container);
  const node = await deps.repos.nodes.findById(container.nodeId);
  const record = (result: { ok: boolean; text: string }) =>
    recordDestroyEnded(deps.repos, containerId, result, request).catch((err: Error) =>
      deps.logger.error({ err, containerId }, 'could not write the history entry of a destroy'),
    );
  try {
    if (!node) throw new Error('its node has been removed from Launchpad');
    if (container.vmid) {
      const api = proxmoxClientFor(node, deps.secrets);
      try {
        const ct = await findOwnCt(api, node.name, container, container.vmid);
        if (!ct) {
          recorder.log('system', `CT ${container.vmid} no longer exists on ${node.name}; nothing to remove there.`);
        } else {
          // Proxmox would stop the CT and only then refuse to remove it: say so before anything is stopped.
          const config = await api.getLxcConfig(node.name, container.vmid);
          if (config.protection) {
            throw new StepError(
              `CT ${container.vmid} is protected in Proxmox, which refuses to remove it; it was left as it is. Switch protection off (${node.name} → CT ${container.vmid} → Options → Protection, or pct set ${container.vmid} --protection 0), then Destroy again.`,
            );
          }
          // destroy_vm refuses any lock (check_lock), while a stop lets `mounted` pass (API2/LXC/Status.pm): the same.
          if (config.lock) {
            throw new StepError(
              `CT ${container.vmid} is locked (${config.lock}) in Proxmox, which refuses to remove a locked CT; it was left as it is. Wait for the ${config.lock} to end${config.lock === 'mounted' ? ` (pct unmount ${container.vmid} on ${node.name})` : ''}, then Destroy again.`,
            );
          }
          if (ct.status === 'running') {
            recorder.log('system', `Stopping CT ${container.vmid}…`);
            // An HA resource's stop only asks the HA manager (hastop): wait until it is down before its disks go.
            const ha = (await api.getLxcStatus(node.name, container.vmid)).ha?.managed === true;
            const stop = await api.stopLxc(node.name, container.vmid);
            await waitForTask(api, stop, { onLine: (line) => recorder.log('task', line) });
            const pollMs = deps.timings?.pollMs ?? DEFAULT_TIMINGS.pollMs;
            await awaitStatus({ api, nodeName: node.name, vmid: container.vmid, pollMs, recorder }, 'stopped', ha ? 'stop' : undefined);
          }
          recorder.log('system', `Destroying CT ${container.vmid} (purge)…`);
          const upid = await api.deleteLxc(node.name, container.vmid, { purge: true, force: true });
          await waitForTask(api, upid, { onLine: (line) => recorder.log('task', line) });
        }
      } finally {
        api.close();
      }
    }
    const done = `Destroyed${container.vmid ? ` CT ${container.vmid}` : ''}.`;
    await record({ ok: true, text: done });
    await recorder.destroyed(done);
    await recorder.close();
    return 'destroyed';
  } catch (err) {
    const message = `Destroy failed: ${describeFailure(err, { node })}`;
    deps.logger.warn({ err, containerId }, 'destroy failed');
    await record({ ok: false, text: message });
    await recorder.actionFailed(from, message);
    await recorder.close().catch(() => undefined);
    return 'failed';
  }
}
