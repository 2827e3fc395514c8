import type { Knex } from 'knex';

// What happened to a container, newest first: build attempts (with their outcome), power actions and destroy (with who
// did it), and every change of its service health. One row per happening, written when it ends (or, for health, when
// the state changes). container_id is a foreign key: a destroyed container keeps its row, so its history stays too.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('container_history', (t) => {
    t.bigIncrements('id');
    t.uuid('container_id').notNullable().references('containers.id').onDelete('CASCADE');
    t.timestamp('at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.string('kind', 16).notNullable();
    t.integer('user_id').nullable().references('users.id').onDelete('SET NULL');
    t.string('username', 64).nullable();
    t.integer('attempt').nullable();
    t.string('outcome', 16).nullable();
    t.text('summary').notNullable();
    t.jsonb('details').notNullable().defaultTo('{}');
    t.index(['container_id', 'id']);
    t.index(['kind', 'id']);
  });
  await knex.raw("ALTER TABLE container_history ADD CONSTRAINT container_history_kind CHECK (kind IN ('build', 'action', 'destroy', 'health'))");
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('container_history');
}
