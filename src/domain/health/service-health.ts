// The vocabulary of service health: what a check of a container's registered services found, in states and in words
// a person reads ("nginx.service is inactive (failed)", "nothing listens on 5432", "http://10.0.0.5/ answered 502 in
// 0.12 s"), and the rules that decide what may be checked at all. A leaf module: the checker (worker), the pages, the
// list and the repository all speak it; it runs nothing.

/** A service's state, and a container's overall one. */
export type ServiceState = 'healthy' | 'degraded' | 'down';
/** A check result's overall state: `not-checked` when nothing could be asked (stopped CT, unreachable node). */
export type HealthState = ServiceState | 'not-checked';

export const HEALTH_STATE_LABELS: Record<HealthState, string> = {
  healthy: 'Healthy',
  degraded: 'Degraded',
  down: 'Down',
  'not-checked': 'Not checked',
};

/** What started a check. */
export type HealthTrigger = 'build' | 'schedule' | 'user';

export type CheckKind = 'unit' | 'port' | 'http';

export interface CheckOutcome {
  kind: CheckKind;
  ok: boolean;
  /** One sentence: "nginx.service is active", "nothing listens on 5432", "http://10.0.0.5/ answered 200 in 0.01 s". */
  words: string;
}

export interface ServiceHealth {
  name: string;
  port: number | null;
  unit: string | null;
  url: string | null;
  state: ServiceState;
  checks: CheckOutcome[];
  /** What was not checked and why ("not checked over HTTP: ssh: is not http: or https:"); not a failure. */
  notes?: string[];
}

export interface HealthCheck {
  id: number;
  containerId: string;
  checkedAt: Date;
  state: HealthState;
  /** The failing checks in words, "all 3 services healthy", or why nothing was checked ("not checked: container stopped"). */
  summary: string;
  services: ServiceHealth[];
  trigger: HealthTrigger;
  userId: number | null;
}

export type NewHealthCheck = Omit<HealthCheck, 'id' | 'checkedAt'>;

/** How long the node's curl waits for a service to answer. */
export const HTTP_CHECK_TIMEOUT_S = 5;

// --- what may be checked ---------------------------------------------------------------------------------------

// systemd's unit name characters (letters, digits, ":-_.\" and "@" for instances) without "\", and never a leading
// "-" that systemctl would read as an option.
const UNIT_NAME = /^[A-Za-z0-9][A-Za-z0-9:_.@-]{0,240}$/;

/** The unit as systemctl is asked about it (`nginx` → `nginx.service`), or null when it is not a plain unit name. */
export function validUnit(raw: string): string | null {
  if (!UNIT_NAME.test(raw)) return null;
  return /\.(service|socket|target|timer|mount|path)$/.test(raw) ? raw : `${raw}.service`;
}

export const validPort = (port: number | null): port is number => port !== null && Number.isInteger(port) && port >= 1 && port <= 65535;

/**
 * The URL the node may fetch: http(s) to the CT's own IPv4 address, without credentials; rebuilt from its parts so
 * what reaches curl is exactly what was checked. An error says why not.
 */
export function checkableUrl(raw: string, ctIp: string | null): { url: string } | { refused: string } {
  if (!URL.canParse(raw)) return { refused: `not checked over HTTP: “${raw}” is not a URL` };
  const url = new URL(raw);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { refused: `not checked over HTTP: ${url.protocol} is not http: or https:` };
  if (url.username || url.password) return { refused: 'not checked over HTTP: the URL carries credentials' };
  if (!ctIp || url.hostname !== ctIp) return { refused: `not checked over HTTP: ${url.host} is not this container's address (${ctIp ?? 'unknown'})` };
  return { url: url.href };
}

// --- reading the answers ------------------------------------------------------------------------------------------

/** TCP ports in `ss -Htln` lines (State Recv-Q Send-Q Local:Port Peer:Port). */
export function listeningPortsFrom(lines: readonly string[]): Set<number> {
  const ports = new Set<number>();
  for (const line of lines) {
    const local = line.trim().split(/\s+/)[3];
    const port = Number(local?.slice(local.lastIndexOf(':') + 1));
    if (Number.isInteger(port) && port > 0) ports.add(port);
  }
  return ports;
}

/** `systemctl is-active` printed this state for the unit. */
export function unitOutcome(unit: string, state: string): CheckOutcome {
  if (state === 'active') return { kind: 'unit', ok: true, words: `${unit} is active` };
  if (state === 'failed') return { kind: 'unit', ok: false, words: `${unit} is inactive (failed)` };
  return { kind: 'unit', ok: false, words: `${unit} is ${state || 'in an unknown state'}` };
}

export const portOutcome = (port: number, listening: boolean): CheckOutcome =>
  listening ? { kind: 'port', ok: true, words: `something listens on ${port}` } : { kind: 'port', ok: false, words: `nothing listens on ${port}` };

const seconds = (s: number) => `${s < 10 ? s.toFixed(2) : Math.round(s)} s`;

/** The node's `curl -w '%{http_code} %{time_total}'` output and exit code for `url`. */
export function httpOutcome(url: string, writeOut: string, exitCode: number): CheckOutcome {
  const m = /^(\d{3}) (\d+(?:\.\d+)?)$/.exec(writeOut.trim());
  const code = m ? Number(m[1]) : 0;
  if (code > 0) {
    const words = `${url} answered ${code} in ${seconds(Number(m![2]))}`;
    return { kind: 'http', ok: code >= 200 && code < 400, words };
  }
  const why: Record<number, string> = {
    6: 'its host name could not be resolved',
    7: 'the connection was refused',
    28: `no answer within ${HTTP_CHECK_TIMEOUT_S} s`,
    35: 'the TLS handshake failed',
    52: 'it closed the connection without an answer',
    56: 'the connection broke off',
  };
  return { kind: 'http', ok: false, words: `${url} did not answer: ${why[exitCode] ?? `curl ended with exit code ${exitCode}`}` };
}

// --- deciding --------------------------------------------------------------------------------------------------

/** All checks passed: healthy; none: down; some: degraded. */
export function serviceState(checks: readonly CheckOutcome[]): ServiceState {
  const passed = checks.filter((c) => c.ok).length;
  return passed === checks.length ? 'healthy' : passed === 0 ? 'down' : 'degraded';
}

/** The container's state from its services' (all healthy: healthy; all down: down), with its summary sentence. */
export function overallHealth(services: readonly ServiceHealth[]): { state: ServiceState; summary: string } {
  const healthy = services.filter((s) => s.state === 'healthy').length;
  if (healthy === services.length) {
    return { state: 'healthy', summary: services.length === 1 ? 'the 1 service is healthy' : `all ${services.length} services healthy` };
  }
  const failing = services.flatMap((s) => s.checks.filter((c) => !c.ok).map((c) => c.words));
  return { state: services.every((s) => s.state === 'down') ? 'down' : 'degraded', summary: failing.join('; ') };
}

/** "2/3 services healthy", for the list. */
export function healthCount(check: Pick<HealthCheck, 'state' | 'services' | 'summary'>): string {
  if (check.state === 'not-checked') return check.summary;
  const healthy = check.services.filter((s) => s.state === 'healthy').length;
  return `${healthy}/${check.services.length} service${check.services.length === 1 ? '' : 's'} healthy`;
}
