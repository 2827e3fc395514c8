// What a template test run is ("Test in the simulator"): its states, its report, its lines. A leaf module shared by
// the repository, the web side (template-test.ts) and the worker's job.

export type TemplateTestStatus = 'queued' | 'running' | 'passed' | 'failed';

/** One script's result in a test run: its exit (or why it has none) and how long it ran. */
export interface TemplateTestScript {
  name: string;
  exit: number | 'skipped' | 'not run';
  seconds: number | null;
}

export interface TemplateTestRun {
  id: string;
  templateId: number;
  templateName: string;
  requestedBy: number | null;
  status: TemplateTestStatus;
  /** Stored when the run ends: each script's exit and time, the outcome, the services it registered. */
  report: { outcome: string; seconds: number; rootfsSeconds: number; scripts: TemplateTestScript[]; services: Array<{ name: string; port: number | null }> } | null;
  error: string | null;
  lineCount: number;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface TemplateTestLine {
  lineNo: number;
  kind: 'info' | 'step' | 'stdout' | 'stderr';
  text: string;
  createdAt: Date;
}

export const isLive = (run: Pick<TemplateTestRun, 'status'>) => run.status === 'queued' || run.status === 'running';

/** The Redis channel the worker rings after each batch of lines and at the end (Postgres holds the lines). */
export const templateTestChannel = (runId: string) => `template-test:${runId}:lines`;
