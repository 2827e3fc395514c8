import type { Knex } from 'knex';

// Containers built before container_history existed get an entry per finished build attempt, read from their event
// log: attempt 1 starts the log, attempt N its `attempt` marker; it ended with the first outcome event (complete,
// error, cancelled) after that, and its lines run on to just before the next non-log event (a retry request, a
// power action). Who asked: the owner for attempt 1, the "Retry requested by …" line before a retry's marker,
// else whoever asked for the attempt before (a run resumed after a worker restart). Attempts that never ended
// (interrupted, or running now) get none; the key `build:<attempt>` keeps the worker from writing one twice.
// Frozen on purpose: it imports nothing from src/, whose words may change.

interface EventRow {
  seq: number;
  kind: string;
  step: string | null;
  text: string | null;
  data: { attempt?: number } | null;
  created_at: Date;
}

const PHASE_LABELS: Record<string, string> = {
  creating: 'Create Container', starting: 'Start Container', deploying: 'Deploy Files', syncing: 'Run Scripts', finalizing: 'Finalize',
};
const OUTCOMES: Record<string, 'succeeded' | 'failed' | 'cancelled'> = { complete: 'succeeded', error: 'failed', cancelled: 'cancelled' };
const RETRY_BY = /^Retry requested by (.+?); waiting for a worker/;

export async function up(knex: Knex): Promise<void> {
  const containers: Array<{ id: string; owner_id: number; attempt: number; last_seq: number; owner: string | null }> = await knex('containers')
    .leftJoin('users', 'users.id', 'containers.owner_id')
    .where('containers.attempt', '>', 0)
    .whereNotExists(knex('container_history').whereRaw('container_history.container_id = containers.id').andWhere('kind', 'build'))
    .select('containers.id', 'containers.owner_id', 'containers.attempt', 'containers.last_seq', 'users.username as owner');
  const userIds = new Map<string, number>();
  for (const u of await knex('users').select('id', 'username')) userIds.set(String(u.username).toLowerCase(), u.id);

  for (const c of containers) {
    const events: EventRow[] = await knex('container_events')
      .where({ container_id: c.id })
      .whereNot({ kind: 'log' })
      .orderBy('seq')
      .select('seq', 'kind', 'step', 'text', 'data', 'created_at');
    const starts = new Map<number, number>([[1, 1]]);
    for (const e of events) if (e.kind === 'attempt' && typeof e.data?.attempt === 'number') starts.set(e.data.attempt, e.seq);
    let who: { id: number | null; name: string | null } = { id: c.owner_id, name: c.owner };
    const rows = [];
    for (let n = 1; n <= c.attempt; n++) {
      const from = starts.get(n);
      if (from === undefined) continue;
      const next = Math.min(...[...starts.values()].filter((s) => s > from), Infinity);
      if (n > 1) {
        const request = events.filter((e) => e.seq < from && e.kind === 'step').at(-1);
        const by = request?.text ? RETRY_BY.exec(request.text)?.[1] : undefined;
        if (by) who = { id: userIds.get(by.toLowerCase()) ?? null, name: by };
      }
      // Attempt 1 of a build cancelled while queued, then retried: its outcome comes after the first phase began.
      const firstPhase = n === 1 ? events.find((e) => e.kind === 'step' && e.step && e.step in PHASE_LABELS)?.seq ?? 0 : from;
      const end = events.find((e) => e.seq > Math.max(from, firstPhase) && e.seq < next && e.kind in OUTCOMES);
      if (!end) continue;
      const after = events.find((e) => e.seq > end.seq);
      const toSeq = Math.min(after ? after.seq - 1 : c.last_seq, next - 1);
      const outcome = OUTCOMES[end.kind]!;
      const phase = end.step ? PHASE_LABELS[end.step] ?? end.step : null;
      const summary = outcome === 'succeeded'
        ? `Attempt ${n}: ready.`
        : `Attempt ${n} ${outcome}${phase ? ` at ${phase}` : ''}: ${(end.text ?? '').slice(0, 500)}`;
      rows.push({
        container_id: c.id,
        at: end.created_at,
        kind: 'build',
        user_id: who.id,
        username: who.name,
        attempt: n,
        outcome,
        summary,
        details: JSON.stringify({ fromSeq: from, toSeq, backfilled: true }),
        dedupe_key: `build:${n}`,
      });
    }
    if (rows.length) await knex('container_history').insert(rows).onConflict(['container_id', 'dedupe_key']).ignore();
  }
}

export async function down(knex: Knex): Promise<void> {
  await knex('container_history').where('kind', 'build').whereRaw("(details->>'backfilled')::boolean").del();
}
