// The live jobs of each cluster this process monitors, kept between ticks. Reading every live job
// of a cluster on every tick made each tick cost as much as the jobs held (10,000 rows a second,
// and the garbage they leave); a tick now reads only the jobs of its cluster that changed lately,
// and the whole set only now and then, as a backstop.
import { isTerminalJobState } from '../domain/stateMachines';
import type { JobState } from '../domain/types';
import type { Queryable } from '../store/db';
import type { JobStore, LiveJob } from '../store/jobStore';

export interface LiveJobsOptions {
  /**
   * How far before the last read a tick looks for changes (10 s). A change is stamped (updated_at)
   * when its writer computed it, which may be a little before it committed: a change committed
   * after the last read but stamped before it is still caught, unless its transaction took longer
   * than this.
   */
  lookbackMs?: number;
  /** Every this often (60 s) the whole set is read again, whatever the ticks in between saw. */
  fullReadEveryMs?: number;
  /**
   * A set not brought up to date for this long (5 s) is read whole: another replica may have
   * monitored the cluster meanwhile, and what changed then may be older than the lookback.
   */
  staleAfterMs?: number;
}

interface ClusterJobs {
  byId: Map<string, LiveJob>;
  /** When the last read started: changes stamped from (this - lookback) on are read next. */
  readAt: number;
  fullReadAt: number;
}

export class LiveJobs {
  private readonly clusters = new Map<string, ClusterJobs>();
  private readonly lookbackMs: number;
  private readonly fullReadEveryMs: number;
  private readonly staleAfterMs: number;

  constructor(private readonly store: Pick<JobStore, 'liveOnCluster' | 'changedOnCluster'>, options: LiveJobsOptions = {}) {
    this.lookbackMs = options.lookbackMs ?? 10_000;
    this.fullReadEveryMs = options.fullReadEveryMs ?? 60_000;
    this.staleAfterMs = options.staleAfterMs ?? 5_000;
  }

  /** The cluster's dispatched jobs that have not ended, as of now (a read started at `now`). */
  async read(db: Queryable, clusterId: string, now: number): Promise<ReadonlyMap<string, LiveJob>> {
    const held = this.clusters.get(clusterId);
    if (!held || now - held.fullReadAt >= this.fullReadEveryMs || now - held.readAt >= this.staleAfterMs) {
      const live = await this.store.liveOnCluster(db, clusterId);
      const fresh = { byId: new Map(live.map((job) => [job.jobId, job])), readAt: now, fullReadAt: now };
      this.clusters.set(clusterId, fresh);
      return fresh.byId;
    }
    const changed = await this.store.changedOnCluster(db, clusterId, held.readAt - this.lookbackMs);
    for (const { job, live } of changed) {
      if (live) held.byId.set(job.jobId, job);
      else held.byId.delete(job.jobId);
    }
    held.readAt = now;
    return held.byId;
  }

  /**
   * What this process wrote of the cluster's jobs: a job moved takes its new state (or leaves the
   * set once ended) without waiting for a read to bring it back. A job the writer left alone was
   * moved by someone else since it was read: the whole set is read again next time rather than
   * trusting the stamps of that change.
   */
  afterWrite(clusterId: string, written: readonly { jobId: string; state: JobState; moved: boolean }[]): void {
    const held = this.clusters.get(clusterId);
    if (!held) return;
    for (const { jobId, state, moved } of written) {
      const job = held.byId.get(jobId);
      if (!moved) held.fullReadAt = Number.NEGATIVE_INFINITY;
      else if (isTerminalJobState(state)) held.byId.delete(jobId);
      else if (job) held.byId.set(jobId, { ...job, state });
    }
  }

  /** The cluster is no longer monitored here. */
  forget(clusterId: string): void {
    this.clusters.delete(clusterId);
  }
}
