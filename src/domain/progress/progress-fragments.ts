// The stepper snapshot a container shows (its HTML is rendered in src/http/container-fragments.ts).
import type { ContainerEvent } from '../../db/events-repository.ts';
import { initialSnapshot, type Lifecycle, type ProgressSnapshot } from './phases.ts';

/** The snapshot carried by the newest non-log event, or the one a container in this state starts with. */
export function snapshotFrom(event: ContainerEvent | undefined, lifecycle: Lifecycle): ProgressSnapshot {
  const stored = event?.data?.progress as ProgressSnapshot | undefined;
  return stored ?? initialSnapshot(lifecycle);
}
