// Roles on every route: walks the router (so a new route cannot miss its rule), checks that each route declares
// exactly one access rule, and sends every route as an admin, an operator and a viewer. A role below the rule gets
// 403 with a page naming the role needed; an operator gets 404 for another user's container; everything else passes
// the rule (whatever the handler then answers). The counts are printed for the report.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { hasRole, ROLES, type Role } from '../src/domain/roles.ts';
import { insertContainer, insertNode } from './support/fixtures.ts';
import { ensureUser, listen, signIn } from './support/http-session.ts';
import { routesOf } from './support/route-table.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';

let env: TestEnv;
let server: Awaited<ReturnType<typeof listen>>;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  env = await createTestEnv();
  app = createApp(env.deps);
  server = await listen(app);
}, 60_000);
afterAll(async () => {
  await server?.close();
  await env?.close();
});

const TEMPLATE = {
  description: 'matrix', osTemplate: 'debian-12', cores: 1, memory: 512, swap: 0, disk: 4,
  unprivileged: true, nesting: false, tags: [], scripts: [], files: [], packages: [],
};

describe('role × route matrix', () => {
  it('every route declares one access rule', () => {
    const routes = routesOf(app);
    expect(routes.length).toBeGreaterThan(50);
    const missing = routes.filter((r) => !r.rule).map((r) => `${r.method} ${r.path}`);
    expect(missing).toEqual([]);
    // History (#17): every role reads it; an operator only their own containers' (404 below, /activity filtered in
    // test/history.test.ts).
    for (const path of ['/activity', '/containers/:id/history', '/containers/:id/attempts/:attempt']) {
      expect(routes).toContainEqual({ method: 'GET', path, rule: 'viewer' });
    }
    // Service health (#17): "Check now" is an action (its owner or an admin); every role sees the results on the page.
    expect(routes).toContainEqual({ method: 'POST', path: '/containers/:id/health', rule: 'operator' });
  });

  it('answers each role as its rule says, on every page, fragment, stream and POST', async () => {
    const users = {} as Record<Role, { id: number; cookie: string; csrf: string }>;
    for (const role of ROLES) {
      const user = await ensureUser(env.deps, `matrix-${role}`, `${role}-password-long`, role);
      users[role] = { id: user.id, ...(await signIn(server.baseUrl, user.username, `${role}-password-long`)) };
    }
    const node = await insertNode(env.deps);
    const operatorsOwn = await insertContainer(env.deps, users.operator.id, node.id, 'operators-own');
    const adminsOwn = await insertContainer(env.deps, users.admin.id, node.id, 'admins-own');
    const templateId = await env.deps.repos.templates.createCustom({ ...TEMPLATE, name: 'matrix-template' });
    const setId = await env.deps.repos.packageSets.create({ name: 'matrix-set', description: '' });
    expect(typeof templateId).toBe('number');

    const routes = routesOf(app).filter((r) => r.rule !== 'public');
    const counts = { allowed: 0, forbidden: 0, notFound: 0 };
    // Viewers and operators first: the admin's turn may delete or change what it is allowed to.
    for (const role of ['viewer', 'operator', 'admin'] as const) {
      for (const r of routes) {
        const containers = r.path.startsWith('/containers/:id') ? [operatorsOwn.id, adminsOwn.id] : [''];
        for (const containerId of containers) {
          const url = r.path
            .replace(':id', r.path.startsWith('/containers') ? containerId : r.path.startsWith('/users') ? String(users.viewer.id) : r.path.startsWith('/nodes') ? String(node.id) : r.path.startsWith('/package-sets') ? String(setId) : String(templateId))
            .replace(':step', 'template')
            .replace(':attempt', '1')
            .replace(':run', '6f1c2b7e-0000-4000-8000-000000000000');
          const stream = url.endsWith('/events');
          const abort = new AbortController();
          const res = await fetch(`${server.baseUrl}${url}`, {
            method: r.method,
            redirect: 'manual',
            signal: abort.signal,
            headers: {
              Cookie: users[role].cookie,
              ...(stream ? { Accept: 'text/event-stream' } : {}),
              ...(r.method === 'POST' ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {}),
            },
            body: r.method === 'POST' ? new URLSearchParams({ _csrf: users[role].csrf, confirm_hostname: 'nothing-matches' }) : undefined,
          });
          const text = stream && res.status === 200 ? '' : await res.text();
          abort.abort();
          const what = `${role} ${r.method} ${url}`;
          if (!hasRole(role, r.rule as Role)) {
            expect(res.status, what).toBe(403);
            expect(text, what).toContain(r.rule === 'admin' ? 'needs the admin role' : 'needs the operator or admin role');
            expect(text, what).toContain(`signed in as a${role === 'operator' ? 'n' : ''} ${role}`);
            counts.forbidden++;
          } else if (role === 'operator' && containerId === adminsOwn.id) {
            expect(res.status, what).toBe(404);
            counts.notFound++;
          } else {
            expect(res.status, `${what}: ${text.slice(0, 300)}`).not.toBe(403);
            expect([401, 500], what).not.toContain(res.status);
            counts.allowed++;
          }
        }
      }
    }
    console.log(`role × route matrix over ${routes.length} routes: ${JSON.stringify(counts)}`);
    expect(counts.forbidden).toBeGreaterThan(0);
    expect(counts.notFound).toBeGreaterThan(0);
  }, 120_000);

  it('rate-limits Fetch fingerprints per account', async () => {
    await ensureUser(env.deps, 'matrix-fetcher', 'fetcher-password-long', 'admin');
    const { cookie, csrf } = await signIn(server.baseUrl, 'matrix-fetcher', 'fetcher-password-long');
    const post = () => fetch(`${server.baseUrl}/nodes/fingerprints`, {
      method: 'POST', redirect: 'manual',
      headers: { Cookie: cookie, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf, api_url: '', ssh_host: '', ssh_port: '22' }),
    });
    for (let i = 0; i < 20; i++) expect((await post()).status).toBe(200);
    const refused = await post();
    expect(refused.status).toBe(429);
    expect(await refused.text()).toContain('Too many fingerprint fetches from this account');
  });
});
