import type { Knex } from 'knex';

// Who did what, when, from where, and how it ended. user_id is kept loose (SET NULL) and the name copied, so an
// entry outlives the account it names; container_id is text, not a foreign key, for the same reason.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('audit_entries', (t) => {
    t.bigIncrements('id');
    t.timestamp('at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.integer('user_id').nullable().references('users.id').onDelete('SET NULL');
    t.string('username', 64).nullable();
    t.string('remote_address', 64).nullable();
    t.string('action', 64).notNullable();
    t.string('target', 200).nullable();
    t.string('container_id', 64).nullable();
    t.string('outcome', 16).notNullable();
    t.jsonb('details').notNullable().defaultTo('{}');
    t.index(['at']);
    t.index(['user_id', 'at']);
    t.index(['action', 'at']);
    t.index(['container_id', 'at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('audit_entries');
}
