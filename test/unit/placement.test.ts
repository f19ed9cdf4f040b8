import {
  choosePartition, choosePilot, misfits, needsOf, pilotRefusal, place,
  type ClusterCapacity, type JobNeeds, type PilotCapacity, type Placement,
} from '../../src/domain/placement';
import type { JobSpec, PartitionFacts } from '../../src/domain/types';

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

const NOW = Date.UTC(2025, 0, 1, 12, 0, 0);
const MINUTE = 60_000;

const partition = (name: string, nodes: number, cpusPerNode: number, maxTimeMinutes?: number, memoryMbPerNode = 8192): PartitionFacts => ({
  name, nodes, cpusPerNode, memoryMbPerNode, ...(maxTimeMinutes !== undefined ? { maxTimeMinutes } : {}),
});

const hpc = (name: string, partitions: PartitionFacts[], pilots: PilotCapacity[] = []): ClusterCapacity => ({
  clusterId: `id-${name}`, name, kind: 'SLURM', busyCpus: 0, nodes: [], partitions, pilots,
});

const pilot = (allocationId: string, over: Partial<PilotCapacity> = {}): PilotCapacity => ({
  allocationId, partition: 'batch', nodes: 2, cpusPerNode: 8, memoryMbPerNode: 8192, endsAt: NOW + 120 * MINUTE, busyCpus: 0, ...over,
});

const job = (over: Partial<JobSpec> = {}): JobNeeds => needsOf({ jobName: 'j', parallelism: 'SERIAL', command: ['x'], ...over });

const reasonOf = (placement: Placement): string => (placement.kind === 'placed' ? placement.reason : '');
const fieldsOf = (placement: Placement): string[] => (placement.kind === 'never' ? placement.errors.map((e) => e.field) : []);

describe('place among built clusters, HPC systems and pilots', () => {
  it('starts a serial job at once in a live pilot, before an idle built cluster', () => {
    const site = hpc('site', [partition('batch', 10, 8, 60)], [pilot('p-small', { busyCpus: 12 }), pilot('p-roomy', { busyCpus: 2 })]);
    const result = place([cluster('idle', [16]), site], job({ totalCPUCount: 2, wallTimeLimit: 30 }), NOW);
    expect(result).toEqual(expect.objectContaining({ kind: 'placed', clusterId: 'id-site', allocationId: 'p-roomy' }));
    expect(result.kind === 'placed' && result.partition).toBeFalsy();
    expect(reasonOf(result)).toContain('no queue wait: starts at once inside pilot p-roomy');
    expect(reasonOf(result)).toContain('other candidates: pilot p-small (4 cpus free), cluster idle (16 free)');
  });

  it('keeps an MPI job out of pilots and says so', () => {
    const site = hpc('site', [partition('batch', 10, 8, 60)], [pilot('p1')]);
    const toCluster = place([cluster('built', [8, 8]), site], job({ parallelism: 'MPI', totalCPUCount: 4 }), NOW);
    expect(toCluster).toMatchObject({ kind: 'placed', clusterId: 'id-built' });
    expect(toCluster.kind === 'placed' && toCluster.allocationId).toBeFalsy();
    expect(reasonOf(toCluster)).toContain('skipped 1 live pilot: MPI jobs do not run in pilots');

    const toSystem = place([site], job({ parallelism: 'MPI', totalCPUCount: 4 }), NOW);
    expect(toSystem).toEqual({ kind: 'placed', clusterId: 'id-site', partition: 'batch', reason: expect.stringContaining('single-task step') });
  });

  it('refuses a job too large for every target, naming the fields', () => {
    const site = hpc('site', [partition('short', 4, 8, 30), partition('long', 2, 8, 600)], [pilot('p1')]);
    const result = place([cluster('small', [4]), site], job({ parallelism: 'MPI', totalCPUCount: 512, nodeCount: 64, wallTimeLimit: 900 }), NOW);
    expect(result.kind).toBe('never');
    expect(new Set(fieldsOf(result))).toEqual(new Set(['spec.totalCPUCount', 'spec.nodeCount', 'spec.wallTimeLimit']));
    const messages = result.kind === 'never' ? result.errors.map((e) => e.message).join('\n') : '';
    // Both partitions fail on all three counts: the larger one is named.
    expect(messages).toContain('900 minutes asked, HPC system site, the closest partition short, has MaxTime 30 minutes');
  });

  it('does not count a pilot as proof a job could ever run', () => {
    const site = hpc('site', [partition('batch', 1, 2, 60)], [pilot('p1', { nodes: 4 })]);
    expect(place([site], job({ totalCPUCount: 4 }), NOW).kind).toBe('never');
  });

  it('prefers an HPC system to a built cluster that fits but is busy', () => {
    const result = place([cluster('busy', [8], 6), hpc('site', [partition('batch', 10, 8, 60)])], job({ parallelism: 'MPI', totalCPUCount: 4 }), NOW);
    expect(result).toMatchObject({ kind: 'placed', clusterId: 'id-site', partition: 'batch' });
    expect(reasonOf(result)).toContain('its own queue decides when it starts');
    expect(reasonOf(result)).toContain('preferred to our busy cluster busy');
    expect(reasonOf(result)).toContain('other candidates: cluster busy (2 free, would queue)');
  });

  it('still queues on a busy built cluster when no other target fits', () => {
    const result = place([cluster('busy', [8], 6), hpc('tiny', [partition('batch', 1, 2)])], job({ parallelism: 'MPI', totalCPUCount: 4 }), NOW);
    expect(result).toMatchObject({ kind: 'placed', clusterId: 'id-busy' });
    expect(reasonOf(result)).toContain('it queues there');
  });

  it('picks the partition with the shortest MaxTime that covers the wall time', () => {
    const site = hpc('site', [partition('debug', 2, 8, 30), partition('normal', 8, 8, 240), partition('long', 8, 8)]);
    expect(place([site], job({ totalCPUCount: 4, wallTimeLimit: 20 }), NOW)).toMatchObject({ partition: 'debug' });
    expect(place([site], job({ totalCPUCount: 4, wallTimeLimit: 120 }), NOW)).toMatchObject({ partition: 'normal' });
    expect(place([site], job({ totalCPUCount: 4, wallTimeLimit: 10_000 }), NOW)).toMatchObject({ partition: 'long' });
    // No wall time: the job's limit becomes the partition's, so the longest one.
    expect(place([site], job({ totalCPUCount: 4 }), NOW)).toMatchObject({ partition: 'long' });
  });

  it('refuses a wall time beyond every MaxTime, naming the partition', () => {
    const result = place([hpc('site', [partition('debug', 2, 8, 30), partition('normal', 8, 8, 240)])], job({ wallTimeLimit: 300 }), NOW);
    expect(result.kind === 'never' && result.errors).toEqual([{
      field: 'spec.wallTimeLimit', message: '300 minutes asked, HPC system site, the closest partition normal, has MaxTime 240 minutes',
    }]);
  });

  it('skips a pilot the job would outlive', () => {
    const site = hpc('site', [partition('batch', 10, 8, 600)], [pilot('p-ending', { endsAt: NOW + 30 * MINUTE })]);
    const result = place([site], job({ wallTimeLimit: 60 }), NOW);
    expect(result).toMatchObject({ kind: 'placed', clusterId: 'id-site', partition: 'batch' });
    expect(result.kind === 'placed' && result.allocationId).toBeFalsy();
    expect(reasonOf(result)).toContain('pilot p-ending (would outlive the pilot: 60 minutes asked, it ends in 30 minutes)');
    expect(place([site], job({ wallTimeLimit: 30 }), NOW)).toMatchObject({ allocationId: 'p-ending' });
  });

  it('skips a busy pilot, and one whose nodes cannot hold a single task', () => {
    const site = hpc('site', [partition('batch', 10, 8, 600)], [pilot('p-full', { busyCpus: 16 }), pilot('p-narrow', { cpusPerNode: 2, nodes: 8 })]);
    const result = place([site], job({ parallelism: 'OPENMP', totalCPUCount: 4 }), NOW);
    expect(result.kind === 'placed' && result.allocationId).toBeFalsy();
    expect(reasonOf(result)).toContain('pilot p-full (busy: all 16 cpus in use)');
    expect(reasonOf(result)).toContain('pilot p-narrow (a single task needs its 4 cpus on one node');
    expect(pilotRefusal(site, pilot('p-ended', { endsAt: NOW }), job(), NOW)).toBe('has ended');
  });

  it('narrows partitions and pilots to the one a job names', () => {
    const site = hpc('site', [partition('debug', 2, 8, 30), partition('gpu', 4, 8, 240)], [pilot('p-debug', { partition: 'debug' })]);
    const named = place([site], job({ queueName: 'gpu', wallTimeLimit: 20 }), NOW);
    expect(named).toMatchObject({ kind: 'placed', clusterId: 'id-site' });
    // The job named its partition: nothing to choose, so none is returned, and the debug pilot is not its partition.
    expect(named.kind === 'placed' && (named.partition ?? named.allocationId)).toBeFalsy();
    expect(reasonOf(named)).toContain('partition gpu');
    expect(reasonOf(named)).toContain('holds partition debug, not the named gpu');

    expect(place([site], job({ queueName: 'debug', wallTimeLimit: 20 }), NOW)).toMatchObject({ allocationId: 'p-debug' });

    const tooLong = place([site], job({ queueName: 'debug', wallTimeLimit: 60 }), NOW);
    expect(fieldsOf(tooLong)).toEqual(['spec.wallTimeLimit']);
    expect(tooLong.kind === 'never' && tooLong.errors[0].message).toContain('the named partition debug');

    const missing = place([site], job({ queueName: 'bigmem' }), NOW);
    expect(missing.kind === 'never' && missing.errors).toEqual([{
      field: 'spec.queueName', message: 'HPC system site has no partition "bigmem"; its partitions: debug, gpu',
    }]);
  });

  it('judges an HPC system by its partitions in misfits (a job sent to it by name)', () => {
    const site = hpc('site', [partition('batch', 4, 8, 60, 4096)]);
    expect(misfits(site, job({ parallelism: 'CCM' })).map((e) => e.field)).toEqual(['spec.parallelism']);
    expect(misfits(site, job({ totalPhysicalMemory: 8192 }))).toEqual([{
      field: 'spec.totalPhysicalMemory', message: '8192 MB per node asked, HPC system site, its only partition batch, nodes have 4096 MB',
    }]);
    expect(choosePartition(site, job())).toMatchObject({ name: 'batch' });
    expect(choosePilot(hpc('s', [], [pilot('p1')]), job(), NOW)).toMatchObject({ allocationId: 'p1' });
  });

  it('names at most five other candidates', () => {
    const many = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((name) => cluster(name, [4]));
    expect(reasonOf(place(many, job(), NOW))).toMatch(/other candidates: (cluster \w \(4 free\), ){4}cluster \w \(4 free\) and 2 more$/);
  });
});
