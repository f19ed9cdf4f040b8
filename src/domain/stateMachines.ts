// Legal state changes. An illegal change is a bug in the caller, never a silent overwrite: stores
// check here before they write.
import type { ClusterState, JobState } from './types';

const TERMINAL_JOB_STATES: ReadonlySet<JobState> = new Set(['COMPLETE', 'CANCELED', 'FAILED']);

// Airavata's monitor accepts no change out of a terminal state; SUSPENDED and UNKNOWN are detours
// a live job may take and come back from. ACTIVE -> QUEUED: the scheduler requeued a running job
// (Slurm does when its node fails and the job may be requeued); it waits to run again.
const JOB_TRANSITIONS: Record<JobState, readonly JobState[]> = {
  SUBMITTED: ['QUEUED', 'ACTIVE', 'COMPLETE', 'FAILED', 'CANCELED', 'UNKNOWN'],
  QUEUED: ['ACTIVE', 'COMPLETE', 'FAILED', 'CANCELED', 'SUSPENDED', 'UNKNOWN'],
  ACTIVE: ['QUEUED', 'COMPLETE', 'FAILED', 'CANCELED', 'SUSPENDED', 'UNKNOWN', 'NON_CRITICAL_FAIL'],
  SUSPENDED: ['QUEUED', 'ACTIVE', 'COMPLETE', 'FAILED', 'CANCELED', 'UNKNOWN'],
  UNKNOWN: ['QUEUED', 'ACTIVE', 'SUSPENDED', 'COMPLETE', 'FAILED', 'CANCELED'],
  NON_CRITICAL_FAIL: ['ACTIVE', 'COMPLETE', 'FAILED', 'CANCELED'],
  COMPLETE: [],
  CANCELED: [],
  FAILED: [],
};

const LIVE_CLUSTER_STATES: readonly ClusterState[] = [
  'REQUESTED', 'PROVISIONING', 'CONFIGURING', 'READY', 'SCALING', 'DEGRADED', 'TEARING_DOWN',
];

const CLUSTER_TRANSITIONS: Record<ClusterState, readonly ClusterState[]> = {
  REQUESTED: ['PROVISIONING', 'TEARING_DOWN', 'FAILED'],
  PROVISIONING: ['CONFIGURING', 'TEARING_DOWN', 'FAILED'],
  CONFIGURING: ['READY', 'TEARING_DOWN', 'FAILED'],
  READY: ['SCALING', 'DEGRADED', 'TEARING_DOWN', 'FAILED'],
  SCALING: ['READY', 'DEGRADED', 'TEARING_DOWN', 'FAILED'],
  DEGRADED: ['READY', 'SCALING', 'TEARING_DOWN', 'FAILED'],
  TEARING_DOWN: ['TERMINATED', 'FAILED'],
  TERMINATED: [],
  // A failed cluster may still hold machines we bought: it can always be torn down.
  FAILED: ['TEARING_DOWN'],
};

export function isTerminalJobState(state: JobState): boolean {
  return TERMINAL_JOB_STATES.has(state);
}

export function canJobMove(from: JobState, to: JobState): boolean {
  return JOB_TRANSITIONS[from].includes(to);
}

export function canClusterMove(from: ClusterState, to: ClusterState): boolean {
  return CLUSTER_TRANSITIONS[from].includes(to);
}

export function isLiveClusterState(state: ClusterState): boolean {
  return LIVE_CLUSTER_STATES.includes(state);
}

export class IllegalTransitionError extends Error {
  constructor(entity: 'job' | 'cluster', id: string, from: string, to: string) {
    super(`illegal ${entity} transition for ${id}: ${from} -> ${to}`);
    this.name = 'IllegalTransitionError';
  }
}
