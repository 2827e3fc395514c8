import type { Knex } from 'knex';
import type { HealthCheck, HealthState, HealthTrigger, NewHealthCheck, ServiceHealth, ServiceState } from '../domain/health/service-health.ts';

interface HealthRow {
  id: string;
  container_id: string;
  checked_at: Date;
  state: HealthState;
  summary: string;
  services: ServiceHealth[];
  trigger: HealthTrigger;
  user_id: number | null;
}

const toCheck = (r: HealthRow): HealthCheck => ({
  id: Number(r.id),
  containerId: r.container_id,
  checkedAt: r.checked_at,
  state: r.state,
  summary: r.summary,
  services: r.services,
  trigger: r.trigger,
  userId: r.user_id,
});

/** Results kept per container: the last day of 5-minute sweeps and then some. */
const KEPT_PER_CONTAINER = 300;

export class HealthRepository {
  constructor(private readonly knex: Knex) {}

  /**
   * Stores a check's result and answers the state of the last check that reached the services before it (null when
   * none did): the caller writes a history entry when that differs. One container's writes take turns (an advisory
   * lock), so two checks finishing together cannot both see the same "before".
   */
  async record(check: NewHealthCheck): Promise<{ id: number; checkedAt: Date; previous: ServiceState | null }> {
    return this.knex.transaction(async (trx) => {
      await trx.raw("SELECT pg_advisory_xact_lock(hashtext('container_health_checks:' || ?))", [check.containerId]);
      const before = await trx<HealthRow>('container_health_checks')
        .where({ container_id: check.containerId })
        .whereNot('state', 'not-checked')
        .orderBy('id', 'desc')
        .first('state');
      const [row] = await trx('container_health_checks')
        .insert({
          container_id: check.containerId,
          state: check.state,
          summary: check.summary,
          services: JSON.stringify(check.services),
          trigger: check.trigger,
          user_id: check.userId,
        })
        .returning(['id', 'checked_at']);
      await trx('container_health_checks')
        .where({ container_id: check.containerId })
        .whereIn('id', trx('container_health_checks').where({ container_id: check.containerId }).orderBy('id', 'desc').offset(KEPT_PER_CONTAINER).select('id'))
        .delete();
      return { id: Number(row.id), checkedAt: row.checked_at as Date, previous: (before?.state as ServiceState | undefined) ?? null };
    });
  }

  async latest(containerId: string): Promise<HealthCheck | undefined> {
    const row = await this.knex<HealthRow>('container_health_checks').where({ container_id: containerId }).orderBy('id', 'desc').first();
    return row && toCheck(row);
  }

  /** The newest result of each of these containers (those never checked are absent). */
  async latestOf(containerIds: readonly string[]): Promise<Map<string, HealthCheck>> {
    if (containerIds.length === 0) return new Map();
    const rows: HealthRow[] = await this.knex('container_health_checks')
      .distinctOn('container_id')
      .whereIn('container_id', containerIds)
      .orderBy([{ column: 'container_id' }, { column: 'id', order: 'desc' }])
      .select('*');
    return new Map(rows.map((r) => [r.container_id, toCheck(r)]));
  }
}
