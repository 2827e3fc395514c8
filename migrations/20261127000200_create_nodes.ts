import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('nodes', (t) => {
    t.increments('id');
    t.string('name', 64).notNullable().unique();
    t.text('api_url').notNullable();
    t.text('token_id').notNullable();
    t.text('token_secret_enc').notNullable();
    t.string('tls_fingerprint', 95).nullable();
    t.text('ssh_host').nullable();
    t.integer('ssh_port').notNullable().defaultTo(22);
    t.string('ssh_user', 64).notNullable().defaultTo('root');
    t.text('ssh_private_key_enc').nullable();
    t.text('ssh_host_key_fingerprint').nullable();
    t.boolean('is_simulator').notNullable().defaultTo(false);
    t.timestamps(true, true);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('nodes');
}
