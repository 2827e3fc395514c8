import type { Knex } from 'knex';

// Existing admins (the account from /setup or ADMIN_USER) become `admin`; any other account becomes `operator`,
// which keeps what it could do with its own containers.
export async function up(knex: Knex): Promise<void> {
  await knex('users').whereNull('role').update({ role: knex.raw("CASE WHEN is_admin THEN 'admin' ELSE 'operator' END") });
}

export async function down(knex: Knex): Promise<void> {
  await knex('users').update({ role: null });
}
