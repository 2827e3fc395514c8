// Issue 14 finding 4: a script's `register_service svc 8080 'javascript:alert(7)'` was rendered as
// href="javascript:…" on the container page. Only http: and https: addresses become links; others are text.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCreatePipeline } from '../src/domain/pipeline/pipeline-runner.ts';
import { signedInAgent, type SignedInAgent } from './support/session.ts';
import { insertDeployment, startTestSimulator } from './support/simulator-fixtures.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';
import { createTestApp } from './support/test-app.ts';
import { testPipelineDeps } from './support/pipeline-deps.ts';

let env: TestEnv;
let simulator: Awaited<ReturnType<typeof startTestSimulator>>;
let session: SignedInAgent;

beforeAll(async () => {
  env = await createTestEnv();
  simulator = await startTestSimulator(env.deps);
  const app = createTestApp(env, { perAccount: 5 });
  session = await signedInAgent(app, env.deps);
}, 60_000);
afterAll(async () => {
  await simulator?.close();
  await env?.close();
});

describe('services a script registers', () => {
  it('link only http(s) addresses; javascript:, data: and the like are shown as text', async () => {
    const owner = (await env.deps.repos.users.findByUsername('tester'))!;
    // From scratch: the only script is the one registering the services.
    const c = await insertDeployment(env.deps, { ownerId: owner.id, nodeId: simulator.node.id });
    const services = {
      name: '50-services.sh',
      content: [
        'set -euo pipefail',
        "register_service evil 8080 'javascript:alert(7)'",
        "register_service blob 8081 'data:text/html,<script>alert(8)</script>'",
        "register_service sneaky 8082 'JavaScript:alert(9)'",
        'register_service site 80 http://10.0.0.5/',
        'register_service admin 443 https://10.0.0.5/admin',
        '',
      ].join('\n'),
    };
    const config = c.config as { scripts: string[]; template: { scripts: Array<{ name: string; content: string }> } };
    await env.deps.knex('containers').where({ id: c.id }).update({
      config: { ...config, scripts: [...config.scripts, services.name], template: { ...config.template, scripts: [...config.template.scripts, services] } },
    });
    expect(await runCreatePipeline(testPipelineDeps(env), c.id, new AbortController().signal)).toBe('ready');

    const page = await session.agent.get(`/containers/${c.id}`);
    expect(page.status).toBe(200);
    const hrefs = [...page.text.matchAll(/href="([^"]*)"/g)].map((m) => m[1]!);
    expect(hrefs.filter((h) => /^\s*(javascript|data|vbscript):/i.test(h))).toEqual([]);
    expect(hrefs).toContain('http://10.0.0.5/');
    expect(hrefs).toContain('https://10.0.0.5/admin');
    // The address is still shown, as text.
    expect(page.text).toContain('(javascript:alert(7))');
    expect(page.text).toContain('(data:text/html,&lt;script&gt;alert(8)&lt;/script&gt;)');
    const log = (await env.deps.repos.events.listAfter(c.id, 0, 100_000)).map((e) => e.text ?? '').join('\n');
    expect(log).toMatch(/^Service evil on port 8080 \(javascript:alert\(7\) — not an http:\/\/ or https:\/\/ address, shown as text, not as a link\)/m);
  }, 60_000);
});
