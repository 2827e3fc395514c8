// Errors are typed where they arise and mapped to HTTP once, in src/http/error-handler.ts.

export class AppError extends Error {
  readonly status: number = 500;
}

export class NotFoundError extends AppError {
  override readonly status = 404;
  constructor(what = 'That page') {
    super(`${what} does not exist, or you may not see it.`);
  }
}

/** A request that cannot be read at all (not a form to show again): the page says what was wrong. */
export class BadRequestError extends AppError {
  override readonly status = 400;
}

export class ForbiddenError extends AppError {
  override readonly status = 403;
}

/**
 * Not now, or not at all: `busy` for something in progress or a state that will pass (wait, then try again); `rule`
 * for what a rule forbids (the last admin, a template containers use), which waiting does not change.
 */
export class ConflictError extends AppError {
  override readonly status = 409;
  constructor(
    message: string,
    readonly kind: 'busy' | 'rule' = 'busy',
  ) {
    super(message);
  }
}

/** Field-level problems with submitted input: the form is shown again with each message next to its field. */
export class ValidationError extends AppError {
  override readonly status = 422;
  constructor(
    readonly fields: Record<string, string>,
    message = 'Some fields need attention.',
  ) {
    super(message);
  }
}

export class TooManyRequestsError extends AppError {
  override readonly status = 429;
}

export class UnavailableError extends AppError {
  override readonly status = 503;
}
