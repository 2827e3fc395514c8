// Reads that many viewers of one container make at the same moment, made once for all of them in this process: the
// container behind streams opened together (a storm of reconnects), and the state a stream's message re-renders —
// the last message of viewers that end together (a replay storm, a build's end watched by many), or a usage stream's
// re-render of one round (a poll that saw the CT start or stop, a change the worker announced). Each viewer shapes
// the shared facts for themselves (stateFor), with their own CSRF token.
import type { UsageSnapshot } from '../usage/usage.ts';
import { singleFlight } from '../../lib/single-flight.ts';
import { findVisibleContainer, loadContainerFacts, type ContainerFacts, type ContainerPageDeps, type StateOptions } from './container-page.ts';
import type { Container, LiveStatus, Viewer } from './container.ts';

export class SharedReads {
  private readonly visible = singleFlight<string, Container>();
  private readonly containers = singleFlight<string, Container | undefined>();
  /**
   * The facts of one seq are kept a second for the viewers that finish just after: what they hold beyond the seq's
   * events — health, history, usage, the node's status — may be that old, and the usage stream that follows brings a
   * newer history entry at once (usage-stream.ts) and the node's status at its first poll.
   */
  private readonly lastFacts = singleFlight<string, ContainerFacts>({ keepMs: 1_000 });
  private readonly withLatest = new WeakMap<ContainerFacts, WeakMap<Container, ContainerFacts>>();
  /** A round's re-render: keyed by the snapshot that prompted it, made after what it reports. */
  private readonly rounds = new WeakMap<UsageSnapshot, Promise<ContainerFacts>>();

  constructor(
    private readonly deps: ContainerPageDeps,
    /** How the facts are read: the node's live status, the usage monitor, the replays' connection limit. */
    private readonly options: Pick<StateOptions, 'liveStatus' | 'usage' | 'limit'>,
  ) {}

  /** The container behind a stream this viewer opens. */
  visibleContainer(viewer: Viewer, id: string): Promise<Container> {
    return this.visible(`${id}:${viewer.id}`, () => findVisibleContainer(this.deps, viewer, id));
  }

  /** The container as it stands. */
  container(id: string): Promise<Container | undefined> {
    return this.containers(id, () => this.deps.containers.findById(id));
  }

  /** A settled container's facts for a stream's last message (`latest`: the container as this viewer read it). */
  async finalFacts(latest: Container): Promise<ContainerFacts> {
    const facts = await this.lastFacts(`${latest.id}:${latest.lastSeq}`, () => loadContainerFacts(this.deps, latest, this.options));
    // The same object for viewers that read the same container (they end together): their message is rendered once.
    let withLatest = this.withLatest.get(facts);
    if (!withLatest) this.withLatest.set(facts, (withLatest = new WeakMap()));
    let composed = withLatest.get(latest);
    if (!composed) withLatest.set(latest, (composed = { ...facts, container: latest }));
    return composed;
  }

  /**
   * The facts for a usage stream's re-render, read afresh. `round`: the snapshot that prompted it (its status saves
   * asking the node; every viewer of that round shares the read), or none for a viewer's own.
   */
  roundFacts(container: Container, round: { snapshot: UsageSnapshot; status: LiveStatus | undefined } | undefined): Promise<ContainerFacts> {
    const read = async () => {
      const latest = (await this.deps.containers.findById(container.id)) ?? container;
      const { liveStatus, usage } = this.options;
      return loadContainerFacts(this.deps, latest, round?.status ? { status: round.status, usage } : { liveStatus, usage });
    };
    if (!round) return read();
    let shared = this.rounds.get(round.snapshot);
    if (!shared) this.rounds.set(round.snapshot, (shared = read()));
    return shared;
  }
}
