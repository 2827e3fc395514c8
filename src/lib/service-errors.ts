/** A backing service (PostgreSQL, Redis) cannot be reached; the message is one line a person can act on. */
export class ServiceUnavailableError extends Error {}

/** The URL without its password, for messages and logs. */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '(unparseable URL)';
  }
}
