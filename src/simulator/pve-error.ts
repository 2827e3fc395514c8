// How simulator handlers fail: the HTTP status, the message (its first line becomes the reason phrase, as in
// pve-http-server) and, for 400, the per-parameter `errors` object.

export class PveHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors?: Record<string, string>,
  ) {
    super(message);
  }
}

/** 400 `Parameter verification failed.` with the offending parameters. */
export function parameterError(errors: Record<string, string>): PveHttpError {
  return new PveHttpError(400, 'Parameter verification failed.', errors);
}

/** 500: what a handler's `die "text\n"` becomes. */
export function serverError(message: string): PveHttpError {
  return new PveHttpError(500, message);
}

export function permissionError(detail: string): PveHttpError {
  return new PveHttpError(403, `Permission check failed (${detail})`);
}
