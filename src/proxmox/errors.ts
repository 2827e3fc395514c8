// Typed errors for everything that can go wrong talking to a Proxmox VE node. They are built from the shapes the
// real API produces (reference/proxmox-api.md §2) so callers decide on the class, never on message text:
// `transient` says whether trying again later can help (the client already retries idempotent GETs itself).

/** Base class: every failure of a Proxmox API call. */
export class ProxmoxError extends Error {
  /** HTTP status, or undefined when no response arrived (connection, TLS, timeout). */
  readonly status: number | undefined;
  /** True when the same request may succeed later (595–599, resets, timeouts). */
  readonly transient: boolean;
  /** The text Proxmox gave (reason phrase or body `message`), without a trailing newline. */
  readonly detail: string;

  constructor(message: string, options: { status?: number; transient?: boolean; detail?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.status = options.status;
    this.transient = options.transient ?? false;
    this.detail = options.detail ?? message;
  }
}

/** 400 `Parameter verification failed.`: `errors` maps each rejected parameter to Proxmox's message. */
export class ProxmoxParameterError extends ProxmoxError {
  readonly errors: Readonly<Record<string, string>>;

  constructor(reason: string, errors: Record<string, string>) {
    const cleaned = Object.fromEntries(Object.entries(errors).map(([k, v]) => [k, flattenMessage(v)]));
    const listed = Object.entries(cleaned).map(([k, v]) => `${k}: ${v}`).join('; ');
    super(listed ? `${stripPeriod(reason)} — ${listed}` : reason, { status: 400, detail: reason });
    this.errors = cleaned;
  }
}

/** 401: the API token is wrong, expired or disabled. */
export class ProxmoxAuthError extends ProxmoxError {
  constructor(detail: string) {
    super(`Proxmox rejected the API token (${detail}). Check the token id and secret.`, { status: 401, detail });
  }
}

/** 403: the token lacks a privilege (the detail names the path and privilege). */
export class ProxmoxPermissionError extends ProxmoxError {
  constructor(detail: string) {
    super(`Proxmox refused the request: ${detail}`, { status: 403, detail });
  }
}

/** 501: the node does not know this path/method (older PVE version, or a typo in the client). */
export class ProxmoxNotImplementedError extends ProxmoxError {
  constructor(detail: string) {
    super(`Proxmox does not support this call: ${detail}`, { status: 501, detail });
  }
}

/** Any other HTTP error; 500 is what most runtime failures (`die "text\n"` in a handler) become. */
export class ProxmoxApiError extends ProxmoxError {}

/**
 * 595–599 (pveproxy could not reach pvedaemon or another node in time) and gateway errors from a proxy in front:
 * the request may or may not have been executed.
 */
export class ProxmoxTransientError extends ProxmoxError {
  constructor(status: number, detail: string) {
    super(`Proxmox is busy or a backend did not answer (${status} ${detail})`, { status, transient: true, detail });
  }
}

/** No HTTP response: connection refused, reset, timed out, DNS failure, TLS handshake failure. */
export class ProxmoxConnectionError extends ProxmoxError {
  /** Node's error code, e.g. ECONNREFUSED, ECONNRESET, ETIMEDOUT. */
  readonly code: string | undefined;

  constructor(apiUrl: string, code: string | undefined, cause?: unknown) {
    const what = CONNECTION_TEXT[code ?? ''] ?? (cause instanceof Error ? cause.message : 'connection failed');
    super(`Cannot reach Proxmox at ${apiUrl}: ${what}`, {
      transient: code !== 'ENOTFOUND',
      detail: what,
      cause,
    });
    this.code = code;
  }
}

const CONNECTION_TEXT: Record<string, string> = {
  ECONNREFUSED: 'connection refused (is pveproxy running and the port right?)',
  ECONNRESET: 'the connection was reset',
  ETIMEDOUT: 'the request timed out',
  EPIPE: 'the connection was closed while sending',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed temporarily',
};

/**
 * The server's certificate is not the pinned one. Never retried: either the node got a new certificate (re-check
 * and re-pin the fingerprint) or someone is in the middle. No request data was sent.
 */
export class TlsFingerprintMismatchError extends ProxmoxError {
  constructor(
    readonly apiUrl: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      `The TLS certificate of ${apiUrl} does not match the pinned fingerprint (expected ${expected}, got ${actual}). ` +
        'If the node was given a new certificate, verify the new fingerprint on the node and save it; otherwise ' +
        'someone may be intercepting the connection. Nothing was sent.',
      { detail: 'certificate fingerprint mismatch' },
    );
  }
}

/** A task ended with something other than `OK` or `WARNINGS: n`. */
export class TaskFailedError extends ProxmoxError {
  constructor(
    readonly upid: string,
    /** The task's exit status: the text after `TASK ERROR: `, e.g. `unable to create CT 101 - …`. */
    readonly exitstatus: string,
    /** The last log lines before the final `TASK ERROR` line, oldest first. */
    readonly lastLines: readonly string[],
  ) {
    super(exitstatus, { detail: exitstatus });
  }
}

/** The waiter gave up; the task may still be running on the node (its UPID is kept so it can be stopped). */
export class TaskTimeoutError extends ProxmoxError {
  constructor(
    readonly upid: string,
    readonly timeoutMs: number,
  ) {
    super(`The Proxmox task did not finish within ${Math.round(timeoutMs / 1000)} s`, { transient: true });
  }
}

/** The wait was aborted: the task was asked to stop (DELETE) and `exitstatus` is how it ended, if known. */
export class TaskCancelledError extends ProxmoxError {
  constructor(
    readonly upid: string,
    readonly exitstatus: string | undefined,
  ) {
    super(exitstatus ? `Task cancelled: ${exitstatus}` : 'Task cancelled');
  }
}

/** Proxmox messages may carry newlines (nested property-string errors); one line reads better everywhere. */
export function flattenMessage(text: string): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ');
}

function stripPeriod(text: string): string {
  return text.endsWith('.') ? text.slice(0, -1) : text;
}
