// Phase 3, Deploy Files: over SSH to the node that hosts the CT, wait until the CT's filesystem answers, install the
// helper library, and push the template's files honouring target path, policy, mode and owner. Contents travel by
// SFTP + `pct push`, never on a command line. A marker per file makes a re-run skip what is already there.
import path from 'node:path';
import { HELPER_LIBRARY_CONTENT, HELPER_LIBRARY_TARGET } from '../../templates/helper-library.ts';
import { ctCapture, ctRun, fingerprint, hasMarker, setMarker } from '../ct-commands.ts';
import { StepError } from '../pipeline-errors.ts';
import { simulatedNote, sleep, type PipelineContext } from '../pipeline-context.ts';

export async function deployingStep(ctx: PipelineContext): Promise<void> {
  const { recorder } = ctx;
  await recorder.enterPhase('deploying', `Connecting to ${ctx.node.name} over SSH…`);
  const shell = await ctx.shell();
  await waitForFilesystem(ctx);
  await recorder.advance(0.15, 'Installing the helper library…');

  const libraryMarker = `lib-${fingerprint(HELPER_LIBRARY_CONTENT)}`;
  if (await hasMarker(ctx, libraryMarker)) {
    recorder.log('system', `Helper library already installed at ${HELPER_LIBRARY_TARGET}.`);
  } else {
    await ctRun(ctx, ['mkdir', '-p', path.posix.dirname(HELPER_LIBRARY_TARGET)], 'Creating the helper library directory');
    await shell.pctPush(ctx.vmid, HELPER_LIBRARY_CONTENT, HELPER_LIBRARY_TARGET, { perms: '0644', timeoutMs: ctx.timings.commandTimeoutMs, signal: ctx.signal });
    await setMarker(ctx, libraryMarker);
    recorder.log('system', `Installed the helper library at ${HELPER_LIBRARY_TARGET}${simulatedNote(ctx)}.`);
  }

  const files = ctx.config.template.files;
  for (const [i, file] of files.entries()) {
    const dest = file.targetPath;
    const marker = `file-${fingerprint(dest, file.content, file.mode, file.owner, file.policy)}`;
    await recorder.advance(0.2 + (0.8 * i) / Math.max(1, files.length), `Pushing ${dest}…`);
    if (await hasMarker(ctx, marker)) {
      recorder.log('system', `${dest}: already pushed — skipped.`);
      continue;
    }
    const exists = (await ctCapture(ctx, ['test', '-e', dest])).exitCode === 0;
    if (exists && file.policy === 'default') {
      recorder.log('system', `${dest}: exists — kept (policy “default”)${simulatedNote(ctx)}.`);
      await setMarker(ctx, marker);
      continue;
    }
    if (exists && file.policy === 'backup') {
      await ctRun(ctx, ['cp', '-a', '--', dest, `${dest}.bak`], `Backing up ${dest}`);
      recorder.log('system', `${dest}: existing file saved as ${dest}.bak${simulatedNote(ctx)}.`);
    }
    await ctRun(ctx, ['mkdir', '-p', '--', path.posix.dirname(dest)], `Creating ${path.posix.dirname(dest)}`);
    const [user, group] = file.owner.split(':');
    await shell.pctPush(ctx.vmid, file.content, dest, {
      perms: file.mode,
      user: user || 'root',
      group: group || user || 'root',
      timeoutMs: ctx.timings.commandTimeoutMs,
      signal: ctx.signal,
    });
    await setMarker(ctx, marker);
    recorder.log('system', `${dest}: pushed (${Buffer.byteLength(file.content)} bytes, mode ${file.mode}, owner ${file.owner})${simulatedNote(ctx)}.`);
  }
  await recorder.advance(1, files.length ? `Pushed ${files.length} file(s)` : 'No files to push');
}

/** Right after start the CT may not accept `pct exec` yet; retry a harmless command for a while. */
async function waitForFilesystem(ctx: PipelineContext): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const probe = await ctCapture(ctx, ['test', '-d', '/etc'], 15_000);
    if (probe.exitCode === 0) return;
    // A CT that went away, or another guest made at its VMID meanwhile, ends the wait at once.
    await ctx.confirmStillOurs();
    if (Date.now() > deadline) {
      throw new StepError(`CT ${ctx.vmid}'s filesystem did not become ready within 60 s (${probe.stderr.at(-1) ?? `exit code ${probe.exitCode}`}). Check the CT on the node, then Retry.`);
    }
    await sleep(ctx.timings.pollMs, ctx.signal);
  }
}
