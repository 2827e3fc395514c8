// npm run db:migrate | db:rollback — the same migrations the app runs at boot, by hand.
import { loadConfig } from '../config.ts';
import { runMain } from '../lib/main.ts';
import { createKnex, ensureDatabase } from './database.ts';

runMain('db', async () => {
  const command = process.argv[2];
  const config = loadConfig();
  await ensureDatabase(config.databaseUrl);
  const knex = createKnex(config.databaseUrl, 2);
  try {
    if (command === 'latest') {
      const [, applied] = (await knex.migrate.latest()) as [number, string[]];
      console.log(applied.length ? `applied: ${applied.join(', ')}` : 'already up to date');
    } else if (command === 'rollback') {
      const all = process.argv.includes('--all');
      const [, undone] = (await knex.migrate.rollback(undefined, all)) as [number, string[]];
      console.log(undone.length ? `rolled back: ${undone.join(', ')}` : 'nothing to roll back');
    } else {
      throw new Error(`usage: migrate-cli latest | rollback [--all]`);
    }
  } finally {
    await knex.destroy();
  }
});
