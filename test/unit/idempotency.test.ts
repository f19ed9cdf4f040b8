import { differingFields, idempotencyConflict, requestFingerprint } from '../../src/domain/idempotency';
import type { JobSpec } from '../../src/domain/types';

const first: JobSpec = { jobName: 'run', parallelism: 'MPI', command: ['/bin/app'], totalCPUCount: 4, processId: 'p1', taskId: 't1' };
const stored = { jobId: 'job-1', spec: first, fingerprint: requestFingerprint(first) };

describe('idempotencyConflict', () => {
  it('lets the same request through under either key, whatever its client token', () => {
    expect(idempotencyConflict(first, requestFingerprint(first), stored)).toBeUndefined();
    const withToken = { ...first, clientToken: 'new-token' };
    expect(idempotencyConflict(withToken, requestFingerprint(withToken), stored)).toBeUndefined();
  });

  it('refuses another request under Airavata\'s ids, naming the key and what changed', () => {
    const other = { ...first, command: ['/bin/other'], totalCPUCount: 64 };
    const conflict = idempotencyConflict(other, requestFingerprint(other), stored);
    expect(conflict?.field).toBe('spec.processId');
    expect(conflict?.message).toContain('"p1" with taskId "t1" and jobName "run" already names job job-1');
    expect(conflict?.message).toContain('differs in command, totalCPUCount');
  });

  it('refuses another request under the same client token as before', () => {
    const tokened = { ...first, clientToken: 'k' };
    const other = { ...tokened, wallTimeLimit: 5 };
    const conflict = idempotencyConflict(other, requestFingerprint(other), { ...stored, spec: tokened });
    expect(conflict).toEqual({ field: 'spec.clientToken', message: 'was already used for a different request (job job-1; it differs in wallTimeLimit)' });
  });
});

describe('differingFields', () => {
  it('compares values, not key order, and sees added or removed fields', () => {
    expect(differingFields({ environment: { A: '1', B: '2' } }, { environment: { B: '2', A: '1' } })).toEqual([]);
    expect(differingFields({ queueName: 'q' }, {})).toEqual(['queueName']);
  });
});
