// What the container page shows, read consistently up to one seq so the live stream can continue from exactly there.
import type { Container, ContainersRepository } from '../../db/containers-repository.ts';
import type { ContainerExtrasRepository, ContainerService } from '../../db/container-extras-repository.ts';
import type { ContainerEvent, EventsRepository } from '../../db/events-repository.ts';
import type { NodesRepository } from '../../db/nodes-repository.ts';
import { NotFoundError } from '../../lib/errors.ts';
import { isTerminal, phaseLabel, type ProgressSnapshot } from '../progress/phases.ts';
import { snapshotFrom } from '../progress/progress-fragments.ts';

/** At most this many log lines go into the page's DOM; earlier ones are a link away (and all are in log.txt). */
export const LOG_LINES_IN_PAGE = 5000;

export interface ContainerPageDeps {
  containers: ContainersRepository;
  events: EventsRepository;
  nodes: NodesRepository;
  containerExtras: ContainerExtrasRepository;
}

export interface Viewer {
  id: number;
  isAdmin: boolean;
}

export async function findVisibleContainer(deps: { containers: ContainersRepository }, viewer: Viewer, id: string): Promise<Container> {
  const container = await deps.containers.findVisible(id, viewer);
  if (!container) throw new NotFoundError('That container');
  return container;
}

export interface OutcomeView {
  container: Container;
  nodeName: string;
  services: ContainerService[];
  credentialKeys: string[];
  failedPhase: string;
  lastLines: ContainerEvent[];
}

export async function loadOutcome(deps: ContainerPageDeps, container: Container): Promise<OutcomeView> {
  const [node, services, credentialKeys, lastLines] = await Promise.all([
    deps.nodes.findById(container.nodeId),
    deps.containerExtras.services(container.id),
    deps.containerExtras.credentialKeys(container.id),
    container.lifecycle === 'failed' || container.lifecycle === 'cancelled'
      ? deps.events.logEntries(container.id, { afterSeq: Math.max(0, container.lastSeq - 40), limit: 40 })
      : Promise.resolve([]),
  ]);
  return {
    container,
    nodeName: node?.name ?? '(removed node)',
    services,
    credentialKeys,
    failedPhase: phaseLabel(container.currentStep),
    lastLines: lastLines.filter((e) => e.kind === 'log').slice(-15),
  };
}

export interface ContainerPageView extends OutcomeView {
  progress: ProgressSnapshot;
  logEntries: ContainerEvent[];
  /** The page shows everything up to this seq; the stream resumes after it. */
  renderedSeq: number;
  /** Line number of the first line in the page when earlier ones were left out. */
  firstLineShown: number | undefined;
  live: boolean;
}

export async function loadContainerPage(
  deps: ContainerPageDeps,
  viewer: Viewer,
  id: string,
  options: { fromLine?: number } = {},
): Promise<ContainerPageView> {
  const container = await findVisibleContainer(deps, viewer, id);
  const upto = container.lastSeq;
  const afterSeq =
    options.fromLine !== undefined
      ? undefined
      : container.lastLineNo > LOG_LINES_IN_PAGE
        ? await deps.events.seqOfTail(container.id, LOG_LINES_IN_PAGE, upto)
        : 0;
  const [outcome, lastProgress, logEntries] = await Promise.all([
    loadOutcome(deps, container),
    deps.events.lastProgressEvent(container.id, upto),
    deps.events.logEntries(container.id, { afterSeq, uptoSeq: upto, fromLine: options.fromLine, limit: LOG_LINES_IN_PAGE + 100 }),
  ]);
  const firstLine = logEntries.find((e) => e.kind === 'log')?.lineNo ?? undefined;
  return {
    ...outcome,
    progress: snapshotFrom(lastProgress, container.lifecycle),
    logEntries,
    renderedSeq: options.fromLine !== undefined ? (logEntries.at(-1)?.seq ?? upto) : upto,
    firstLineShown: firstLine !== undefined && firstLine > 1 ? firstLine : undefined,
    live: !isTerminal(container.lifecycle) && options.fromLine === undefined,
  };
}
