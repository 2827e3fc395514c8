// Samples a Knex pool (tarn) often enough to catch its peak load while many viewers replay at once.
import type { Knex } from 'knex';

interface TarnPool {
  numUsed(): number;
  numFree(): number;
  numPendingAcquires(): number;
  max: number;
}

export interface PoolPeak {
  size: number;
  maxUsed: number;
  /** Acquires waiting while every connection was in use: the pool ran dry, requests queued behind others. */
  maxPendingAcquires: number;
  /** Acquires waiting while the pool still had room: for a connection being opened (a fresh process holds 2). */
  maxPendingForNewConnection: number;
  samples: number;
}

export function poolWatch(knex: Knex) {
  const pool = () => (knex.client as { pool?: TarnPool }).pool;
  let timer: NodeJS.Timeout | undefined;
  let peak: PoolPeak = { size: 0, maxUsed: 0, maxPendingAcquires: 0, maxPendingForNewConnection: 0, samples: 0 };
  return {
    poolWatchStart: () => {
      peak = { size: pool()?.max ?? 0, maxUsed: 0, maxPendingAcquires: 0, maxPendingForNewConnection: 0, samples: 0 };
      clearInterval(timer);
      timer = setInterval(() => {
        const p = pool();
        if (!p) return;
        peak.maxUsed = Math.max(peak.maxUsed, p.numUsed());
        const pending = p.numPendingAcquires();
        if (p.numUsed() >= p.max) peak.maxPendingAcquires = Math.max(peak.maxPendingAcquires, pending);
        else peak.maxPendingForNewConnection = Math.max(peak.maxPendingForNewConnection, pending);
        peak.samples++;
      }, 5);
    },
    poolWatchStop: (): PoolPeak => {
      clearInterval(timer);
      return peak;
    },
  };
}
