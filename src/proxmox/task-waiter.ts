// Waits for a Proxmox task (UPID) the way the web UI's task viewer does: every second read the status, then the
// log from the last line seen, and hand new lines to the caller as they appear. The status is read BEFORE the
// log, so once it says `stopped` one more log read is guaranteed to contain the final `TASK …` line.
// `OK` and `WARNINGS: n` are success (Proxmox's own status_is_error test); anything else is a TaskFailedError.
import { setTimeout as sleep } from 'node:timers/promises';
import type { TaskLogPage, TaskStatus } from './api-types.ts';
import { ProxmoxError, ProxmoxParameterError, TaskCancelledError, TaskFailedError, TaskTimeoutError } from './errors.ts';

/** The three calls the waiter needs; ProxmoxClient implements them. */
export interface TaskApi {
  getTaskStatus(upid: string): Promise<TaskStatus>;
  getTaskLog(upid: string, options: { start?: number; limit?: number }): Promise<TaskLogPage>;
  stopTask(upid: string): Promise<void>;
}

export interface WaitForTaskOptions {
  /** Called for each new log line, in order, exactly once (including the final `TASK …` line). */
  onLine?: (line: string, n: number) => void | Promise<void>;
  /** Lines already seen by an earlier wait on the same task (resume after a restart). Default 0. */
  startLine?: number;
  /** Default 1000 ms. */
  pollIntervalMs?: number;
  /** Default 30 min: creating a CT on slow storage takes long. */
  timeoutMs?: number;
  /** Abort → the task is stopped (DELETE) and the wait ends with TaskCancelledError — unless `leaveRunningOn` says not. */
  signal?: AbortSignal;
  /**
   * Aborts for which the task is left running on the node: the wait ends by throwing the signal's reason, and the
   * task can be followed again later (a worker shutting down, say, while the user's cancel still stops it).
   */
  leaveRunningOn?: (reason: unknown) => boolean;
  /**
   * How long status/log reads may keep failing with 400 (a task not yet visible on the node) or a transient error
   * before the wait gives up. Default 10 s.
   */
  transientWindowMs?: number;
  /** After a cancel, how long to wait for the task to report its end. Default 10 s. */
  cancelGraceMs?: number;
}

export interface TaskResult {
  upid: string;
  /** `OK` or `WARNINGS: n`. */
  exitstatus: string;
  /** Texts of the `WARN: …` lines (without the prefix). */
  warnings: string[];
  /** Log lines seen in total (the offset to resume from). */
  lineCount: number;
}

const LOG_PAGE = 500;
const TAIL = 20;

export function isTaskSuccess(exitstatus: string): boolean {
  return exitstatus === 'OK' || /^WARNINGS: \d+$/.test(exitstatus);
}

/** Follows a task to its end. See WaitForTaskOptions for cancel/timeout behaviour. */
export async function waitForTask(api: TaskApi, upid: string, options: WaitForTaskOptions = {}): Promise<TaskResult> {
  const follower = new TaskFollower(api, upid, options);
  return follower.run();
}

class TaskFollower {
  private seen: number;
  private readonly tail: string[] = [];
  private readonly warnings: string[] = [];
  private readonly interval: number;
  private readonly transientWindowMs: number;
  private failingSince: number | undefined;

  constructor(
    private readonly api: TaskApi,
    private readonly upid: string,
    private readonly options: WaitForTaskOptions,
  ) {
    this.seen = options.startLine ?? 0;
    this.interval = options.pollIntervalMs ?? 1000;
    this.transientWindowMs = options.transientWindowMs ?? 10_000;
  }

  async run(): Promise<TaskResult> {
    const { signal } = this.options;
    const deadline = Date.now() + (this.options.timeoutMs ?? 30 * 60_000);
    for (;;) {
      if (signal?.aborted) {
        if (this.options.leaveRunningOn?.(signal.reason)) throw signal.reason;
        return this.cancel();
      }
      const status = await this.tolerant(() => this.api.getTaskStatus(this.upid));
      if (status) {
        const drained = await this.tolerant(() => this.readNewLines());
        if (status.status === 'stopped' && drained !== undefined) return this.finish(status.exitstatus ?? 'unexpected status');
      }
      if (Date.now() >= deadline) throw new TaskTimeoutError(this.upid, this.options.timeoutMs ?? 30 * 60_000);
      await this.pause(Math.min(this.interval, Math.max(0, deadline - Date.now())));
    }
  }

  /** Reads every line after `seen`, page by page; returns how many were new. */
  private async readNewLines(): Promise<number> {
    let added = 0;
    for (;;) {
      const page = await this.api.getTaskLog(this.upid, { start: this.seen, limit: LOG_PAGE });
      // An empty log file is reported as one fake line `no content` (an ExtJS workaround in pve-common).
      if (page.total === 1 && this.seen === 0 && page.lines.length === 1 && page.lines[0]?.t === 'no content') return added;
      let fresh = 0;
      for (const line of page.lines) {
        if (line.n <= this.seen) continue;
        this.seen = line.n;
        fresh++;
        this.remember(line.t);
        await this.options.onLine?.(line.t, line.n);
      }
      added += fresh;
      if (page.lines.length < LOG_PAGE || fresh === 0) return added;
    }
  }

  private remember(text: string): void {
    if (text.startsWith('WARN: ')) this.warnings.push(text.slice('WARN: '.length));
    if (text.startsWith('TASK ') || text === '') return;
    this.tail.push(text);
    if (this.tail.length > TAIL) this.tail.shift();
  }

  private finish(exitstatus: string): TaskResult {
    if (!isTaskSuccess(exitstatus)) throw new TaskFailedError(this.upid, exitstatus, [...this.tail]);
    return { upid: this.upid, exitstatus, warnings: [...this.warnings], lineCount: this.seen };
  }

  /** Stops the task on the node, then follows it (bounded) so the caller still gets its last lines. */
  private async cancel(): Promise<never> {
    await this.api.stopTask(this.upid).catch(() => undefined);
    const deadline = Date.now() + (this.options.cancelGraceMs ?? 10_000);
    let exitstatus: string | undefined;
    while (Date.now() < deadline) {
      const status = await this.api.getTaskStatus(this.upid).catch(() => undefined);
      await this.readNewLines().catch(() => undefined);
      if (status?.status === 'stopped') {
        exitstatus = status.exitstatus;
        break;
      }
      await sleep(Math.min(this.interval, 250));
    }
    throw new TaskCancelledError(this.upid, exitstatus);
  }

  /**
   * Runs a read; a 400 (the node does not know the task yet) or a transient error is tolerated for a while and
   * yields undefined, anything else is thrown.
   */
  private async tolerant<T>(read: () => Promise<T>): Promise<T | undefined> {
    try {
      const value = await read();
      this.failingSince = undefined;
      return value;
    } catch (err) {
      const tolerable = err instanceof ProxmoxParameterError || (err instanceof ProxmoxError && err.transient);
      if (!tolerable) throw err;
      this.failingSince ??= Date.now();
      if (Date.now() - this.failingSince > this.transientWindowMs) throw err;
      return undefined;
    }
  }

  /** Sleeps one interval; an abort wakes it early (the loop then cancels). */
  private async pause(ms: number): Promise<void> {
    const { signal } = this.options;
    try {
      await sleep(ms, undefined, signal ? { signal } : undefined);
    } catch (err) {
      if (!signal?.aborted) throw err;
    }
  }
}
