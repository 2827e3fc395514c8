// What every scenario is given: both designs side by side (their web process, how to reach it, how to make a
// line appear on a container's channel), the producer process, one keep-alive agent, and the result rows.
import type http from 'node:http';
import { randomUUID } from 'node:crypto';
import { insertContainer, recorderFor } from '../support/fixtures.ts';
import type { BenchChild } from './bench-child.ts';
import type { BenchEnv } from './bench-env.ts';
import type { ProcessStats } from './bench-rpc.ts';
import { NaiveRecorder } from './naive-recorder.ts';
import { sleep } from './stats.ts';
import type { Container } from '../../src/domain/containers/container.ts';

export type Design = 'launchpad' | 'naive';

export interface Side {
  design: Design;
  server: BenchChild<{ port: number }>;
  /** Launchpad's session cookie; the baseline asks for none. */
  cookie: string | undefined;
  streamUrl(containerId: string): string;
  healthUrl: string;
  /** Stores and publishes one line on each container, the way this design's worker would. */
  ping(containerIds: string[], text: string): Promise<void>;
  stats(): Promise<ProcessStats>;
  viewers(): Promise<number>;
}

export interface Target {
  op: '<=' | '>=' | '<' | '==';
  value: number;
  label: string;
}

export interface Row {
  scenario: string;
  metric: string;
  unit: string;
  launchpad: number | undefined;
  naive: number | undefined;
  /** Which direction is better, for the ratio; undefined: no ratio (a count, a setting). */
  better?: 'lower' | 'higher';
  target?: Target;
  note?: string;
  /** Measured on Launchpad only (the baseline has no such path): no verdict for the naive column. */
  launchpadOnly?: boolean;
}

export interface BenchContext {
  env: BenchEnv;
  sides: Record<Design, Side>;
  producer: BenchChild;
  agent: http.Agent;
  ownerId: number;
  nodeId: number;
  rows: Row[];
  details: Record<string, unknown>;
  log(message: string): void;
  /** A fresh container owned by the bench user (lifecycle queued, no events). */
  newContainer(): Promise<Container>;
  /** Waits (at most a minute) until the bench's servers are idle, so one measurement does not pay for the last. */
  settle(): Promise<void>;
}

export function sideFor(design: Design, server: BenchChild<{ port: number }>, env: BenchEnv, cookie: string | undefined): Side {
  const baseUrl = `http://127.0.0.1:${server.info.port}`;
  return {
    design,
    server,
    cookie,
    streamUrl: (id) => `${baseUrl}/containers/${id}/events`,
    healthUrl: `${baseUrl}/healthz`,
    async ping(ids, text) {
      if (design === 'launchpad') {
        await Promise.all(
          ids.map(async (id) => {
            const recorder = recorderFor(env.deps, id);
            recorder.log('stdout', text);
            await recorder.close();
          }),
        );
      } else {
        await Promise.all(
          ids.map(async (id) => {
            const recorder = new NaiveRecorder(env.deps.repos.events, (c, m) => env.deps.redis.publish(c, m), id);
            recorder.log('stdout', text);
            await recorder.drain();
          }),
        );
      }
    },
    stats: () => server.call<ProcessStats>('stats'),
    viewers: () => server.call<number>('viewers'),
  };
}

/** Resolves once none of `children` used more than a tenth of a core for a whole second, or after `maxMs`. */
export async function settle(children: BenchChild<unknown>[], maxMs = 60_000): Promise<number> {
  const cpu = () => Promise.all(children.map((c) => c.call<ProcessStats>('stats').then((s) => s.cpuMs)));
  const deadline = Date.now() + maxMs;
  let before = await cpu();
  for (;;) {
    await sleep(1_000);
    const after = await cpu();
    const busiest = Math.max(...after.map((ms, i) => ms - before[i]!)) / 1_000;
    if (busiest < 0.1 || Date.now() >= deadline) return busiest;
    before = after;
  }
}

export async function newContainerFor(env: BenchEnv, ownerId: number, nodeId: number): Promise<Container> {
  return insertContainer(env.deps, ownerId, nodeId, `bench-${randomUUID().slice(0, 8)}`);
}
