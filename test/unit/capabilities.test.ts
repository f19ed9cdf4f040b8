import { canRun, runnableParallelism } from '../../src/domain/capabilities';
import { misfits, needsOf, type ClusterCapacity } from '../../src/domain/placement';
import type { Parallelism } from '../../src/domain/types';

const slurm: ClusterCapacity = { clusterId: 'c', name: 'hpc', kind: 'SLURM', busyCpus: 0, nodes: [{ cpus: 8, memoryMb: 4096 }] };
const needs = (parallelism: Parallelism) => needsOf({ jobName: 'j', parallelism, command: ['x'], totalCPUCount: 4 });

describe('cluster capabilities', () => {
  it('has Slurm run what its adapter lays out, and nothing Cray-only', () => {
    expect(runnableParallelism().sort()).toEqual(['MPI', 'OPENMP', 'OPENMP_MPI', 'SERIAL']);
    expect(canRun('SLURM', 'CCM')).toBe(false);
    expect(canRun('MESOS_MARATHON', 'MPI')).toBe(false);
  });

  it.each(['CCM', 'CRAY_MPI'] as const)('keeps %s jobs off Slurm clusters in placement', (parallelism) => {
    expect(misfits(slurm, needs(parallelism))).toEqual([{
      field: 'spec.parallelism', message: `cluster hpc (SLURM) runs SERIAL, OPENMP, MPI, OPENMP_MPI jobs only, not ${parallelism}`,
    }]);
    expect(misfits(slurm, needs('MPI'))).toEqual([]);
  });
});
