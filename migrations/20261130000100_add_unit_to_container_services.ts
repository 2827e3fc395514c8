import type { Knex } from 'knex';

// The systemd unit that runs a registered service (register_service's UNIT, by default its NAME), as the script wrote
// it: the health checks validate it before it is used. Null: no unit to check (rows from before this column, or `-`).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('container_services', (t) => {
    t.string('unit', 256).nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('container_services', (t) => {
    t.dropColumn('unit');
  });
}
