// `npm run template:test -- <name> [--keep]`: the template test bench for authors, from the command line. Runs one
// template from TEMPLATES_DIR in a throw-away Debian-mode CT (src/tools/template-test-run.ts), prints the build log
// live and each script's exit and time. Exits 0 only when the build ends Ready.
import path from 'node:path';
import { loadConfig } from '../config.ts';
import { getTemplate, syncCatalogue } from '../domain/templates/catalogue.ts';
import { runMain } from '../lib/main.ts';
import { runTemplateTest, TemplateTestUnavailable, type TemplateTestReport, type TestLineKind } from './template-test-run.ts';

const out = (line: string) => process.stdout.write(`${line}\n`);
const PREFIX: Record<TestLineKind, string> = { info: '   ', step: '== ', stdout: '  ', stderr: '! ' };

runMain('template:test', async () => {
  const args = process.argv.slice(2).filter((a) => a !== '--');
  const keep = args.includes('--keep');
  const name = args.find((a) => !a.startsWith('-'));
  if (!name) {
    process.stderr.write('usage: npm run template:test -- <template name> [--keep]\n');
    process.exit(2);
  }
  const config = loadConfig();
  // Ctrl-C cancels the build (or ends --keep); the CT, database and files are removed either way.
  const interrupt = new AbortController();
  process.once('SIGINT', () => interrupt.abort());
  try {
    const report = await runTemplateTest(config, {
      signal: interrupt.signal,
      onLine: (text, kind) => out(`${PREFIX[kind]}${text}`),
      load: async (deps) => {
        await syncCatalogue(deps.repos.templates, path.resolve(config.templatesDir), deps.logger);
        const template = await getTemplate(deps.repos.templates, name).catch(() => undefined);
        if (!template) throw new Error(`no template “${name}” in ${config.templatesDir}`);
        if (template.loadError) throw new Error(`template ${name} cannot be loaded: ${template.loadError}`);
        return template.name;
      },
      beforeCleanup: async (report, sim, vmid) => {
        printReport(name, report);
        if (!keep || vmid === null) return;
        out(`   --keep: the CT stays up until you press Ctrl-C (root filesystem: ${sim.state.rootDir(vmid)})`);
        if (!interrupt.signal.aborted) await new Promise((resolve) => interrupt.signal.addEventListener('abort', resolve));
      },
    });
    process.exit(report.ok ? 0 : 1);
  } catch (err) {
    if (!(err instanceof TemplateTestUnavailable)) throw err;
    process.stderr.write(`template:test: ${err.message}\n`);
    process.exit(2);
  }
});

function printReport(name: string, report: TemplateTestReport): void {
  out('');
  out(`== ${name}: ${report.ok ? 'Ready' : `FAILED — ${report.outcome}`} after ${report.seconds.toFixed(1)} s`);
  for (const r of report.scripts) {
    const exit = typeof r.exit === 'number' ? `exit ${r.exit}` : r.exit;
    out(`   ${r.name.padEnd(32)} ${exit.padEnd(10)} ${r.seconds === null ? '' : `${r.seconds.toFixed(1)} s`}`);
  }
  for (const s of report.services) {
    out(`   service ${s.name} on port ${s.port ?? '-'}${s.forwarded ? ` (from this machine: 127.0.0.1:${s.forwarded})` : ''}`);
  }
}
