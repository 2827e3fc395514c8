import type { Knex } from 'knex';

// Whether a failed build can be mended by Retry (null: yes, or nobody knows) or only by new settings ('settings':
// apt does not know a package the build's recorded list names, so a Retry asks for it again). The page offers the
// way out that can work. Set and cleared with `error`.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('containers', (t) => {
    t.string('failure_kind', 16).nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('containers', (t) => {
    t.dropColumn('failure_kind');
  });
}
