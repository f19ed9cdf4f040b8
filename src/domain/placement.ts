// The meta-scheduling policy: where a job runs among a gateway's READY targets. Three kinds of
// target: clusters we built (we know each node and what our jobs hold), HPC systems we only
// registered (we know their partitions, not their load: their own queue decides the wait), and live
// pilots on an HPC system (nodes already held until an end time: a job starts at once inside one).
// Pure: the caller gathers capacity and load; this decides and says why, since the reason becomes
// the job's first status.
import type { FieldError } from './errors';
import { CLUSTER_CAPABILITIES, canRun, jobTypesText } from './capabilities';
import type { ClusterKind, JobSpec, JobType, Parallelism, PartitionFacts } from './types';

export interface NodeCapacity {
  cpus: number;
  memoryMb: number;
}

/** A live pilot: a placeholder job holding nodes of one partition until endsAt. */
export interface PilotCapacity {
  allocationId: string;
  partition: string;
  nodes: number;
  cpusPerNode: number;
  memoryMbPerNode: number;
  /** Epoch ms: the placeholder's wall time ends then, and every step inside it with it. */
  endsAt: number;
  /** CPUs held by our job steps running inside it. */
  busyCpus: number;
}

export interface ClusterCapacity {
  clusterId: string;
  name: string;
  kind: ClusterKind;
  /** A built cluster's configured nodes; empty for an HPC system, whose partitions say what it has. */
  nodes: NodeCapacity[];
  /** CPUs held by our jobs that are queued or running there. */
  busyCpus: number;
  /** Present: this target is an HPC system we registered, not one we built. */
  partitions?: PartitionFacts[];
  /** The live pilots held on this system. */
  pilots?: PilotCapacity[];
}

export interface JobNeeds {
  parallelism: Parallelism;
  jobType: JobType;
  cpus: number;
  nodes: number;
  /** Per node, as Slurm's --mem means it. */
  memoryMb?: number;
  wallMinutes?: number;
  /** The partition the job named, if any. */
  queueName?: string;
}

export type Placement =
  | {
    kind: 'placed';
    clusterId: string;
    /** The pilot the job starts in, as a step. */
    allocationId?: string;
    /** The HPC partition chosen for a job that named none. */
    partition?: string;
    reason: string;
  }
  | { kind: 'wait'; reason: string }
  | { kind: 'never'; errors: FieldError[] };

export function needsOf(spec: JobSpec): JobNeeds {
  return {
    parallelism: spec.parallelism,
    jobType: spec.jobType ?? 'BATCH',
    cpus: spec.totalCPUCount ?? 1,
    nodes: spec.nodeCount ?? 1,
    memoryMb: spec.totalPhysicalMemory,
    wallMinutes: spec.wallTimeLimit,
    queueName: spec.queueName,
  };
}

/** At most this many targets are named in a reason, so it stays readable as a status line. */
const MAX_NAMED = 5;

function bounded(items: readonly string[]): string {
  const shown = items.slice(0, MAX_NAMED).join(', ');
  return items.length > MAX_NAMED ? `${shown} and ${items.length - MAX_NAMED} more` : shown;
}

function isHpcSystem(cluster: ClusterCapacity): boolean {
  return cluster.partitions !== undefined;
}

function totalCpus(cluster: ClusterCapacity): number {
  return cluster.nodes.reduce((sum, node) => sum + node.cpus, 0);
}

function maxTimeText(partition: PartitionFacts): string {
  return partition.maxTimeMinutes === undefined ? 'MaxTime UNLIMITED' : `MaxTime ${partition.maxTimeMinutes} minutes`;
}

/** The kind's part: the parallelism and the job type (BATCH, SERVICE) it runs. */
function kindMisfits(cluster: Pick<ClusterCapacity, 'kind'>, needs: JobNeeds, label: string): FieldError[] {
  const errors: FieldError[] = [];
  const runs = CLUSTER_CAPABILITIES[cluster.kind].parallelism;
  if (!runs.includes(needs.parallelism)) {
    errors.push({ field: 'spec.parallelism', message: `${label} (${cluster.kind}) runs ${runs.join(', ')} jobs only, not ${needs.parallelism}` });
  }
  if (CLUSTER_CAPABILITIES[cluster.kind].jobTypes[needs.jobType] === undefined) {
    errors.push({ field: 'spec.jobType', message: `${label} (${cluster.kind}) runs ${jobTypesText(cluster.kind)} jobs only, not ${needs.jobType}` });
  }
  return errors;
}

/** A built cluster: its own nodes, all of them ours. */
function builtMisfits(cluster: ClusterCapacity, needs: JobNeeds): FieldError[] {
  const label = `cluster ${cluster.name}`;
  const errors = kindMisfits(cluster, needs, label);
  if (needs.nodes > cluster.nodes.length) {
    errors.push({ field: 'spec.nodeCount', message: `${needs.nodes} nodes asked, ${label} has ${cluster.nodes.length}` });
  }
  const cpus = totalCpus(cluster);
  if (needs.cpus > cpus) {
    errors.push({ field: 'spec.totalCPUCount', message: `${needs.cpus} cpus asked, ${label} has ${cpus}` });
  }
  const maxMemory = Math.max(0, ...cluster.nodes.map((node) => node.memoryMb));
  if (needs.memoryMb !== undefined && needs.memoryMb > maxMemory) {
    errors.push({ field: 'spec.totalPhysicalMemory', message: `${needs.memoryMb} MB per node asked, ${label} nodes have at most ${maxMemory} MB` });
  }
  return errors;
}

/** Why one partition could never run the job (size and MaxTime; parallelism is the system's). */
function partitionMisfits(partition: PartitionFacts, needs: JobNeeds, label: string): FieldError[] {
  const errors: FieldError[] = [];
  if (needs.nodes > partition.nodes) {
    errors.push({ field: 'spec.nodeCount', message: `${needs.nodes} nodes asked, ${label} has ${partition.nodes}` });
  }
  const cpus = partition.nodes * partition.cpusPerNode;
  if (needs.cpus > cpus) {
    errors.push({ field: 'spec.totalCPUCount', message: `${needs.cpus} cpus asked, ${label} has ${cpus} (${partition.nodes} nodes of ${partition.cpusPerNode})` });
  }
  if (needs.memoryMb !== undefined && needs.memoryMb > partition.memoryMbPerNode) {
    errors.push({ field: 'spec.totalPhysicalMemory', message: `${needs.memoryMb} MB per node asked, ${label} nodes have ${partition.memoryMbPerNode} MB` });
  }
  if (needs.wallMinutes !== undefined && partition.maxTimeMinutes !== undefined && needs.wallMinutes > partition.maxTimeMinutes) {
    errors.push({ field: 'spec.wallTimeLimit', message: `${needs.wallMinutes} minutes asked, ${label} has ${maxTimeText(partition)}` });
  }
  return errors;
}

/** The partitions a job may go to: only the one it named, when it named one. */
function partitionsInScope(partitions: readonly PartitionFacts[], needs: JobNeeds): PartitionFacts[] {
  return needs.queueName === undefined ? [...partitions] : partitions.filter((p) => p.name === needs.queueName);
}

/** An HPC system: it could run the job when some partition in scope could. */
function hpcMisfits(system: ClusterCapacity, partitions: readonly PartitionFacts[], needs: JobNeeds): FieldError[] {
  const label = `HPC system ${system.name}`;
  const errors = kindMisfits(system, needs, label);
  if (partitions.length === 0) {
    errors.push({ field: needs.queueName === undefined ? 'spec.nodeCount' : 'spec.queueName', message: `${label} reported no partitions` });
    return errors;
  }
  const scope = partitionsInScope(partitions, needs);
  if (scope.length === 0) {
    const names = partitions.map((p) => p.name);
    errors.push({ field: 'spec.queueName', message: `${label} has no partition ${JSON.stringify(needs.queueName)}; its partitions: ${bounded(names)}` });
    return errors;
  }
  // Name the closest partition (fewest reasons against it, then the largest) rather than every one.
  const judged = scope
    .map((partition) => {
      const which = needs.queueName !== undefined ? 'the named' : scope.length > 1 ? 'the closest' : 'its only';
      return { partition, errors: partitionMisfits(partition, needs, `${label}, ${which} partition ${partition.name},`) };
    })
    .sort((a, b) => a.errors.length - b.errors.length
      || b.partition.nodes * b.partition.cpusPerNode - a.partition.nodes * a.partition.cpusPerNode
      || a.partition.name.localeCompare(b.partition.name));
  return [...errors, ...judged[0].errors];
}

/**
 * Why a cluster's kind could never run the job, whatever its size or state: the job's parallelism
 * or type (BATCH, SERVICE) is not one the kind's schedulers run.
 */
export function kindMisfitsOf(cluster: Pick<ClusterCapacity, 'kind' | 'name' | 'partitions'>, needs: JobNeeds): FieldError[] {
  return kindMisfits(cluster, needs, cluster.partitions !== undefined ? `HPC system ${cluster.name}` : `cluster ${cluster.name}`);
}

/** Why the target could never run the job, as field errors; empty when it could. Pilots do not count: they end. */
export function misfits(cluster: ClusterCapacity, needs: JobNeeds): FieldError[] {
  return cluster.partitions !== undefined ? hpcMisfits(cluster, cluster.partitions, needs) : builtMisfits(cluster, needs);
}

/**
 * The partition of an HPC system for the job, among those in scope that fit: with a wall time, the
 * one with the smallest MaxTime that covers it (short partitions tend to start sooner, and long ones
 * stay free for jobs that need them); without one, the longest (the job's limit becomes the
 * partition's, and a short one could cut it off). Ties by name. Undefined when none fits, or the
 * target is no HPC system. Parallelism is the system's, not the partition's: see misfits.
 */
export function choosePartition(system: ClusterCapacity, needs: JobNeeds): PartitionFacts | undefined {
  if (system.partitions === undefined) return undefined;
  const limit = (p: PartitionFacts) => p.maxTimeMinutes ?? Number.POSITIVE_INFINITY;
  const direction = needs.wallMinutes !== undefined ? 1 : -1;
  return partitionsInScope(system.partitions, needs)
    .filter((partition) => partitionMisfits(partition, needs, partition.name).length === 0)
    .sort((a, b) => direction * (limit(a) - limit(b)) || a.name.localeCompare(b.name))[0];
}

/** Parallelism a pilot runs: its jobs are launched as single-task steps, so no MPI layout. */
const PILOT_PARALLELISM: readonly Parallelism[] = ['SERIAL', 'OPENMP'];

function pilotCpus(pilot: PilotCapacity): number {
  return pilot.nodes * pilot.cpusPerNode;
}

function pilotFree(pilot: PilotCapacity): number {
  return pilotCpus(pilot) - pilot.busyCpus;
}

function minutesLeft(pilot: PilotCapacity, now: number): number {
  return Math.max(0, Math.floor((pilot.endsAt - now) / 60_000));
}

/**
 * Why the job cannot start at once inside this pilot of `system`; undefined when it can. A job step
 * is one task, and one task runs on one node: its CPUs must fit on one of the pilot's nodes.
 */
export function pilotRefusal(system: ClusterCapacity, pilot: PilotCapacity, needs: JobNeeds, now: number): string | undefined {
  if (!canRun(system.kind, needs.parallelism, needs.jobType)) return `${system.kind} does not run ${needs.jobType} ${needs.parallelism} jobs`;
  if (!PILOT_PARALLELISM.includes(needs.parallelism)) {
    return `${needs.parallelism} jobs do not run in pilots: a pilot launches each job as a single-task step`;
  }
  if (needs.queueName !== undefined && needs.queueName !== pilot.partition) {
    return `holds partition ${pilot.partition}, not the named ${needs.queueName}`;
  }
  if (pilot.endsAt <= now) return 'has ended';
  const free = pilotFree(pilot);
  if (free <= 0) return `busy: all ${pilotCpus(pilot)} cpus in use`;
  if (needs.nodes > pilot.nodes) return `holds ${pilot.nodes} nodes, ${needs.nodes} asked`;
  if (needs.cpus > pilot.cpusPerNode) {
    return `a single task needs its ${needs.cpus} cpus on one node; the pilot's nodes have ${pilot.cpusPerNode}`;
  }
  if (needs.cpus > free) return `${free} of ${pilotCpus(pilot)} cpus free, ${needs.cpus} asked`;
  if (needs.memoryMb !== undefined && needs.memoryMb > pilot.memoryMbPerNode) {
    return `${needs.memoryMb} MB per node asked, its nodes have ${pilot.memoryMbPerNode} MB`;
  }
  if (needs.wallMinutes !== undefined && now + needs.wallMinutes * 60_000 > pilot.endsAt) {
    return `would outlive the pilot: ${needs.wallMinutes} minutes asked, it ends in ${minutesLeft(pilot, now)} minutes`;
  }
  return undefined;
}

/** The pilot of `system` the job starts in at once (the one with most CPUs free), if any. */
export function choosePilot(system: ClusterCapacity, needs: JobNeeds, now: number): PilotCapacity | undefined {
  return (system.pilots ?? [])
    .filter((pilot) => pilotRefusal(system, pilot, needs, now) === undefined)
    .sort((a, b) => pilotFree(b) - pilotFree(a) || a.allocationId.localeCompare(b.allocationId))[0];
}

/** A target that could take the job, in order of preference by tier. */
type Candidate =
  | { tier: 0; system: ClusterCapacity; pilot: PilotCapacity }
  | { tier: 1 | 3; cluster: ClusterCapacity; free: number }
  | { tier: 2; system: ClusterCapacity; partition: PartitionFacts };

/** The tiers: a pilot starts the job now; a cluster with room soon; an HPC system's queue before our own busy one. */
function candidatesOf(fitting: readonly ClusterCapacity[], clusters: readonly ClusterCapacity[], needs: JobNeeds, now: number): Candidate[] {
  const candidates: Candidate[] = [];
  for (const system of clusters) {
    for (const pilot of system.pilots ?? []) {
      if (pilotRefusal(system, pilot, needs, now) === undefined) candidates.push({ tier: 0, system, pilot });
    }
  }
  for (const target of fitting) {
    if (isHpcSystem(target)) {
      const partition = choosePartition(target, needs);
      if (partition) candidates.push({ tier: 2, system: target, partition });
    } else {
      const free = totalCpus(target) - target.busyCpus;
      candidates.push({ tier: free >= needs.cpus ? 1 : 3, cluster: target, free });
    }
  }
  return candidates;
}

function compare(a: Candidate, b: Candidate): number {
  if (a.tier !== b.tier) return a.tier - b.tier;
  if (a.tier === 0 && b.tier === 0) {
    return pilotFree(b.pilot) - pilotFree(a.pilot) || a.pilot.allocationId.localeCompare(b.pilot.allocationId);
  }
  if ((a.tier === 1 || a.tier === 3) && (b.tier === 1 || b.tier === 3)) {
    return b.free - a.free || a.cluster.name.localeCompare(b.cluster.name);
  }
  // Between HPC systems we cannot see their queues: prefer the one holding fewer of our CPUs.
  if (a.tier === 2 && b.tier === 2) {
    return a.system.busyCpus - b.system.busyCpus || a.system.name.localeCompare(b.system.name);
  }
  return 0;
}

/** A few words on a candidate not chosen. */
function brief(candidate: Candidate): string {
  switch (candidate.tier) {
    case 0: return `pilot ${candidate.pilot.allocationId} (${pilotFree(candidate.pilot)} cpus free)`;
    case 1: return `cluster ${candidate.cluster.name} (${candidate.free} free)`;
    case 2: return `HPC system ${candidate.system.name} (partition ${candidate.partition.name}, its queue)`;
    case 3: return `cluster ${candidate.cluster.name} (${Math.max(candidate.free, 0)} free, would queue)`;
  }
}

/** The chosen target and why it won. */
function chosen(best: Candidate, ranked: readonly Candidate[], needs: JobNeeds, now: number): string {
  switch (best.tier) {
    case 0: {
      const { system, pilot } = best;
      return `pilot ${pilot.allocationId} on HPC system ${system.name} (${system.clusterId}), partition ${pilot.partition}: `
        + `no queue wait: starts at once inside pilot ${pilot.allocationId} `
        + `(${pilotFree(pilot)} of ${pilotCpus(pilot)} cpus free for ${needs.cpus} asked, ${minutesLeft(pilot, now)} minutes left)`;
    }
    case 1:
    case 3: {
      const { cluster, free } = best;
      return `cluster ${cluster.name} (${cluster.clusterId}): ${Math.max(free, 0)} of ${totalCpus(cluster)} cpus free for ${needs.cpus} asked`
        + (best.tier === 3 ? '; it queues there behind our own jobs' : '');
    }
    case 2: {
      const { system, partition } = best;
      const busy = ranked.flatMap((c) => (c.tier === 3 ? [c.cluster.name] : []));
      return `HPC system ${system.name} (${system.clusterId}), partition ${partition.name}: `
        + `fits (${partition.nodes} nodes of ${partition.cpusPerNode} cpus, ${maxTimeText(partition)}); its own queue decides when it starts`
        + (busy.length > 0 ? `; preferred to our busy cluster${busy.length > 1 ? 's' : ''} ${bounded(busy)}, where it would queue behind our own jobs` : '');
    }
  }
}

/** Why pilots were passed over, when there were any live ones. */
function pilotNotes(clusters: readonly ClusterCapacity[], needs: JobNeeds, now: number): string {
  const refused: string[] = [];
  for (const system of clusters) {
    for (const pilot of system.pilots ?? []) {
      const refusal = pilotRefusal(system, pilot, needs, now);
      if (refusal !== undefined) refused.push(`pilot ${pilot.allocationId} (${refusal})`);
    }
  }
  if (refused.length === 0) return '';
  // One reason holds for all of them: say it once.
  if (!PILOT_PARALLELISM.includes(needs.parallelism)) {
    return `; skipped ${refused.length} live pilot${refused.length > 1 ? 's' : ''}: ${needs.parallelism} jobs do not run in pilots, `
      + 'which launch each job as a single-task step';
  }
  return `; skipped ${bounded(refused)}`;
}

/**
 * Chooses where the job runs: (a) a live pilot it fits in now, most free CPUs first; (b) a built
 * cluster with the CPUs free, most free first; (c) an HPC system that fits, in the partition
 * choosePartition picks; (d) a built cluster that fits but is busy, where the job queues. A job no
 * target could ever run (pilots aside: they end) is refused with the fields that rule each one out;
 * with no READY target at all the job waits for one.
 */
export function place(clusters: readonly ClusterCapacity[], needs: JobNeeds, now: number = Date.now()): Placement {
  if (clusters.length === 0) return { kind: 'wait', reason: 'no READY cluster yet; waiting for one' };
  const fitting = clusters.filter((cluster) => misfits(cluster, needs).length === 0);
  if (fitting.length === 0) {
    return { kind: 'never', errors: clusters.flatMap((cluster) => misfits(cluster, needs)) };
  }
  const ranked = candidatesOf(fitting, clusters, needs, now).sort(compare);
  const best = ranked.at(0);
  // Every fitting target is a candidate; this holds only if the two judgements ever drift apart.
  if (best === undefined) return { kind: 'wait', reason: 'no READY target takes the job now; waiting' };
  const others = ranked.slice(1).map(brief);
  const reason = `meta-scheduler chose ${chosen(best, ranked, needs, now)}`
    + (others.length > 0 ? `; other candidates: ${bounded(others)}` : '; the only READY target that fits')
    + (best.tier === 0 ? '' : pilotNotes(clusters, needs, now));
  switch (best.tier) {
    case 0: return { kind: 'placed', clusterId: best.system.clusterId, allocationId: best.pilot.allocationId, reason };
    case 2: {
      const partition = needs.queueName === undefined ? best.partition.name : undefined;
      return { kind: 'placed', clusterId: best.system.clusterId, ...(partition !== undefined ? { partition } : {}), reason };
    }
    default: return { kind: 'placed', clusterId: best.cluster.clusterId, reason };
  }
}
