import type { NodesRepository } from '../../db/nodes-repository.ts';
import type { SettingsRepository } from '../../db/settings-repository.ts';

const SANDBOX_KEY = 'simulator_sandboxed';
const ROOTFS_KEY = 'simulator_rootfs';

/** `npm start` records whether the simulator runs commands for real (bubblewrap) or only pretends. */
export async function recordSimulatorSandbox(settings: SettingsRepository, sandboxed: boolean): Promise<void> {
  await settings.set(SANDBOX_KEY, sandboxed ? '1' : '0');
}

/** `npm start` records which root filesystem simulated CTs have: `debian`, or `host: <why not debian>`. */
export async function recordSimulatorRootfs(settings: SettingsRepository, value: string): Promise<void> {
  await settings.set(ROOTFS_KEY, value);
}

/** false when the simulator was started without bubblewrap: commands inside its CTs are not run, only echoed. */
export async function simulatorRunsCommands(settings: SettingsRepository): Promise<boolean> {
  return (await settings.get(SANDBOX_KEY)) !== '0';
}

/** The one command that makes the simulator run template scripts for real. */
export const SANDBOX_FIX = 'apt-get install bubblewrap';

/** What every page's "Simulator" badge (and, without bubblewrap, banner) says; undefined without a simulated node. */
export async function simulatorBadge(repos: { nodes: NodesRepository; settings: SettingsRepository }) {
  const simulated = (await repos.nodes.list()).filter((n) => n.isSimulator);
  if (simulated.length === 0) return undefined;
  const sandboxed = await simulatorRunsCommands(repos.settings);
  const rootfsSetting = (await repos.settings.get(ROOTFS_KEY)) ?? 'host';
  const rootfs: 'debian' | 'host' = rootfsSetting === 'debian' ? 'debian' : 'host';
  const names = simulated.map((n) => n.name).join(', ');
  const title = rootfs === 'debian'
    ? `Node ${names} is the embedded Proxmox VE simulator: each container is a real Debian 12 root filesystem on this machine, running in its own namespaces; packages are really installed and services really run.`
    : sandboxed
      ? `Node ${names} is the embedded Proxmox VE simulator: containers are directories on this machine and scripts run in a bubblewrap sandbox; packages are recorded, not installed, and services are simulated (${rootfsSetting.replace(/^host:?\s*/, '') || 'SIMULATOR_ROOTFS=host'}).`
      : `Node ${names} is the embedded Proxmox VE simulator without bubblewrap: commands are not run, their output is simulated.`;
  // Without bubblewrap (host mode only: Debian-mode CTs need none) every page's banner offers the fix.
  const fix = rootfs === 'host' && !sandboxed ? { nodes: names, command: SANDBOX_FIX } : undefined;
  return { sandboxed, rootfs, title, fix };
}

/** What start-up says about the simulator: why it runs, and whether scripts really run in it. */
export function simulatorStartupMessage(s: { nodeName: string; sandboxed: boolean; rootfs: 'debian' | 'host'; realNodes: string[] }): string {
  const why = s.realNodes.length
    ? `PVE_SIMULATOR=on, so node "${s.nodeName}" is the embedded Proxmox VE simulator, running beside the configured node${s.realNodes.length > 1 ? 's' : ''} ${s.realNodes.map((n) => `"${n}"`).join(', ')}. Set PVE_SIMULATOR=auto (or off) and restart to run without it.`
    : `no Proxmox node is configured, so node "${s.nodeName}" is the embedded Proxmox VE simulator. Add a real node under Nodes and restart to use a cluster.`;
  if (s.rootfs === 'debian') return `SIMULATOR: ${why} Each CT is a Debian 12 root filesystem under .data/simulator running in its own namespaces.`;
  return s.sandboxed
    ? `SIMULATOR: ${why} Scripts run in bubblewrap sandboxes under .data/simulator.`
    : `SIMULATOR: ${why} Bubblewrap is missing: commands are NOT run, every line of their output says "simulated". Install bubblewrap (apt-get install bubblewrap) to run template scripts for real.`;
}
