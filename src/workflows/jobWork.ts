// Dispatching jobs to their cluster's scheduler exactly once, watching them to their end, and
// placing jobs that waited for a cluster. Each runs as a queue task; each is safe to run again.
import { DEFAULT_JOB_MISSING_GRACE_MS } from '../config';
import { gatewayAccount } from '../domain/gatewayAccount';
import { place, needsOf, type ClusterCapacity } from '../domain/placement';
import { canJobMove, isTerminalJobState } from '../domain/stateMachines';
import type { Cluster } from '../domain/types';
import type { Logger } from '../log';
import type { JobOutput, NativeJobStatus, Scheduler } from '../schedulers/scheduler';
import type { ClusterStore } from '../store/clusterStore';
import type { Db } from '../store/db';
import type { JobStore, JobWork, LiveJob, StatusChange } from '../store/jobStore';
import type { JobFacts, ObservedTransition } from '../store/jobStatusWriter';
import { processIdentity, type QueueStore } from '../store/queueStore';
import type { ClusterAccess } from './clusterAccess';
import { LiveJobs } from './liveJobs';
import { ForgottenJobs, forgottenReason, silenceMeansForgotten } from './forgottenJobs';
import { LiveOutput, type LiveOutputOptions, type Tails } from './liveOutput';
import type { ApplicationStore } from '../store/applicationStore';
import { DispatchStore } from '../store/dispatchStore';
import { BatchDispatcher, DISPATCH_BATCH_SIZE } from './batchDispatch';
import type { NodeHealthWatch } from './nodeHealth';

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
  /** Jobs of one cluster claimed and submitted together by one dispatch (DISPATCH_BATCH_SIZE). */
  dispatchBatchSize?: number;
  /**
   * How long a job on a Slurm cluster we built may be unknown to Slurm, with no completion record,
   * before it is reported UNKNOWN (JOB_MISSING_GRACE_MS; default 5 min). See forgottenJobs.ts.
   */
  missingGraceMs?: number;
  /**
   * Reading running jobs' output tails, so getJob shows a long job's progress (LIVE_OUTPUT_*).
   * Absent, or 0 jobs per tick: output is read once a job has ended.
   */
  liveOutput?: LiveOutputOptions;
  /** Reads a Slurm cluster's node states every so often, from its monitor ticks (see nodeHealth.ts). */
  nodeHealth?: NodeHealthWatch;
  now?: () => number;
}

/** How much of a job's stdout/stderr getJob carries. */
export const OUTPUT_TAIL_BYTES = 64 * 1024;
const WAITING_BATCH = 500;
/** Output reads at a time for a scheduler that can only read one job's output per call. */
const OUTPUT_TAIL_CONCURRENCY = 4;

/** A move a tick saw, before its output is read and it is written. */
interface PendingTransition {
  job: LiveJob;
  terminal: boolean;
  transition: ObservedTransition;
}
const LIVE_CLUSTER = new Set(['READY', 'SCALING', 'DEGRADED']);

export class JobWorkflows {
  private readonly now: () => number;

  /** Names this process in dispatch claims, as in the queue's heartbeats. */
  private readonly processId = processIdentity();

  private readonly batches: BatchDispatcher;

  /** Each monitored cluster's live jobs, kept between its ticks. */
  private readonly liveJobs: LiveJobs;

  /** Since when each live job has been missing from its cluster's polls. */
  private readonly forgottenJobs: ForgottenJobs;

  /** When each running job's output was read, and what of it is stored. */
  private readonly liveOutput?: LiveOutput;

  constructor(private readonly deps: JobWorkDeps) {
    this.now = deps.now ?? Date.now;
    this.liveJobs = new LiveJobs(deps.jobs);
    this.forgottenJobs = new ForgottenJobs(deps.missingGraceMs ?? DEFAULT_JOB_MISSING_GRACE_MS);
    if (deps.liveOutput && deps.liveOutput.maxJobsPerTick > 0) this.liveOutput = new LiveOutput(deps.liveOutput);
    this.batches = new BatchDispatcher({
      db: deps.db, dispatches: new DispatchStore(), applications: deps.applications, log: deps.log, jobRoot: deps.jobRoot,
      processId: this.processId, staleAfterMs: deps.staleAfterMs, batchSize: deps.dispatchBatchSize ?? DISPATCH_BATCH_SIZE,
      outbox: deps.jobs.options.outbox, now: this.now,
      fail: async (jobId, reason) => {
        const work = await deps.jobs.work(deps.db, jobId);
        if (work) await this.end(work, 'FAILED', reason);
      },
      cancel: async (jobId, reason) => {
        const work = await deps.jobs.work(deps.db, jobId);
        if (work) await this.end(work, 'CANCELED', reason, { undispatchedOnly: true });
      },
    });
  }

  /**
   * Submits a job to its cluster's scheduler once, together with other jobs of its cluster that are
   * due (see BatchDispatcher). The native job carries our id, so a dispatch that died between
   * submitting and recording finds its own job instead of submitting twice. A job already
   * dispatched by another task's batch needs nothing more.
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
    // Claim, act, record: no transaction is open while the scheduler is called.
    const round = await this.batches.round(cluster, this.deps.access.scheduler(cluster), jobId, work.gatewayId);
    if (round.leadError) throw round.leadError;
    if (round.leadClaimed) return;
    const again = await jobs.work(db, jobId);
    if (!again || again.state !== 'SUBMITTED' || again.nativeJobId) return; // done, or ended meanwhile
    // Another live dispatcher holds it: look again once its claim could be stale (a batch that
    // records it removes this task).
    await this.deps.queue.enqueue(db, 'job_dispatch', { jobId }, { jobKey: `dispatch:${jobId}`, runAt: new Date(this.now() + this.deps.staleAfterMs) });
  }

  /**
   * One poll of a cluster's live jobs (one batched scheduler query), then the next tick is queued.
   * The database work of a tick follows the changes, not the jobs held: a read of the cluster's
   * jobs that changed lately (LiveJobs keeps the rest between ticks) and, when some changed in the
   * scheduler, one transaction writing all their changes at once.
   */
  async monitor(clusterId: string): Promise<void> {
    const { db, clusters } = this.deps;
    const started = this.now();
    const cluster = await clusters.getById(db, clusterId);
    if (!cluster || !LIVE_CLUSTER.has(cluster.state)) {
      this.liveJobs.forget(clusterId);
      this.forgottenJobs.forget(clusterId);
      this.liveOutput?.forget(clusterId);
      this.deps.nodeHealth?.forget(clusterId);
      return; // the watch ends with the cluster
    }
    try {
      const byId = await this.liveJobs.read(db, clusterId, started);
      const read = this.now();
      let [changed, forgotten, polled, recorded, tailsMs] = [0, 0, read, read, 0];
      let live = { read: 0, written: 0 };
      if (byId.size > 0) {
        const scheduler = this.deps.access.scheduler(cluster);
        const statuses = await scheduler.poll([...byId.values()]);
        polled = this.now();
        const observed = statuses.flatMap((status) => {
          const job = byId.get(status.jobId);
          return job ? (this.transition(scheduler.name, job, status) ?? []) : [];
        });
        const lost = this.forgotten(cluster, scheduler.name, byId, statuses, polled);
        forgotten = lost.length;
        observed.push(...lost);
        changed = observed.length;
        if (observed.length > 0) tailsMs = await this.record(cluster, scheduler, observed);
        recorded = this.now();
        // After the changes: a job that just started has its first output read, one that ended is gone.
        live = await this.refreshLiveOutput(cluster, scheduler, byId);
      }
      if (this.deps.nodeHealth?.due(cluster)) await this.checkNodes(this.deps.nodeHealth, cluster);
      // What bench/monitor reads a tick's cost from (debug only: one line per cluster per tick).
      const ended = this.now();
      this.deps.log.debug({
        clusterId, live: byId.size, changed, forgotten, ms: ended - started, readMs: read - started, pollMs: polled - read,
        recordMs: recorded - polled, tailsMs, liveOutputRead: live.read, liveOutputWritten: live.written, liveOutputMs: ended - recorded,
      }, 'monitor tick');
    } catch (error) {
      // Not thrown: the next tick is queued below and tries again; a thrown tick would stay in
      // the queue as a failed task, one per tick for as long as the cluster cannot be reached.
      this.deps.log.warn({ clusterId, err: error }, 'monitor tick failed; the next tick tries again');
    } finally {
      // Ticks start every interval (not an interval after the last one ended), so a slow tick
      // does not add its own length to how late the next change is seen.
      await this.deps.queue.enqueue(db, 'cluster_monitor', { clusterId }, {
        jobKey: `monitor:${clusterId}`, runAt: new Date(Math.max(this.now(), started + this.deps.monitorIntervalMs)),
      });
    }
  }

  /** The node health watch's turn; its failure never fails the tick (the next turn tries again). */
  private async checkNodes(watch: NodeHealthWatch, cluster: Cluster): Promise<void> {
    try {
      await watch.check(cluster);
    } catch (error) {
      this.deps.log.warn({ err: error, clusterId: cluster.clusterId }, 'node health: could not read the node states; tried again at the next turn');
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
      const placement = place(capacity, needs, this.now());
      if (placement.kind === 'wait') return;
      if (placement.kind === 'never') {
        await this.end(job, 'FAILED', `no READY cluster could ever run it: ${placement.errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`);
        continue;
      }
      await db.transaction((tx) => jobs.assignCluster(tx, job.jobId, placement.clusterId, placement.reason, this.now(), placement.allocationId));
      // Count the job where it went, so the next waiting job sees the room it left.
      const chosen = capacity.find((c) => c.clusterId === placement.clusterId);
      const pilot = placement.allocationId ? chosen?.pilots?.find((p) => p.allocationId === placement.allocationId) : undefined;
      if (pilot) pilot.busyCpus += needs.cpus;
      else if (chosen) chosen.busyCpus += needs.cpus;
    }
    if (waiting.length === WAITING_BATCH) {
      await this.deps.queue.enqueue(db, 'place_waiting', { gatewayId }, { jobKey: `place:${gatewayId}` });
    }
  }

  /**
   * What the scheduler says, as a move of the job with the steps in between a poll may have
   * missed; undefined when nothing changed (history is written only on change) or the move is
   * illegal.
   */
  private transition(schedulerName: string, job: LiveJob, status: NativeJobStatus): PendingTransition | undefined {
    if (status.state === job.state) return undefined;
    const now = this.now();
    const changes: StatusChange[] = [];
    const terminal = isTerminalJobState(status.state);
    // A job that started and ended between two polls did run: its history says so, with the
    // scheduler's own start time.
    if (terminal && job.state === 'QUEUED' && status.startTime !== undefined) {
      changes.push({ state: 'ACTIVE', time: Math.min(status.startTime, now), reason: `running (${schedulerName} job ${status.nativeJobId})` });
    }
    const from = changes.length > 0 ? 'ACTIVE' : job.state;
    if (!canJobMove(from, status.state)) {
      this.deps.log.warn({ jobId: job.jobId, from, to: status.state }, 'scheduler reported a state the job cannot move to; ignored');
      return undefined;
    }
    changes.push({
      state: status.state,
      time: terminal ? Math.min(status.endTime ?? now, now) : now,
      reason: describe(schedulerName, status),
    });
    const facts: JobFacts = terminal
      ? { exitCode: status.exitCode, nativeState: status.nativeState, endedAt: status.endTime ?? now }
      : { nativeState: status.nativeState };
    return { job, terminal, transition: { jobId: job.jobId, from: job.state, changes, facts } };
  }

  /**
   * The live jobs the poll said nothing about for the whole grace period, as moves to UNKNOWN with
   * the reason (see forgottenJobs.ts). Only where the scheduler's silence means it forgot the job.
   */
  private forgotten(
    cluster: Cluster, schedulerName: string, byId: ReadonlyMap<string, LiveJob>, statuses: readonly NativeJobStatus[], now: number,
  ): PendingTransition[] {
    if (!silenceMeansForgotten(cluster)) {
      this.forgottenJobs.forget(cluster.clusterId);
      return [];
    }
    const reported = new Set(statuses.map((status) => status.jobId));
    return this.forgottenJobs.observe(cluster.clusterId, byId.values(), reported, now).flatMap((lost) => {
      const { job } = lost;
      if (!canJobMove(job.state, 'UNKNOWN')) return [];
      const reason = forgottenReason(schedulerName, lost, now);
      this.deps.log.warn({ jobId: job.jobId, nativeJobId: job.nativeJobId, from: job.state, missingSince: lost.missingSince }, 'job unknown to its scheduler; reported UNKNOWN');
      return [{ job, terminal: false, transition: { jobId: job.jobId, from: job.state, changes: [{ state: 'UNKNOWN', time: now, reason }], facts: {} } }];
    });
  }

  /**
   * Reads the output tails of the running jobs that are due (see liveOutput.ts) and stores those
   * that changed, so getJob shows a long job's progress. A scheduler that cannot read output (the
   * Mesos ones return nothing) and a file that is not there leave what is stored; a read that
   * fails is tried again at the job's next turn, and never fails the tick.
   */
  private async refreshLiveOutput(cluster: Cluster, scheduler: Scheduler, byId: ReadonlyMap<string, LiveJob>): Promise<{ read: number; written: number }> {
    const { liveOutput } = this;
    if (!liveOutput) return { read: 0, written: 0 };
    const due = liveOutput.due(cluster.clusterId, byId, this.now());
    if (due.length === 0) return { read: 0, written: 0 };
    try {
      const tails = await this.outputTails(scheduler, due.map((job) => ({ account: gatewayAccount(job.gatewayId).name, workingDir: job.workingDir as string })));
      const news = due.flatMap((job, i) => {
        const tail = tails[i];
        if (tail === undefined) return [];
        const read: Tails = definedTails(tail);
        return liveOutput.isNews(cluster.clusterId, job.jobId, read) ? [{ jobId: job.jobId, ...read }] : [];
      });
      if (news.length === 0) return { read: due.length, written: 0 };
      const written = await this.deps.jobs.writeLiveTails(this.deps.db, news, this.now());
      for (const { jobId, ...read } of news) liveOutput.stored(cluster.clusterId, jobId, read);
      return { read: due.length, written: written.size };
    } catch (error) {
      this.deps.log.warn({ err: error, clusterId: cluster.clusterId }, 'could not refresh the output of running jobs; tried again at their next turn');
      return { read: due.length, written: 0 };
    }
  }

  /**
   * Reads the output of the jobs that ended (a few processes for all of them), then writes every
   * change of the tick in one transaction, with the placement of waiting jobs when room was freed.
   * A job moved meanwhile by someone else (a cancel) is left alone by the writer. Returns the ms
   * spent reading output.
   */
  private async record(cluster: Cluster, scheduler: Scheduler, observed: PendingTransition[]): Promise<number> {
    const ended = observed.filter((o) => o.terminal && o.job.workingDir !== undefined);
    const outputs = ended.map((o) => ({ account: gatewayAccount(o.job.gatewayId).name, workingDir: o.job.workingDir as string }));
    const reading = this.now();
    const tails = await this.outputTails(scheduler, outputs);
    const tailsMs = this.now() - reading;
    const unread = new Set<string>();
    ended.forEach((o, i) => {
      const tail = tails[i];
      if (tail === undefined) unread.add(o.job.jobId);
      else Object.assign(o.transition.facts, definedTails(tail));
    });
    const transitions = observed.filter((o) => !unread.has(o.job.jobId)).map((o) => o.transition);
    if (transitions.length === 0) return tailsMs;
    const now = this.now();
    const moved = await this.deps.db.transaction(async (tx) => {
      const written = await this.deps.jobs.writeObserved(tx, transitions, now);
      if (observed.some((o) => o.terminal && written.has(o.job.jobId))) {
        // Room freed: jobs waiting for a cluster may fit now.
        await this.deps.queue.enqueue(tx, 'place_waiting', { gatewayId: cluster.gatewayId }, { jobKey: `place:${cluster.gatewayId}` });
      }
      return written;
    });
    this.liveJobs.afterWrite(cluster.clusterId, transitions.map((t) => ({
      jobId: t.jobId, state: t.changes[t.changes.length - 1].state, moved: moved.has(t.jobId),
    })));
    return tailsMs;
  }

  /** Output tails of jobs; undefined for a job whose output could not be read just now. */
  private async outputTails(scheduler: Scheduler, outputs: JobOutput[]): Promise<({ stdOut?: string; stdErr?: string } | undefined)[]> {
    if (outputs.length === 0) return [];
    if (scheduler.outputTailsOfMany) return scheduler.outputTailsOfMany(outputs, OUTPUT_TAIL_BYTES);
    const tails: ({ stdOut?: string; stdErr?: string } | undefined)[] = outputs.map(() => undefined);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < outputs.length) {
        const i = next;
        next += 1;
        tails[i] = await scheduler.outputTails(outputs[i], OUTPUT_TAIL_BYTES).catch((error: unknown) => {
          this.deps.log.warn({ err: error }, 'could not read a job\'s output tails; read again on a later poll');
          return undefined;
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(OUTPUT_TAIL_CONCURRENCY, outputs.length) }, worker));
    return tails;
  }

  /** Dispatch failed on its last attempt: the job ends FAILED with the reason. */
  async giveUpDispatch(jobId: string, error: unknown): Promise<void> {
    const work = await this.deps.jobs.work(this.deps.db, jobId);
    if (!work || work.nativeJobId) return;
    const message = (error instanceof Error ? error.message : String(error)).slice(0, 1000);
    await this.end(work, 'FAILED', `dispatch given up after repeated failures: ${message}`);
  }

  /** undispatchedOnly: a job recorded meanwhile is left to its scheduler. */
  private async end(job: JobWork, state: 'FAILED' | 'CANCELED', reason: string, options: { undispatchedOnly?: boolean } = {}): Promise<void> {
    const now = this.now();
    await this.deps.db.transaction(async (tx) => {
      const locked = await this.deps.jobs.lockWork(tx, job.jobId);
      if (!locked || isTerminalJobState(locked.state)) return;
      if (options.undispatchedOnly === true && locked.nativeJobId !== undefined) return;
      await this.deps.jobs.append(tx, job.jobId, [{ state, time: now, reason }], now, { endedAt: now });
    });
  }
}

/** The tails that were read (a missing file leaves the stored value alone). */
function definedTails(tail: { stdOut?: string; stdErr?: string }): JobFacts {
  return { ...(tail.stdOut === undefined ? {} : { stdOut: tail.stdOut }), ...(tail.stdErr === undefined ? {} : { stdErr: tail.stdErr }) };
}

function describe(schedulerName: string, status: NativeJobStatus): string {
  const code = status.exitCode !== undefined ? `, exit code ${status.exitCode}` : '';
  const why = status.reason && status.reason !== 'None' ? ` (${status.reason})` : '';
  return `${schedulerName}: ${status.nativeState}${why}${code}`;
}

