// After a power task, the CT is in the state asked for — at once normally, or minutes later for a CT that is a Proxmox
// HA resource: its start, stop and shutdown only hand the request to the HA manager (HA_REQUESTS), which acts on its
// own rounds. The power actions and Destroy (which stops a running CT before removing it) both wait here.
import type { ProxmoxClient } from '../../proxmox/api-client.ts';
import type { LxcStatus } from '../../proxmox/api-types.ts';
import { SHUTDOWN_TIMEOUT_S } from '../containers/lifecycle-actions.ts';
import { sleep } from './pipeline-context.ts';
import { StepError } from './pipeline-errors.ts';
import type { EventRecorder } from '../progress/event-recorder.ts';

/** After its task, how long a CT may take to show the state it was put in: status can lag a moment on a busy node. */
const STATUS_GRACE_MS = 5_000;

/**
 * What the HA stack does when asked, for a CT that is an HA resource: the task (`hastart`, `hastop`) only hands the
 * request on and the HA manager acts on its own rounds (10 s each), so the CT changes seconds later. A start gets
 * two minutes; a stop or shutdown the shutdown's timeout and a minute for the rounds.
 */
const HA_REQUESTS = {
  start: { waiting: 'starts it; waiting for it to run', done: 'started', verb: 'start', waitMs: 2 * 60_000 },
  stop: { waiting: 'stops it; waiting for it to stop', done: 'stopped', verb: 'stop', waitMs: (SHUTDOWN_TIMEOUT_S + 60) * 1000 },
  shutdown: { waiting: 'shuts it down; waiting for it to stop', done: 'shut down', verb: 'shut down', waitMs: (SHUTDOWN_TIMEOUT_S + 60) * 1000 },
} as const;

export type HaRequest = keyof typeof HA_REQUESTS;

export interface StatusWait {
  api: ProxmoxClient;
  nodeName: string;
  vmid: number;
  pollMs: number;
  /** Where the wait is told (an HA wait can be long, so it is the status line too). */
  recorder: EventRecorder;
}

/**
 * Polls status/current until the CT is `wanted`. After an ordinary task it is, or is within a short grace. After an
 * HA request (`haRequest`) the HA manager still has to act: the wait is long and says so in the log, and it ends early
 * when the HA manager gives up (its state `error`), with what the admin can do on the node.
 */
export async function awaitStatus(w: StatusWait, wanted: LxcStatus['status'], haRequest: HaRequest | undefined): Promise<void> {
  const { api, nodeName, vmid } = w;
  const ha = haRequest && HA_REQUESTS[haRequest];
  let current = await api.getLxcStatus(nodeName, vmid);
  if (current.status === wanted) return;
  const started = Date.now();
  if (ha) await w.recorder.logStatus(`CT ${vmid} is managed by Proxmox HA: the HA manager ${ha.waiting}…`);
  for (;;) {
    const waited = Date.now() - started;
    if (!ha && waited > STATUS_GRACE_MS) {
      throw new StepError(`CT ${vmid} is ${current.status} after the task ended, not ${wanted}. Look at the task log above, then try again.`);
    }
    if (ha && current.ha?.state === 'error') {
      throw new StepError(
        `The Proxmox HA manager could not ${ha.verb} CT ${vmid}: its HA state is “error”. On ${nodeName}, the CT's task history and ha-manager status show why; once the cause is fixed, clear the error (Datacenter → HA, or ha-manager set ct:${vmid} --state disabled), then try again.`,
      );
    }
    if (ha && waited > ha.waitMs) {
      throw new StepError(
        `CT ${vmid} is still ${current.status} ${Math.round(ha.waitMs / 1000)} s after the request to the Proxmox HA manager (HA state: ${current.ha?.state ?? 'unknown'}). Look at Datacenter → HA (or ha-manager status) on ${nodeName}: are the HA services running and the cluster quorate? Then try again.`,
      );
    }
    await sleep(w.pollMs);
    current = await api.getLxcStatus(nodeName, vmid);
    if (current.status === wanted) {
      if (ha) w.recorder.log('system', `The HA manager ${ha.done} CT ${vmid} after ${Math.round((Date.now() - started) / 1000)} s.`);
      return;
    }
  }
}
