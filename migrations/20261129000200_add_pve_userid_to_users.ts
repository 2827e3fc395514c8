import type { Knex } from 'knex';

// "Sign in with Proxmox VE": the Proxmox user (`name@realm`, as the node spells it) a Launchpad account is linked to.
// At most one account per Proxmox user; NULL for accounts that only sign in with their Launchpad password.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.string('pve_userid', 128).nullable().unique();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.dropColumn('pve_userid');
  });
}
