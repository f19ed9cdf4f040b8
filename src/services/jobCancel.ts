// cancelJob: ending a job wherever it is. Not yet dispatched: it ends CANCELED at once. Dispatched:
// its scheduler cancels it, and the monitor records what the scheduler then says. In between, a
// dispatch that began but recorded nothing: only that dispatch knows whether it reached the
// scheduler (it may be submitting right now, or its process may have died after submitting), so
// the cancel is left on the job for it (BatchDispatcher): the job is canceled in the scheduler once
// recorded, or ends CANCELED when a search finds nothing. Crash chaos found the need: ending such a
// job CANCELED at once reported "canceled before dispatch" a job that Slurm then ran.
import { InvalidRequestError, NotFoundError, UnsupportedError } from '../domain/errors';
import { isTerminalJobState } from '../domain/stateMachines';
import type { Caller } from '../domain/types';
import type { ClusterStore } from '../store/clusterStore';
import type { Db } from '../store/db';
import type { JobStore, JobWork } from '../store/jobStore';
import type { ClusterAccess } from '../workflows/clusterAccess';

export interface JobCancelDeps {
  db: Db;
  jobs: JobStore;
  clusters: ClusterStore;
  access: ClusterAccess;
  now: () => number;
}

export class JobCancel {
  constructor(private readonly deps: JobCancelDeps) {}

  /** Cancels a job. Canceling an already-canceled job is a no-op, so a retried cancel succeeds. */
  async cancel(caller: Caller, jobId: string): Promise<void> {
    const dispatched = await this.decide(caller, jobId);
    if (dispatched?.nativeJobId === undefined) return;
    // The scheduler ends it; the monitor records CANCELED (or how it ended first) when it says so.
    const cluster = dispatched.clusterId ? await this.deps.clusters.getById(this.deps.db, dispatched.clusterId) : undefined;
    if (!cluster) throw new UnsupportedError('cancelJob', `job ${jobId}'s cluster is gone`);
    await this.deps.access.scheduler(cluster).cancel(dispatched.nativeJobId);
  }

  /**
   * Decided in a short transaction, under the job's row lock (which a dispatch's claim and record
   * also take); the scheduler is called after it, with nothing held. Returns the job when it is
   * dispatched, for its scheduler to cancel.
   */
  private async decide(caller: Caller, jobId: string): Promise<JobWork | undefined> {
    const { db, jobs } = this.deps;
    return db.transaction(async (tx) => {
      const locked = await jobs.lockWork(tx, jobId);
      // Another gateway's job is not found, exactly like one that does not exist.
      const current = locked?.gatewayId === caller.gatewayId ? locked : undefined;
      if (!current) throw new NotFoundError('job', jobId);
      if (current.state === 'CANCELED') return undefined;
      if (isTerminalJobState(current.state)) {
        throw InvalidRequestError.of('jobId', `job ${jobId} has already ended in ${current.state}`);
      }
      if (current.nativeJobId !== undefined) return current;
      const now = this.deps.now();
      if (current.dispatchAttempts > 0) {
        await jobs.requestCancel(tx, jobId, caller.userName, now);
        return undefined;
      }
      // No dispatch has touched it, and none can now: a claim takes only SUBMITTED jobs.
      await jobs.append(tx, jobId, [{ state: 'CANCELED', time: now, reason: `canceled by ${caller.userName} before dispatch` }], now);
      return undefined;
    });
  }
}
