// waitForTask against the simulator (success, warnings, failure, timeout, abort) and against a scripted fake for
// the edge cases a real node produces only rarely (task not yet visible, empty log, long logs, resume).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ProxmoxClient } from '../src/proxmox/api-client.ts';
import type { LxcCreateOptions, TaskLogPage, TaskStatus } from '../src/proxmox/api-types.ts';
import { ProxmoxParameterError, ProxmoxTransientError, TaskCancelledError, TaskFailedError, TaskTimeoutError } from '../src/proxmox/errors.ts';
import { isTaskSuccess, waitForTask, type TaskApi } from '../src/proxmox/task-waiter.ts';
import { startSimulatorApi, type SimulatorApiHandle } from '../src/simulator/index.ts';
import { rejection } from './support/rejection.ts';

const SPEED = 50;
let sim: SimulatorApiHandle;
let dataDir: string;
let client: ProxmoxClient;

const ct = (vmid: number, overrides: Partial<LxcCreateOptions> = {}): LxcCreateOptions => ({
  vmid,
  ostemplate: 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst',
  hostname: `ct${vmid}`,
  rootfs: { storage: 'local-lvm', sizeGiB: 4 },
  net: [{ name: 'eth0', bridge: 'vmbr0', ip: 'dhcp' }],
  features: { nesting: true },
  ...overrides,
});

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'task-waiter-test-'));
  sim = await startSimulatorApi({ dataDir, speed: SPEED, authDelayMs: 0 });
  client = new ProxmoxClient({ apiUrl: sim.apiUrl, tokenId: sim.tokenId, tokenSecret: sim.tokenSecret, tlsFingerprint: sim.tlsFingerprint });
});

afterEach(() => sim.faults.reset());

afterAll(async () => {
  client.close();
  await sim.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('against the simulator', () => {
  it('streams every vzcreate log line once, in order, as it appears, and returns OK', async () => {
    const upid = await client.createLxc('sim', ct(101));
    const seen: { n: number; line: string; at: number }[] = [];
    const result = await waitForTask(client, upid, { pollIntervalMs: 10, onLine: (line, n) => void seen.push({ n, line, at: Date.now() }) });
    expect(result).toEqual({ upid, exitstatus: 'OK', warnings: [], lineCount: seen.length });
    expect(seen.map((s) => s.n)).toEqual(seen.map((_, i) => i + 1));
    expect(seen[0]!.line).toBe('  Logical volume "vm-101-disk-0" created.');
    expect(seen.at(-1)!.line).toBe('TASK OK');
    // Lines arrive while the task runs, not all at the end.
    expect(seen.at(-1)!.at - seen[0]!.at).toBeGreaterThan(20);
    const full = await client.getTaskLog(upid, { limit: 0 });
    expect(seen.map((s) => s.line)).toEqual(full.lines.map((l) => l.t));
  });

  it('treats WARNINGS: n as success and returns the warnings', async () => {
    const upid = await client.createLxc('sim', ct(102, { features: { nesting: false } }));
    const result = await waitForTask(client, upid, { pollIntervalMs: 10 });
    expect(result.exitstatus).toBe('WARNINGS: 1');
    expect(result.warnings).toEqual(['Systemd 252 detected. You may need to enable nesting.']);
  });

  it('fails with TaskFailedError carrying the TASK ERROR text and the last lines', async () => {
    sim.faults.set({ storageFull: true });
    const upid = await client.createLxc('sim', ct(103));
    const err = await rejection<TaskFailedError>(waitForTask(client, upid, { pollIntervalMs: 10 }));
    expect(err).toBeInstanceOf(TaskFailedError);
    expect(err.exitstatus).toMatch(/^unable to create CT 103 - lvcreate 'pve\/vm-103-disk-0' error: .*insufficient free space/);
    expect(err.message).toBe(err.exitstatus);
    expect(err.upid).toBe(upid);

    sim.faults.set({ storageFull: false, startFailure: true });
    const started = await client.createLxc('sim', ct(104, { start: true }));
    const startErr = await rejection<TaskFailedError>(waitForTask(client, started, { pollIntervalMs: 10 }));
    expect(startErr.exitstatus).toBe("startup for container '104' failed");
    expect(startErr.lastLines.at(-1)).toBe("Setting up 'proxmox-regenerate-snakeoil.service' to regenerate snakeoil certificate..");
    expect(startErr.lastLines.some((l) => l.startsWith('TASK'))).toBe(false);
  });

  it('times out with TaskTimeoutError and leaves the task running', async () => {
    sim.faults.set({ slowStorage: true });
    const upid = await client.createLxc('sim', ct(105));
    const err = await rejection<unknown>(waitForTask(client, upid, { pollIntervalMs: 10, timeoutMs: 60 }));
    expect(err).toBeInstanceOf(TaskTimeoutError);
    expect((await client.getTaskStatus(upid)).status).toBe('running');
    await client.stopTask(upid);
  });

  it('on abort sends DELETE for the task, follows it to `received interrupt`, and reports cancelled', async () => {
    sim.faults.set({ slowStorage: true });
    const upid = await client.createLxc('sim', ct(106));
    const controller = new AbortController();
    const lines: string[] = [];
    const waiting = waitForTask(client, upid, {
      pollIntervalMs: 10,
      signal: controller.signal,
      onLine: (line) => {
        lines.push(line);
        if (line.startsWith('extracting archive')) controller.abort();
      },
    });
    const err = await rejection<TaskCancelledError>(waiting);
    expect(err).toBeInstanceOf(TaskCancelledError);
    expect(err.exitstatus).toBe('unable to create CT 106 - received interrupt');
    expect(lines.at(-1)).toBe('TASK ERROR: unable to create CT 106 - received interrupt');
    const deletes = sim.requests.filter((r) => r.method === 'DELETE' && r.route === '/nodes/{node}/tasks/{upid}');
    expect(deletes.map((r) => r.params.upid)).toContain(upid);
    expect(await client.isVmidFree(106)).toBe(true);
  });

  it('an already aborted signal cancels before the first poll', async () => {
    sim.faults.set({ slowStorage: true });
    const upid = await client.createLxc('sim', ct(107));
    await expect(waitForTask(client, upid, { pollIntervalMs: 10, signal: AbortSignal.abort() })).rejects.toBeInstanceOf(TaskCancelledError);
    expect((await client.getTaskStatus(upid)).exitstatus).toBe('unable to create CT 107 - received interrupt');
  });
});

/** A scripted task: `script[i]` is what the i-th status poll sees; the log grows with `linesAt`. */
class FakeTask implements TaskApi {
  polls = 0;
  stopped = false;
  readonly logCalls: { start?: number; limit?: number }[] = [];

  constructor(
    private readonly script: ('running' | 'stopped' | Error)[],
    private readonly linesAt: (poll: number) => string[],
    private readonly exitstatus = 'OK',
  ) {}

  async getTaskStatus(upid: string): Promise<TaskStatus> {
    const step = this.script[Math.min(this.polls, this.script.length - 1)]!;
    this.polls++;
    if (step instanceof Error) throw step;
    return {
      upid, node: 'pve', type: 'vzcreate', id: '1', user: 'root@pam', pid: 1, starttime: 0, status: step,
      ...(step === 'stopped' ? { exitstatus: this.exitstatus } : {}),
    };
  }

  async getTaskLog(_upid: string, options: { start?: number; limit?: number }): Promise<TaskLogPage> {
    this.logCalls.push(options);
    const all = this.linesAt(this.polls);
    if (all.length === 0) return { lines: [{ n: 1, t: 'no content' }], total: 1 };
    const start = options.start ?? 0;
    const slice = all.slice(start, start + (options.limit || all.length));
    return { lines: slice.map((t, i) => ({ n: start + i + 1, t })), total: all.length };
  }

  async stopTask(): Promise<void> {
    this.stopped = true;
  }
}

describe('edge cases', () => {
  const UPID = 'UPID:pve:00000001:00000001:00000001:vzcreate:1:root@pam:';

  it('tolerates 400 "no such task" and 596 right after the POST, within the window', async () => {
    const notYet = new ProxmoxParameterError('Parameter verification failed.', { upid: 'no such task' });
    const fake = new FakeTask([notYet, new ProxmoxTransientError(596, 'Connection timed out'), 'running', 'stopped'], (p) => (p >= 3 ? ['a', 'TASK OK'] : []));
    const result = await waitForTask(fake, UPID, { pollIntervalMs: 1 });
    expect(result.exitstatus).toBe('OK');
    expect(fake.polls).toBe(4);
  });

  it('gives up when the task stays invisible past the window', async () => {
    const notYet = new ProxmoxParameterError('Parameter verification failed.', { upid: 'no such task' });
    const fake = new FakeTask([notYet], () => []);
    await expect(waitForTask(fake, UPID, { pollIntervalMs: 5, transientWindowMs: 30 })).rejects.toBe(notYet);
  });

  it('does not emit the fake `no content` line of an empty log', async () => {
    const lines: string[] = [];
    const fake = new FakeTask(['running', 'running', 'stopped'], (p) => (p >= 3 ? ['first', 'TASK OK'] : []));
    await waitForTask(fake, UPID, { pollIntervalMs: 1, onLine: (l) => void lines.push(l) });
    expect(lines).toEqual(['first', 'TASK OK']);
  });

  it('pages through long logs and resumes from startLine without repeating lines', async () => {
    const long = Array.from({ length: 1234 }, (_, i) => `line ${i + 1}`).concat('TASK OK');
    const seen: number[] = [];
    const fake = new FakeTask(['stopped'], () => long);
    const result = await waitForTask(fake, UPID, { pollIntervalMs: 1, startLine: 100, onLine: (_, n) => void seen.push(n) });
    expect(seen[0]).toBe(101);
    expect(seen.at(-1)).toBe(1235);
    expect(new Set(seen).size).toBe(seen.length);
    expect(result.lineCount).toBe(1235);
    expect(fake.logCalls.map((c) => c.start)).toEqual([100, 600, 1100]);
  });

  it('reports unexpected exit statuses as failures with the tail of the log', async () => {
    const fake = new FakeTask(['stopped'], () => ['one', 'two', '', 'TASK ERROR: boom'], 'boom');
    const err = await rejection<TaskFailedError>(waitForTask(fake, UPID, { pollIntervalMs: 1 }));
    expect([err.exitstatus, err.lastLines]).toEqual(['boom', ['one', 'two']]);
  });

  it('knows Proxmox\'s success statuses', () => {
    expect(['OK', 'WARNINGS: 3'].map(isTaskSuccess)).toEqual([true, true]);
    expect(['WARNINGS:', 'unexpected status', 'ok', 'received interrupt'].map(isTaskSuccess)).toEqual([false, false, false, false]);
  });
});

