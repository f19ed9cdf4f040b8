// Jobs their scheduler has forgotten. On a Slurm cluster we built, a poll reads squeue and the job
// completion log and fails outright when either cannot be read, so a job it says nothing about is
// in neither: Slurm no longer knows it and nothing says how it ended (the log was lost or replaced,
// slurmctld's state was wiped). Left alone it would stay ACTIVE forever; after a grace period (a
// job that ends while both are read is in neither for one poll) it is reported UNKNOWN, and stays
// watched, so a later squeue entry or completion record still gives its true state.
import type { Cluster } from '../domain/types';
import type { LiveJob } from '../store/jobStore';

/**
 * Whether a job the cluster's scheduler says nothing about has been forgotten by it. Not so on an
 * HPC system: its scheduler reports lost jobs itself (FAILED after HPC_MISSING_GRACE_MS, see
 * src/schedulers/slurm/siteEnded.ts). Nor on a Mesos cluster: a framework that did not answer has
 * its jobs left out of the poll, which says nothing about them.
 */
export function silenceMeansForgotten(cluster: Pick<Cluster, 'kind' | 'provider' | 'site'>): boolean {
  return cluster.kind === 'SLURM' && cluster.provider !== 'HPC_PILOT' && cluster.site === undefined;
}

/** A job missing for the whole grace period, and since when. */
export interface ForgottenJob {
  job: LiveJob;
  missingSince: number;
}

/** Per cluster, since when each of its live jobs has been missing from every poll. */
export class ForgottenJobs {
  private readonly clusters = new Map<string, Map<string, number>>();

  constructor(private readonly graceMs: number) {}

  /**
   * After a poll that answered: `polled` are the jobs asked about, `reported` the ids the scheduler
   * said something about. Returns the jobs missing from every poll for at least the grace period
   * (first missed at `missingSince`). A job already UNKNOWN is not counted: there is nothing more
   * to report until the scheduler speaks of it again.
   */
  observe(clusterId: string, polled: Iterable<LiveJob>, reported: ReadonlySet<string>, now: number): ForgottenJob[] {
    const before = this.clusters.get(clusterId) ?? new Map<string, number>();
    // Only jobs still polled are kept: one that ended, or was canceled, is forgotten here too.
    const missing = new Map<string, number>();
    const forgotten: ForgottenJob[] = [];
    for (const job of polled) {
      if (reported.has(job.jobId) || job.state === 'UNKNOWN') continue;
      const since = before.get(job.jobId) ?? now;
      missing.set(job.jobId, since);
      if (now - since >= this.graceMs) forgotten.push({ job, missingSince: since });
    }
    if (missing.size > 0) this.clusters.set(clusterId, missing);
    else this.clusters.delete(clusterId);
    return forgotten;
  }

  /** The cluster is no longer monitored here. */
  forget(clusterId: string): void {
    this.clusters.delete(clusterId);
  }
}

/** What the job's history says when it goes UNKNOWN. */
export function forgottenReason(schedulerName: string, forgotten: ForgottenJob, now: number): string {
  const seconds = Math.round((now - forgotten.missingSince) / 1000);
  return `${schedulerName} no longer knows job ${forgotten.job.nativeJobId} (not in its queue for ${seconds} s) and no completion record `
    + `of it was found; its true state is taken if ${schedulerName} reports it again`;
}
