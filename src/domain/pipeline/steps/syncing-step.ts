// Phase 4, Run Scripts: install the packages resolved at Deploy (template groups, package sets, extra packages),
// then run each chosen script in the chosen order with the helper library loaded, streaming stdout and stderr line
// by line. A non-zero exit fails the phase with the script's name, exit code and last lines. Scripts travel by
// SFTP + `pct push`, never on a command line.
import { ansiToText } from '../../progress/ansi-html.ts';
import { HELPER_LIBRARY_TARGET } from '../../templates/helper-library.ts';
import type { PackageManager } from '../../containers/container-config.ts';
import { ctRun, fingerprint, hasMarker, setMarker } from '../ct-commands.ts';
import { SettingsError, StepError } from '../pipeline-errors.ts';
import { simulatedNote, type PipelineContext } from '../pipeline-context.ts';

const SCRIPTS_DIR = '/opt/launchpad/scripts';
const LAST_LINES = 10;

const packageSpec: Record<PackageManager, (name: string, version: string | null) => string> = {
  apt: (n, v) => (v ? `${n}=${v}` : n),
  npm: (n, v) => (v ? `${n}@${v}` : n),
  pip: (n, v) => (v ? `${n}==${v}` : n),
};

const installCommands: Record<PackageManager, (specs: string[]) => string[][]> = {
  apt: (specs) => [
    ['apt-get', 'update'],
    ['apt-get', 'install', '-y', '--no-install-recommends', '-o', 'Dpkg::Options::=--force-confold', '--', ...specs],
  ],
  npm: (specs) => [['npm', 'install', '--global', '--no-fund', '--no-audit', '--', ...specs]],
  // Debian 12 marks the system Python as externally managed (PEP 668).
  pip: (specs) => [['pip3', 'install', '--break-system-packages', '--', ...specs]],
};

/**
 * What an apt command runs in besides its command line (the log shows the command alone). pct exec gives the command
 * no terminal and no DEBIAN_FRONTEND: apt's maintainer scripts would have debconf complain on stderr, and a question
 * of high priority would wait for an answer until the timeout.
 */
const noninteractive = (argv: string[]) => ['env', 'DEBIAN_FRONTEND=noninteractive', ...argv];

export async function syncingStep(ctx: PipelineContext): Promise<void> {
  const { recorder, config } = ctx;
  await recorder.enterPhase('syncing', 'Installing packages…');

  const groups = new Map<PackageManager, string[]>();
  const add = (manager: PackageManager, spec: string) => groups.set(manager, [...(groups.get(manager) ?? []), spec]);
  if (config.resolvedPackages) {
    // Resolved at Deploy from the groups, package sets and extra packages: exactly what was reviewed.
    for (const p of config.resolvedPackages) add(p.manager, packageSpec[p.manager](p.name, p.version));
  } else {
    for (const p of config.template.packages) if (config.packageGroups.includes(p.manager)) add(p.manager, packageSpec[p.manager](p.name, p.version));
    for (const spec of config.extraPackages) add('apt', spec);
  }

  const scripts = config.scripts.map((name) => {
    const script = config.template.scripts.find((s) => s.name === name);
    if (!script) throw new StepError(`Script “${name}” was chosen but is not in the template snapshot. Destroy and deploy again.`);
    return script;
  });
  const total = groups.size + scripts.length;
  let done = 0;

  for (const [manager, specs] of groups) {
    await recorder.advance(done / Math.max(1, total), `Installing ${specs.length} ${manager} package(s)…`);
    const marker = `packages-${manager}-${fingerprint(...specs)}`;
    if (await hasMarker(ctx, marker)) {
      recorder.log('system', `${manager} packages already installed — skipped.`);
    } else {
      await ctx.confirmStillOurs();
      for (const argv of installCommands[manager](specs)) {
        recorder.log('system', `$ ${argv.join(' ')}`);
        const what = `Installing ${manager} packages (${argv.slice(0, 2).join(' ')})`;
        const inCt = manager === 'apt' ? noninteractive(argv) : argv;
        const failed = await runStreaming(ctx, inCt, ctx.timings.packageTimeoutMs, what, { failOnExit: manager !== 'apt' });
        if (failed === undefined) continue;
        // An attempt cancelled (or cut off) during an install leaves dpkg half-done, and every apt-get after it
        // refuses until `dpkg --configure -a` runs — which Retry does here instead of sending someone to a shell.
        if (!failed.lastLines.some((line) => DPKG_INTERRUPTED.test(line))) throw installFailed(what, failed.exitCode, failed.lastLines);
        recorder.log('system', 'An earlier attempt was stopped while dpkg worked: finishing its work with dpkg --configure -a, then installing again.');
        recorder.log('system', '$ dpkg --configure -a');
        await runStreaming(ctx, noninteractive(['dpkg', '--configure', '-a']), ctx.timings.packageTimeoutMs, 'Finishing the interrupted dpkg run (dpkg --configure -a)');
        recorder.log('system', `$ ${argv.join(' ')}`);
        await runStreaming(ctx, inCt, ctx.timings.packageTimeoutMs, what);
      }
      await setMarker(ctx, marker);
      if (ctx.commandsSimulated) recorder.log('system', `${manager} packages: not installed${simulatedNote(ctx)}.`);
    }
    done++;
  }

  for (const script of scripts) {
    await recorder.advance(done / Math.max(1, total), `Running ${script.name}…`);
    const marker = `script-${fingerprint(script.name, script.content)}`;
    if (await hasMarker(ctx, marker)) {
      recorder.log('system', `${script.name}: completed in an earlier attempt — skipped.`);
      done++;
      continue;
    }
    await ctx.confirmStillOurs();
    const shell = await ctx.shell();
    const target = `${SCRIPTS_DIR}/${script.name}`;
    await ctRun(ctx, ['mkdir', '-p', SCRIPTS_DIR], 'Creating the scripts directory');
    await shell.pctPush(ctx.vmid, script.content, target, { perms: '0700', timeoutMs: ctx.timings.commandTimeoutMs, signal: ctx.signal });
    recorder.log('system', `▶ ${script.name}`);
    await runStreaming(
      ctx,
      [
        'env',
        'DEBIAN_FRONTEND=noninteractive',
        `LAUNCHPAD_HOSTNAME=${config.hostname}`,
        `LAUNCHPAD_IP=${ctx.ip ?? ''}`,
        'bash',
        '-c',
        // $0 is the library, $1 the script: both fixed paths, passed as arguments rather than spliced in.
        '. "$0" && . "$1"',
        HELPER_LIBRARY_TARGET,
        target,
      ],
      ctx.timings.scriptTimeoutMs,
      `Script ${script.name}`,
    );
    await setMarker(ctx, marker);
    recorder.log('system', ctx.commandsSimulated ? `✔ ${script.name}: not run${simulatedNote(ctx)}.` : `✔ ${script.name} finished.`);
    done++;
  }
  await recorder.advance(1, `${scripts.length} script(s) ${ctx.commandsSimulated ? 'simulated' : 'ran'}`);
}

/** Runs argv in the CT streaming every line into the log; a non-zero exit fails with the last lines. */
/** apt-get's refusal after an interrupted dpkg run. */
const DPKG_INTERRUPTED = /^E: dpkg was interrupted, you must manually run 'dpkg --configure -a'/;

/** apt-get's answer for a name its package lists do not have. */
const APT_UNKNOWN_PACKAGE = /^E: Unable to locate package (\S+)/;

function installFailed(what: string, exitCode: number | null, tail: string[]): StepError {
  const last = tail.length ? ` Last lines:\n${tail.join('\n')}` : '';
  // A name apt does not know is in the container's recorded package list: Retry would ask for it again.
  const unknown = tail.map((line) => APT_UNKNOWN_PACKAGE.exec(line)?.[1]).filter((name) => name !== undefined);
  if (unknown.length) {
    const names = unknown.map((name) => `“${name}”`).join(', ');
    return new SettingsError(
      `apt has no package ${names} (a typo, or not in this Debian release's repositories). Retry would ask for it again: ` +
        `use “Change settings and deploy again…” to correct or remove it (or fix the template or package set that names it).${last}`,
    );
  }
  return new StepError(`${what} exited with code ${exitCode}. Fix the cause (see the log), then Retry — completed scripts are skipped.${last}`);
}

/**
 * Runs a command in the CT, its output streamed into the log. A non-zero exit fails the step, unless `failOnExit` is
 * false: then it returns the exit code and the last lines for the caller to judge (undefined on success).
 */
async function runStreaming(
  ctx: PipelineContext,
  argv: string[],
  timeoutMs: number,
  what: string,
  options: { failOnExit?: boolean } = {},
): Promise<{ exitCode: number | null; lastLines: string[] } | undefined> {
  const shell = await ctx.shell();
  const tail: string[] = [];
  const { exitCode } = await shell.pctExec(ctx.vmid, argv, {
    timeoutMs,
    signal: ctx.signal,
    onLine: (stream, text) => {
      ctx.recorder.log(stream, text);
      tail.push(ansiToText(text));
      if (tail.length > LAST_LINES) tail.shift();
    },
  });
  if (exitCode === 0) return undefined;
  if (options.failOnExit === false) return { exitCode, lastLines: tail };
  throw installFailed(what, exitCode, tail);
}
