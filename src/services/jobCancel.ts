// cancelJob: ending a job wherever it is. Not yet dispatched: it ends CANCELED at once. Dispatched:
// its scheduler cancels it, and the monitor records what the scheduler then says. In between, a
// dispatch that began but recorded nothing: the scheduler is asked first, because the process that
// dispatched it may have died after submitting and before recording (crash chaos found a job
// reported CANCELED "before dispatch" that Slurm ran to completion).
import { InvalidRequestError, NotFoundError, UnsupportedError } from '../domain/errors';
import { isTerminalJobState } from '../domain/stateMachines';
import type { Caller, Cluster } from '../domain/types';
import type { Scheduler } from '../schedulers/scheduler';
import type { ClusterStore } from '../store/clusterStore';
import type { Db } from '../store/db';
import { DispatchStore } from '../store/dispatchStore';
import type { JobStore, JobWork } from '../store/jobStore';
import { dispatchDirectory } from '../workflows/batchDispatch';
import type { ClusterAccess } from '../workflows/clusterAccess';

export interface JobCancelDeps {
  db: Db;
  jobs: JobStore;
  clusters: ClusterStore;
  access: ClusterAccess;
  /** On cluster nodes, where every gateway's job root is (JOB_ROOT). */
  jobRoot: string;
  now: () => number;
}

/** What the locked read of the job decided. */
type Decision =
  | { kind: 'ended' }
  | { kind: 'dispatched'; job: JobWork & { nativeJobId: string } }
  /** A dispatch began and recorded nothing: it may have reached the scheduler. */
  | { kind: 'maybe-dispatched'; job: JobWork };

export class JobCancel {
  private readonly dispatches = new DispatchStore();

  constructor(private readonly deps: JobCancelDeps) {}

  /** Cancels a job. Canceling an already-canceled job is a no-op, so a retried cancel succeeds. */
  async cancel(caller: Caller, jobId: string): Promise<void> {
    const decision = await this.decide(caller, jobId, true);
    if (decision.kind === 'ended') return;
    const { scheduler } = await this.schedulerOf(decision.job);
    const natives = decision.kind === 'dispatched'
      ? [decision.job.nativeJobId]
      : await this.adoptOrCancel(caller, decision.job, scheduler);
    // The scheduler ends it; the monitor records CANCELED (or how it ended first) when it says so.
    for (const nativeJobId of natives) await scheduler.cancel(nativeJobId);
  }

  /**
   * Decided in a short transaction; the scheduler is called after it, with nothing held. A job no
   * dispatch has touched ends CANCELED here (a dispatch claims only SUBMITTED jobs, under the same
   * row lock). With mayHaveDispatched false, a job whose dispatch began ends CANCELED too: the
   * scheduler was searched and does not hold it.
   */
  private async decide(caller: Caller, jobId: string, mayHaveDispatched: boolean): Promise<Decision> {
    const { db, jobs } = this.deps;
    return db.transaction(async (tx) => {
      const locked = await jobs.lockWork(tx, jobId);
      // Another gateway's job is not found, exactly like one that does not exist.
      const current = locked?.gatewayId === caller.gatewayId ? locked : undefined;
      if (!current) throw new NotFoundError('job', jobId);
      if (current.state === 'CANCELED') return { kind: 'ended' };
      if (isTerminalJobState(current.state)) {
        throw InvalidRequestError.of('jobId', `job ${jobId} has already ended in ${current.state}`);
      }
      if (current.nativeJobId !== undefined) return { kind: 'dispatched', job: { ...current, nativeJobId: current.nativeJobId } };
      if (mayHaveDispatched && current.dispatchAttempts > 0 && current.clusterId !== undefined) return { kind: 'maybe-dispatched', job: current };
      const now = this.deps.now();
      await jobs.append(tx, jobId, [{ state: 'CANCELED', time: now, reason: `canceled by ${caller.userName} before dispatch` }], now);
      return { kind: 'ended' };
    });
  }

  /**
   * A job whose dispatch began: found in the scheduler, it is recorded as dispatched (as a
   * dispatch taking over would adopt it) and its native id returned, to be canceled; the monitor
   * then reports the truth, COMPLETE when it had already run. Not found: it never got there, or a
   * live dispatch is submitting it right now, which finds it CANCELED when it records and cancels
   * what it made; it ends CANCELED before dispatch.
   */
  private async adoptOrCancel(caller: Caller, job: JobWork, scheduler: Scheduler): Promise<string[]> {
    const found = await scheduler.findByJobIds([job.jobId]).catch((error: unknown) => {
      const why = error instanceof Error ? error.message : String(error);
      throw new Error(`job ${job.jobId} was being dispatched; could not ask ${scheduler.name} whether it got there, so it `
        + `was left as it is (cancel again): ${why}`.slice(0, 2000));
    });
    const nativeJobId = found.get(job.jobId);
    if (nativeJobId === undefined) {
      const again = await this.decide(caller, job.jobId, false);
      return again.kind === 'dispatched' ? [again.job.nativeJobId] : [];
    }
    const directory = dispatchDirectory(scheduler, this.deps.jobRoot, job);
    const workingDir = 'error' in directory ? (job.workingDir ?? '') : directory.dir;
    const { db, jobs } = this.deps;
    const missed = await this.dispatches.recordBatch(db, [{
      jobId: job.jobId, nativeJobId, workingDir,
      reason: `found already queued as ${scheduler.name} job ${nativeJobId} while canceling (its dispatch had not recorded it)`,
    }], this.deps.now(), jobs.options.outbox);
    // Recorded meanwhile (a dispatch took it over) or ended by another cancel: the found job must
    // go all the same, and so must another native id recorded meanwhile.
    const other = missed.get(job.jobId);
    return other === undefined || other === nativeJobId ? [nativeJobId] : [nativeJobId, other];
  }

  private async schedulerOf(job: JobWork): Promise<{ cluster: Cluster; scheduler: Scheduler }> {
    const cluster = job.clusterId ? await this.deps.clusters.getById(this.deps.db, job.clusterId) : undefined;
    if (!cluster) throw new UnsupportedError('cancelJob', `job ${job.jobId}'s cluster is gone`);
    return { cluster, scheduler: this.deps.access.scheduler(cluster) };
  }
}
