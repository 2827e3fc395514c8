import type { Knex } from 'knex';

// Safety on a real cluster. `marks_ct`: this row's CT carries Launchpad's mark (tag + description line); rows from
// before marks existed keep false and are adopted only when hostname and VMID both match. `create_requested_at` /
// `create_upid`: whether a create request was ever sent, and its task. `pending_task`: the Proxmox task a run is
// following, so a run resumed after a crash can re-read its log. `run_owner`: which worker slot holds the lease.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('containers', (t) => {
    t.boolean('marks_ct').notNullable().defaultTo(false);
    t.timestamp('create_requested_at', { useTz: true }).nullable();
    t.text('create_upid').nullable();
    t.jsonb('pending_task').nullable();
    t.text('run_owner').nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('containers', (t) => {
    t.dropColumn('run_owner');
    t.dropColumn('pending_task');
    t.dropColumn('create_upid');
    t.dropColumn('create_requested_at');
    t.dropColumn('marks_ct');
  });
}
