// Worker tasks of the simulated node, as pve-common's fork_worker runs them: a UPID in the real format, a log
// that grows line by line while the work runs, and a final `TASK OK`, `TASK WARNINGS: n` or `TASK ERROR: <msg>`
// line from which the exit status is read. Stopping a task (DELETE /tasks/{upid}) interrupts its current wait,
// so the work dies with `received interrupt`, exactly the text a real worker's signal handler dies with.
import { formatUpid } from '../proxmox/upid.ts';
import type { SimulatorState, TaskRecord } from './state.ts';

export interface TaskContext {
  readonly vmid: number;
  log(line: string): void;
  /** A `WARN: …` line; each one counts towards `TASK WARNINGS: n`. */
  warn(text: string): void;
  /** Waits `ms` simulated milliseconds (divided by the speed); rejects with `received interrupt` if stopped. */
  sleep(ms: number): Promise<void>;
}

export type TaskWork = (ctx: TaskContext) => Promise<void>;

/** Thrown by TaskContext.sleep when the task is stopped; its message is what the task log shows. */
export class TaskInterrupt extends Error {
  constructor() {
    super('received interrupt');
  }
}

export class TaskRunner {
  private readonly running = new Map<string, AbortController>();
  private readonly rounds = new Set<NodeJS.Timeout>();
  private lastPid = 0x3a000 + Math.floor(Math.random() * 0x1000);

  constructor(
    private readonly state: SimulatorState,
    private readonly speed: number,
  ) {}

  /** Starts `work` as a worker task of `type` for `id` on behalf of `user`; returns the UPID at once. */
  start(type: string, id: string, user: string, work: TaskWork): string {
    const now = Date.now();
    this.lastPid += 1 + Math.floor(Math.random() * 40);
    const record: TaskRecord = {
      upid: '',
      type,
      id,
      user,
      pid: this.lastPid,
      pstart: Math.floor((now - this.state.bootTime) / 10),
      starttime: Math.floor(now / 1000),
      lines: [],
      status: 'running',
    };
    record.upid = formatUpid({ node: this.state.node, ...record });
    this.state.addTask(record);
    // On disk at once, as a real task's log file and active-list entry are: a node that crashes now still has it.
    this.state.save();

    const controller = new AbortController();
    this.running.set(record.upid, controller);
    let warnings = 0;
    const ctx: TaskContext = {
      vmid: Number(id),
      log: (line) => {
        record.lines.push(line);
      },
      warn: (text) => {
        warnings++;
        record.lines.push(`WARN: ${text}`);
      },
      sleep: (ms) => this.sleep(ms, controller.signal),
    };

    // Real workers start after the fork; the POST has answered by then.
    setImmediate(() => {
      work(ctx)
        .then(
          () => (warnings > 0 ? `WARNINGS: ${warnings}` : 'OK'),
          (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n').filter(Boolean).join(' '),
        )
        .then((exitstatus) => {
          record.lines.push(exitstatus === 'OK' || exitstatus.startsWith('WARNINGS: ') ? `TASK ${exitstatus}` : `TASK ERROR: ${exitstatus}`);
          record.status = 'stopped';
          record.exitstatus = exitstatus;
          record.endtime = Math.floor(Date.now() / 1000);
          this.running.delete(record.upid);
          this.state.save();
        });
    });
    return record.upid;
  }

  /**
   * Runs `work` after `ms` simulated milliseconds, as a daemon of the node (the HA stack) does on its next round;
   * dropped if the node closes first.
   */
  later(ms: number, work: () => void): void {
    const timer = setTimeout(() => {
      this.rounds.delete(timer);
      work();
    }, ms / this.speed);
    this.rounds.add(timer);
  }

  /** Interrupts a running task; false if it is not running. */
  stop(upid: string): boolean {
    const controller = this.running.get(upid);
    if (!controller) return false;
    controller.abort();
    return true;
  }

  /** Resolves after every running task has ended (used on close); rounds still to come never run. */
  async stopAll(): Promise<void> {
    for (const timer of this.rounds) clearTimeout(timer);
    this.rounds.clear();
    for (const controller of this.running.values()) controller.abort();
    const deadline = Date.now() + 5000;
    while (this.running.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  }

  isRunning(upid: string): boolean {
    return this.running.has(upid);
  }

  private sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(new TaskInterrupt());
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms / this.speed);
      const onAbort = () => {
        clearTimeout(timer);
        reject(new TaskInterrupt());
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
