import type { Knex } from 'knex';

// One-time invite links (also used to reset a password): only the SHA-256 of the random token is stored, so the
// table alone cannot be turned into a working link. At most one open invite per user.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('user_invites', (t) => {
    t.increments('id');
    t.integer('user_id').notNullable().unique().references('id').inTable('users').onDelete('CASCADE');
    t.text('token_hash').notNullable().unique();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('user_invites');
}
