// Builds every long-lived connection and service once. Both composition roots (src/server.ts, worker.ts) call
// buildDeps; tests call it with their own Config. Nothing else constructs a connection.
import type { Knex } from 'knex';
import pg from 'pg';
import type { Config } from './config.ts';
import { createKnex, ensureDatabase, migrateLatest } from './db/database.ts';
import { ApiTokensRepository } from './db/api-tokens-repository.ts';
import { AuditRepository } from './db/audit-repository.ts';
import { ContainerExtrasRepository } from './db/container-extras-repository.ts';
import { ContainersRepository } from './db/containers-repository.ts';
import { EventsRepository } from './db/events-repository.ts';
import { HealthRepository } from './db/health-repository.ts';
import { HistoryRepository } from './db/history-repository.ts';
import { NodesRepository } from './db/nodes-repository.ts';
import { PackageSetsRepository } from './db/package-sets-repository.ts';
import { TemplateTestsRepository } from './db/template-tests-repository.ts';
import { SettingsRepository } from './db/settings-repository.ts';
import { TemplatesRepository } from './db/templates-repository.ts';
import { UsersRepository } from './db/users-repository.ts';
import { InvitesRepository } from './db/invites-repository.ts';
import { AccessChanges } from './domain/access/access-changes.ts';
import { resolveBootSecrets } from './domain/boot-secrets.ts';
import { EventRelay } from './domain/progress/event-relay.ts';
import { NodeListCache } from './domain/wizard/node-list-cache.ts';
import { UsageMonitor } from './domain/usage/usage-monitor.ts';
import { createQueue } from './jobs/queue.ts';
import type { Queue } from 'bullmq';
import { createLogger, resolveLogFormat, type Logger } from './logger.ts';
import { connectRedis, createRedis, type Redis } from './lib/redis.ts';
import { SecretBox } from './lib/secret-box.ts';

export interface Repositories {
  users: UsersRepository;
  invites: InvitesRepository;
  settings: SettingsRepository;
  nodes: NodesRepository;
  containers: ContainersRepository;
  events: EventsRepository;
  containerExtras: ContainerExtrasRepository;
  templates: TemplatesRepository;
  packageSets: PackageSetsRepository;
  templateTests: TemplateTestsRepository;
  apiTokens: ApiTokensRepository;
  audit: AuditRepository;
  history: HistoryRepository;
  health: HealthRepository;
}

export interface Deps {
  config: Config;
  logger: Logger;
  knex: Knex;
  /** Commands and PUBLISH. Subscribers and BullMQ connections are separate (a subscribed connection can do nothing else). */
  redis: Redis;
  /** For express-session's store (connect-pg-simple wants a pg.Pool, not Knex). */
  sessionPool: pg.Pool;
  sessionSecret: string;
  secrets: SecretBox;
  repos: Repositories;
  /** The process's single progress subscriber (connects on first use, so the worker never opens it). */
  relay: EventRelay;
  /** Producer side of the job queue (the worker consumes it with its own connection). */
  queue: Queue;
  /** What each node offers (storages, templates, bridges, guests), remembered for a few seconds per process. */
  nodeLists: NodeListCache;
  /** Live usage of the CTs on open pages: one poll per node per interval across all web processes. */
  usage: UsageMonitor;
  /** Closes the open streams of an account that lost access, in every web process (its subscriber: first listen()). */
  access: AccessChanges;
  close(): Promise<void>;
}

export async function buildDeps(
  config: Config,
  role: string,
  logger = createLogger(config.logLevel, role, undefined, resolveLogFormat(config.logFormat)),
): Promise<Deps> {
  await ensureDatabase(config.databaseUrl);
  const knex = createKnex(config.databaseUrl);
  const redis = createRedis(config.redisUrl, (err) => logger.error({ err: err.message }, 'Redis connection error (retrying)'));
  const sessionPool = new pg.Pool({ connectionString: config.databaseUrl, max: 3, connectionTimeoutMillis: 5_000 });
  sessionPool.on('error', (err) => logger.error({ err }, 'session store connection error'));
  try {
    await connectRedis(redis, config.redisUrl);
    const applied = await migrateLatest(knex);
    if (applied.length) logger.info({ migrations: applied }, 'database migrated');
  } catch (err) {
    await Promise.allSettled([knex.destroy(), sessionPool.end()]);
    redis.disconnect();
    throw err;
  }
  const repos: Repositories = {
    users: new UsersRepository(knex),
    invites: new InvitesRepository(knex),
    settings: new SettingsRepository(knex),
    nodes: new NodesRepository(knex),
    containers: new ContainersRepository(knex),
    events: new EventsRepository(knex),
    containerExtras: new ContainerExtrasRepository(knex),
    templates: new TemplatesRepository(knex),
    packageSets: new PackageSetsRepository(knex),
    templateTests: new TemplateTestsRepository(knex),
    apiTokens: new ApiTokensRepository(knex),
    audit: new AuditRepository(knex),
    history: new HistoryRepository(knex),
    health: new HealthRepository(knex),
  };
  const subscriber = createRedis(config.redisUrl, (err) => logger.error({ err: err.message }, 'Redis subscriber error (retrying)'), {
    // A viewer's subscribe must not hang while Redis is away; the relay back-fills after reconnecting.
    maxRetriesPerRequest: 3,
  });
  const relay = new EventRelay(subscriber, { containers: repos.containers, logger });
  const queue = createQueue(config.redisUrl, config.queuePrefix);
  queue.on('error', (err) => logger.error({ err: err.message }, 'job queue connection error'));
  const { sessionSecret, encryptionKey } = await resolveBootSecrets(repos.settings, config, logger, { announce: !config.supervised });
  const secrets = new SecretBox(encryptionKey);
  const usage = new UsageMonitor({
    redis,
    subscriber: () => createRedis(config.redisUrl, (err) => logger.error({ err: err.message }, 'Redis usage subscriber error (retrying)'), { maxRetriesPerRequest: 3 }),
    nodes: repos.nodes,
    secrets,
    logger,
    intervalMs: config.usagePollMs,
    prefix: config.queuePrefix,
  });
  const access = new AccessChanges({
    redis,
    subscriber: () => createRedis(config.redisUrl, (err) => logger.error({ err: err.message }, 'Redis access-change subscriber error (retrying)'), { maxRetriesPerRequest: 3 }),
    logger,
    prefix: config.queuePrefix,
  });

  return {
    config,
    logger,
    knex,
    redis,
    sessionPool,
    sessionSecret,
    secrets,
    repos,
    relay,
    queue,
    nodeLists: new NodeListCache(),
    usage,
    access,
    async close() {
      await access.close();
      await usage.close();
      await relay.close();
      await queue.close().catch(() => undefined);
      await Promise.allSettled([knex.destroy(), sessionPool.end(), redis.quit()]);
    },
  };
}
