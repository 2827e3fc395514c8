// Launchpad's web process as `npm run web` builds it (buildDeps + createApp), listening on 127.0.0.1 on a free
// port, plus the bench's IPC probe: memory, event-loop delay, live viewers and the Knex pool's load.
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { buildDeps } from '../../src/deps.ts';
import { announce, processProbe, serveRpc } from './bench-rpc.ts';
import { poolWatch } from './pool-watch.ts';

const config = loadConfig();
const deps = await buildDeps(config, 'bench-web');
const server = createApp(deps).listen(0, '127.0.0.1');
await new Promise<void>((resolve) => server.once('listening', resolve));

const pool = poolWatch(deps.knex);
const stop = async () => {
  server.closeAllConnections();
  server.close();
  await deps.close();
  process.exit(0);
};
serveRpc({ ...processProbe(), ...pool, viewers: () => deps.relay.viewerCount }, () => void stop());
process.once('SIGTERM', () => void stop());
announce({ port: (server.address() as { port: number }).port });
