import { misfits, needsOf, place, type ClusterCapacity } from '../../src/domain/placement';

const cluster = (name: string, cpusPerNode: number[], busyCpus = 0, kind: 'SLURM' | 'MESOS_MARATHON' = 'SLURM'): ClusterCapacity => ({
  clusterId: `id-${name}`, name, kind, busyCpus, nodes: cpusPerNode.map((cpus) => ({ cpus, memoryMb: 4096 })),
});

describe('place', () => {
  it('chooses the fitting cluster with the most free cpus and says why', () => {
    const result = place([cluster('small', [2]), cluster('big', [8], 2), cluster('full', [16], 15)],
      needsOf({ jobName: 'j', parallelism: 'SERIAL', command: ['x'] }));
    expect(result).toMatchObject({ kind: 'placed', clusterId: 'id-big' });
    expect(result.kind === 'placed' && result.reason).toContain('chose cluster big');
    expect(result.kind === 'placed' && result.reason).toContain('6 of 8 cpus free');
  });

  it('places a job on a busy cluster that fits (it waits its turn in the queue there)', () => {
    expect(place([cluster('busy', [2], 2)], needsOf({ jobName: 'j', parallelism: 'MPI', command: ['x'], totalCPUCount: 2 })))
      .toMatchObject({ kind: 'placed', clusterId: 'id-busy' });
  });

  it('refuses a job no cluster could ever run, naming the fields', () => {
    const result = place([cluster('a', [2]), cluster('b', [4])], needsOf({
      jobName: 'j', parallelism: 'MPI', command: ['x'], totalCPUCount: 64, nodeCount: 3, totalPhysicalMemory: 999_999,
    }));
    expect(result.kind).toBe('never');
    const fields = result.kind === 'never' ? result.errors.map((e) => e.field) : [];
    expect(new Set(fields)).toEqual(new Set(['spec.totalCPUCount', 'spec.nodeCount', 'spec.totalPhysicalMemory']));
  });

  it('waits when the gateway has no READY cluster', () => {
    expect(place([], needsOf({ jobName: 'j', parallelism: 'SERIAL', command: ['x'] })).kind).toBe('wait');
  });

  it('keeps MPI off clusters that only run serial work', () => {
    expect(misfits(cluster('m', [8], 0, 'MESOS_MARATHON'), needsOf({ jobName: 'j', parallelism: 'MPI', command: ['x'], totalCPUCount: 2 })))
      .toEqual([expect.objectContaining({ field: 'spec.parallelism' })]);
  });
});
