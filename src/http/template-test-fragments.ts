// The HTML of a template test run — its lines and its report — for the run's page and its live stream alike.
import { ansiToHtml } from '../domain/progress/ansi-html.ts';
import type { Views } from '../views.ts';
import type { TemplateTestLine, TemplateTestRun } from '../domain/templates/test-run.ts';

export interface TemplateTestFragments {
  /** Log rows (the container log's partial: same permalinks, timestamps and colours); a new phase is a separator. */
  lines(lines: TemplateTestLine[]): string;
  /** The run's status and, once it ended, each script's exit and time. */
  report(run: TemplateTestRun): string;
}

const STREAMS = { stdout: 'stdout', stderr: 'stderr', info: 'system' } as const;

export function createTemplateTestFragments(views: Views): TemplateTestFragments {
  return {
    lines: (lines) => lines.length ? views.render('partials/progress/log-batch', {
      entries: lines.map((l) => l.kind === 'step'
        ? { kind: 'marker', text: `— ${l.text} —` }
        : { kind: 'log', lineNo: l.lineNo, stream: STREAMS[l.kind], html: ansiToHtml(l.text), time: l.createdAt.toISOString().slice(11, 19) }),
    }) : '',
    report: (run) => views.render('partials/templates/test-report', { run }),
  };
}
