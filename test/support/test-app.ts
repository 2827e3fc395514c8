// The app as page tests build it: a generous sign-in budget under this file's own Redis prefix, so parallel test
// files never share (or exhaust) one another's per-address and per-account limits.
import type { Express } from 'express';
import { createApp } from '../../src/app.ts';
import type { LoginLimits } from '../../src/http/middleware/login-rate-limit.ts';
import type { TestEnv } from './test-deps.ts';

export function createTestApp(env: TestEnv, limits: Partial<LoginLimits> = {}): Express {
  return createApp({ ...env.deps, loginLimits: { perIp: 1000, perAccount: 50, prefix: `${env.prefix}rl:`, ...limits } });
}
