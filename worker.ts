// Composition root of the worker process: build deps once, consume the queue, finish or checkpoint on SIGTERM.
import { Worker } from 'bullmq';
import { loadConfig } from './src/config.ts';
import { buildDeps } from './src/deps.ts';
import { QUEUE_NAME, queueConnection } from './src/jobs/queue.ts';
import { dispatchJob } from './src/jobs/dispatch.ts';
import { onShutdown, runMain } from './src/lib/main.ts';

runMain('worker', async () => {
  const config = loadConfig();
  const deps = await buildDeps(config, 'worker');

  const worker = new Worker(QUEUE_NAME, (job, token) => dispatchJob(deps, job, token), {
    // A worker connection must never give up on a command: BullMQ's blocking calls rely on it.
    connection: { ...queueConnection(config.redisUrl), maxRetriesPerRequest: null },
    concurrency: config.workerConcurrency,
    prefix: config.queuePrefix,
    autorun: false,
  });
  worker.on('error', (err) => deps.logger.error({ err }, 'queue connection error'));
  worker.on('failed', (job, err) => deps.logger.warn({ jobId: job?.id, name: job?.name, err: err.message }, 'job failed'));
  await worker.waitUntilReady();
  deps.logger.info({ queue: QUEUE_NAME, concurrency: config.workerConcurrency }, 'worker ready: connected to Redis, waiting for jobs');
  void worker.run();

  onShutdown(async (signal) => {
    deps.logger.info({ signal }, 'worker stopping: no new jobs; waiting for running ones to finish or checkpoint');
    await worker.close();
    await deps.close();
  });
});
