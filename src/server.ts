// Composition root of the web process: build deps once, create the app, listen, stop cleanly on signals.
import { createApp } from './app.ts';
import { loadConfig } from './config.ts';
import { buildDeps } from './deps.ts';
import { announceSetupCode, seedAdmin } from './domain/accounts.ts';
import { syncCatalogue } from './domain/templates/catalogue.ts';
import { onShutdown, runMain } from './lib/main.ts';

runMain('web', async () => {
  const config = loadConfig();
  const deps = await buildDeps(config, 'web');
  const accounts = { users: deps.repos.users, settings: deps.repos.settings, logger: deps.logger };
  await seedAdmin(accounts, config.admin);
  await announceSetupCode(accounts);
  await syncCatalogue(deps.repos.templates, config.templatesDir, deps.logger);

  const app = createApp(deps);
  // Express 5 calls this with the listen error too (EADDRINUSE…); the 'error' handler below reports that one.
  const server = app.listen(config.port, (err?: Error) => {
    if (err) return;
    deps.logger.info({ port: config.port }, `console listening on http://localhost:${config.port}`);
    process.send?.('ready'); // to `npm start`'s supervisor: started up
  });
  server.on('error', (err) => {
    deps.logger.fatal({ err }, `cannot listen on port ${config.port}`);
    process.exit(1);
  });

  onShutdown(async (signal) => {
    deps.logger.info({ signal }, 'web process stopping');
    server.close();
    server.closeAllConnections();
    await deps.close();
  });
});
