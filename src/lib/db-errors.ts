const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006']);

/**
 * Postgres refusing a value it cannot store as text (22021: a NUL byte, invalid UTF-8). Input is checked before it
 * gets this far; this is the backstop that keeps a missed field from becoming a 500.
 */
export function isUnstorableTextError(err: unknown): boolean {
  return (err as { code?: string } | undefined)?.code === '22021';
}

/** Errors that mean "the database is unreachable right now", as opposed to a bad query. */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; message?: string; name?: string } | undefined;
  return (
    (e?.code !== undefined && CONNECTION_CODES.has(e.code)) ||
    e?.name === 'KnexTimeoutError' ||
    /Connection terminated|connection timeout|Client has encountered a connection error|timeout exceeded when trying to connect/i.test(e?.message ?? '')
  );
}

/** A unique index refused the row (23505): the name, link or key is taken. */
export function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string } | undefined)?.code === '23505';
}
