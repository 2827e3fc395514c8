// SIMULATOR_ROOTFS: the setting, and what every page's badge says about the simulated CTs' root filesystem.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';
import { recordSimulatorRootfs, recordSimulatorSandbox } from '../src/domain/nodes/simulator-badge.ts';
import { signedInAgent } from './support/session.ts';
import { startTestSimulator } from './support/simulator-fixtures.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';
import { createTestApp } from './support/test-app.ts';

describe('SIMULATOR_ROOTFS and SIMULATOR_ROOTFS_CACHE', () => {
  it('default to auto (debian where it can run) and a cache under .data', () => {
    const c = loadConfig({});
    expect(c.simulatorRootfs).toBe('auto');
    expect(c.simulatorRootfsCache).toBe('.data/simulator/rootfs');
  });
  it('take debian or host and a cache directory', () => {
    expect(loadConfig({ SIMULATOR_ROOTFS: 'debian' }).simulatorRootfs).toBe('debian');
    expect(loadConfig({ SIMULATOR_ROOTFS: 'host', SIMULATOR_ROOTFS_CACHE: '/var/cache/launchpad/rootfs' })).toMatchObject({
      simulatorRootfs: 'host', simulatorRootfsCache: '/var/cache/launchpad/rootfs',
    });
  });
  it('refuse anything else, naming the variable', () => {
    expect(() => loadConfig({ SIMULATOR_ROOTFS: 'ubuntu' })).toThrow(ConfigError);
    expect(() => loadConfig({ SIMULATOR_ROOTFS: 'ubuntu' })).toThrow(/SIMULATOR_ROOTFS/);
  });
});

describe('the Simulator badge says which root filesystem CTs have', () => {
  let env: TestEnv;
  let simulator: Awaited<ReturnType<typeof startTestSimulator>>;
  beforeAll(async () => {
    env = await createTestEnv();
    simulator = await startTestSimulator(env.deps);
    await recordSimulatorSandbox(env.deps.repos.settings, true);
  });
  afterAll(async () => {
    await simulator?.close();
    await env?.close();
  });

  async function badge(): Promise<{ text: string; title: string }> {
    const app = createTestApp(env);
    const session = await signedInAgent(app, env.deps, { username: 'badge-viewer' });
    const page = await session.agent.get('/containers').expect(200);
    const match = /<span class="badge [^"]*" title="([^"]*)">(Simulator[^<]*)<\/span>/.exec(page.text);
    if (!match) throw new Error('no Simulator badge on the page');
    return { title: match[1]!, text: match[2]! };
  }

  it('Debian mode: real Debian 12 CTs', async () => {
    await recordSimulatorRootfs(env.deps.repos.settings, 'debian');
    const { text, title } = await badge();
    expect(text).toBe('Simulator · Debian 12');
    expect(title).toContain('each container is a real Debian 12 root filesystem');
  });

  it('host mode: packages simulated, and why Debian mode is not used', async () => {
    await recordSimulatorRootfs(env.deps.repos.settings, 'host: mmdebstrap not installed (apt-get install mmdebstrap)');
    const { text, title } = await badge();
    expect(text).toBe('Simulator · packages simulated');
    expect(title).toContain('packages are recorded, not installed, and services are simulated (mmdebstrap not installed (apt-get install mmdebstrap))');
  });
});
