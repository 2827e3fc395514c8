import type { Knex } from 'knex';

// Whether a one-time link invites a new account or resets a password, so that using it is audited as what it was
// (auth.invite_accept or auth.reset_accept). Links open when this runs (48 hours at most) count as invites.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('user_invites', (t) => {
    t.text('purpose').notNullable().defaultTo('invite');
  });
  await knex.raw("ALTER TABLE user_invites ADD CONSTRAINT user_invites_purpose CHECK (purpose IN ('invite', 'reset'))");
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('user_invites', (t) => {
    t.dropColumn('purpose');
  });
}
