// A supertest agent signed in through the real /login form (cookie jar + CSRF), for page tests.
// Build the app with its own loginLimits prefix (createApp({ ...deps, loginLimits: { …, prefix: `${env.prefix}rl:` } }))
// so parallel test files do not share the per-address sign-in budget.
import type { Express } from 'express';
import supertest from 'supertest';
import type { Deps } from '../../src/deps.ts';
import { hashPassword } from '../../src/domain/passwords.ts';

const hiddenCsrf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1];
const metaCsrf = (html: string) => /<meta name="csrf-token" content="([^"]+)"/.exec(html)?.[1];

export interface SignedInAgent {
  agent: ReturnType<typeof supertest.agent>;
  /** A CSRF token for this session, read from the `<meta name="csrf-token">` of a page (default /containers). */
  csrf(page?: string): Promise<string>;
}

/** Creates the user (an admin) unless it exists, signs in, and returns the agent holding the session cookie. */
export async function signedInAgent(
  app: Express,
  deps: Deps,
  { username = 'tester', password = 'correct horse battery staple' }: { username?: string; password?: string } = {},
): Promise<SignedInAgent> {
  if (!(await deps.repos.users.findByUsername(username))) {
    await deps.repos.users.create({ username, passwordHash: await hashPassword(password), role: 'admin' });
  }
  const agent = supertest.agent(app);
  const login = await agent.get('/login');
  const token = hiddenCsrf(login.text);
  if (login.status !== 200 || !token) throw new Error(`GET /login answered ${login.status} without a _csrf field`);
  const res = await agent.post('/login').type('form').send({ _csrf: token, username, password });
  if (res.status !== 303) throw new Error(`sign-in as ${username} failed with ${res.status}`);
  return {
    agent,
    async csrf(page = '/containers') {
      const res = await agent.get(page);
      const csrf = metaCsrf(res.text);
      if (!csrf) throw new Error(`GET ${page} answered ${res.status} without a csrf-token meta tag`);
      return csrf;
    },
  };
}
