// Which scheduler a job goes to, by job type and parallelism: BATCH SERIAL to Slurm or Metronome,
// SERVICE to Marathon only, MPI to Slurm only. Request validation, placement among clusters and a
// job sent to one named cluster all judge from the one capability table.
import { canRun, CLUSTER_CAPABILITIES } from '../../src/domain/capabilities';
import { InvalidRequestError } from '../../src/domain/errors';
import { kindMisfitsOf, misfits, needsOf, place, type ClusterCapacity } from '../../src/domain/placement';
import type { JobSpec } from '../../src/domain/types';
import { validateJobSpec, type RawJobSpec } from '../../src/domain/validation';

const cluster = (name: string, kind: 'SLURM' | 'MESOS_MARATHON', cpus = 8, busyCpus = 0): ClusterCapacity => ({
  clusterId: `id-${name}`, name, kind, busyCpus, nodes: [{ cpus, memoryMb: 8192 }],
});
const job = (spec: Partial<JobSpec>): JobSpec => ({ jobName: 'j', parallelism: 'SERIAL', command: ['x'], ...spec });

function fieldErrors(raw: RawJobSpec): { field: string; message: string }[] {
  try {
    validateJobSpec(raw);
  } catch (error) {
    if (error instanceof InvalidRequestError) return error.fieldErrors;
    throw error;
  }
  return [];
}

describe('scheduler choice', () => {
  it('has Slurm run batch work of every parallelism it lays out, and Mesos serial batch work and services', () => {
    expect(CLUSTER_CAPABILITIES.SLURM.jobTypes).toEqual({ BATCH: 'Slurm' });
    expect(CLUSTER_CAPABILITIES.MESOS_MARATHON.jobTypes).toEqual({ BATCH: 'Metronome', SERVICE: 'Marathon' });
    expect(canRun('SLURM', 'MPI')).toBe(true);
    expect(canRun('SLURM', 'SERIAL', 'SERVICE')).toBe(false);
    expect(canRun('MESOS_MARATHON', 'SERIAL', 'BATCH')).toBe(true);
    expect(canRun('MESOS_MARATHON', 'SERIAL', 'SERVICE')).toBe(true);
    expect(canRun('MESOS_MARATHON', 'MPI', 'BATCH')).toBe(false);
    expect(canRun('MESOS_MARATHON', 'OPENMP_MPI', 'SERVICE')).toBe(false);
  });

  it('sends a service to the Mesos cluster even when a Slurm cluster has more room', () => {
    const result = place([cluster('slurm', 'SLURM', 64), cluster('mesos', 'MESOS_MARATHON', 4)], needsOf(job({ jobType: 'SERVICE' })));
    expect(result).toMatchObject({ kind: 'placed', clusterId: 'id-mesos' });
  });

  it('sends serial batch work to either kind, by room', () => {
    const needs = needsOf(job({}));
    expect(needs.jobType).toBe('BATCH');
    expect(place([cluster('slurm', 'SLURM', 2, 2), cluster('mesos', 'MESOS_MARATHON', 8)], needs)).toMatchObject({ clusterId: 'id-mesos' });
    expect(place([cluster('slurm', 'SLURM', 8), cluster('mesos', 'MESOS_MARATHON', 8, 8)], needs)).toMatchObject({ clusterId: 'id-slurm' });
  });

  it('sends MPI work only to Slurm, and refuses it where only Mesos clusters are, naming spec.parallelism', () => {
    const mpi = needsOf(job({ parallelism: 'MPI', totalCPUCount: 4 }));
    expect(place([cluster('slurm', 'SLURM', 4, 4), cluster('mesos', 'MESOS_MARATHON', 64)], mpi)).toMatchObject({ clusterId: 'id-slurm' });
    const refused = place([cluster('mesos', 'MESOS_MARATHON', 64)], mpi);
    expect(refused).toEqual({
      kind: 'never',
      errors: [{ field: 'spec.parallelism', message: 'cluster mesos (MESOS_MARATHON) runs SERIAL jobs only, not MPI' }],
    });
  });

  it('refuses a service where only Slurm clusters are, naming spec.jobType and what Slurm runs', () => {
    const refused = place([cluster('slurm', 'SLURM')], needsOf(job({ jobType: 'SERVICE' })));
    expect(refused).toEqual({
      kind: 'never',
      errors: [{ field: 'spec.jobType', message: 'cluster slurm (SLURM) runs BATCH (Slurm) jobs only, not SERVICE' }],
    });
  });

  it('judges a named cluster by its kind alone, whatever its size or state', () => {
    expect(kindMisfitsOf({ kind: 'MESOS_MARATHON', name: 'm' }, needsOf(job({ parallelism: 'OPENMP_MPI', totalCPUCount: 2 }))))
      .toEqual([expect.objectContaining({ field: 'spec.parallelism' })]);
    expect(kindMisfitsOf({ kind: 'SLURM', name: 'site', partitions: [] }, needsOf(job({ jobType: 'SERVICE' }))))
      .toEqual([{ field: 'spec.jobType', message: 'HPC system site (SLURM) runs BATCH (Slurm) jobs only, not SERVICE' }]);
    expect(kindMisfitsOf({ kind: 'MESOS_MARATHON', name: 'm' }, needsOf(job({ jobType: 'SERVICE' })))).toEqual([]);
    // Size still counts in placement proper.
    expect(misfits(cluster('m', 'MESOS_MARATHON', 2), needsOf(job({ jobType: 'SERVICE', totalCPUCount: 4 }))))
      .toEqual([expect.objectContaining({ field: 'spec.totalCPUCount' })]);
  });
});

describe('validateJobSpec and jobType', () => {
  const good: RawJobSpec = { jobName: 'web', parallelism: 'SERIAL', command: ['/usr/bin/python3', '-m', 'http.server'] };

  it('keeps a valid type and leaves an unset one unset (BATCH)', () => {
    expect(validateJobSpec({ ...good, jobType: 'SERVICE' }).jobType).toBe('SERVICE');
    expect('jobType' in validateJobSpec(good)).toBe(false);
  });

  it('names spec.jobType for an unknown type', () => {
    expect(fieldErrors({ ...good, jobType: 'DAEMON' }).map((e) => e.field)).toEqual(['spec.jobType']);
    expect(fieldErrors({ ...good, jobType: 'UNSET' })[0].message).toContain('BATCH');
  });

  it('refuses a service no kind runs (an MPI service) and a service with a wall time', () => {
    const mpi = fieldErrors({ ...good, parallelism: 'MPI', totalCPUCount: 4, jobType: 'SERVICE' });
    expect(mpi.map((e) => e.field)).toEqual(['spec.jobType']);
    expect(mpi[0].message).toContain('SERVICE MPI jobs cannot run on any cluster');
    expect(mpi[0].message).toContain('MESOS_MARATHON runs BATCH (Metronome), SERVICE (Marathon)');
    expect(fieldErrors({ ...good, jobType: 'SERVICE', wallTimeLimit: 30 }).map((e) => e.field)).toEqual(['spec.wallTimeLimit']);
    expect(fieldErrors({ ...good, jobType: 'BATCH', wallTimeLimit: 30 })).toEqual([]);
  });
});
