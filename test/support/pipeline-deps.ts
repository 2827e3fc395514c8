// What the creation and action pipelines need when a test runs them in-process, with short polling intervals.
import type { PipelineDeps } from '../../src/domain/pipeline/pipeline-runner.ts';
import type { TestEnv } from './test-deps.ts';

export function testPipelineDeps(env: TestEnv, timings: PipelineDeps['timings'] = { pollMs: 50, ipWaitMs: 4000, lockWaitMs: 4000 }): PipelineDeps {
  return {
    repos: env.deps.repos,
    secrets: env.deps.secrets,
    publish: (channel, message) => env.deps.redis.publish(channel, message),
    logger: env.deps.logger,
    timings,
  };
}
