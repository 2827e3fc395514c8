// The only module that reads process.env. Everything else receives a parsed Config.
import { z } from 'zod';

const boolish = z
  .enum(['0', '1', 'true', 'false', 'yes', 'no', 'on', 'off'])
  .transform((v) => ['1', 'true', 'yes', 'on'].includes(v));

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).default('postgres://postgres@127.0.0.1:5432/launchpad'),
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).default('redis://127.0.0.1:6379'),
  ADMIN_USER: z.string().min(1).max(64).optional(),
  ADMIN_PASSWORD: z.string().min(8, 'ADMIN_PASSWORD must be at least 8 characters').optional(),
  SESSION_SECRET: z.string().min(32, 'SESSION_SECRET must be at least 32 characters').optional(),
  ENCRYPTION_KEY: z
    .string()
    .refine((v) => Buffer.from(v, 'base64').length === 32, 'ENCRYPTION_KEY must be 32 bytes, base64-encoded (openssl rand -base64 32)')
    .optional(),
  PVE_SIMULATOR: z.enum(['auto', 'on', 'off']).default('auto'),
  SIMULATOR_SPEED: z.coerce.number().positive().max(1000).default(1),
  SIMULATOR_ROOTFS: z.enum(['debian', 'host']).optional(),
  SIMULATOR_ROOTFS_CACHE: z.string().min(1).default('.data/simulator/rootfs'),
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2),
  WORKER_LOCK_MS: z.coerce.number().int().min(1000).default(30_000),
  PVE_POLL_MS: z.coerce.number().int().min(10).max(60_000).default(1000),
  HEALTH_CHECK_INTERVAL_S: z.coerce.number().int().min(0).max(86_400).default(300),
  USAGE_POLL_MS: z.coerce.number().int().min(100).max(300_000).default(5000),
  WORKER_SLOT: z.string().regex(/^[\w.:-]{1,200}$/, 'WORKER_SLOT may hold letters, digits and . : _ - only').optional(),
  TEMPLATES_DIR: z.string().min(1).default('./templates'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_FORMAT: z.enum(['auto', 'pretty', 'json']).default('auto'),
  LAUNCHPAD_SUPERVISED: boolish.default(false),
  TRUST_PROXY: boolish.default(false),
  SSE_MAX_STREAMS: z.coerce.number().int().min(1).default(5000),
  SSE_MAX_STREAMS_PER_SESSION: z.coerce.number().int().min(1).default(6),
  SSE_MAX_STREAMS_PER_USER: z.coerce.number().int().min(1).optional(),
  SSE_MAX_PENDING_BYTES: z.coerce.number().int().min(1024).default(1024 * 1024),
  SSE_HEARTBEAT_MS: z.coerce.number().int().min(100).default(15_000),
  SSE_STALL_MS: z.coerce.number().int().min(100).default(30_000),
  QUEUE_PREFIX: z.string().regex(/^[\w:-]+$/).default('bull'),
  LOGIN_LIMIT_PER_IP: z.coerce.number().int().min(1).default(30),
  LOGIN_LIMIT_PER_ACCOUNT: z.coerce.number().int().min(1).default(5),
  LOGIN_LIMIT_ACCOUNT_WIDE: z.coerce.number().int().min(1).default(100),
});

/** Every environment variable the schema reads (the .env.example / README check compares against this). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(schema.shape);

export type Config = {
  env: 'development' | 'production' | 'test';
  port: number;
  databaseUrl: string;
  redisUrl: string;
  admin: { username: string; password: string } | undefined;
  sessionSecret: string | undefined;
  encryptionKey: Buffer | undefined;
  /** BullMQ key prefix (tests and side-by-side installs on one Redis use their own). */
  queuePrefix: string;
  /**
   * Failed sign-in attempts per 15 minutes: per client address; per account from one address; per account
   * from all addresses (src/http/middleware/login-rate-limit.ts).
   */
  loginLimits: { perIp: number; perAccount: number; accountWide: number };
  simulator: 'auto' | 'on' | 'off';
  simulatorSpeed: number;
  /** SIMULATOR_ROOTFS: `debian` (real Debian 12 CTs), `host` (stand-ins), or `auto` when unset: debian where it can run. */
  simulatorRootfs: 'debian' | 'host' | 'auto';
  /** Where the Debian 12 image is built and kept (CI shares one across fresh clones). */
  simulatorRootfsCache: string;
  workerConcurrency: number;
  /** How long a job's lock lasts without renewal: a crashed worker's job is redelivered after about this long. */
  workerLockMs: number;
  /** How often the worker polls Proxmox task status, config locks and IP addresses. */
  pvePollMs: number;
  /** Seconds between the worker's health sweeps over ready containers; 0: none (after-build and Check now still run). */
  healthCheckIntervalS: number;
  /** How often a node is asked for the live usage of the CTs someone is looking at (one request per node). */
  usagePollMs: number;
  /**
   * Set by `npm start` for the worker it supervises: a name its restarted successor shares, so the successor can take
   * back at once the jobs and run leases its dead predecessor held instead of waiting for their locks to lapse.
   */
  workerSlot: string | undefined;
  templatesDir: string;
  logLevel: string;
  /** auto: readable lines on a terminal, JSON lines otherwise. */
  logFormat: 'auto' | 'pretty' | 'json';
  /**
   * Set by `npm start` for the web and worker processes it runs: what the supervisor already said at start-up
   * (generated secrets) is not repeated by each child.
   */
  supervised: boolean;
  trustProxy: boolean;
  /**
   * maxStreamsPerUser: one account's streams in one process, whatever its sessions and API tokens (30 unless set, or
   * the per-session limit when that is higher), so no account can take a process's slots from everyone else.
   */
  sse: { maxStreams: number; maxStreamsPerSession: number; maxStreamsPerUser: number; maxPendingBytes: number; heartbeatMs: number; stallMs: number };
};

export class ConfigError extends Error {}

/** The environment `npm start` gives the web and worker processes it runs: its own, marked as supervised. */
export function supervisedChildEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, LAUNCHPAD_SUPERVISED: '1' };
}

/** Parses an environment (process.env by default) into a Config, or throws a ConfigError naming each bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration — ${lines.join('; ')}`);
  }
  const c = parsed.data;
  if ((c.ADMIN_USER === undefined) !== (c.ADMIN_PASSWORD === undefined)) {
    throw new ConfigError('Invalid configuration — ADMIN_USER and ADMIN_PASSWORD must be set together');
  }
  return {
    env: c.NODE_ENV,
    port: c.PORT,
    databaseUrl: c.DATABASE_URL,
    redisUrl: c.REDIS_URL,
    admin: c.ADMIN_USER && c.ADMIN_PASSWORD ? { username: c.ADMIN_USER, password: c.ADMIN_PASSWORD } : undefined,
    sessionSecret: c.SESSION_SECRET,
    encryptionKey: c.ENCRYPTION_KEY ? Buffer.from(c.ENCRYPTION_KEY, 'base64') : undefined,
    queuePrefix: c.QUEUE_PREFIX,
    loginLimits: { perIp: c.LOGIN_LIMIT_PER_IP, perAccount: c.LOGIN_LIMIT_PER_ACCOUNT, accountWide: c.LOGIN_LIMIT_ACCOUNT_WIDE },
    simulator: c.PVE_SIMULATOR,
    simulatorSpeed: c.SIMULATOR_SPEED,
    simulatorRootfs: c.SIMULATOR_ROOTFS ?? 'auto',
    simulatorRootfsCache: c.SIMULATOR_ROOTFS_CACHE,
    workerConcurrency: c.WORKER_CONCURRENCY,
    workerLockMs: c.WORKER_LOCK_MS,
    pvePollMs: c.PVE_POLL_MS,
    healthCheckIntervalS: c.HEALTH_CHECK_INTERVAL_S,
    usagePollMs: c.USAGE_POLL_MS,
    workerSlot: c.WORKER_SLOT,
    templatesDir: c.TEMPLATES_DIR,
    logLevel: c.LOG_LEVEL,
    logFormat: c.LOG_FORMAT,
    supervised: c.LAUNCHPAD_SUPERVISED,
    trustProxy: c.TRUST_PROXY,
    sse: {
      maxStreams: c.SSE_MAX_STREAMS,
      maxStreamsPerSession: c.SSE_MAX_STREAMS_PER_SESSION,
      maxStreamsPerUser: c.SSE_MAX_STREAMS_PER_USER ?? Math.max(30, c.SSE_MAX_STREAMS_PER_SESSION),
      maxPendingBytes: c.SSE_MAX_PENDING_BYTES,
      heartbeatMs: c.SSE_HEARTBEAT_MS,
      stallMs: c.SSE_STALL_MS,
    },
  };
}
