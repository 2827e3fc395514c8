// log.txt?follow=1: the plain-text log as it grows, ending when the build ends. Each round reads the container's
// lifecycle first and then every line recorded so far: lines are committed before the lifecycle turns terminal, so a
// terminal lifecycle read before the drain means the drain saw the last line. Between rounds it waits for the
// progress relay's nudge (a committed batch), or at most POLL_MS in case a message was missed.
import type { ContainersRepository } from '../../db/containers-repository.ts';
import type { EventsRepository } from '../../db/events-repository.ts';
import type { EventRelay } from '../progress/event-relay.ts';
import { isTerminal } from './container.ts';

const POLL_MS = 2000;

export interface LogFollowDeps {
  events: EventsRepository;
  containers: ContainersRepository;
  relay: EventRelay;
}

/** Writes lines after `afterLine` until the build ends or `signal` aborts (the client went away). */
export async function followLog(
  deps: LogFollowDeps,
  containerId: string,
  afterLine: number,
  write: (text: string) => Promise<void>,
  signal: AbortSignal,
): Promise<void> {
  let wake: (() => void) | undefined;
  const nudge = () => wake?.();
  const unsubscribe = await deps.relay.subscribe(containerId, { onMessage: nudge, onResync: nudge, lastSent: Number.MAX_SAFE_INTEGER /* it polls anyway */ });
  signal.addEventListener('abort', nudge);
  let after = afterLine;
  try {
    while (!signal.aborted) {
      // Armed before reading, so a nudge arriving during the read is not lost.
      const nudged = new Promise<void>((resolve) => (wake = resolve));
      const container = await deps.containers.findById(containerId);
      for await (const batch of deps.events.logLineBatches(containerId, after)) {
        if (signal.aborted) return;
        after = batch[batch.length - 1]!.lineNo;
        await write(batch.map((l) => `${l.text}\n`).join(''));
      }
      if (!container || isTerminal(container.lifecycle)) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([nudged, new Promise<void>((resolve) => (timer = setTimeout(resolve, POLL_MS)))]);
      clearTimeout(timer);
    }
  } finally {
    signal.removeEventListener('abort', nudge);
    unsubscribe();
  }
}
