import type { Knex } from 'knex';

// Every account now has a role: make it required and drop the is_admin flag it replaces (one source of truth).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.dropNullable('role');
    t.dropColumn('is_admin');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.boolean('is_admin').notNullable().defaultTo(false);
  });
  await knex('users').where({ role: 'admin' }).update({ is_admin: true });
  await knex.schema.alterTable('users', (t) => {
    t.setNullable('role');
  });
}
