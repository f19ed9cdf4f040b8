import { InvalidRequestError } from '../../src/domain/errors';
import { isHostAddress, validateClusterSpec, validateJobSpec, type RawJobSpec } from '../../src/domain/validation';

const good: RawJobSpec = { jobName: 'hello', parallelism: 'SERIAL', command: ['/bin/echo', 'hi'] };

function fieldsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof InvalidRequestError) return error.fieldErrors.map((e) => e.field);
    throw error;
  }
  throw new Error('expected an InvalidRequestError');
}

describe('validateJobSpec', () => {
  it('accepts a plain serial job and drops unset fields', () => {
    const spec = validateJobSpec({ ...good, taskId: undefined });
    expect(spec).toEqual(good);
    expect('taskId' in spec).toBe(false);
  });

  it('reports every bad field at once, each by name', () => {
    const fields = fieldsOf(() => validateJobSpec({
      jobName: '  ', parallelism: 'MPI', command: [], nodeCount: -2, wallTimeLimit: 0,
      totalPhysicalMemory: 1.5, workingDir: 'relative/dir', environment: { 'BAD-NAME': 'x' },
    }));
    expect(fields).toEqual(expect.arrayContaining([
      'spec.jobName', 'spec.command', 'spec.nodeCount', 'spec.wallTimeLimit', 'spec.totalPhysicalMemory',
      'spec.totalCPUCount', 'spec.workingDir', 'spec.environment["BAD-NAME"]',
    ]));
  });

  it('requires totalCPUCount for MPI jobs only', () => {
    expect(fieldsOf(() => validateJobSpec({ ...good, parallelism: 'MPI' }))).toEqual(['spec.totalCPUCount']);
    expect(validateJobSpec({ ...good, parallelism: 'MPI', totalCPUCount: 2 }).parallelism).toBe('MPI');
  });

  it('rejects an unknown enum value by name', () => {
    expect(() => validateJobSpec({ ...good, parallelism: '42' })).toThrow(/spec\.parallelism: unknown value "42"/);
  });

  it('rejects strings over their limits and NUL characters', () => {
    const fields = fieldsOf(() => validateJobSpec({
      ...good, jobName: 'x'.repeat(257), command: ['/bin/echo', 'a\u0000b'], clientToken: 't'.repeat(129),
    }));
    expect(fields).toEqual(['spec.jobName', 'spec.command[1]', 'spec.clientToken']);
  });

  it('rejects more nodes than cpus, and a multi-node serial job', () => {
    expect(fieldsOf(() => validateJobSpec({ ...good, parallelism: 'MPI', totalCPUCount: 2, nodeCount: 3 })))
      .toEqual(['spec.nodeCount']);
    expect(fieldsOf(() => validateJobSpec({ ...good, nodeCount: 2 }))).toEqual(['spec.nodeCount']);
  });
});

describe('validateClusterSpec', () => {
  const cluster = { name: 'c1', kind: 'SLURM', provider: 'STATIC', hosts: [{ address: 'localhost' }] };

  it('accepts a static localhost cluster', () => {
    expect(validateClusterSpec(cluster).hosts).toEqual([{ address: 'localhost' }]);
  });

  it('names every bad host field', () => {
    const fields = fieldsOf(() => validateClusterSpec({
      ...cluster,
      hosts: [{ address: 'bad host!' }, { address: '10.0.0.1', sshPort: 70000, roles: ['boss'] }, { address: '10.0.0.1' }],
    }));
    expect(fields).toEqual(['spec.hosts[0].address', 'spec.hosts[1].sshPort', 'spec.hosts[1].roles[0]', 'spec.hosts[2].address']);
  });

  it('needs hosts for STATIC and refuses them for cloud providers', () => {
    expect(fieldsOf(() => validateClusterSpec({ ...cluster, hosts: [] }))).toEqual(['spec.hosts']);
    expect(fieldsOf(() => validateClusterSpec({ ...cluster, provider: 'EC2' }))).toEqual(['spec.hosts']);
  });

  it('rejects unknown kinds and providers and a negative worker count', () => {
    expect(fieldsOf(() => validateClusterSpec({ ...cluster, kind: '7', provider: '0', workerCount: -1 })))
      .toEqual(['spec.kind', 'spec.provider', 'spec.workerCount']);
  });
});

describe('isHostAddress', () => {
  it.each(['localhost', 'node-1.example.org', '10.213.0.11', '::1', 'fe80::1'])('accepts %s', (address) => {
    expect(isHostAddress(address)).toBe(true);
  });
  it.each(['', 'a b', '-lead.example', 'x'.repeat(64), '999.1.1.1', 'host;rm -rf /', '$(id)'])('rejects %s', (address) => {
    expect(isHostAddress(address)).toBe(false);
  });
});
