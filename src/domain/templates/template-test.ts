// "Test in the simulator", on the web side: an admin asks for a run of a template, the worker runs it in a throw-away
// Debian-mode CT (src/jobs/template-test-job.ts → src/tools/template-test-run.ts), and the run's page follows its
// lines live. One run per template at a time.
import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { TemplateTestsRepository } from '../../db/template-tests-repository.ts';
import type { TemplatesRepository } from '../../db/templates-repository.ts';
import { enqueueJob, isJobLive } from '../../jobs/enqueue.ts';
import { TEMPLATE_TEST_JOB } from '../../jobs/job-types.ts';
import { ConflictError, NotFoundError } from '../../lib/errors.ts';
import { getTemplate } from './catalogue.ts';
import { isLive, type TemplateTestRun } from './test-run.ts';

export interface TemplateTestDeps {
  repos: { templates: TemplatesRepository; templateTests: TemplateTestsRepository };
  queue: Queue;
}

/** Queues a run of the template; a live run of it is a conflict — unless its job is gone (its worker died), then it is closed first. */
export async function requestTemplateTest(deps: TemplateTestDeps, userId: number, templateRef: string): Promise<TemplateTestRun> {
  const template = await getTemplate(deps.repos.templates, templateRef);
  if (template.loadError) throw new ConflictError(`Template “${template.name}” cannot be loaded (${template.loadError}); fix it first.`, 'rule');
  for (let tries = 0; ; tries++) {
    const run = await deps.repos.templateTests.create({ id: randomUUID(), templateId: template.id, templateName: template.name, requestedBy: userId });
    if (run !== 'busy') {
      await enqueueJob(deps.queue, TEMPLATE_TEST_JOB, { runId: run.id }, { jobId: `template-test-${run.id}` });
      return run;
    }
    const live = (await deps.repos.templateTests.recent(template.id, 1)).find(isLive);
    if (tries === 0 && live && !(await isJobLive(deps.queue, `template-test-${live.id}`))) {
      await deps.repos.templateTests.finish(live.id, { status: 'failed', report: null, error: 'The worker running this test stopped before it finished. Run the test again.' });
      continue;
    }
    throw new ConflictError(`A test of “${template.name}” is already ${live?.status ?? 'running'}: wait for it to finish.`);
  }
}

/** A run of this template (the id in the URL must belong to the template in the URL). */
export async function findTemplateTest(deps: TemplateTestDeps, templateRef: string, runId: string): Promise<TemplateTestRun> {
  const template = await getTemplate(deps.repos.templates, templateRef);
  const run = /^[0-9a-f-]{36}$/i.test(runId) ? await deps.repos.templateTests.findById(runId) : undefined;
  if (!run || run.templateId !== template.id) throw new NotFoundError('That test run');
  return run;
}
