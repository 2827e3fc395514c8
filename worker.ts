// Composition root of the worker process: build deps once, consume the queue, checkpoint on SIGTERM.
import { Worker } from 'bullmq';
import { loadConfig } from './src/config.ts';
import { buildDeps } from './src/deps.ts';
import { WorkerShutdown, containerJobs } from './src/jobs/container-jobs.ts';
import { jobDispatcher } from './src/jobs/dispatch.ts';
import { scheduleRepeating } from './src/jobs/enqueue.ts';
import { healthJobs } from './src/jobs/health-jobs.ts';
import { HEALTH_SWEEP_JOB } from './src/jobs/job-types.ts';
import { templateTestJobs } from './src/jobs/template-test-job.ts';
import { QUEUE_NAME, queueConnection } from './src/jobs/queue.ts';
import { leaveSlot, takeOverSlot } from './src/jobs/worker-slot.ts';
import { onShutdown, runMain } from './src/lib/main.ts';

runMain('worker', async () => {
  const config = loadConfig();
  const deps = await buildDeps(config, 'worker');
  const dispatchJob = jobDispatcher({ ...containerJobs, ...templateTestJobs, ...healthJobs });
  const shutdown = new AbortController();

  const worker = new Worker(QUEUE_NAME, (job, token) => dispatchJob(deps, job, token, { shutdown: shutdown.signal }), {
    // A worker connection must never give up on a command: BullMQ's blocking calls rely on it.
    connection: { ...queueConnection(config.redisUrl), maxRetriesPerRequest: null },
    prefix: config.queuePrefix,
    concurrency: config.workerConcurrency,
    // Builds run for minutes. The lock is renewed every lockDuration/2 while the job runs; if this process dies
    // (SIGKILL, power loss) the lock lapses and the stalled-job check hands the job to another worker, whose
    // steps resume from the real state. A job may be redelivered a few times before BullMQ gives up on it.
    lockDuration: config.workerLockMs,
    stalledInterval: config.workerLockMs,
    maxStalledCount: 5,
    autorun: false,
  });
  worker.on('error', (err) => deps.logger.error({ err: err.message }, 'queue connection error'));
  worker.on('failed', (job, err) => deps.logger.warn({ jobId: job?.id, name: job?.name, err: err.message }, 'job failed'));
  await worker.waitUntilReady();
  if (config.workerSlot) {
    await takeOverSlot({ queue: deps.queue, redis: deps.redis, containers: deps.repos.containers, logger: deps.logger, prefix: config.queuePrefix }, config.workerSlot, worker.id);
  }
  // Every ready container's services, every HEALTH_CHECK_INTERVAL_S (one schedule, however many workers start).
  await scheduleRepeating(deps.queue, HEALTH_SWEEP_JOB, {}, config.healthCheckIntervalS * 1000);
  deps.logger.info({ queue: QUEUE_NAME, concurrency: config.workerConcurrency }, 'worker ready: connected to Redis, waiting for jobs');
  void worker.run();
  process.send?.('ready');

  onShutdown(async (signal) => {
    deps.logger.info({ signal }, 'worker stopping: no new jobs; running builds checkpoint and go back to the queue');
    const closing = worker.close();
    shutdown.abort(new WorkerShutdown());
    await closing;
    if (config.workerSlot) await leaveSlot({ queue: deps.queue, redis: deps.redis, prefix: config.queuePrefix }, config.workerSlot, worker.id).catch(() => undefined);
    await deps.close();
  });
});
