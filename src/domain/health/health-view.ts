// What the container page's health section and the list's health text show, from the last stored check, the
// registered services and what the node says right now: a stopped CT's services are "not checked", never "down".
import type { ContainerService } from '../../db/container-extras-repository.ts';
import type { Container, LiveStatus } from '../containers/container.ts';
import { HEALTH_STATE_LABELS, healthCount, type HealthCheck, type HealthState, type ServiceState } from './service-health.ts';

export interface HealthServiceRow {
  name: string;
  port: number | null;
  state: ServiceState | 'not-checked';
  label: string;
  /** The failing checks in words (all of them when it is healthy: what was checked). */
  words: string[];
}

export interface HealthView {
  containerId: string;
  /** Whether the section shows at all: a ready container with registered services. */
  shown: boolean;
  state: HealthState;
  label: string;
  summary: string;
  checkedAt: Date | null;
  services: HealthServiceRow[];
  /** The person looking may press "Check now" (its owner or an admin; never a viewer). */
  mayCheck: boolean;
  /** "Check now" was pressed and the worker has not answered yet. */
  pending?: boolean;
}

const STOPPED = 'not checked: container stopped';
const TEMPLATE = 'not checked: the CT is a template';

/** Why nothing is checked while the CT cannot run (stopped, or a template); undefined when it may run. */
function idleReason(live: LiveStatus | undefined): string | undefined {
  return live?.state === 'stopped' ? STOPPED : live?.state === 'template' ? TEMPLATE : undefined;
}

export function healthView(
  container: Container,
  registered: readonly ContainerService[],
  latest: HealthCheck | undefined,
  live: LiveStatus | undefined,
  mayCheck: boolean,
): HealthView {
  const shown = container.lifecycle === 'ready' && registered.length > 0;
  const idle = idleReason(live);
  const current = latest && !idle ? latest : undefined;
  const byName = new Map((current?.services ?? []).map((s) => [s.name, s]));
  const services = registered.map((r): HealthServiceRow => {
    const checked = byName.get(r.name);
    if (!checked) return { name: r.name, port: r.port, state: 'not-checked', label: HEALTH_STATE_LABELS['not-checked'], words: [idle ?? current?.summary ?? 'not checked yet'] };
    const failing = checked.checks.filter((c) => !c.ok).map((c) => c.words);
    const words = [...(failing.length ? failing : checked.checks.map((c) => c.words)), ...(checked.notes ?? [])];
    return { name: r.name, port: r.port, state: checked.state, label: HEALTH_STATE_LABELS[checked.state], words };
  });
  const state: HealthState = current?.state ?? 'not-checked';
  const summary = idle ?? current?.summary ?? 'not checked yet: the first check runs after the build, then every few minutes';
  return { containerId: container.id, shown, state, label: HEALTH_STATE_LABELS[state], summary, checkedAt: current?.checkedAt ?? latest?.checkedAt ?? null, services, mayCheck };
}

/** The list's per-row text ("2/3 services healthy"), or undefined when the container has nothing to show. */
export function healthListText(container: Container, latest: HealthCheck | undefined, live: LiveStatus): { state: HealthState; text: string } | undefined {
  if (container.lifecycle !== 'ready' || !latest) return undefined;
  const idle = idleReason(live);
  if (idle) return { state: 'not-checked', text: idle };
  return { state: latest.state, text: healthCount(latest) };
}
