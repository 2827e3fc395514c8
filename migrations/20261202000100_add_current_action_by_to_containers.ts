import type { Knex } from 'knex';

// Who holds a container's action lock (their username), so that someone refused because of it is told who to ask:
// “A reboot is in progress, requested by alice 40 s ago.” Set with the lock and cleared with it.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('containers', (t) => {
    t.string('current_action_by', 64).nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('containers', (t) => {
    t.dropColumn('current_action_by');
  });
}
