// Writes a container's history entries as its work ends: a build attempt (ready, failed or cancelled), a power
// action, a destroy or forget, a build cancelled before a worker took it. Who asked is copied as a username, so an
// entry outlives the account. Writers the queue may run twice (a job delivered again after a worker crash) pass a
// dedupe key, and the second write of the same key is dropped.
import type { ContainersRepository } from '../../db/containers-repository.ts';
import type { EventsRepository } from '../../db/events-repository.ts';
import type { HistoryRepository } from '../../db/history-repository.ts';
import type { UsersRepository } from '../../db/users-repository.ts';
import type { Container } from '../containers/container.ts';
import { ACTION_WORDS, type PowerAction } from '../containers/lifecycle-actions.ts';
import { phaseLabel } from '../progress/phases.ts';
import { derivedSlice } from './attempt-slices.ts';
import type { HistoryOutcome } from './history.ts';

export interface HistoryWriteDeps {
  containers: ContainersRepository;
  events: EventsRepository;
  users: UsersRepository;
  history: HistoryRepository;
}

const BUILD_OUTCOMES: Partial<Record<Container['lifecycle'], HistoryOutcome>> = { ready: 'succeeded', failed: 'failed', cancelled: 'cancelled' };

/** Messages can be long (a script's last lines); the entry keeps a readable sentence, the log keeps the rest. */
const MAX_SUMMARY = 500;
const clip = (text: string) => (text.length > MAX_SUMMARY ? `${text.slice(0, MAX_SUMMARY - 1)}…` : text);

async function whoAsked(users: UsersRepository, userId: number | undefined): Promise<{ userId: number | null; username: string | null }> {
  const user = userId === undefined ? undefined : await users.findById(userId);
  return user ? { userId: user.id, username: user.username } : { userId: null, username: null };
}

/**
 * The entry of the attempt that just ended, from the container as it stands (so a job delivered again after a crash
 * that came between the outcome and this write still writes it, once: the key is `build:<attempt>`). Its log slice
 * runs from the attempt's marker to the last event so far. `requestedBy`: who pressed Deploy or Retry (the owner
 * when unknown). Answers the container as the entry was written from, or undefined when nothing was written.
 */
export async function recordBuildEnded(deps: HistoryWriteDeps, containerId: string, requestedBy: number | undefined): Promise<Container | undefined> {
  const c = await deps.containers.findById(containerId);
  const outcome = c && BUILD_OUTCOMES[c.lifecycle];
  if (!c || !outcome || c.attempt < 1) return undefined;
  const slice = derivedSlice(await deps.events.attemptStarts(c.id), c.attempt, c.lastSeq);
  const where = c.currentStep ? ` at ${phaseLabel(c.currentStep)}` : '';
  const written = await deps.history.record({
    containerId: c.id,
    at: c.finishedAt ?? undefined,
    kind: 'build',
    ...(await whoAsked(deps.users, requestedBy ?? c.ownerId)),
    attempt: c.attempt,
    outcome,
    summary: clip(outcome === 'succeeded' ? `Attempt ${c.attempt}: ready${c.ip ? ` at ${c.ip}` : ''}.` : `Attempt ${c.attempt} ${outcome}${where}: ${c.error ?? ''}`),
    details: { ...slice },
    dedupeKey: `build:${c.attempt}`,
  });
  return written ? c : undefined;
}

/** A build cancelled while it waited in the queue: no attempt ran, so it has no attempt number and no log. */
export async function recordQueuedBuildCancelled(deps: Pick<HistoryWriteDeps, 'history'>, container: Container, by: { id: number; username: string }): Promise<void> {
  await deps.history.record({
    containerId: container.id, kind: 'build', userId: by.id, username: by.username, attempt: null, outcome: 'cancelled',
    summary: 'Build cancelled before a worker started it.', details: {},
  });
}

export interface JobRequest {
  /** The user whose request queued the job (older jobs do not say). */
  requestedBy?: number;
  /** Names the job across deliveries (`job:<id>@<queued at>`): a redelivered job writes no second entry. */
  key?: string;
}

/** A power action or a destroy ended: `text` is its last status line ("CT 104 is stopped.") or why it failed. */
async function recordJobEnded(
  deps: Pick<HistoryWriteDeps, 'users' | 'history'>,
  containerId: string,
  action: PowerAction | 'destroy',
  result: { ok: boolean; text: string },
  request: JobRequest,
): Promise<void> {
  await deps.history.record({
    containerId, kind: action === 'destroy' ? 'destroy' : 'action', ...(await whoAsked(deps.users, request.requestedBy)), attempt: null,
    outcome: result.ok ? 'succeeded' : 'failed',
    summary: clip(result.ok && action !== 'destroy' ? `${ACTION_WORDS[action].label}: ${result.text}` : result.text),
    details: { action },
    dedupeKey: request.key,
  });
}

export const recordActionEnded = (deps: Pick<HistoryWriteDeps, 'users' | 'history'>, containerId: string, action: PowerAction, result: { ok: boolean; text: string }, request: JobRequest) =>
  recordJobEnded(deps, containerId, action, result, request);

/** A destroy ended (`text`: "Destroyed CT 104." or why it failed). */
export const recordDestroyEnded = (deps: Pick<HistoryWriteDeps, 'users' | 'history'>, containerId: string, result: { ok: boolean; text: string }, request: JobRequest) =>
  recordJobEnded(deps, containerId, 'destroy', result, request);

/** An entry forgotten (its CT was gone, or never created): the end of its life in Launchpad, like a destroy. */
export async function recordForgotten(deps: Pick<HistoryWriteDeps, 'history'>, containerId: string, by: { id: number; username: string }, text: string): Promise<void> {
  await deps.history.record({
    containerId, kind: 'destroy', userId: by.id, username: by.username, attempt: null, outcome: 'succeeded', summary: clip(text), details: { action: 'forget' },
  });
}

/** An entry that followed its CT to the node someone migrated it to (a change of where Launchpad acts, not of the CT). */
export async function recordFollowed(deps: Pick<HistoryWriteDeps, 'history'>, containerId: string, by: { id: number; username: string }, text: string): Promise<void> {
  await deps.history.record({
    containerId, kind: 'action', userId: by.id, username: by.username, attempt: null, outcome: 'succeeded', summary: clip(text), details: { action: 'follow' },
  });
}
