// The meta-scheduling policy: which of a gateway's READY clusters runs a job. Pure: the caller
// gathers each cluster's capacity and load; this decides and says why.
import type { FieldError } from './errors';
import { CLUSTER_CAPABILITIES, canRun } from './capabilities';
import type { ClusterKind, JobSpec, Parallelism } from './types';

export interface NodeCapacity {
  cpus: number;
  memoryMb: number;
}

export interface ClusterCapacity {
  clusterId: string;
  name: string;
  kind: ClusterKind;
  nodes: NodeCapacity[];
  /** CPUs held by our jobs that are queued or running there. */
  busyCpus: number;
}

export interface JobNeeds {
  parallelism: Parallelism;
  cpus: number;
  nodes: number;
  /** Per node, as Slurm's --mem means it. */
  memoryMb?: number;
  wallMinutes?: number;
}

export type Placement =
  | { kind: 'placed'; clusterId: string; reason: string }
  | { kind: 'wait'; reason: string }
  | { kind: 'never'; errors: FieldError[] };

export function needsOf(spec: JobSpec): JobNeeds {
  return {
    parallelism: spec.parallelism,
    cpus: spec.totalCPUCount ?? 1,
    nodes: spec.nodeCount ?? 1,
    memoryMb: spec.totalPhysicalMemory,
    wallMinutes: spec.wallTimeLimit,
  };
}

function totalCpus(cluster: ClusterCapacity): number {
  return cluster.nodes.reduce((sum, node) => sum + node.cpus, 0);
}

/** Why the cluster could never run the job, as field errors; empty when it could. */
export function misfits(cluster: ClusterCapacity, needs: JobNeeds): FieldError[] {
  const errors: FieldError[] = [];
  const label = `cluster ${cluster.name}`;
  if (!canRun(cluster.kind, needs.parallelism)) {
    const runs = CLUSTER_CAPABILITIES[cluster.kind].parallelism.join(', ');
    errors.push({ field: 'spec.parallelism', message: `${label} (${cluster.kind}) runs ${runs} jobs only, not ${needs.parallelism}` });
  }
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

/**
 * Chooses the READY cluster with the most free CPUs among those that can run the job. A job no
 * cluster could ever run is refused with the fields that rule each one out; with no READY cluster
 * at all the job waits for one.
 */
export function place(clusters: readonly ClusterCapacity[], needs: JobNeeds): Placement {
  if (clusters.length === 0) return { kind: 'wait', reason: 'no READY cluster yet; waiting for one' };
  const fitting = clusters.filter((cluster) => misfits(cluster, needs).length === 0);
  if (fitting.length === 0) {
    const errors = clusters.flatMap((cluster) => misfits(cluster, needs));
    return { kind: 'never', errors };
  }
  const ranked = fitting
    .map((cluster) => ({ cluster, free: totalCpus(cluster) - cluster.busyCpus }))
    .sort((a, b) => b.free - a.free || a.cluster.name.localeCompare(b.cluster.name));
  const best = ranked[0];
  const others = ranked.slice(1).map((r) => `${r.cluster.name} ${r.free} free`).join(', ');
  const reason = `meta-scheduler chose cluster ${best.cluster.name} (${best.cluster.clusterId}): `
    + `${Math.max(best.free, 0)} of ${totalCpus(best.cluster)} cpus free for ${needs.cpus} asked`
    + (others ? `; other candidates: ${others}` : '; the only READY cluster that fits');
  return { kind: 'placed', clusterId: best.cluster.clusterId, reason };
}
