import type { Knex } from 'knex';

// A job BullMQ delivers again after a worker crash must not write its history entry twice: writers that can run
// more than once give the entry a key (`build:<attempt>`, `job:<job id>@<queued at>`), unique per container.
// History reads newest first by when it happened (a build attempt's entry carries its finish time).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('container_history', (t) => {
    t.string('dedupe_key', 160).nullable();
    t.unique(['container_id', 'dedupe_key']);
    t.index(['container_id', 'at', 'id']);
    t.index(['at', 'id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('container_history', (t) => {
    t.dropIndex(['at', 'id']);
    t.dropIndex(['container_id', 'at', 'id']);
    t.dropUnique(['container_id', 'dedupe_key']);
    t.dropColumn('dedupe_key');
  });
}
