import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('containers', (t) => {
    t.uuid('id').primary();
    t.integer('owner_id').notNullable().references('users.id').onDelete('RESTRICT');
    // A node with containers cannot be removed until they are destroyed or forgotten.
    t.integer('node_id').notNullable().references('nodes.id').onDelete('RESTRICT');
    // Templates come and go with the disk; the container keeps its record (config holds the name).
    t.integer('template_id').nullable().references('templates.id').onDelete('SET NULL');
    t.integer('vmid').nullable();
    t.string('hostname', 63).notNullable();
    t.jsonb('config').notNullable();
    t.text('root_password_enc').nullable();
    t.enu('lifecycle', ['queued', 'creating', 'ready', 'failed', 'cancelled', 'destroying', 'destroyed'], {
      useNative: true,
      enumName: 'container_lifecycle',
    })
      .notNullable()
      .defaultTo('queued');
    t.string('current_step', 32).nullable();
    t.smallint('percent').notNullable().defaultTo(0);
    t.text('error').nullable();
    t.string('ip', 64).nullable();
    t.integer('last_seq').notNullable().defaultTo(0);
    t.integer('last_line_no').notNullable().defaultTo(0);
    t.integer('attempt').notNullable().defaultTo(0);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('finished_at', { useTz: true }).nullable();
    t.index(['owner_id', 'created_at']);
    t.index(['lifecycle']);
  });
  // One live VMID per node: a destroyed container frees its number.
  await knex.raw(
    "CREATE UNIQUE INDEX containers_node_vmid_live ON containers (node_id, vmid) WHERE vmid IS NOT NULL AND lifecycle <> 'destroyed'",
  );

  await knex.schema.createTable('container_events', (t) => {
    t.bigIncrements('id');
    t.uuid('container_id').notNullable().references('containers.id').onDelete('CASCADE');
    t.integer('seq').notNullable();
    t.enu('kind', ['step', 'log', 'complete', 'error', 'cancelled', 'attempt'], {
      useNative: true,
      enumName: 'container_event_kind',
    }).notNullable();
    t.string('step', 32).nullable();
    t.smallint('percent').nullable();
    t.enu('stream', ['stdout', 'stderr', 'system', 'task'], { useNative: true, enumName: 'container_event_stream' }).nullable();
    t.integer('line_no').nullable();
    t.text('text').nullable();
    t.jsonb('data').nullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['container_id', 'seq']);
  });
  await knex.raw(
    'CREATE INDEX container_events_log_lines ON container_events (container_id, line_no) WHERE line_no IS NOT NULL',
  );

  await knex.schema.createTable('container_services', (t) => {
    t.increments('id');
    t.uuid('container_id').notNullable().references('containers.id').onDelete('CASCADE');
    t.string('name', 64).notNullable();
    t.string('kind', 32).notNullable().defaultTo('tcp');
    t.integer('port').nullable();
    t.text('url').nullable();
    t.string('status', 32).notNullable().defaultTo('unknown');
    t.unique(['container_id', 'name']);
  });
  await knex.schema.createTable('container_credentials', (t) => {
    t.increments('id');
    t.uuid('container_id').notNullable().references('containers.id').onDelete('CASCADE');
    t.string('key', 128).notNullable();
    t.text('value_enc').notNullable();
    t.unique(['container_id', 'key']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('container_credentials');
  await knex.schema.dropTable('container_services');
  await knex.schema.dropTable('container_events');
  await knex.schema.dropTable('containers');
  await knex.raw('DROP TYPE IF EXISTS container_event_stream, container_event_kind, container_lifecycle');
}
