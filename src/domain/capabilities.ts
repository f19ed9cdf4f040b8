// What each kind of cluster can run. Request validation refuses what no kind can run, and placement
// keeps a job off the clusters whose kind cannot run it, both from this one table: a kind that
// learns a new parallelism is taught here, and both checks follow.
import type { ClusterKind, JobType, Parallelism } from './types';

export interface ClusterCapabilities {
  /** The parallelism types the kind's scheduler adapter turns into a runnable job. */
  parallelism: readonly Parallelism[];
  /** The job types it runs, each with the scheduler that runs it there (as messages name it). */
  jobTypes: Readonly<Partial<Record<JobType, string>>>;
}

export const CLUSTER_CAPABILITIES: Readonly<Record<ClusterKind, ClusterCapabilities>> = {
  // The Slurm adapter lays out SERIAL, OPENMP, MPI and OPENMP_MPI jobs. CCM (Cray's cluster
  // compatibility mode) and CRAY_MPI (aprun/ALPS) need a Cray system, which our clusters are not.
  // Slurm has no notion of a service that is restarted when it exits: batch work only.
  SLURM: { parallelism: ['SERIAL', 'OPENMP', 'MPI', 'OPENMP_MPI'], jobTypes: { BATCH: 'Slurm' } },
  // Mesos ran MPI only ever as an experiment; a serial task is what Metronome and Marathon launch.
  // Marathon restarts a task that exits, so run-to-completion work goes to Metronome.
  MESOS_MARATHON: { parallelism: ['SERIAL'], jobTypes: { BATCH: 'Metronome', SERVICE: 'Marathon' } },
};

export function canRun(kind: ClusterKind, parallelism: Parallelism, jobType: JobType = 'BATCH'): boolean {
  const can = CLUSTER_CAPABILITIES[kind];
  return can.parallelism.includes(parallelism) && can.jobTypes[jobType] !== undefined;
}

/** The job types the kind runs, in a sentence ("BATCH (Metronome), SERVICE (Marathon)"). */
export function jobTypesText(kind: ClusterKind): string {
  return Object.entries(CLUSTER_CAPABILITIES[kind].jobTypes).map(([type, scheduler]) => `${type} (${scheduler})`).join(', ');
}

/** The parallelism types some kind of cluster runs: any other can never run, wherever it is sent. */
export function runnableParallelism(): Parallelism[] {
  const all = Object.values(CLUSTER_CAPABILITIES).flatMap((capabilities) => capabilities.parallelism);
  return [...new Set(all)];
}
