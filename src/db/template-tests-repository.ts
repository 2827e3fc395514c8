import type { Knex } from 'knex';
import type { TemplateTestLine, TemplateTestRun, TemplateTestStatus } from '../domain/templates/test-run.ts';

interface RunRow {
  id: string;
  template_id: number;
  template_name: string;
  requested_by: number | null;
  status: TemplateTestStatus;
  report: TemplateTestRun['report'];
  error: string | null;
  line_count: number;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

const toRun = (r: RunRow): TemplateTestRun => ({
  id: r.id,
  templateId: r.template_id,
  templateName: r.template_name,
  requestedBy: r.requested_by,
  status: r.status,
  report: r.report,
  error: r.error,
  lineCount: r.line_count,
  createdAt: r.created_at,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
});

/** The only module that touches template_test_runs and template_test_lines. */
export class TemplateTestsRepository {
  constructor(private readonly knex: Knex) {}

  /** A new queued run, or 'busy' when this template already has one queued or running. */
  async create(input: { id: string; templateId: number; templateName: string; requestedBy: number }): Promise<TemplateTestRun | 'busy'> {
    try {
      const [row] = await this.knex<RunRow>('template_test_runs')
        .insert({ id: input.id, template_id: input.templateId, template_name: input.templateName, requested_by: input.requestedBy })
        .returning('*');
      return toRun(row!);
    } catch (err) {
      if ((err as { constraint?: string }).constraint === 'template_test_runs_one_live') return 'busy';
      throw err;
    }
  }

  async findById(id: string): Promise<TemplateTestRun | undefined> {
    const row = await this.knex<RunRow>('template_test_runs').where({ id }).first();
    return row && toRun(row);
  }

  /** The template's runs, newest first. */
  async recent(templateId: number, limit = 5): Promise<TemplateTestRun[]> {
    return (await this.knex<RunRow>('template_test_runs').where({ template_id: templateId }).orderBy('created_at', 'desc').limit(limit)).map(toRun);
  }

  /** queued → running; false when the run is gone or no longer queued (a redelivered job). */
  async start(id: string): Promise<boolean> {
    return (await this.knex('template_test_runs').where({ id, status: 'queued' }).update({ status: 'running', started_at: this.knex.fn.now() })) > 0;
  }

  /** Appends lines after the last one, in order, in one statement. */
  async appendLines(id: string, lines: Array<{ kind: string; text: string; at: Date }>): Promise<number> {
    if (!lines.length) return 0;
    return this.knex.transaction(async (trx) => {
      const run = await trx<RunRow>('template_test_runs').where({ id }).forUpdate().first('line_count');
      if (!run) return 0;
      const rows = lines.map((l, i) => ({ run_id: id, line_no: run.line_count + i + 1, kind: l.kind, text: l.text, created_at: l.at }));
      await trx('template_test_lines').insert(rows);
      const lineCount = run.line_count + lines.length;
      await trx('template_test_runs').where({ id }).update({ line_count: lineCount });
      return lineCount;
    });
  }

  async linesAfter(id: string, afterLineNo: number, limit = 2000): Promise<TemplateTestLine[]> {
    const rows = await this.knex('template_test_lines').where({ run_id: id }).andWhere('line_no', '>', afterLineNo).orderBy('line_no').limit(limit);
    return rows.map((r: { line_no: number; kind: TemplateTestLine['kind']; text: string; created_at: Date }) => ({ lineNo: r.line_no, kind: r.kind, text: r.text, createdAt: r.created_at }));
  }

  async finish(id: string, outcome: { status: 'passed' | 'failed'; report: TemplateTestRun['report']; error: string | null }): Promise<void> {
    await this.knex('template_test_runs').where({ id }).whereIn('status', ['queued', 'running']).update({
      status: outcome.status, report: outcome.report === null ? null : JSON.stringify(outcome.report), error: outcome.error, finished_at: this.knex.fn.now(),
    });
  }
}
