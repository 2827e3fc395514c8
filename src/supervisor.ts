// `npm start`'s supervisor: keeps the web and worker children running. A child that dies is started again after a
// backoff (1 s, 2 s, 4 s … at most 30 s; back to 1 s once a child has been up for a minute), with one log line per
// restart; the other child keeps running, so the console stays reachable while the worker restarts. It gives up —
// and stops everything — only when a child keeps crashing during start-up (before it reports ready over IPC), which
// a restart cannot fix (bad configuration, a port in use, a database that refuses).
import { spawn, type ChildProcess } from 'node:child_process';
import { supervisedChildEnv } from './config.ts';

const BACKOFF_MS = [1000, 2000, 4000, 8000, 16_000, 30_000];
/** Up this long, a child counts as healthy again: the next crash restarts it after 1 s. */
const HEALTHY_AFTER_MS = 60_000;
/** Crashes in a row during start-up before the supervisor gives up. */
const MAX_STARTUP_CRASHES = 5;

interface Supervised {
  name: string;
  command: string[];
  env: Record<string, string>;
  child?: ChildProcess;
  /** Crashes since the child was last healthy; picks the backoff. */
  crashes: number;
  startupCrashes: number;
  timer?: NodeJS.Timeout;
}

export class Supervisor {
  private readonly children = new Map<string, Supervised>();
  private stopping = false;

  constructor(
    private readonly say: (line: string) => void,
    private readonly exit: (code: number) => void,
  ) {}

  start(name: string, command: string[], env: Record<string, string>): void {
    const entry: Supervised = { name, command, env, crashes: 0, startupCrashes: 0 };
    this.children.set(name, entry);
    this.spawn(entry);
  }

  /** Stops every child (SIGTERM, so builds checkpoint) and exits once they are gone. */
  stopAll(code: number): void {
    if (this.stopping) return;
    this.stopping = true;
    const running = [...this.children.values()].flatMap((c) => {
      clearTimeout(c.timer);
      const child = c.child;
      if (!child || child.exitCode !== null || child.signalCode !== null) return [];
      child.kill('SIGTERM');
      return [new Promise((resolve) => child.once('exit', resolve))];
    });
    void Promise.all(running).then(() => this.exit(code));
  }

  private spawn(entry: Supervised): void {
    const [file, ...args] = entry.command as [string, ...string[]];
    // The children share this terminal (start-up warnings were printed once, by `npm start`: LAUNCHPAD_SUPERVISED).
    const child = spawn(file, args, { stdio: ['inherit', 'inherit', 'inherit', 'ipc'], env: { ...supervisedChildEnv(), ...entry.env } });
    entry.child = child;
    const startedAt = Date.now();
    let ready = false;
    child.on('message', (message) => {
      if (message === 'ready') ready = true;
    });
    child.once('exit', (code, signal) => {
      if (this.stopping) return;
      const upMs = Date.now() - startedAt;
      const how = signal ?? `exit code ${code}`;
      if (upMs >= HEALTHY_AFTER_MS) entry.crashes = 0;
      entry.startupCrashes = ready ? 0 : entry.startupCrashes + 1;
      if (entry.startupCrashes >= MAX_STARTUP_CRASHES) {
        this.say(
          `the ${entry.name} process crashed ${entry.startupCrashes} times in a row while starting (last: ${how}); giving up and stopping everything. Its error is above; fix it and run npm start again.`,
        );
        this.stopAll(1);
        return;
      }
      const delay = BACKOFF_MS[Math.min(entry.crashes, BACKOFF_MS.length - 1)]!;
      entry.crashes++;
      this.say(
        `the ${entry.name} process (pid ${child.pid}) exited (${how}) after ${formatUptime(upMs)}${ready ? '' : ', before it was ready'}; restarting it in ${delay / 1000} s.`,
      );
      entry.timer = setTimeout(() => this.spawn(entry), delay);
    });
  }
}

function formatUptime(ms: number): string {
  if (ms < 60_000) return `${Math.round(ms / 100) / 10} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}
