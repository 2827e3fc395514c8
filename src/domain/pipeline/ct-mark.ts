// Launchpad marks every CT it creates, in the config Proxmox keeps with the guest: the tag `launchpad` and a line
// `launchpad-container: <container id>` in its description. A VMID alone proves nothing — a CT removed outside
// Launchpad leaves its number free for someone else's guest — so adopting a CT on resume, every power action and
// destroy read the CT's config first and go on only when the mark is this container's.
import type { ProxmoxClient } from '../../proxmox/api-client.ts';
import type { LxcConfig } from '../../proxmox/api-types.ts';
import { StepError } from './pipeline-errors.ts';
import type { Container } from '../containers/container.ts';

export const MARK_TAG = 'launchpad';
const MARK_LINE = /^launchpad-container: ([0-9a-f-]{36})[ \t]*$/m;

/** The tags a marked CT carries: the user's, plus `launchpad`. */
export function markedTags(tags: readonly string[]): string[] {
  return tags.includes(MARK_TAG) ? [...tags] : [...tags, MARK_TAG];
}

/** The description a marked CT carries: what was there, then our line (shown in the CT's Summary in Proxmox). */
export function markedDescription(containerId: string, existing?: string): string {
  const kept = (existing ?? '').replace(/\s+$/, '');
  return `${kept ? `${kept}\n\n` : ''}Created by Launchpad; Launchpad acts on this CT only while this line is here.\nlaunchpad-container: ${containerId}\n`;
}

/** The container id a CT's config is marked with, if any. */
export function markOf(config: Pick<LxcConfig, 'description'>): string | undefined {
  return MARK_LINE.exec(config.description ?? '')?.[1];
}

/** The VMID holds a guest that is not this container's: nothing may be sent to it. */
export class ForeignGuestError extends StepError {
  constructor(
    readonly vmid: number,
    readonly nodeName: string,
    readonly guest: string,
    hostname: string,
  ) {
    super(
      `CT ${vmid} on ${nodeName} is now “${guest}”, not ${hostname}: it belongs to another guest, so Launchpad leaves it alone. ` +
        `Use “Forget this entry” to drop this entry (nothing is sent to the node).`,
    );
  }
}

/**
 * Reads the CT's config and returns it when the CT is this container's; throws ForeignGuestError otherwise. A
 * container recorded before marks existed is accepted only when hostname and VMID both match, and is marked then.
 */
export async function confirmOwnCt(api: ProxmoxClient, nodeName: string, container: Pick<Container, 'id' | 'hostname' | 'marksCt'>, vmid: number): Promise<LxcConfig> {
  const config = await api.getLxcConfig(nodeName, vmid);
  if (config.lock === 'create') {
    throw new StepError(`CT ${vmid} on ${nodeName} is still being created (locked); Launchpad cannot tell whose it is yet. Try again in a minute.`);
  }
  const mark = markOf(config);
  if (mark === container.id) return config;
  const guest = config.hostname ?? `CT ${vmid}`;
  if (mark === undefined && !container.marksCt && config.hostname === container.hostname) {
    // The digest refuses the change if someone edited the config since we read it.
    await api.updateLxcConfig(nodeName, vmid, { tags: markedTags(config.tags), description: markedDescription(container.id, config.description), digest: config.digest });
    return api.getLxcConfig(nodeName, vmid);
  }
  throw new ForeignGuestError(vmid, nodeName, guest, container.hostname);
}
