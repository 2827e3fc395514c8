// The shell helper library every template script runs with (SPEC §5). It is a real file so it can be linted and
// tested with bash; the pipeline installs HELPER_LIBRARY_CONTENT at HELPER_LIBRARY_TARGET and sources it first.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const HELPER_LIBRARY_SOURCE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'helper-library.sh');

/**
 * Where the library lives inside the container. Under /opt rather than /usr/local because /usr is read-only in
 * the simulator's sandbox, and not under /etc/launchpad, which holds the (mode 600) state the scripts write.
 */
export const HELPER_LIBRARY_TARGET = '/opt/launchpad/lib/launchpad.sh';

/** State the library writes inside the container and the finalize step reads back. */
export const CREDENTIALS_FILE = '/etc/launchpad/credentials';
export const SERVICES_FILE = '/etc/launchpad/services';

export const HELPER_LIBRARY_CONTENT = readFileSync(HELPER_LIBRARY_SOURCE, 'utf8');

/** `KEY=VALUE` lines of /etc/launchpad/credentials; the last line for a key wins, malformed lines are skipped. */
export function parseCredentialsFile(text: string): Map<string, string> {
  const credentials = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) credentials.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return credentials;
}

export interface RegisteredService {
  name: string;
  port: number;
  /** What the script registered as the service's address, as written (shown as text unless it is a web link). */
  url: string | null;
  /**
   * The systemd unit that runs it, as written (the health check validates it before use): the NAME unless the script
   * named another, null when it said `-` (no unit: only the port and URL are checked).
   */
  unit: string | null;
}

/**
 * The address as a link target, or null: only http: and https: URLs become links — a script could register
 * `javascript:…` or `data:…`, which a click would run in the console's origin.
 */
export function serviceLink(url: string | null): string | null {
  if (!url || !URL.canParse(url)) return null;
  const parsed = new URL(url);
  return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.href : null;
}

/**
 * `NAME PORT [URL|-] [UNIT|-]` lines of /etc/launchpad/services; the last line for a name wins, malformed lines are
 * skipped. Names and units are kept as written: whatever wrote the file, nothing here runs them.
 */
export function parseServicesFile(text: string): RegisteredService[] {
  const services = new Map<string, RegisteredService>();
  for (const line of text.split('\n')) {
    const [name, port, url, unit, extra] = line.trim().split(/\s+/);
    const number = Number(port);
    if (!name || extra !== undefined || !Number.isInteger(number) || number < 1 || number > 65535) continue;
    services.set(name, { name, port: number, url: url === undefined || url === '-' ? null : url, unit: unit === '-' ? null : (unit ?? name) });
  }
  return [...services.values()];
}
