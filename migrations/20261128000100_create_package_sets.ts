import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('package_sets', (t) => {
    t.increments('id');
    t.string('name', 64).notNullable().unique();
    t.text('description').notNullable().defaultTo('');
    t.timestamps(true, true);
  });
  await knex.schema.createTable('package_set_items', (t) => {
    t.increments('id');
    t.integer('set_id').notNullable().references('package_sets.id').onDelete('CASCADE');
    t.specificType('manager', 'package_manager').notNullable();
    t.string('name', 214).notNullable();
    t.string('version', 64).nullable();
    t.unique(['set_id', 'manager', 'name']);
  });
  // By name, not by id: a disk template names its sets in packages/<any>.sets and may name one that does not exist
  // yet (the wizard then says so). Deleting a set checks these rows first.
  await knex.schema.createTable('template_package_sets', (t) => {
    t.integer('template_id').notNullable().references('templates.id').onDelete('CASCADE');
    t.string('set_name', 64).notNullable();
    t.integer('position').notNullable();
    t.primary(['template_id', 'set_name']);
    t.index(['set_name']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('template_package_sets');
  await knex.schema.dropTable('package_set_items');
  await knex.schema.dropTable('package_sets');
}
