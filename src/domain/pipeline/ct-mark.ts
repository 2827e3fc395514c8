// Launchpad marks every CT it creates, in the config Proxmox keeps with the guest: the tag `launchpad` and a line
// `launchpad-container: <container id>` in its description. A VMID alone proves nothing — a CT removed outside
// Launchpad leaves its number free for someone else's guest — so adopting a CT on resume, every power action,
// destroy and every health check read the CT's config first and go on only when the mark is this container's. The
// mark is the only proof: the tag and the hostname are hints (anyone may edit them in the Proxmox UI).
import type { ProxmoxClient } from '../../proxmox/api-client.ts';
import type { LxcConfig, LxcStatus } from '../../proxmox/api-types.ts';
import { ProxmoxApiError } from '../../proxmox/errors.ts';
import { parseUpid } from '../../proxmox/upid.ts';
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
    /** Set when the guest may be this container's after all but nothing proves it (a row from before marks). */
    unproven?: { containerId: string },
  ) {
    super(
      unproven
        ? `CT ${vmid} on ${nodeName} (“${guest}”) carries no Launchpad mark, and its node's task history cannot show that it is the CT Launchpad ` +
            `created for ${hostname} rather than one made again at the same VMID, so Launchpad leaves it alone. If it is this container's CT, ` +
            `add the line “launchpad-container: ${unproven.containerId}” to its Notes in Proxmox and try again; if it is not, use “Forget this entry”.`
        : `CT ${vmid} on ${nodeName} is now “${guest}”, not ${hostname}: it belongs to another guest, so Launchpad leaves it alone. ` +
            `Use “Forget this entry” to drop this entry (nothing is sent to the node).`,
    );
  }
}

/** This container's CT is on another node of the cluster than the one Launchpad made it on: someone migrated it. */
export class CtMovedError extends StepError {
  constructor(
    readonly vmid: number,
    readonly nodeName: string,
    readonly movedTo: string,
  ) {
    super(
      `CT ${vmid} is now on node ${movedTo}, not ${nodeName}: it was migrated outside Launchpad, which acts on it only on ${nodeName}. ` +
        `Use “Follow it to ${movedTo}” on its page (${movedTo} must be one of Launchpad's nodes), or migrate it back to ${nodeName} in Proxmox; then try again.`,
    );
  }
}

type Owner = Pick<Container, 'id' | 'hostname' | 'marksCt' | 'createUpid'>;

/** Whether a CT's config may be this container's: its mark, or — for a row recorded before marks — its hostname. */
export function mayBeOwnConfig(config: Pick<LxcConfig, 'description' | 'hostname'>, container: Pick<Container, 'id' | 'hostname' | 'marksCt'>): boolean {
  const mark = markOf(config);
  return mark === container.id || (mark === undefined && !container.marksCt && config.hostname === container.hostname);
}

/**
 * Reads the CT's config and returns it when the CT is this container's; throws ForeignGuestError otherwise. A
 * container recorded before marks existed is adopted (and marked) only when hostname and VMID both match and the
 * node's task history shows its own create task as the last one that made a guest at that VMID.
 */
export async function confirmOwnCt(api: ProxmoxClient, nodeName: string, container: Owner, vmid: number): Promise<LxcConfig> {
  const config = await api.getLxcConfig(nodeName, vmid);
  if (config.lock === 'create') {
    const stale = await staleCreateLock(api, nodeName, container, vmid);
    if (stale) throw new StepError(stale);
    throw new StepError(`CT ${vmid} on ${nodeName} is still being created (locked); Launchpad cannot tell whose it is yet. Try again in a minute.`);
  }
  const mark = markOf(config);
  if (mark === container.id) return config;
  const guest = config.hostname ?? `CT ${vmid}`;
  if (mark === undefined && !container.marksCt && config.hostname === container.hostname) {
    if (!(await lastMadeBy(api, nodeName, vmid, container.createUpid))) {
      throw new ForeignGuestError(vmid, nodeName, guest, container.hostname, { containerId: container.id });
    }
    // The digest refuses the change if someone edited the config since we read it.
    await api.updateLxcConfig(nodeName, vmid, { tags: markedTags(config.tags), description: markedDescription(container.id, config.description), digest: config.digest });
    return api.getLxcConfig(nodeName, vmid);
  }
  throw new ForeignGuestError(vmid, nodeName, guest, container.hostname);
}

/**
 * A `lock: create` that nothing will ever release: this container's create task has ended, yet the CT at `vmid` still
 * holds the lock. A vzcreate removes the lock (or, failing, the whole config) before its task ends; a node restarted
 * or a worker killed during the create leaves the config behind, locked (pve-container API2/LXC.pm create_vm), and
 * Proxmox refuses everything on it until an admin unlocks it. Returns what to do, or undefined while the lock may
 * still be released (the task runs, or is not this container's).
 */
export async function staleCreateLock(api: ProxmoxClient, nodeName: string, container: Pick<Container, 'createUpid'>, vmid: number): Promise<string | undefined> {
  const upid = container.createUpid;
  if (!upid || parseUpid(upid)?.id !== String(vmid)) return undefined;
  const task = await api.getTaskStatus(upid);
  // Read again after the task's end: a create that just finished released the lock before its task ended.
  if (task.status !== 'stopped' || (await api.getLxcConfig(nodeName, vmid)).lock !== 'create') return undefined;
  return (
    `CT ${vmid} on ${nodeName} is still locked (create), but its create task has ended (${task.exitstatus ?? 'no exit status'}): the create was cut short ` +
    `(the node restarted, or the task was killed) and Proxmox left the half-made CT behind, locked; nothing will unlock it. On ${nodeName}, ` +
    `remove it — pct unlock ${vmid} && pct destroy ${vmid} — then Retry.`
  );
}

/**
 * Whether `createUpid` is, by the node's task history, the last task that made a guest at `vmid`: it is listed, and
 * no create or restore for that VMID started after it. Unknowable without the UPID (or once the node has rotated it
 * out of its task archive), and then false. A restore into a free VMID makes a guest too.
 */
async function lastMadeBy(api: ProxmoxClient, nodeName: string, vmid: number, createUpid: string | null): Promise<boolean> {
  const since = createUpid ? parseUpid(createUpid)?.starttime : undefined;
  if (!createUpid || since === undefined) return false;
  const [[created, ...laterCreates], restores] = await Promise.all([
    api.findTasks(nodeName, { vmid, type: 'vzcreate', since }),
    api.findTasks(nodeName, { vmid, type: 'vzrestore', since }),
  ]);
  return created === createUpid && laterCreates.length === 0 && restores.length === 0;
}

/**
 * This container's CT on its node, as the node lists it (with its live status), once its mark is confirmed
 * (confirmOwnCt); undefined when the node holds no CT at `vmid`. `/nodes/{node}/lxc` lists only that node's guests,
 * so a CT someone migrated to another node of the cluster would look deleted: before "gone" is believed, the
 * cluster's list is asked, and this container's CT found elsewhere throws CtMovedError.
 */
export async function findOwnCt(api: ProxmoxClient, nodeName: string, container: Owner, vmid: number): Promise<LxcStatus | undefined> {
  const ct = (await api.listLxc(nodeName)).find((c) => c.vmid === vmid);
  if (ct) {
    await confirmOwnCt(api, nodeName, container, vmid);
    return ct;
  }
  await refuseIfMoved(api, nodeName, container, vmid);
  return undefined;
}

/** Throws CtMovedError when the cluster's list has this container's CT at `vmid` on another node than `nodeName`. */
export async function refuseIfMoved(api: ProxmoxClient, nodeName: string, container: Owner, vmid: number): Promise<void> {
  const elsewhere = (await api.listClusterVms()).find((g) => g.type === 'lxc' && g.vmid === vmid && g.node !== nodeName);
  if (elsewhere && mayBeOwnConfig(await api.getLxcConfig(elsewhere.node, vmid), container)) throw new CtMovedError(vmid, nodeName, elsewhere.node);
}

/**
 * During a build, before each phase after Create, while waiting for the CT and before each install and script: the
 * CT at the VMID must still be this container's. Someone may delete it and make another guest at the same number
 * (`/cluster/nextid` hands a freed VMID out at once), and the build must not go on inside that guest.
 */
export async function confirmStillOwnCt(api: ProxmoxClient, nodeName: string, container: Owner, vmid: number): Promise<void> {
  try {
    await confirmOwnCt(api, nodeName, container, vmid);
  } catch (err) {
    if (err instanceof ProxmoxApiError && /^Configuration file '[^']*' does not exist/.test(err.message)) {
      throw new StepError(`CT ${vmid} no longer exists on ${nodeName}: it was removed outside Launchpad during the build. Use “Forget this entry” to drop this entry.`);
    }
    throw err;
  }
}
