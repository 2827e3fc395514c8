import { describe, expect, it } from 'vitest';
import { availableActions } from './available-actions.ts';
import type { LiveStatus } from './container.ts';

const ct = (state: LiveStatus['state']): LiveStatus => ({ state });

describe('availableActions', () => {
  it.each([
    ['queued', undefined, ['cancel']],
    ['creating', undefined, ['cancel']],
    ['ready', ct('running'), ['shutdown', 'reboot', 'stop', 'destroy']],
    ['ready', ct('stopped'), ['start', 'destroy']],
    ['ready', ct('unknown'), ['destroy']],
    ['ready', undefined, ['destroy']],
    ['ready', ct('missing'), ['forget']],
    ['failed', ct('stopped'), ['retry', 'destroy']],
    ['failed', ct('none'), ['retry', 'destroy']],
    ['failed', ct('missing'), ['forget']],
    ['failed', ct('not-created'), ['retry', 'forget']],
    ['cancelled', ct('running'), ['retry', 'destroy']],
    ['destroying', undefined, []],
    ['destroyed', undefined, []],
  ] as const)('%s with the CT %o offers %o', (lifecycle, status, expected) => {
    expect(availableActions({ lifecycle, currentAction: null }, status)).toEqual(expected);
  });

  it('offers nothing while an action holds the lock', () => {
    expect(availableActions({ lifecycle: 'ready', currentAction: 'reboot' }, ct('running'))).toEqual([]);
  });
});
