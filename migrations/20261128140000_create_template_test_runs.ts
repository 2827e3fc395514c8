import type { Knex } from 'knex';

// "Test in the simulator": one row per run of a template in a throw-away Debian-mode CT, and the lines it printed.
// The report (each script's exit and time) is stored when the run ends. At most one run per template is live at a
// time (the partial unique index), so a double click cannot start two.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('template_test_runs', (t) => {
    t.uuid('id').primary();
    t.integer('template_id').notNullable().references('id').inTable('templates').onDelete('CASCADE');
    t.text('template_name').notNullable();
    t.integer('requested_by').nullable().references('id').inTable('users').onDelete('SET NULL');
    t.text('status').notNullable().defaultTo('queued');
    t.jsonb('report').nullable();
    t.text('error').nullable();
    t.integer('line_count').notNullable().defaultTo(0);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('started_at', { useTz: true }).nullable();
    t.timestamp('finished_at', { useTz: true }).nullable();
  });
  await knex.raw("ALTER TABLE template_test_runs ADD CONSTRAINT template_test_runs_status CHECK (status IN ('queued', 'running', 'passed', 'failed'))");
  await knex.raw("CREATE UNIQUE INDEX template_test_runs_one_live ON template_test_runs (template_id) WHERE status IN ('queued', 'running')");
  await knex.schema.createTable('template_test_lines', (t) => {
    t.uuid('run_id').notNullable().references('id').inTable('template_test_runs').onDelete('CASCADE');
    t.integer('line_no').notNullable();
    t.text('kind').notNullable();
    t.text('text').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['run_id', 'line_no']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('template_test_lines');
  await knex.schema.dropTable('template_test_runs');
}
