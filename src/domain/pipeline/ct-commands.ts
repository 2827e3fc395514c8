// Small, quoted commands inside the CT (through `pct exec` on its node), and the markers that make the deploy and
// script phases resumable: a marker under /var/lib/launchpad/done records that a push or a script completed.
import { createHash } from 'node:crypto';
import { CAPTURED_OUTPUT_CHARS } from '../../proxmox/node-shell.ts';
import { StepError } from './pipeline-errors.ts';
import type { PipelineContext } from './pipeline-context.ts';

export const MARKER_DIR = '/var/lib/launchpad/done';

export const fingerprint = (...parts: string[]) => createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 16);

/**
 * Runs argv in the CT and returns its exit code and output (not logged: callers decide what the user sees), failing
 * when it prints more than CAPTURED_OUTPUT_CHARS.
 */
export async function ctCapture(ctx: PipelineContext, argv: string[], timeoutMs = ctx.timings.commandTimeoutMs) {
  const shell = await ctx.shell();
  const stdout: string[] = [];
  const stderr: string[] = [];
  const { exitCode } = await shell.pctExec(ctx.vmid, argv, {
    timeoutMs,
    signal: ctx.signal,
    maxOutputChars: CAPTURED_OUTPUT_CHARS,
    onLine: (stream, text) => (stream === 'stdout' ? stdout : stderr).push(text),
  });
  return { exitCode, stdout, stderr };
}

/** Runs argv in the CT; a non-zero exit fails the step with `what`, the exit code and its error output. */
export async function ctRun(ctx: PipelineContext, argv: string[], what: string): Promise<void> {
  const result = await ctCapture(ctx, argv);
  if (result.exitCode !== 0) {
    const detail = [...result.stderr, ...result.stdout].slice(-5).join(' | ');
    throw new StepError(`${what} failed in CT ${ctx.vmid} (exit code ${result.exitCode})${detail ? `: ${detail}` : ''}.`);
  }
}

export async function hasMarker(ctx: PipelineContext, name: string): Promise<boolean> {
  return (await ctCapture(ctx, ['test', '-e', `${MARKER_DIR}/${name}`])).exitCode === 0;
}

export async function setMarker(ctx: PipelineContext, name: string): Promise<void> {
  await ctRun(ctx, ['mkdir', '-p', MARKER_DIR], 'Creating the marker directory');
  await ctRun(ctx, ['touch', `${MARKER_DIR}/${name}`], 'Writing a progress marker');
}
