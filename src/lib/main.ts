import { ConfigError } from '../config.ts';
import { ServiceUnavailableError } from './service-errors.ts';

/**
 * Runs a process entry point. Problems a person can fix (bad configuration, PostgreSQL or Redis down) end the
 * process with one readable line instead of a stack trace.
 */
export function runMain(name: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    if (err instanceof ConfigError || err instanceof ServiceUnavailableError) {
      process.stderr.write(`${name}: ${err.message}\n`);
    } else {
      process.stderr.write(`${name}: failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
    }
    process.exit(1);
  });
}

/** Calls `stop` once on SIGTERM/SIGINT; a second signal exits at once. */
export function onShutdown(stop: (signal: string) => Promise<void>): void {
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) process.exit(1);
      stopping = true;
      stop(signal).then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  }
}
