// How politely the wizard treats the node: every request it makes is counted at the simulator, step by step, for one
// complete walk-through as a browser without JavaScript makes it (each page, each Continue, Deploy). A step may ask
// each endpoint at most once; lists a step before already read come from the short per-node cache.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import type { TemplateDefinition } from '../src/domain/templates/template.ts';
import type { RecordedRequest } from '../src/simulator/index.ts';
import { signedInAgent } from './support/session.ts';
import { startTestSimulator } from './support/simulator-fixtures.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';

let env: TestEnv;
let app: ReturnType<typeof createApp>;
let sim: Awaited<ReturnType<typeof startTestSimulator>>;
let templateId: number;

const DEBIAN = 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst';

const TEMPLATE: TemplateDefinition = {
  name: 'polite-web',
  description: 'Counting node calls',
  osTemplate: 'debian-12',
  cores: 1,
  memory: 512,
  swap: 512,
  disk: 4,
  unprivileged: true,
  nesting: false,
  tags: [],
  scripts: [{ name: '10-a.sh', position: 1, content: 'echo a\n', enabled: true }],
  files: [],
  packages: [{ manager: 'apt', name: 'nginx', version: null }],
};

beforeAll(async () => {
  env = await createTestEnv();
  app = createApp({ ...env.deps, loginLimits: { perIp: 1000, perAccount: 50, prefix: `${env.prefix}rl:` } });
  sim = await startTestSimulator(env.deps);
  const created = await env.deps.repos.templates.createCustom(TEMPLATE);
  if (created === 'taken') throw new Error('template name taken');
  templateId = created;
});

afterAll(async () => {
  await env?.deps.queue.obliterate({ force: true }).catch(() => undefined);
  await sim?.close();
  await env?.close();
});

type Fields = Record<string, string | string[]>;

function encode(fields: Fields): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(fields)) for (const v of Array.isArray(value) ? value : [value]) params.append(key, v);
  return params.toString();
}

const lastSeq = () => sim.sim.requests.at(-1)?.seq ?? 0;
const endpoint = (r: RecordedRequest) => `${r.method} ${r.path}`;

/** Node calls per endpoint (method and path; the query is not part of it) made while `action` ran. */
async function callsDuring(action: () => Promise<unknown>): Promise<Record<string, number>> {
  const mark = lastSeq();
  await action();
  const counts: Record<string, number> = {};
  for (const r of sim.sim.requests.filter((q) => q.seq > mark)) counts[endpoint(r)] = (counts[endpoint(r)] ?? 0) + 1;
  return counts;
}

const inputValue = (html: string, name: string) => new RegExp(`name="${name}" type="[a-z]+" value="([^"]*)"`).exec(html)?.[1];
const errorsIn = (html: string) => [...html.matchAll(/id="e-([^"]+)"[^>]*>([^<]*)</g)].map((m) => `${m[1]}: ${m[2]}`).join('\n');

describe('one walk-through of the wizard', () => {
  it.each([
    ['the proposed VMID', false],
    ['a typed VMID', true],
  ])('asks each node endpoint at most once per step (%s)', async (_label, typedVmid) => {
    const session = await signedInAgent(app, env.deps, { username: 'polite' });
    const csrf = await session.csrf();
    const get = async (url: string) => {
      const res = await session.agent.get(url);
      expect(res.status, url).toBe(200);
      return res.text;
    };
    const post = async (url: string, fields: Fields) => {
      const res = await session.agent.post(url).type('form').send(encode({ _csrf: csrf, ...fields }));
      expect(res.status, `${url}: ${errorsIn(res.text)}`).toBe(303);
      return res.headers.location as string;
    };

    const steps: Record<string, Record<string, number>> = {};
    let page = '';
    steps['GET template'] = await callsDuring(async () => (page = await get('/containers/new/template')));
    steps['POST template'] = await callsDuring(() => post('/containers/new/template', { template: String(templateId) }));
    steps['GET configure'] = await callsDuring(async () => (page = await get('/containers/new/configure')));
    const proposed = inputValue(page, 'vmid') ?? '';
    expect(proposed).toMatch(/^\d+$/);
    const vmid = typedVmid ? String(Number(proposed) + 50) : proposed;
    steps['POST configure'] = await callsDuring(() =>
      post('/containers/new/configure', {
        node: 'sim', ostemplate: DEBIAN, storage: 'local-lvm', vmid, vmid_suggested: proposed, hostname: `polite-${typedVmid ? 't' : 'p'}`,
        password: 'correct horse 1', password_confirm: 'correct horse 1', ssh_public_key: '', cores: '1', memory: '512', swap: '512', disk: '4',
        bridge: 'vmbr0', ip_mode: 'dhcp', ip: '', gateway: '', nameserver: '', unprivileged: ['0', '1'], nesting: '0', destroy_on_failure: '0', tags: '',
      }),
    );
    steps['GET packages'] = await callsDuring(() => get('/containers/new/packages'));
    steps['POST packages'] = await callsDuring(() => post('/containers/new/packages', { package_groups: 'apt', extra_packages: '' }));
    steps['GET scripts'] = await callsDuring(() => get('/containers/new/scripts'));
    steps['POST scripts'] = await callsDuring(() => post('/containers/new/scripts', { order: '10-a.sh', scripts: '10-a.sh' }));
    steps['GET review'] = await callsDuring(async () => (page = await get('/containers/new/review')));
    const deployId = /name="deploy_id" value="([0-9a-f-]{36})"/.exec(page)![1]!;
    steps['POST /containers (Deploy)'] = await callsDuring(async () => {
      expect(await post('/containers', { deploy_id: deployId })).toBe(`/containers/${deployId}`);
    });

    // The figures for the record (docs and the integrator's note).
    console.info(`node calls of one walk-through with ${_label}:\n${JSON.stringify(steps, null, 1)}`);
    for (const [step, counts] of Object.entries(steps)) {
      for (const [call, n] of Object.entries(counts)) expect(n, `${step}: ${call}`).toBeLessThanOrEqual(1);
    }
    // The pages that do not depend on the node do not ask it anything.
    for (const step of ['GET template', 'POST template', 'GET packages', 'POST packages', 'GET scripts', 'POST scripts', 'GET review']) {
      expect(steps[step], step).toEqual({});
    }
    // What must be asked live is: the VMID (a check, never cached).
    expect(steps['POST configure']!['GET /cluster/nextid']).toBe(1);
    expect(steps['POST /containers (Deploy)']!['GET /cluster/nextid']).toBe(1);
  });
});
