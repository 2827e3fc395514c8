import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('templates', (t) => {
    t.increments('id');
    t.string('name', 64).notNullable().unique();
    t.text('description').notNullable().defaultTo('');
    t.enu('source', ['filesystem', 'custom'], { useNative: true, enumName: 'template_source' }).notNullable();
    t.text('path').nullable();
    t.string('os_template', 128).notNullable().defaultTo('debian-12');
    t.integer('cores').notNullable().defaultTo(1);
    t.integer('memory').notNullable().defaultTo(512);
    t.integer('swap').notNullable().defaultTo(512);
    t.integer('disk').notNullable().defaultTo(4);
    t.boolean('unprivileged').notNullable().defaultTo(true);
    t.boolean('nesting').notNullable().defaultTo(false);
    t.specificType('tags', 'text[]').notNullable().defaultTo('{}');
    // A template on disk that fails to parse is still listed, with the reason (file and line).
    t.text('load_error').nullable();
    t.timestamps(true, true);
  });
  await knex.schema.createTable('template_scripts', (t) => {
    t.increments('id');
    t.integer('template_id').notNullable().references('templates.id').onDelete('CASCADE');
    t.string('name', 128).notNullable();
    t.integer('position').notNullable();
    t.text('content').notNullable();
    t.boolean('enabled').notNullable().defaultTo(true);
    t.unique(['template_id', 'name']);
  });
  await knex.schema.createTable('template_files', (t) => {
    t.increments('id');
    t.integer('template_id').notNullable().references('templates.id').onDelete('CASCADE');
    t.string('name', 128).notNullable();
    t.text('target_path').notNullable();
    t.text('content').notNullable();
    t.string('mode', 4).notNullable().defaultTo('0644');
    t.string('owner', 64).notNullable().defaultTo('root:root');
    t.enu('policy', ['replace', 'default', 'backup'], { useNative: true, enumName: 'template_file_policy' })
      .notNullable()
      .defaultTo('replace');
    t.unique(['template_id', 'name']);
  });
  await knex.schema.createTable('template_packages', (t) => {
    t.increments('id');
    t.integer('template_id').notNullable().references('templates.id').onDelete('CASCADE');
    t.enu('manager', ['apt', 'npm', 'pip'], { useNative: true, enumName: 'package_manager' }).notNullable();
    t.string('name', 214).notNullable();
    t.string('version', 64).nullable();
    t.unique(['template_id', 'manager', 'name']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('template_packages');
  await knex.schema.dropTable('template_files');
  await knex.schema.dropTable('template_scripts');
  await knex.schema.dropTable('templates');
  await knex.raw('DROP TYPE IF EXISTS package_manager, template_file_policy, template_source');
}
