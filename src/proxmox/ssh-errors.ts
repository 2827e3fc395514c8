// What can go wrong talking to a Proxmox node over SSH, typed where it arises so the pipeline can tell a
// retryable hiccup (the node is briefly unreachable) from one a person must act on (the host key changed).

export class NodeShellError extends Error {
  /** true when trying again later may well succeed. */
  readonly retryable: boolean = false;

  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The node offered a host key other than the pinned one. Never retried, never bypassed. */
export class HostKeyMismatchError extends NodeShellError {
  constructor(readonly host: string, readonly expected: string, readonly actual: string) {
    super(`The SSH host key of ${host} does not match the pinned fingerprint (expected ${expected}, got ${actual}). ` +
      'If the node was reinstalled, check the new key and update the node settings.');
  }
}

export class SshAuthError extends NodeShellError {
  constructor(readonly host: string, readonly username: string, detail = 'the node does not accept the configured private key') {
    super(`SSH login as ${username}@${host} failed: ${detail}.`);
  }
}

export class SshConnectError extends NodeShellError {
  override readonly retryable = true;
  constructor(readonly host: string, readonly port: number, detail: string) {
    super(`Cannot reach ${host}:${port} over SSH: ${detail}.`);
  }
}

export class CommandTimeoutError extends NodeShellError {
  constructor(readonly command: string, readonly timeoutMs: number) {
    super(`\`${command}\` did not finish within ${formatSeconds(timeoutMs)} and was stopped.`);
  }
}

/** A command whose output is read into memory printed more than the caller keeps (ExecOptions.maxOutputChars). */
export class CommandOutputLimitError extends NodeShellError {
  constructor(readonly command: string, readonly limitChars: number) {
    super(`\`${command}\` printed more than ${formatSize(limitChars)} and was stopped: Launchpad reads no more of a command whose answer it keeps.`);
  }
}

export class CommandAbortedError extends NodeShellError {
  constructor(readonly command: string) {
    super(`\`${command}\` was cancelled.`);
  }
}

/**
 * The SSH user is not root, and pct (like every Proxmox command-line tool) runs only as root: it dies with
 * `please run as root` (pve-common RESTEnvironment.pm). `evidence` says how that was found out.
 */
export class NotRootError extends NodeShellError {
  constructor(readonly host: string, readonly username: string, evidence: string) {
    super(`${evidence}: Launchpad signs in to ${host} as ${username}, and pct runs only as root.`);
  }
}

/** A node-side command (pct push, pct status) exited non-zero; `output` holds its last lines. */
export class NodeCommandError extends NodeShellError {
  constructor(readonly command: string, readonly exitCode: number, readonly output: string[]) {
    super(`\`${command}\` failed with exit code ${exitCode}${output.length ? `: ${output.join(' / ')}` : ''}`);
  }
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

function formatSize(chars: number): string {
  return chars % (1024 * 1024) === 0 ? `${chars / (1024 * 1024)} MiB` : `${Math.round(chars / 1024)} KiB`;
}
