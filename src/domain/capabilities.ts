// What each kind of cluster can run. Request validation refuses what no kind can run, and placement
// keeps a job off the clusters whose kind cannot run it, both from this one table: a kind that
// learns a new parallelism is taught here, and both checks follow.
import type { ClusterKind, Parallelism } from './types';

export interface ClusterCapabilities {
  /** The parallelism types the kind's scheduler adapter turns into a runnable job. */
  parallelism: readonly Parallelism[];
}

export const CLUSTER_CAPABILITIES: Readonly<Record<ClusterKind, ClusterCapabilities>> = {
  // The Slurm adapter lays out SERIAL, OPENMP, MPI and OPENMP_MPI jobs. CCM (Cray's cluster
  // compatibility mode) and CRAY_MPI (aprun/ALPS) need a Cray system, which our clusters are not.
  SLURM: { parallelism: ['SERIAL', 'OPENMP', 'MPI', 'OPENMP_MPI'] },
  MESOS_MARATHON: { parallelism: ['SERIAL'] },
};

export function canRun(kind: ClusterKind, parallelism: Parallelism): boolean {
  return CLUSTER_CAPABILITIES[kind].parallelism.includes(parallelism);
}

/** The parallelism types some kind of cluster runs: any other can never run, wherever it is sent. */
export function runnableParallelism(): Parallelism[] {
  const all = Object.values(CLUSTER_CAPABILITIES).flatMap((capabilities) => capabilities.parallelism);
  return [...new Set(all)];
}
