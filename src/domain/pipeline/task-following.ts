// A crash loses no line the node still has. Before a build waits on a Proxmox task it stores the log line number it
// had reached and, once the node answers, the task's UPID (containers.pending_task). A run resumed after a crash
// re-reads that task's log from the start (GET …/tasks/{upid}/log, paged by start/limit), skips the lines already
// stored, records the rest after its "Attempt N" marker, and follows the task to its end. The same holds when the
// node stops answering while a task runs, or the worker shuts down: the task goes on there, the pending task is kept,
// and the next run (a Retry, or the next worker) picks up the log where it stopped.
import { ProxmoxError, TaskCancelledError, TaskTimeoutError } from '../../proxmox/errors.ts';
import { isInterruption } from './pipeline-errors.ts';
import { waitForTask, type TaskResult } from '../../proxmox/task-waiter.ts';
import type { PipelineContext } from './pipeline-context.ts';
import type { PendingTask } from '../containers/container.ts';

/** Logs `intro`, starts a task with `start` (which returns its UPID) and follows it, resumable after a crash. */
export async function followTask(ctx: PipelineContext, intro: string, start: () => Promise<string>): Promise<TaskResult> {
  ctx.recorder.log('system', intro);
  await ctx.recorder.flush();
  const afterLineNo = (await ctx.repos.containers.findById(ctx.container.id))!.lastLineNo;
  // Stored before the request: a run that dies before it learns the UPID finds the task in the node's task list.
  await setPending(ctx, { upid: null, afterLineNo, since: Math.floor(Date.now() / 1000) - 5 });
  let upid: string;
  try {
    upid = await start();
  } catch (err) {
    // The node answered with a refusal, so no task was started: a re-run must not take someone else's task at the
    // same VMID (say, the guest that took it) for this one. Without an answer (596, a reset) the task may exist.
    if (err instanceof ProxmoxError && err.status !== undefined && !err.transient) await setPending(ctx, null);
    throw err;
  }
  await setPending(ctx, { upid, afterLineNo, since: 0 });
  return follow(ctx, upid, 0);
}

/**
 * If an earlier run died while following a task of this step (`type`: vzcreate, vzstart), records the lines it had
 * not stored and follows the task to its end. Returns false when there is nothing to resume.
 */
export async function resumePendingTask(ctx: PipelineContext, type: string): Promise<boolean> {
  const pending = ctx.container.pendingTask;
  if (!pending) return false;
  const upid = pending.upid ?? (await ctx.api.findTasks(ctx.node.name, { vmid: ctx.vmid, type, since: pending.since }))[0];
  if (!upid || !upid.includes(`:${type}:`)) {
    await ctx.repos.containers.update(ctx.container.id, { pendingTask: null });
    return false;
  }
  if (type === 'vzcreate' && !ctx.container.createUpid) await ctx.repos.containers.update(ctx.container.id, { createUpid: upid });
  const stored = await ctx.repos.events.countTaskLinesAfter(ctx.container.id, pending.afterLineNo);
  ctx.recorder.log('system', `Reading the log of task ${upid} from line ${stored + 1}: the previous run stopped while following it.`);
  await follow(ctx, upid, stored);
  return true;
}

async function setPending(ctx: PipelineContext, pending: PendingTask | null) {
  await ctx.repos.containers.update(ctx.container.id, { pendingTask: pending });
  ctx.container.pendingTask = pending;
}

async function follow(ctx: PipelineContext, upid: string, startLine: number): Promise<TaskResult> {
  let ended = true;
  try {
    return await waitForTask(ctx.api, upid, {
      signal: ctx.signal,
      startLine,
      pollIntervalMs: ctx.timings.pollMs,
      transientWindowMs: ctx.timings.taskContactMs,
      // A worker shutting down leaves the task running: the next run follows it on (resumePendingTask).
      leaveRunningOn: isInterruption,
      onLine: (line) => ctx.recorder.log('task', line),
    });
  } catch (err) {
    if (isInterruption(err)) ended = false;
    else if (err instanceof TaskTimeoutError) {
      ended = false;
      ctx.recorder.log('system', `Stopped following task ${upid} after ${Math.round(err.timeoutMs / 60_000)} min; it may still be running on ${ctx.node.name}. Retry follows it on from where the log stopped.`);
    } else if (lostTrack(err)) {
      ended = false;
      ctx.recorder.log('system', `Lost track of task ${upid}: ${ctx.node.name} stopped answering while it ran. The task goes on there; Retry reads the rest of its log and follows it to its end.`);
    }
    throw err;
  } finally {
    // Ended, failed or stopped by a cancel (whose last lines the waiter still read): nothing left to resume.
    await ctx.recorder.flush();
    if (ended) await setPending(ctx, null);
  }
}

/** The wait ended without the task's end: the node did not answer (or the task outlived the wait). */
const lostTrack = (err: unknown) => err instanceof ProxmoxError && err.transient && !(err instanceof TaskCancelledError);
