import type { Knex } from 'knex';

// container_events without its foreign key to containers (issue 18, ingest). The key made PostgreSQL run a check
// per inserted row — a lookup of the container, locked FOR KEY SHARE — which was about a third of storing a chatty
// script's output (100,000 lines: 2.4 s → 1.7 s of appends, measured in docs/performance.md). The one writer,
// EventsRepository.append, already proves the container is there in the same transaction: it takes the seq
// numbers by updating the container's row, fails when no row comes back, and holds that row's lock until commit,
// so the container cannot go away under it (a concurrent DELETE waits for that lock, and an append after the DELETE
// finds no row). Deleting a container (the app only removes one no worker has touched, with no events; an admin in
// psql might remove any) still takes its events along, by a trigger instead of ON DELETE CASCADE.
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE container_events DROP CONSTRAINT container_events_container_id_foreign');
  await knex.raw(`
    CREATE FUNCTION delete_container_events() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      DELETE FROM container_events WHERE container_id = OLD.id;
      RETURN OLD;
    END $$`);
  await knex.raw('CREATE TRIGGER containers_delete_events AFTER DELETE ON containers FOR EACH ROW EXECUTE FUNCTION delete_container_events()');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TRIGGER containers_delete_events ON containers');
  await knex.raw('DROP FUNCTION delete_container_events()');
  await knex.raw('DELETE FROM container_events e WHERE NOT EXISTS (SELECT 1 FROM containers c WHERE c.id = e.container_id)');
  await knex.raw('ALTER TABLE container_events ADD CONSTRAINT container_events_container_id_foreign FOREIGN KEY (container_id) REFERENCES containers (id) ON DELETE CASCADE');
}
