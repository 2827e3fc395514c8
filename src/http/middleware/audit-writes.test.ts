import { describe, expect, it } from 'vitest';
import { auditActionOf, refusedContainerWriteOf } from './audit-writes.ts';

const ID = '0b3f7a52-5d1e-4c8e-9a51-1d2f6c0e9b77';

describe('refusedContainerWriteOf', () => {
  it('names a refused container write as its handler names it when it goes ahead', () => {
    expect(refusedContainerWriteOf('/containers')).toEqual({ action: 'container.deploy' });
    expect(refusedContainerWriteOf(`/containers/${ID}/start`)).toEqual({ action: 'container.start', containerId: ID });
    expect(refusedContainerWriteOf(`/containers/${ID}/health-check`)).toEqual({ action: 'container.health_check', containerId: ID });
    // POST …/credentials is audited as container.reveal_credentials by its handler: a refusal reads the same.
    expect(refusedContainerWriteOf(`/containers/${ID}/credentials`)).toEqual({ action: 'container.reveal_credentials', containerId: ID });
    expect(refusedContainerWriteOf('/nodes/7/test')).toBeUndefined();
  });
});

describe('auditActionOf', () => {
  it('reads an admin change from its path', () => {
    expect(auditActionOf('/nodes/7/test')).toMatchObject({ action: 'node.test' });
    expect(auditActionOf('/nodes')).toEqual({ action: 'node.create' });
  });
});
