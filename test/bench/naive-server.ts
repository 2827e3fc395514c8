// The baseline's read side — the obvious first design of a live-log endpoint, in its own process like Launchpad's
// web: every viewer opens its OWN Redis subscriber connection, replays with ONE unbatched query of everything after
// its cursor, and is sent each line as its own SSE message, rendered per viewer (same Eta partial, same SSE framing;
// no pending-bytes cap, which the obvious design does not have: it buffers rather than cuts). It is given the correctness Launchpad has (subscribe before replaying, drop
// seq ≤ last sent) so both deliver every line; it skips sessions and authorization, which only flatters it.
import express from 'express';
import { Redis } from 'ioredis';
import { loadConfig } from '../../src/config.ts';
import { ContainersRepository } from '../../src/db/containers-repository.ts';
import knexFactory from 'knex';
import { knexConfig } from '../../src/db/database.ts';
import { EventsRepository } from '../../src/db/events-repository.ts';
import { SettingsRepository } from '../../src/db/settings-repository.ts';
import { createContainerFragments } from '../../src/http/container-fragments.ts';
import { openEventStream } from '../../src/http/sse.ts';
import { createViews } from '../../src/views.ts';
import { announce, processProbe, serveRpc } from './bench-rpc.ts';
import { naiveChannel } from './naive-recorder.ts';
import { poolWatch } from './pool-watch.ts';
import type { ContainerEvent } from '../../src/domain/containers/container-event.ts';

const config = loadConfig();
// The pool as it was when this baseline was first measured (nothing kept open), whatever Launchpad's pool does now.
const knex = knexFactory({ ...knexConfig(config.databaseUrl), pool: { min: 0, max: 10 } });
const events = new EventsRepository(knex);
const containers = new ContainersRepository(knex);
const settings = new SettingsRepository(knex);
const fragments = createContainerFragments(createViews({ cache: true, asset: (name) => `/static/${name}` }), { heartbeatMs: config.sse.heartbeatMs });
const health = new Redis(config.redisUrl);
let viewers = 0;
let subscriberErrors = 0;

const app = express();
app.get('/healthz', async (_req, res) => {
  const [db, redis] = await Promise.allSettled([settings.ping(), health.ping()]);
  res.status(db.status === 'fulfilled' && redis.status === 'fulfilled' ? 200 : 503).json({ db: db.status, redis: redis.status });
});

app.get('/containers/:id/events', async (req, res) => {
  const container = await containers.findById(req.params.id);
  if (!container) return void res.status(404).end();
  const cursor = Number(req.get('Last-Event-ID') ?? req.query.after ?? 0) || 0;
  const writer = openEventStream(req, res, { maxPendingBytes: Number.MAX_SAFE_INTEGER, heartbeatMs: config.sse.heartbeatMs });
  const subscriber = new Redis(config.redisUrl);
  subscriber.on('error', () => subscriberErrors++);
  let lastSent = cursor;
  let live = false;
  let counted = false;
  let closed = false;
  const early: ContainerEvent[] = [];
  const send = (e: ContainerEvent) => {
    if (closed || e.seq <= lastSent) return;
    lastSent = e.seq;
    const message = fragments.streamBatch([e]);
    writer.send(e.seq, message.event, message.html);
  };
  subscriber.on('message', (_channel: string, payload: string) => {
    const event = JSON.parse(payload) as ContainerEvent;
    if (live) send(event);
    else early.push(event);
  });
  res.on('close', () => {
    closed = true;
    if (counted) viewers--;
    subscriber.disconnect();
  });
  await subscriber.subscribe(naiveChannel(container.id));
  if (closed) return;
  counted = true;
  viewers++;
  for (const e of await events.listAfter(container.id, cursor, 1_000_000_000)) send(e);
  live = true;
  early.forEach(send);
});

const server = app.listen(0, '127.0.0.1');
await new Promise<void>((resolve) => server.once('listening', resolve));
const stop = async () => {
  server.closeAllConnections();
  server.close();
  health.disconnect();
  await knex.destroy();
  process.exit(0);
};
serveRpc({ ...processProbe(), ...poolWatch(knex), viewers: () => viewers, subscriberErrors: () => subscriberErrors }, () => void stop());
process.once('SIGTERM', () => void stop());
announce({ port: (server.address() as { port: number }).port });
