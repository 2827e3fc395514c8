// What a browser test that follows a real build needs: a test env, the simulator (fast), the host-mode sample
// templates, the web app listening, a worker process and Chromium — started together, closed together.
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { createApp } from '../../src/app.ts';
import { syncCatalogue } from '../../src/domain/templates/catalogue.ts';
import { launchBrowser } from './browser.ts';
import { listen } from './http-session.ts';
import { startTestSimulator } from './simulator-fixtures.ts';
import { createTestEnv, type TestEnv } from './test-deps.ts';
import { startWorkerProcess, type WorkerProcess } from './worker-process.ts';

export interface BrowserBuildRig {
  env: TestEnv;
  simulator: Awaited<ReturnType<typeof startTestSimulator>>;
  server: Awaited<ReturnType<typeof listen>>;
  worker: WorkerProcess;
  browser: Browser;
  close(): Promise<void>;
}

export async function startBrowserBuildRig(): Promise<BrowserBuildRig> {
  // Live usage every half second, so a page shows figures and sparklines within a test's patience.
  const env = await createTestEnv({ USAGE_POLL_MS: '500' });
  const simulator = await startTestSimulator(env.deps, { speed: 10 });
  await syncCatalogue(env.deps.repos.templates, path.resolve('test/fixtures/host-mode-templates'), env.deps.logger);
  const server = await listen(createApp(env.deps));
  const worker = startWorkerProcess(env.config, { PVE_POLL_MS: '200' });
  await worker.ready;
  const browser = await launchBrowser();
  return {
    env, simulator, server, worker, browser,
    async close() {
      await browser.close();
      worker.kill('SIGKILL');
      await server.close();
      await simulator.close();
      await env.close();
    },
  };
}

/** Starts the rig before this file's tests and closes it after them; its fields are there once beforeAll has run. */
export function useBrowserBuildRig(): BrowserBuildRig {
  const rig = {} as BrowserBuildRig;
  beforeAll(async () => {
    Object.assign(rig, await startBrowserBuildRig());
  }, 60_000);
  afterAll(() => rig.close?.());
  return rig;
}
