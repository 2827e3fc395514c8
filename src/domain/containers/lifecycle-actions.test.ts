import { describe, expect, it } from 'vitest';
import { actionInProgress } from './lifecycle-actions.ts';

describe('actionInProgress', () => {
  const now = Date.parse('2026-11-29T12:00:00Z');
  const at = (secondsAgo: number) => new Date(now - secondsAgo * 1000);

  it('names who asked and when, to a teammate', () => {
    expect(actionInProgress({ currentAction: 'reboot', currentActionAt: at(40), currentActionBy: 'alice' }, 'bob', now)).toBe('A reboot is in progress, requested by alice 40 s ago.');
    expect(actionInProgress({ currentAction: 'destroy', currentActionAt: at(600), currentActionBy: 'alice' }, 'bob', now)).toBe('A destroy is in progress, requested by alice 10 min ago.');
  });

  it('says “your” to whoever asked', () => {
    expect(actionInProgress({ currentAction: 'stop', currentActionAt: at(3), currentActionBy: 'bob' }, 'bob', now)).toBe('Your stop is in progress (requested 3 s ago).');
  });

  it('says only what it knows of a lock taken before its holder was recorded', () => {
    expect(actionInProgress({ currentAction: 'shutdown', currentActionAt: at(5), currentActionBy: null }, 'bob', now)).toBe('A shutdown is in progress.');
  });
});
