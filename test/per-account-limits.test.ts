// No account can take a web process's live-stream slots from everyone else: streams are counted per account, whatever
// its sessions and API tokens (SSE_MAX_STREAMS_PER_USER), beside the per-session and per-process limits. An account
// holds at most 20 usable API tokens and creates at most 10 in 10 minutes.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { insertContainer, insertNode } from './support/fixtures.ts';
import { ensureUser, listen, signIn } from './support/http-session.ts';
import { connectSse, type SseConnection } from './support/sse-client.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';

let env: TestEnv;
let server: Awaited<ReturnType<typeof listen>>;
const PASSWORD = 'account-limits-password';

beforeAll(async () => {
  // A small process, so the test can fill it: 10 streams, 6 per session or token, 4 per account.
  env = await createTestEnv({ SSE_MAX_STREAMS: '10', SSE_MAX_STREAMS_PER_USER: '4' });
  server = await listen(createApp(env.deps));
}, 60_000);
afterAll(async () => {
  await server?.close();
  await env?.close();
});

type Who = { cookie: string; csrf: string };

const createToken = (who: Who, name: string) =>
  fetch(`${server.baseUrl}/account/tokens`, {
    method: 'POST',
    headers: { Cookie: who.cookie, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: who.csrf, name }),
  });

async function tokenOf(who: Who, name: string): Promise<string> {
  const res = await createToken(who, name);
  expect(res.redirected).toBe(true);
  expect(res.status).toBe(200);
  return /<code id="new-token"[^>]*>([^<]+)<\/code>/.exec(await res.text())![1]!;
}

describe('live streams per account', () => {
  it('the lowest role cannot fill the process with sessions and tokens: its streams stop at its share; an admin still gets one', async () => {
    await ensureUser(env.deps, 'al-admin', PASSWORD, 'admin');
    await ensureUser(env.deps, 'al-viewer', PASSWORD, 'viewer');
    const owner = await ensureUser(env.deps, 'al-owner', PASSWORD, 'operator');
    const node = await insertNode(env.deps);
    const build = await insertContainer(env.deps, owner.id, node.id);
    const url = `${server.baseUrl}/containers/${build.id}/events`;

    const sessions = [await signIn(server.baseUrl, 'al-viewer', PASSWORD), await signIn(server.baseUrl, 'al-viewer', PASSWORD)];
    const tokens = [await tokenOf(sessions[0]!, 'al-a'), await tokenOf(sessions[0]!, 'al-b'), await tokenOf(sessions[1]!, 'al-c')];
    // Every credential the viewer has, round and round: more than the process holds.
    const credentials = [...sessions.map((s) => ({ cookie: s.cookie })), ...tokens.map((t) => ({ headers: { Authorization: `Bearer ${t}` } }))];
    const open: SseConnection[] = [];
    const refused: SseConnection[] = [];
    for (let i = 0; i < 12; i++) {
      const conn = await connectSse(url, credentials[i % credentials.length]!);
      (conn.status === 200 ? open : refused).push(conn);
    }
    expect(open).toHaveLength(4);
    expect(refused.map((c) => c.status)).toEqual(Array(8).fill(429));
    expect(refused[0]!.bodyText).toContain('Too many live views open for your account');
    expect(refused[0]!.headers['retry-after']).toBe('5');

    const admin = await signIn(server.baseUrl, 'al-admin', PASSWORD);
    const adminStream = await connectSse(url, { cookie: admin.cookie });
    expect(adminStream.status).toBe(200);

    // A slot freed is the account's again.
    open.pop()!.close();
    await new Promise((r) => setTimeout(r, 200));
    const again = await connectSse(url, { headers: { Authorization: `Bearer ${tokens[2]}` } });
    expect(again.status).toBe(200);
    for (const c of [...open, adminStream, again]) c.close();
  });
});

describe('API tokens per account', () => {
  it('an account holds at most 20 usable tokens; revoked and expired ones do not count; revoking one makes room', async () => {
    const user = await ensureUser(env.deps, 'al-hoarder', PASSWORD, 'viewer');
    const session = await signIn(server.baseUrl, 'al-hoarder', PASSWORD);
    const seed = (name: string, extra: Record<string, unknown> = {}) => ({ user_id: user.id, name, token_hash: randomBytes(32).toString('hex'), ...extra });
    await env.deps.knex('api_tokens').insert([
      ...Array.from({ length: 19 }, (_, i) => seed(`old-${i}`)),
      seed('revoked', { revoked_at: new Date() }),
      seed('expired', { expires_at: new Date(Date.now() - 1000) }),
    ]);

    await tokenOf(session, 'twentieth');
    const refused = await createToken(session, 'twenty-first');
    expect(refused.status).toBe(422);
    expect(await refused.text()).toContain('You have 20 active API tokens, the most one account may hold. Revoke one you no longer use');
    expect(await env.deps.knex('api_tokens').where({ name: 'twenty-first' })).toHaveLength(0);

    const [oldest] = await env.deps.knex('api_tokens').where({ user_id: user.id, name: 'old-0' });
    const revoke = await fetch(`${server.baseUrl}/account/tokens/${oldest.id}/revoke`, {
      method: 'POST', redirect: 'manual', headers: { Cookie: session.cookie, 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: session.csrf }),
    });
    expect(revoke.status).toBe(303);
    await tokenOf(session, 'twenty-first');
  });

  it('creating tokens is rate-limited per account: 10 in 10 minutes, then 429 saying what to do', async () => {
    await ensureUser(env.deps, 'al-minter', PASSWORD, 'viewer');
    const session = await signIn(server.baseUrl, 'al-minter', PASSWORD);
    for (let i = 0; i < 10; i++) await tokenOf(session, `mint-${i}`);
    const refused = await createToken(session, 'mint-10');
    expect(refused.status).toBe(429);
    expect(await refused.text()).toContain('Too many API tokens created from this account');
    expect(await env.deps.knex('api_tokens').where({ name: 'mint-10' })).toHaveLength(0);

    // Another account is not held back.
    const other = await signIn(server.baseUrl, 'al-admin', PASSWORD);
    await tokenOf(other, 'not-held-back');
  });
});
