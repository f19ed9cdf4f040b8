// One round of batched dispatch: claim several due jobs of a cluster, submit them from one process
// as the gateway's account, record them all in one statement. Each job keeps the guarantees of a
// single dispatch: claimed before anything is submitted, searched for (and adopted) when an earlier
// attempt started, its native job canceled when it ended meanwhile, FAILED alone when the job
// itself is refused, let go for a retry on any other failure.
import { gatewayAccount, gatewayRoot, resolveWorkingDir } from '../domain/gatewayAccount';
import type { Application, Cluster } from '../domain/types';
import type { Logger } from '../log';
import type { BatchJob, Scheduler, SubmitOutcome } from '../schedulers/scheduler';
import type { ApplicationStore } from '../store/applicationStore';
import type { Db } from '../store/db';
import type { ClaimedJob, DispatchRecord, DispatchStore } from '../store/dispatchStore';
import { jobEnvironment } from './applications';

/**
 * Jobs claimed per round. sbatch costs the same whatever the batch, so the size only bounds how
 * long one round holds its claims and how much one process is handed at once.
 */
export const DISPATCH_BATCH_SIZE = 64;

/**
 * Rounds of one cluster in flight at once in this process, each one process running its sbatch one
 * after the other. sbatch mostly waits on slurmctld: on a quiet 2-core controller two at a time
 * nearly doubled the rate of one (a bash loop of sbatch: 110 -> 214 jobs/s) and four did no better;
 * in bench/dispatch (500 jobs) two rounds gave 161 jobs/s, three 138/s. On a busy controller they
 * only share the same cores.
 */
export const DISPATCH_ROUNDS_PER_CLUSTER = 2;

export interface BatchDispatchDeps {
  db: Db;
  dispatches: DispatchStore;
  applications: ApplicationStore;
  log: Logger;
  jobRoot: string;
  /** Names this process in claims, as in the queue's heartbeats. */
  processId: string;
  /** A claim this old, whose process stopped beating, is taken over. */
  staleAfterMs: number;
  batchSize: number;
  /** Rounds of one cluster at once (DISPATCH_ROUNDS_PER_CLUSTER); a task beyond them waits its turn. */
  roundsPerCluster?: number;
  /** Write outbox events with the QUEUED statuses (JobStore's setting). */
  outbox: boolean;
  /** Ends a job FAILED with the reason (if it has not ended already). */
  fail: (jobId: string, reason: string) => Promise<void>;
  /** Ends a job CANCELED with the reason (if it has not ended and is still undispatched). */
  cancel: (jobId: string, reason: string) => Promise<void>;
  now: () => number;
}

export interface RoundResult {
  /** The lead job was in this round (else another live dispatcher holds it, or it is done). */
  leadClaimed: boolean;
  /** The lead failed for a reason a retry may cure: its task throws this, so the queue retries it. */
  leadError?: Error;
}

/** What one claimed job became before anything was recorded. */
type Fate =
  | { kind: 'record'; record: DispatchRecord }
  | { kind: 'refuse'; reason: string }
  /** A cancel was asked and the scheduler does not hold the job: it ends CANCELED, never submitted. */
  | { kind: 'cancel'; reason: string }
  | { kind: 'retry'; error: Error };

export class BatchDispatcher {
  private readonly turns: ClusterTurns;
  /**
   * Clusters whose last round here queued nothing and retried (or threw): the cluster itself is
   * likely failing (controller or SSH unreachable). The next round that queues a job there wakes
   * the jobs waiting out their retry delays. Kept in memory: after a restart, the first failed
   * round marks the cluster again; a cluster that recovered before it is left to the delays.
   */
  private readonly failing = new Set<string>();

  constructor(private readonly deps: BatchDispatchDeps) {
    this.turns = new ClusterTurns(deps.roundsPerCluster ?? DISPATCH_ROUNDS_PER_CLUSTER);
  }

  /**
   * A round with the lead job first in line. A task whose cluster has all its rounds running waits
   * for one to end (its own job was most likely in one; the round it runs then takes whatever else
   * is due), rather than crowding the controller with yet another process.
   */
  round(cluster: Cluster, scheduler: Scheduler, leadJobId: string, gatewayId: string): Promise<RoundResult> {
    return this.turns.run(cluster.clusterId, () => this.roundNow(cluster, scheduler, leadJobId, gatewayId));
  }

  private async roundNow(cluster: Cluster, scheduler: Scheduler, leadJobId: string, gatewayId: string): Promise<RoundResult> {
    const { db, dispatches, log } = this.deps;
    const now = this.deps.now();
    const claimed = await dispatches.claimBatch(db, {
      leadJobId, clusterId: cluster.clusterId, gatewayId, processId: this.deps.processId,
      now, staleBefore: now - this.deps.staleAfterMs, limit: this.deps.batchSize,
    });
    const leadClaimed = claimed.some((job) => job.jobId === leadJobId);
    if (claimed.length === 0) return { leadClaimed };
    const started = performance.now();
    const fates = new Map<string, Fate>();
    const settled = new Set<string>();
    let submitMs = 0;
    try {
      submitMs = await this.decide(cluster, scheduler, claimed, fates);
      await this.settle(scheduler, fates, settled);
    } catch (error) {
      this.failing.add(cluster.clusterId);
      throw error;
    } finally {
      // Whatever was not settled (to retry, or an error above) is let go: its next attempt
      // searches the scheduler first, so a job submitted but not recorded is adopted, not doubled.
      const unsettled = claimed.filter((job) => !settled.has(job.jobId));
      await dispatches.releaseBatch(db, unsettled.map((job) => job.jobId), this.deps.processId)
        .catch((error: unknown) => log.error({ err: error }, 'could not let go of dispatch claims; they are taken over once stale'));
    }
    const count = (kind: Fate['kind']) => [...fates.values()].filter((fate) => fate.kind === kind).length;
    log.info({
      clusterId: cluster.clusterId, jobs: claimed.length, queued: count('record'), refused: count('refuse'), canceled: count('cancel'), retried: count('retry'),
      ms: Math.round(performance.now() - started), submitMs,
    }, 'dispatched a batch');
    await this.noteClusterHealth(cluster.clusterId, count('record'), count('retry'));
    const lead = fates.get(leadJobId);
    return { leadClaimed, ...(lead?.kind === 'retry' ? { leadError: lead.error } : {}) };
  }

  /** Marks a cluster failing after a round that only retried; wakes its retries once it queues again. */
  private async noteClusterHealth(clusterId: string, recorded: number, retried: number): Promise<void> {
    if (recorded === 0) {
      if (retried > 0) this.failing.add(clusterId);
      return;
    }
    if (!this.failing.delete(clusterId)) return;
    const woken = await this.deps.dispatches.wakeRetries(this.deps.db, clusterId).catch((error: unknown) => {
      this.deps.log.error({ clusterId, err: error }, 'could not wake the jobs waiting out a retry; they run when their delays end');
      return 0;
    });
    if (woken > 0) this.deps.log.info({ clusterId, woken }, 'the cluster queues jobs again: woke the jobs waiting out a retry');
  }

  /** Searches, submits and sorts every claimed job into record, refuse or retry; returns the submit's ms. */
  private async decide(cluster: Cluster, scheduler: Scheduler, claimed: readonly ClaimedJob[], fates: Map<string, Fate>): Promise<number> {
    const apps = await this.applicationsOf(claimed);
    const batch: { job: BatchJob; attempt: number }[] = [];
    for (const claim of claimed) {
      // Submit resolved and checked the directory; a job recorded before that was checked is
      // resolved (and refused) the same way here.
      const resolved = dispatchDirectory(scheduler, this.deps.jobRoot, claim);
      if ('error' in resolved) {
        fates.set(claim.jobId, { kind: 'refuse', reason: `${resolved.error.field} ${resolved.error.message}` });
        continue;
      }
      const app = claim.spec.applicationId ? apps.get(claim.spec.applicationId) : undefined;
      batch.push({
        attempt: claim.attempt,
        job: {
          jobId: claim.jobId, spec: claim.spec, workingDir: resolved.dir, account: gatewayAccount(claim.gatewayId).name,
          environment: jobEnvironment(app, claim.spec.environment),
          ...(claim.pilot ? { pilot: claim.pilot } : {}),
        },
      });
    }
    // Only a job whose dispatch started before can already be in the scheduler: those are searched
    // for, and one found there is adopted instead of submitted again.
    const searched = batch.filter((b) => b.attempt > 1).map((b) => b.job.jobId);
    let found = new Map<string, string>();
    if (searched.length > 0) {
      try {
        found = await scheduler.findByJobIds(searched);
      } catch (error) {
        const failure = error instanceof Error ? error : new Error(String(error));
        for (const jobId of searched) fates.set(jobId, { kind: 'retry', error: failure });
      }
    }
    const where = `on cluster ${cluster.name}`;
    const toSubmit: BatchJob[] = [];
    const cancelRequested = new Map(claimed.flatMap((claim) => (claim.cancelRequested === undefined ? [] : [[claim.jobId, claim.cancelRequested] as const])));
    for (const { job } of batch) {
      if (fates.has(job.jobId)) continue;
      const adopted = found.get(job.jobId);
      const canceledBy = cancelRequested.get(job.jobId);
      if (adopted === undefined && canceledBy !== undefined) {
        // Searched (a cancel is left only on a job whose dispatch began) and not found: the
        // earlier dispatch never got there. It must not run.
        fates.set(job.jobId, { kind: 'cancel', reason: `canceled by ${canceledBy} before dispatch (its earlier dispatch had not reached ${scheduler.name})` });
        continue;
      }
      if (adopted === undefined) {
        toSubmit.push(job);
        continue;
      }
      fates.set(job.jobId, { kind: 'record', record: {
        jobId: job.jobId, nativeJobId: adopted, workingDir: job.workingDir,
        reason: `found already queued as ${scheduler.name} job ${adopted} ${where}`,
      } });
    }
    const submitStarted = performance.now();
    const outcomes: SubmitOutcome[] = toSubmit.length > 0 ? await scheduler.submitMany(toSubmit) : [];
    const submitMs = Math.round(performance.now() - submitStarted);
    outcomes.forEach((outcome, i) => {
      const job = toSubmit[i];
      if (outcome.kind === 'submitted') {
        fates.set(job.jobId, { kind: 'record', record: {
          jobId: job.jobId, nativeJobId: outcome.nativeJobId, workingDir: job.workingDir,
          reason: `queued as ${scheduler.name} job ${outcome.nativeJobId} ${where}`,
        } });
      } else if (outcome.kind === 'refused') {
        // The job itself cannot run as given: it ends FAILED instead of being retried for days.
        fates.set(job.jobId, { kind: 'refuse', reason: outcome.error.message.slice(0, 2000) });
      } else {
        fates.set(job.jobId, { kind: 'retry', error: outcome.error });
      }
    });
    return submitMs;
  }

  /** Records what was queued (canceling what must not run), fails what was refused. */
  private async settle(scheduler: Scheduler, fates: ReadonlyMap<string, Fate>, settled: Set<string>): Promise<void> {
    const { db, dispatches, log } = this.deps;
    const records = [...fates.values()].flatMap((fate) => (fate.kind === 'record' ? [fate.record] : []));
    const { missed, cancelRequested } = await dispatches.recordBatch(db, records, this.deps.now(), this.deps.outbox);
    for (const record of records) settled.add(record.jobId);
    for (const record of records) {
      const canceledBy = cancelRequested.get(record.jobId);
      if (canceledBy !== undefined) {
        // Recorded, and a cancel waits for it: canceled now, like any dispatched job; the
        // monitor reports what the scheduler then says.
        log.info({ jobId: record.jobId, nativeJobId: record.nativeJobId, canceledBy }, 'a cancel waited for this dispatch; canceling the native job');
        await scheduler.cancel(record.nativeJobId).catch((error: unknown) =>
          log.error({ jobId: record.jobId, nativeJobId: record.nativeJobId, err: error }, 'could not cancel a dispatched job a cancel waited for'));
        continue;
      }
      if (!missed.has(record.jobId)) continue;
      // Recorded meanwhile with this very native job (a takeover adopted it): it stays.
      if (missed.get(record.jobId) === record.nativeJobId) continue;
      // Canceled (or its cluster deleted) while it was being submitted: it must not run.
      log.info({ jobId: record.jobId, nativeJobId: record.nativeJobId }, 'job ended while it was dispatched; canceling the native job');
      await scheduler.cancel(record.nativeJobId).catch((error: unknown) =>
        log.error({ jobId: record.jobId, nativeJobId: record.nativeJobId, err: error },
          'could not cancel the native job of a job that ended while it was dispatched'));
    }
    const ended: string[] = [];
    for (const [jobId, fate] of fates) {
      if (fate.kind !== 'refuse' && fate.kind !== 'cancel') continue;
      await (fate.kind === 'refuse' ? this.deps.fail(jobId, fate.reason) : this.deps.cancel(jobId, fate.reason));
      settled.add(jobId);
      ended.push(jobId);
    }
    await dispatches.removeTasks(db, ended);
  }

  private async applicationsOf(claimed: readonly ClaimedJob[]): Promise<Map<string, Application>> {
    const ids = [...new Set(claimed.flatMap((job) => (job.spec.applicationId ? [job.spec.applicationId] : [])))];
    const apps = new Map<string, Application>();
    for (const id of ids) {
      const app = await this.deps.applications.get(this.deps.db, id);
      if (app) apps.set(id, app);
    }
    return apps;
  }
}

/**
 * The directory a job runs in on its cluster: the one it asked for, or <root>/<jobId>, under the
 * scheduler's own job root (an HPC site's) or the gateway's. Submit checked it; a job recorded
 * before that check is refused here the same way.
 */
function dispatchDirectory(scheduler: Pick<Scheduler, 'jobRoot'>, jobRoot: string, job: { jobId: string; gatewayId: string; workingDir?: string }): ReturnType<typeof resolveWorkingDir> {
  return resolveWorkingDir(scheduler.jobRoot ?? gatewayRoot(jobRoot, job.gatewayId), job.jobId, job.workingDir);
}

/** At most N runs at a time per cluster, in this process; the others wait in order. */
class ClusterTurns {
  private readonly running = new Map<string, { active: number; waiting: (() => void)[] }>();

  constructor(private readonly perCluster: number) {}

  async run<T>(clusterId: string, work: () => Promise<T>): Promise<T> {
    let slot = this.running.get(clusterId);
    if (!slot) {
      slot = { active: 0, waiting: [] };
      this.running.set(clusterId, slot);
    }
    if (slot.active >= this.perCluster) {
      const queue = slot.waiting;
      await new Promise<void>((resolve) => queue.push(resolve));
    } else {
      slot.active += 1;
    }
    try {
      return await work();
    } finally {
      // The turn passes straight to the next waiter (active stays counted), or is given back.
      const next = slot.waiting.shift();
      if (next) next();
      else {
        slot.active -= 1;
        if (slot.active === 0) this.running.delete(clusterId);
      }
    }
  }
}
