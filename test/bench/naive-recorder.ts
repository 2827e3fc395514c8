// The baseline's write side — the obvious first design: every output line is its own transaction (the same
// EventsRepository.append, with a batch of one) followed by its own PUBLISH of that one event. Lines are written one
// after another so seq keeps their order; nothing is buffered or batched.
import type { EventsRepository } from '../../src/db/events-repository.ts';
import type { Publish } from '../../src/domain/progress/progress-channel.ts';
import type { LogStream } from '../../src/domain/containers/container-event.ts';

/** The baseline's own channel, so Launchpad's relay never sees its messages. */
export const naiveChannel = (containerId: string) => `bench:naive:${containerId}:line`;

export class NaiveRecorder {
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;
  stored = 0;
  failures = 0;
  lastError: string | undefined;

  constructor(
    private readonly events: EventsRepository,
    private readonly publish: Publish,
    readonly containerId: string,
  ) {}

  log(stream: LogStream, text: string): void {
    const at = new Date();
    this.chain = this.chain.then(async () => {
      if (this.stopped) return;
      try {
        const [event] = await this.events.append(this.containerId, [{ kind: 'log', stream, text, at }]);
        this.stored++;
        await this.publish(naiveChannel(this.containerId), JSON.stringify(event));
      } catch (err) {
        this.failures++;
        this.lastError = (err as Error).message;
      }
    });
  }

  /** Resolves once every line logged so far is stored and published. */
  drain(): Promise<void> {
    return this.chain;
  }

  /** Drops lines not yet written (the bench's time cap). */
  stop(): void {
    this.stopped = true;
  }
}
