import type { NodesRepository } from '../../db/nodes-repository.ts';
import type { SettingsRepository } from '../../db/settings-repository.ts';

const SANDBOX_KEY = 'simulator_sandboxed';

/** `npm start` records whether the simulator runs commands for real (bubblewrap) or only pretends. */
export async function recordSimulatorSandbox(settings: SettingsRepository, sandboxed: boolean): Promise<void> {
  await settings.set(SANDBOX_KEY, sandboxed ? '1' : '0');
}

/** What every page's "Simulator" badge says, or undefined when no simulated node is configured. */
export async function simulatorBadge(repos: { nodes: NodesRepository; settings: SettingsRepository }) {
  const simulated = (await repos.nodes.list()).filter((n) => n.isSimulator);
  if (simulated.length === 0) return undefined;
  const sandboxed = (await repos.settings.get(SANDBOX_KEY)) !== '0';
  return {
    sandboxed,
    title: sandboxed
      ? `Node ${simulated.map((n) => n.name).join(', ')} is the embedded Proxmox VE simulator: containers are directories on this machine and scripts run in a bubblewrap sandbox.`
      : `Node ${simulated.map((n) => n.name).join(', ')} is the embedded Proxmox VE simulator without bubblewrap: commands are not run, their output is simulated.`,
  };
}
