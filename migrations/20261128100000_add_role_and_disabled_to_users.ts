import type { Knex } from 'knex';

// Teams: each account has one of three roles (src/domain/roles.ts) instead of the is_admin flag, and may be
// disabled without losing its containers. `role` starts nullable; the next migration fills it, the one after makes it
// required and drops is_admin.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.text('role').nullable().checkIn(['admin', 'operator', 'viewer'], 'users_role_check');
    t.timestamp('disabled_at', { useTz: true }).nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.dropChecks(['users_role_check']);
    t.dropColumn('disabled_at');
    t.dropColumn('role');
  });
}
