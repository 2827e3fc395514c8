// The worker's side of "Test in the simulator": runs the template in a throw-away Debian-mode CT and records what it
// prints as it goes (Postgres holds the lines, Redis rings the run's page), then the report.
import type { Job } from 'bullmq';
import type { Deps } from '../deps.ts';
import { getTemplate } from '../domain/templates/catalogue.ts';
import type { Template, TemplateDefinition } from '../domain/templates/template.ts';
import { runTemplateTest, type TemplateTestReport } from '../tools/template-test-run.ts';
import type { JobContext, JobHandlers } from './dispatch.ts';
import type { JobDataByName } from './job-types.ts';
import { templateTestChannel, type TemplateTestLine } from '../domain/templates/test-run.ts';

/** Lines are written in batches: at most this long after the first of a batch, or at once when this many wait. */
const FLUSH_MS = 150;
const FLUSH_LINES = 200;

async function templateTestJob(deps: Deps, job: Job<JobDataByName['template-test']>, _token: string | undefined, ctx: JobContext) {
  const { runId } = job.data;
  const tests = deps.repos.templateTests;
  const run = await tests.findById(runId);
  // Gone (its template was deleted) or already started once (a redelivery after a crash: that run was closed).
  if (!run || !(await tests.start(runId))) return 'skipped';

  let pending: Array<{ kind: TemplateTestLine['kind']; text: string; at: Date }> = [];
  let timer: NodeJS.Timeout | undefined;
  let writing = Promise.resolve();
  const ring = () => deps.redis.publish(templateTestChannel(runId), 'lines').catch(() => undefined);
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    const batch = pending;
    pending = [];
    // A batch that cannot be stored is reported and the run goes on (a write left to fail unhandled would end the
    // worker process, and every later batch with it).
    writing = writing
      .then(async () => {
        if (batch.length) await tests.appendLines(runId, batch);
        await ring();
      })
      .catch((err: Error) => deps.logger.warn({ err: err.message, runId, lines: batch.length }, 'could not store lines of a template test run; they are missing from its log'));
    return writing;
  };
  const onLine = (text: string, kind: TemplateTestLine['kind']) => {
    pending.push({ kind, text, at: new Date() });
    if (pending.length >= FLUSH_LINES) void flush();
    else timer ??= setTimeout(() => void flush(), FLUSH_MS);
  };

  let report: TemplateTestReport | undefined;
  let error: string | null = null;
  try {
    const template = await getTemplate(deps.repos.templates, run.templateId);
    const sets = await deps.repos.packageSets.findByNames(template.packageSets);
    report = await runTemplateTest(deps.config, {
      onLine,
      signal: ctx.shutdown,
      // A copy of the template as it is now (disk or custom) and the package sets it names, in the private database.
      load: async (test) => {
        for (const set of sets) {
          const id = await test.repos.packageSets.create({ name: set.name, description: set.description });
          if (id !== 'taken') await test.repos.packageSets.addPackages(id, set.packages);
        }
        await test.repos.templates.createCustom(definitionOf(template));
        return template.name;
      },
    });
  } catch (err) {
    error = ctx.shutdown.aborted
      ? 'The worker was stopped during this test. Run the test again.'
      : `The test could not run: ${(err as Error).message}`;
    onLine(error, 'stderr');
  }
  await flush();
  await tests.finish(runId, report
    ? { status: report.ok ? 'passed' : 'failed', report: { ...report, services: report.services.map(({ name, port }) => ({ name, port })) }, error: report.ok ? null : report.outcome }
    : { status: 'failed', report: null, error });
  await ring();
  return report?.ok ? 'passed' : 'failed';
}

function definitionOf(t: Template): TemplateDefinition {
  return {
    name: t.name, description: t.description, osTemplate: t.osTemplate, cores: t.cores, memory: t.memory, swap: t.swap, disk: t.disk,
    unprivileged: t.unprivileged, nesting: t.nesting, tags: t.tags, scripts: t.scripts, files: t.files, packages: t.packages, packageSets: t.packageSets,
  };
}

export const templateTestJobs: Pick<JobHandlers, 'template-test'> = { 'template-test': templateTestJob };
