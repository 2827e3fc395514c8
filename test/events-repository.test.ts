// The one writer of container_events: rows keep their container's seq and line numbers, the times they were read,
// and — without a foreign key since issue 18's ingest work — still belong to a container that exists: append proves
// it in its own transaction, and deleting a container takes its events along (a trigger).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertContainer, insertNode } from './support/fixtures.ts';
import { ensureUser } from './support/http-session.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';

let env: TestEnv;
let ownerId: number;
let nodeId: number;

beforeAll(async () => {
  env = await createTestEnv();
  ownerId = (await ensureUser(env.deps, 'events-owner', 'events-password')).id;
  nodeId = (await insertNode(env.deps)).id;
});
afterAll(async () => {
  await env.close();
});

const countOf = async (containerId: string) =>
  Number((await env.deps.knex('container_events').where({ container_id: containerId }).count<{ count: string }[]>('* as count'))[0]!.count);

describe('EventsRepository.append', () => {
  it('numbers events and lines after what the container has, and returns them as stored', async () => {
    const c = await insertContainer(env.deps, ownerId, nodeId);
    const first = new Date('2026-11-29T10:00:00.123Z');
    const second = new Date('2026-11-29T10:00:01.456Z');
    await env.deps.repos.events.append(c.id, [{ kind: 'log', stream: 'stdout', text: 'one', at: first }]);
    const returned = await env.deps.repos.events.append(c.id, [
      { kind: 'log', stream: 'stderr', text: 'two', at: first },
      { kind: 'step', step: 'creating', percent: 12.6, data: { progress: { status: 'x' } }, at: second },
      { kind: 'log', stream: 'stdout', text: 'three', at: second },
    ]);
    expect(returned).toEqual([
      { seq: 2, kind: 'log', step: null, percent: null, stream: 'stderr', lineNo: 2, text: 'two', data: null, createdAt: first.toISOString() },
      { seq: 3, kind: 'step', step: 'creating', percent: 13, stream: null, lineNo: null, text: null, data: { progress: { status: 'x' } }, createdAt: second.toISOString() },
      { seq: 4, kind: 'log', step: null, percent: null, stream: 'stdout', lineNo: 3, text: 'three', data: null, createdAt: second.toISOString() },
    ]);
    // What a reader gets back from Postgres is what append returned.
    expect(await env.deps.repos.events.listAfter(c.id, 1, 10)).toEqual(returned);
  });

  it('refuses a container that does not exist and stores nothing for it', async () => {
    const missing = '00000000-0000-4000-8000-000000000042';
    await expect(env.deps.repos.events.append(missing, [{ kind: 'log', stream: 'stdout', text: 'orphan' }])).rejects.toThrow(/does not exist/);
    expect(await countOf(missing)).toBe(0);
  });

  it('deleting a container deletes its events', async () => {
    const c = await insertContainer(env.deps, ownerId, nodeId);
    await env.deps.repos.events.append(c.id, [{ kind: 'log', stream: 'stdout', text: 'gone soon' }]);
    expect(await countOf(c.id)).toBe(1);
    await env.deps.knex('containers').where({ id: c.id }).delete();
    expect(await countOf(c.id)).toBe(0);
  });
});
