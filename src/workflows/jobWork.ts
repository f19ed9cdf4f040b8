// Dispatching jobs to their cluster's scheduler exactly once, watching them to their end, and
// placing jobs that waited for a cluster. Each runs as a queue task; each is safe to run again.
import { gatewayAccount, gatewayRoot, resolveWorkingDir } from '../domain/gatewayAccount';
import { place, needsOf, type ClusterCapacity } from '../domain/placement';
import { canJobMove, isTerminalJobState } from '../domain/stateMachines';
import type { Cluster } from '../domain/types';
import type { Logger } from '../log';
import { JobRefusedError, type NativeJobStatus } from '../schedulers/scheduler';
import type { ClusterStore } from '../store/clusterStore';
import type { Db } from '../store/db';
import type { JobStore, JobWork, StatusChange } from '../store/jobStore';
import { processIdentity, type QueueStore } from '../store/queueStore';
import type { ClusterAccess } from './clusterAccess';
import { jobEnvironment } from './applications';
import type { ApplicationStore } from '../store/applicationStore';

export interface JobWorkDeps {
  db: Db;
  applications: ApplicationStore;
  jobs: JobStore;
  clusters: ClusterStore;
  queue: QueueStore;
  access: ClusterAccess;
  log: Logger;
  /** On the cluster's nodes, where every gateway's job root is (JOB_ROOT). */
  jobRoot: string;
  /** How often a cluster's jobs are polled. */
  monitorIntervalMs: number;
  /** A dispatch claim this old, whose process stopped beating, is taken over (the queue's staleAfter). */
  staleAfterMs: number;
  now?: () => number;
}

/** How much of a job's stdout/stderr getJob carries. */
export const OUTPUT_TAIL_BYTES = 64 * 1024;
const WAITING_BATCH = 500;
const LIVE_CLUSTER = new Set(['READY', 'SCALING', 'DEGRADED']);

export class JobWorkflows {
  private readonly now: () => number;

  /** Names this process in dispatch claims, as in the queue's heartbeats. */
  private readonly processId = processIdentity();

  constructor(private readonly deps: JobWorkDeps) {
    this.now = deps.now ?? Date.now;
  }

  /**
   * Submits a job to its cluster's scheduler once. The native job carries our id, so a dispatch
   * that died between submitting and recording finds its own job instead of submitting twice.
   */
  async dispatch(jobId: string): Promise<void> {
    const { db, jobs, clusters } = this.deps;
    const work = await jobs.work(db, jobId);
    if (!work || work.state !== 'SUBMITTED' || work.nativeJobId || !work.clusterId) return;
    const cluster = await clusters.getById(db, work.clusterId);
    if (!cluster || ['FAILED', 'TERMINATED', 'TEARING_DOWN'].includes(cluster.state)) {
      await this.end(work, 'FAILED', `cluster ${work.clusterId} is ${cluster?.state ?? 'gone'}; the job was never dispatched`);
      return;
    }
    if (!LIVE_CLUSTER.has(cluster.state)) {
      // Still being built: look again shortly (the queue keeps this durable).
      await this.deps.queue.enqueue(db, 'job_dispatch', { jobId }, { jobKey: `dispatch:${jobId}`, runAt: new Date(this.now() + 5000) });
      return;
    }
    const scheduler = this.deps.access.scheduler(cluster);
    const account = gatewayAccount(work.gatewayId).name;
    // Submit resolved and checked the directory; a job recorded before that was checked is
    // resolved (and refused) the same way here.
    const resolved = resolveWorkingDir(gatewayRoot(this.deps.jobRoot, work.gatewayId), jobId, work.workingDir);
    if ('error' in resolved) {
      await this.end(work, 'FAILED', `${resolved.error.field} ${resolved.error.message}`);
      return;
    }
    const workingDir = resolved.dir;
    const app = work.spec.applicationId ? await this.deps.applications.get(db, work.spec.applicationId) : undefined;
    // Claim, act, record: no transaction is open while the scheduler is called. The claim keeps a
    // second dispatcher of the same job out; a crash after submit leaves the attempt counted, and
    // only a job whose dispatch started before can already be in the scheduler: only then is it
    // searched, and the job found there is adopted instead of submitted again.
    const now = this.now();
    const attempt = await jobs.claimDispatch(db, jobId, this.processId, now, now - this.deps.staleAfterMs);
    if (attempt === undefined) {
      const again = await jobs.work(db, jobId);
      if (!again || again.state !== 'SUBMITTED' || again.nativeJobId) return; // done, or ended meanwhile
      // Another live dispatcher holds it: look again once its claim could be stale.
      await this.deps.queue.enqueue(db, 'job_dispatch', { jobId }, { jobKey: `dispatch:${jobId}`, runAt: new Date(now + this.deps.staleAfterMs) });
      return;
    }
    let nativeJobId: string | undefined;
    try {
      nativeJobId = attempt > 1 ? (await scheduler.findByJobIds([jobId])).get(jobId) : undefined;
      const adopted = nativeJobId !== undefined;
      nativeJobId ??= await scheduler.submit({
        jobId, spec: work.spec, workingDir, account, environment: jobEnvironment(app, work.spec.environment),
      });
      const reason = `${adopted ? 'found already queued' : 'queued'} as ${scheduler.name} job ${nativeJobId} on cluster ${cluster.name}`;
      if (await jobs.recordDispatch(db, jobId, nativeJobId, workingDir, reason, this.now())) return;
      // Canceled (or its cluster deleted) while it was being submitted: it must not run.
      this.deps.log.info({ jobId, nativeJobId }, 'job ended while it was dispatched; canceling the native job');
      await scheduler.cancel(nativeJobId).catch((error: unknown) =>
        this.deps.log.error({ jobId, nativeJobId, err: error }, 'could not cancel the native job of a job that ended while it was dispatched'));
    } catch (error) {
      // The job itself cannot run as given: it ends FAILED with the reason instead of being
      // retried for days. Anything else (an unreachable controller) is retried by the queue.
      if (error instanceof JobRefusedError) {
        await this.end(work, 'FAILED', error.message.slice(0, 2000));
        return;
      }
      await jobs.releaseDispatch(db, jobId, this.processId);
      throw error;
    }
  }

  /** One poll of a cluster's live jobs (one batched scheduler query), then the next tick is queued. */
  async monitor(clusterId: string): Promise<void> {
    const { db, jobs, clusters } = this.deps;
    const cluster = await clusters.getById(db, clusterId);
    if (!cluster || !LIVE_CLUSTER.has(cluster.state)) return; // the watch ends with the cluster
    try {
      const live = await jobs.liveOnCluster(db, clusterId);
      if (live.length > 0) {
        const statuses = await this.deps.access.scheduler(cluster).poll(
          live.map((job) => ({ jobId: job.jobId, nativeJobId: job.nativeJobId as string })));
        const byId = new Map(live.map((job) => [job.jobId, job]));
        for (const status of statuses) {
          const job = byId.get(status.jobId);
          if (job) await this.apply(cluster, job, status);
        }
      }
    } finally {
      await this.deps.queue.enqueue(db, 'cluster_monitor', { clusterId }, {
        jobKey: `monitor:${clusterId}`, runAt: new Date(this.now() + this.deps.monitorIntervalMs),
      });
    }
  }

  /** Gives waiting jobs of a gateway a cluster, now that one is READY (or has room). */
  async placeWaiting(gatewayId: string): Promise<void> {
    const { db, jobs, clusters } = this.deps;
    const waiting = await jobs.waiting(db, gatewayId, WAITING_BATCH);
    if (waiting.length === 0) return;
    const capacity: ClusterCapacity[] = await clusters.readyCapacity(db, gatewayId);
    for (const job of waiting) {
      const needs = needsOf(job.spec);
      const placement = place(capacity, needs);
      if (placement.kind === 'wait') return;
      if (placement.kind === 'never') {
        await this.end(job, 'FAILED', `no READY cluster could ever run it: ${placement.errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`);
        continue;
      }
      await db.transaction((tx) => jobs.assignCluster(tx, job.jobId, placement.clusterId, placement.reason, this.now()));
      const chosen = capacity.find((c) => c.clusterId === placement.clusterId);
      if (chosen) chosen.busyCpus += needs.cpus;
    }
    if (waiting.length === WAITING_BATCH) {
      await this.deps.queue.enqueue(db, 'place_waiting', { gatewayId }, { jobKey: `place:${gatewayId}` });
    }
  }

  /** Records what the scheduler says, with the steps in between a poll may have missed. */
  private async apply(cluster: Cluster, job: JobWork, status: NativeJobStatus): Promise<void> {
    const scheduler = this.deps.access.scheduler(cluster);
    if (status.state === job.state) return;
    const now = this.now();
    const changes: StatusChange[] = [];
    const terminal = isTerminalJobState(status.state);
    // A job that started and ended between two polls did run: its history says so, with the
    // scheduler's own start time.
    if (terminal && job.state === 'QUEUED' && status.startTime !== undefined) {
      changes.push({ state: 'ACTIVE', time: Math.min(status.startTime, now), reason: `running (${scheduler.name} job ${status.nativeJobId})` });
    }
    const from = changes.length > 0 ? 'ACTIVE' : job.state;
    if (!canJobMove(from, status.state)) {
      this.deps.log.warn({ jobId: job.jobId, from, to: status.state }, 'scheduler reported a state the job cannot move to; ignored');
      return;
    }
    changes.push({
      state: status.state,
      time: terminal ? Math.min(status.endTime ?? now, now) : now,
      reason: describe(scheduler.name, status),
    });
    const facts = terminal
      ? {
        exitCode: status.exitCode,
        nativeState: status.nativeState,
        endedAt: status.endTime ?? now,
        ...(job.workingDir
          ? await scheduler.outputTails({ account: gatewayAccount(job.gatewayId).name, workingDir: job.workingDir }, OUTPUT_TAIL_BYTES)
          : {}),
      }
      : { nativeState: status.nativeState };
    await this.deps.db.transaction(async (tx) => {
      const locked = await this.deps.jobs.lockWork(tx, job.jobId);
      if (!locked || locked.state !== job.state) return; // another tick got there first
      await this.deps.jobs.append(tx, job.jobId, changes, now, facts);
    });
    if (terminal) {
      // Room freed: jobs waiting for a cluster may fit now.
      await this.deps.queue.enqueue(this.deps.db, 'place_waiting', { gatewayId: cluster.gatewayId }, { jobKey: `place:${cluster.gatewayId}` });
    }
  }

  /** Dispatch failed on its last attempt: the job ends FAILED with the reason. */
  async giveUpDispatch(jobId: string, error: unknown): Promise<void> {
    const work = await this.deps.jobs.work(this.deps.db, jobId);
    if (!work || work.nativeJobId) return;
    const message = (error instanceof Error ? error.message : String(error)).slice(0, 1000);
    await this.end(work, 'FAILED', `dispatch given up after repeated failures: ${message}`);
  }

  private async end(job: JobWork, state: 'FAILED' | 'CANCELED', reason: string): Promise<void> {
    const now = this.now();
    await this.deps.db.transaction(async (tx) => {
      const locked = await this.deps.jobs.lockWork(tx, job.jobId);
      if (!locked || isTerminalJobState(locked.state)) return;
      await this.deps.jobs.append(tx, job.jobId, [{ state, time: now, reason }], now, { endedAt: now });
    });
  }
}

function describe(schedulerName: string, status: NativeJobStatus): string {
  const code = status.exitCode !== undefined ? `, exit code ${status.exitCode}` : '';
  const why = status.reason && status.reason !== 'None' ? ` (${status.reason})` : '';
  return `${schedulerName}: ${status.nativeState}${why}${code}`;
}

