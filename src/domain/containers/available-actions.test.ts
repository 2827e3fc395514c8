import { describe, expect, it } from 'vitest';
import { availableActions } from './available-actions.ts';
import type { LiveStatus, Viewer } from './container.ts';

const ct = (state: LiveStatus['state']): LiveStatus => ({ state });
const owner: Viewer = { id: 7, role: 'operator' };

describe('availableActions', () => {
  it.each([
    ['queued', undefined, ['cancel']],
    ['creating', undefined, ['cancel']],
    ['ready', ct('running'), ['shutdown', 'reboot', 'stop', 'destroy']],
    ['ready', ct('stopped'), ['start', 'destroy']],
    ['ready', ct('unknown'), ['destroy']],
    ['ready', { state: 'unknown', movedTo: 'pve2' }, ['follow']],
    ['ready', undefined, ['destroy']],
    ['ready', ct('missing'), ['forget']],
    ['ready', ct('template'), ['forget', 'destroy']],
    ['failed', ct('template'), ['forget', 'destroy']],
    ['cancelled', ct('template'), ['forget', 'destroy']],
    ['failed', ct('stopped'), ['retry', 'destroy']],
    ['failed', ct('none'), ['retry', 'destroy']],
    ['failed', ct('missing'), ['forget']],
    ['failed', ct('not-created'), ['retry', 'forget']],
    ['cancelled', ct('running'), ['retry', 'destroy']],
    ['destroying', undefined, []],
    ['destroyed', undefined, []],
  ] as const)('%s with the CT %o offers %o', (lifecycle, status, expected) => {
    expect(availableActions({ lifecycle, currentAction: null, ownerId: 7 }, status, owner)).toEqual(expected);
  });

  it('offers new settings instead of Retry when only they can mend the failure', () => {
    const failed = { lifecycle: 'failed', currentAction: null, ownerId: 7, failureKind: 'settings' } as const;
    expect(availableActions(failed, ct('stopped'), owner)).toEqual(['redeploy', 'destroy']);
    expect(availableActions(failed, ct('not-created'), owner)).toEqual(['redeploy', 'forget']);
    expect(availableActions({ ...failed, failureKind: null }, ct('stopped'), owner)).toEqual(['retry', 'destroy']);
  });

  it('offers nothing while an action holds the lock', () => {
    expect(availableActions({ lifecycle: 'ready', currentAction: 'reboot', ownerId: 7 }, ct('running'), owner)).toEqual([]);
  });

  it('offers an admin the same as the owner, and a viewer or another operator nothing', () => {
    const ready = { lifecycle: 'ready', currentAction: null, ownerId: 7 } as const;
    expect(availableActions(ready, ct('running'), { id: 1, role: 'admin' })).toEqual(['shutdown', 'reboot', 'stop', 'destroy']);
    expect(availableActions(ready, ct('running'), { id: 2, role: 'viewer' })).toEqual([]);
    expect(availableActions(ready, ct('running'), { id: 7, role: 'viewer' })).toEqual([]);
    expect(availableActions(ready, ct('running'), { id: 3, role: 'operator' })).toEqual([]);
  });
});
