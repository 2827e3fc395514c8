// The API tokens (on /account) are found where people look: a plain link in every signed-in page's header and the
// account page's own "On this page" links, not only behind the username.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { signedInAgent, type SignedInAgent } from './support/session.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';

let env: TestEnv;
let viewer: SignedInAgent;

beforeAll(async () => {
  env = await createTestEnv();
  const app = createApp(env.deps);
  viewer = await signedInAgent(app, env.deps, { username: 'reader', password: 'reader-password-long' });
  await env.deps.knex('users').where({ username: 'reader' }).update({ role: 'viewer' });
}, 60_000);
afterAll(() => env?.close());

const headerOf = (html: string) => html.slice(html.indexOf('<header'), html.indexOf('</header>'));

describe('finding the API tokens', () => {
  it.each(['/containers', '/templates', '/account'])('%s links them in the header, by name', async (path) => {
    const res = await viewer.agent.get(path).expect(200);
    expect(headerOf(res.text)).toMatch(/<a href="\/account#api-tokens"[^>]*>API tokens<\/a>/);
  });

  it('the account page links its two parts, and the tokens section is where the link points', async () => {
    const res = await viewer.agent.get('/account').expect(200);
    const nav = /<nav aria-label="On this page"[\s\S]*?<\/nav>/.exec(res.text)?.[0] ?? '';
    expect(nav).toContain('href="#password"');
    expect(nav).toContain('href="#api-tokens"');
    expect(res.text).toContain('<form id="password"');
    expect(res.text).toContain('<section id="api-tokens"');
  });
});
