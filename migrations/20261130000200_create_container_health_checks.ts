import type { Knex } from 'knex';

// The results of a container's service health checks, one row per check run (after the build, the worker's sweep,
// "Check now"): the overall state, the sentence the page and the history show, and each service's checks (JSON).
// The newest rows per container are kept; the repository prunes older ones as it writes.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('container_health_checks', (t) => {
    t.bigIncrements('id');
    t.uuid('container_id').notNullable().references('containers.id').onDelete('CASCADE');
    t.timestamp('checked_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.string('state', 16).notNullable();
    t.text('summary').notNullable();
    t.jsonb('services').notNullable().defaultTo('[]');
    t.string('trigger', 16).notNullable();
    t.integer('user_id').nullable().references('users.id').onDelete('SET NULL');
    t.index(['container_id', 'id']);
  });
  await knex.raw("ALTER TABLE container_health_checks ADD CONSTRAINT container_health_checks_state CHECK (state IN ('healthy', 'degraded', 'down', 'not-checked'))");
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('container_health_checks');
}
