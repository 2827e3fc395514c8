// The five creation phases. Keys are DOM ids, SSE fragment targets and database values alike.
import type { ContainerEvent } from '../containers/container-event.ts';
import type { Lifecycle } from '../containers/container.ts';

export const PHASES = [
  { key: 'creating', label: 'Create Container', from: 0, to: 20 },
  { key: 'starting', label: 'Start Container', from: 20, to: 35 },
  { key: 'deploying', label: 'Deploy Files', from: 35, to: 60 },
  { key: 'syncing', label: 'Run Scripts', from: 60, to: 90 },
  { key: 'finalizing', label: 'Finalize', from: 90, to: 100 },
] as const;

export type PhaseKey = (typeof PHASES)[number]['key'];
export type PhaseState = 'pending' | 'active' | 'done' | 'failed' | 'cancelled';

export const isPhaseKey = (value: unknown): value is PhaseKey => PHASES.some((p) => p.key === value);

/** key → label, for templates. */
export const PHASE_LABELS: Record<string, string> = Object.fromEntries(PHASES.map((p) => [p.key, p.label]));

export const phaseLabel = (key: string | null | undefined) => PHASES.find((p) => p.key === key)?.label ?? key ?? '';

/** One phase's row in the stepper, as stored in every step event's snapshot. */
export interface PhaseProgress {
  key: PhaseKey;
  state: PhaseState;
  startedAt?: string;
  finishedAt?: string;
}

/** Everything the stepper and status line show; each non-log event carries one, so any viewer renders from it alone. */
export interface ProgressSnapshot {
  lifecycle: Lifecycle;
  percent: number;
  phases: PhaseProgress[];
  /** The sentence in the role="status" line. */
  status: string;
  error?: string;
}

export function initialSnapshot(lifecycle: Lifecycle = 'queued'): ProgressSnapshot {
  return {
    lifecycle,
    percent: 0,
    phases: PHASES.map((p) => ({ key: p.key, state: 'pending' })),
    status: lifecycle === 'queued' ? 'Waiting for a worker…' : '',
  };
}

/** The snapshot carried by the newest non-log event, or the one a container in this state starts with. */
export function snapshotFrom(event: ContainerEvent | undefined, lifecycle: Lifecycle): ProgressSnapshot {
  const stored = event?.data?.progress as ProgressSnapshot | undefined;
  return stored ?? initialSnapshot(lifecycle);
}
