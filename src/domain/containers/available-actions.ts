// Which actions a container offers right now. The detail page, the stream's final panel and the list all ask this
// one function, so they cannot disagree (the list once had no Stop, the stream's panel once offered Start on a
// running CT). A new power action is added to POWER_ACTIONS (vocabulary), to the rule below and to the pipeline.
// It also asks who is looking: a viewer (or anyone but the owner or an admin) is offered nothing, so no template
// has to hide buttons on its own.
import { mayActOn } from '../roles.ts';
import type { Container, LiveStatus, Viewer } from './container.ts';
import type { PowerAction } from './lifecycle-actions.ts';

/**
 * What a user may do to a container: the power actions, the build's own (cancel, retry, destroy, forget), and follow
 * (a CT migrated to another node). `redeploy`: open the wizard with this container's settings — in place of Retry
 * when only new settings can mend the failure (Retry goes with a link to it otherwise, in the view).
 */
export type ContainerAction = PowerAction | 'cancel' | 'retry' | 'redeploy' | 'destroy' | 'forget' | 'follow';

/** Power actions by what the CT is doing; a CT whose state is unknown offers none (the node may not even answer). */
const POWER_BY_STATE: Partial<Record<LiveStatus['state'], readonly PowerAction[]>> = {
  running: ['shutdown', 'reboot', 'stop'],
  stopped: ['start'],
};

/**
 * The actions to offer `viewer`, in the order they are shown. `ct` is what Proxmox says right now (undefined when
 * nobody asked). While an action holds the container's lock, nothing is offered: the page says what is in progress.
 */
export function availableActions(
  container: Pick<Container, 'lifecycle' | 'currentAction' | 'ownerId'> & Partial<Pick<Container, 'failureKind'>>,
  ct: LiveStatus | undefined,
  viewer: Viewer,
): ContainerAction[] {
  if (!mayActOn(viewer, container.ownerId)) return [];
  if (container.currentAction) return [];
  const state = ct?.state;
  // No CT on the node (removed outside Launchpad, another guest at its VMID, or never created): Destroy has nothing
  // to remove, so Forget replaces it.
  const gone = state === 'missing' || state === 'not-created';
  // A CT converted to a template never starts again, nor can a build go on in it: no power action and no Retry.
  // Forget leaves the template in Proxmox for whoever made it; Destroy removes it.
  const template = state === 'template';
  switch (container.lifecycle) {
    case 'queued':
    case 'creating':
      return ['cancel'];
    case 'ready':
      if (template) return ['forget', 'destroy'];
      // Migrated to another node of the cluster outside Launchpad: nothing is sent to it until the entry follows it.
      if (ct?.movedTo) return ['follow'];
      return gone ? ['forget'] : [...((state && POWER_BY_STATE[state]) ?? []), 'destroy'];
    case 'failed':
    case 'cancelled': {
      if (template) return ['forget', 'destroy'];
      // A failure Retry would only repeat (a package apt does not know): the way out is new settings.
      const again = container.lifecycle === 'failed' && container.failureKind === 'settings' ? 'redeploy' : 'retry';
      if (state === 'not-created') return [again, 'forget'];
      return gone ? ['forget'] : [again, 'destroy'];
    }
    case 'destroying':
    case 'destroyed':
      return [];
  }
}
