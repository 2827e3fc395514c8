// For the knex CLI; the application itself migrates through src/db/database.ts with the same settings.
import { loadConfig } from './src/config.ts';
import { knexConfig } from './src/db/database.ts';

export default knexConfig(loadConfig().databaseUrl);
