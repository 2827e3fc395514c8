// The actions that take a container's lock, and how each reads in the UI. A leaf module of the container vocabulary:
// the pipeline performs these actions, the web side offers and queues them, the repository stores the lock.

export const POWER_ACTIONS = ['start', 'stop', 'shutdown', 'reboot'] as const;
export type PowerAction = (typeof POWER_ACTIONS)[number];
/** Everything that may hold a container's action lock: the power actions run as jobs, the others in the request. */
export type LockingAction = PowerAction | 'destroy' | 'forget' | 'retry' | 'follow';

export const isPowerAction = (value: unknown): value is PowerAction => (POWER_ACTIONS as readonly unknown[]).includes(value);

/** A clean shutdown gets this long before Proxmox stops the CT hard (forceStop), in seconds. */
export const SHUTDOWN_TIMEOUT_S = 60;

/** How each action reads: “A reboot is in progress”, “Rebooting CT 101…”, the button's label and its tooltip. */
export const ACTION_WORDS: Record<LockingAction, { noun: string; doing: string; label: string; hint?: string }> = {
  start: { noun: 'start', doing: 'Starting', label: 'Start', hint: 'Start the CT' },
  stop: { noun: 'stop', doing: 'Stopping', label: 'Stop', hint: 'Hard stop, like pulling the plug' },
  shutdown: { noun: 'shutdown', doing: 'Shutting down', label: 'Shut down', hint: `Clean shutdown; stopped hard after ${SHUTDOWN_TIMEOUT_S} s` },
  reboot: { noun: 'reboot', doing: 'Rebooting', label: 'Reboot', hint: 'Clean reboot' },
  destroy: { noun: 'destroy', doing: 'Destroying', label: 'Destroy' },
  forget: { noun: 'forget', doing: 'Forgetting', label: 'Forget' },
  retry: { noun: 'retry', doing: 'Retrying', label: 'Retry' },
  follow: { noun: 'follow', doing: 'Following', label: 'Follow', hint: 'Manage it on the node it was migrated to' },
};

/**
 * Why an action cannot start while another holds the lock, naming who asked and when: “A reboot is in progress,
 * requested by alice 40 s ago.” (“Your reboot…” when it is the reader's own.)
 */
export function actionInProgress(
  held: { currentAction: LockingAction; currentActionAt: Date | null; currentActionBy: string | null },
  readerUsername: string,
  now = Date.now(),
): string {
  const noun = ACTION_WORDS[held.currentAction].noun;
  const seconds = held.currentActionAt ? Math.max(0, Math.round((now - held.currentActionAt.getTime()) / 1000)) : undefined;
  const when = seconds === undefined ? '' : seconds < 90 ? ` ${seconds} s ago` : ` ${Math.round(seconds / 60)} min ago`;
  if (!held.currentActionBy) return `A ${noun} is in progress.`;
  if (held.currentActionBy === readerUsername) return `Your ${noun} is in progress (requested${when}).`;
  return `A ${noun} is in progress, requested by ${held.currentActionBy}${when}.`;
}
