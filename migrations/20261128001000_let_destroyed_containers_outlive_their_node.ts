import type { Knex } from 'knex';

// A destroyed container's record and log are history, and history must not pin a node connection forever. Removing
// a node now detaches its destroyed containers (node_id NULL) and keeps the node's name on them for display. The
// foreign key stays ON DELETE RESTRICT, so a node that still has live containers can never be removed.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('containers', (t) => {
    t.setNullable('node_id');
    t.text('removed_node_name').nullable();
  });
  await knex.raw(
    "ALTER TABLE containers ADD CONSTRAINT containers_node_only_detached_when_destroyed CHECK (node_id IS NOT NULL OR lifecycle = 'destroyed')",
  );
}

export async function down(knex: Knex): Promise<void> {
  const detached = await knex('containers').whereNull('node_id').count<{ count: string }[]>('* as count').first();
  if (Number(detached?.count ?? 0) > 0) {
    throw new Error(`${detached!.count} destroyed container record(s) belong to removed nodes; node_id cannot be made required again without deleting them`);
  }
  await knex.raw('ALTER TABLE containers DROP CONSTRAINT containers_node_only_detached_when_destroyed');
  await knex.schema.alterTable('containers', (t) => {
    t.dropColumn('removed_node_name');
    t.dropNullable('node_id');
  });
}
