import type { Knex } from 'knex';

// A lease on the container for the one worker running its pipeline: BullMQ's job lock lives in Redis and can lapse
// (Redis restart, a long pause) while the original run is still alive; this one lives with the data it protects.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('containers', (t) => {
    t.uuid('run_token').nullable();
    t.timestamp('run_heartbeat_at', { useTz: true }).nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('containers', (t) => {
    t.dropColumn('run_heartbeat_at');
    t.dropColumn('run_token');
  });
}
