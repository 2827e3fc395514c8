import type { Knex } from 'knex';

// The per-container action lock: a lifecycle action (start, stop, shutdown, reboot, destroy, forget) sets
// current_action with `… WHERE current_action IS NULL`, so two requests can never both hold it. The time it was
// taken lets a request tell a lock whose job was lost (web process died before enqueueing) from one in use.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('containers', (t) => {
    t.string('current_action', 16).nullable();
    t.timestamp('current_action_at', { useTz: true }).nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('containers', (t) => {
    t.dropColumn('current_action_at');
    t.dropColumn('current_action');
  });
}
