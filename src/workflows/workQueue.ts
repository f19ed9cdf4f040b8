// Background work on graphile-worker (Postgres-backed: jobs are rows, claimed with row locks and
// woken by LISTEN/NOTIFY). Chosen over pg-boss because jobs can be added from SQL in the same
// transaction as the state change that calls for them (graphile_worker.add_job), and because a
// job key keeps one pending job per cluster or job. Version 0.16 is the last CommonJS release,
// which jest's module loader can run unmodified.
//
// graphile-worker unlocks a job whose worker died only after 4 hours. Each process therefore
// records its workers with a heartbeat, and every process sweeps: workers that stopped beating
// have their jobs unlocked (the library's forceUnlockWorkers), so a killed service's work resumes
// within seconds of any process running again.
//
// graphile-worker also lets a worker die for good when it cannot record a job's outcome (Postgres
// restarted under it: "Failed to release job ...; committing seppuku") and never starts another in
// its place. After a database restart every worker may be gone while the process lives on. So a
// dead worker stops beating (its job is unlocked by the sweep once it looks stale), and the beat
// starts as many new workers as died, once the database answers again. A task that ended while the
// database was away may also have left dispatch claims it could not let go of: once the database
// answers, the claims this process made before its oldest running task started are let go
// (releaseLeftClaims), since no task of ours holds them.
import { EventEmitter } from 'node:events';
import {
  Logger as GraphileLogger, makeWorkerUtils, run, type Runner, type Task, type TaskList, type WorkerEvents, type WorkerUtils,
} from 'graphile-worker';
import type { Logger } from '../log';
import { withSchemaLock, type Db } from '../store/db';
import { processIdentity, type QueueStore, type TaskName } from '../store/queueStore';

export interface WorkQueueOptions {
  connectionString: string;
  db: Db;
  queue: QueueStore;
  log: Logger;
  concurrency?: number;
  /** How often idle workers look for jobs whose run_at has come (ms). */
  pollIntervalMs?: number;
  heartbeatMs?: number;
  /** A worker silent this long is taken for dead. */
  staleAfterMs?: number;
}

/** A worker (or a dispatch claim's process) silent this long is taken for dead. */
export const WORKER_STALE_AFTER_MS = 10_000;

export type TaskHandlers = Record<TaskName, (payload: unknown) => Promise<void>>;

/**
 * Called when a task failed on its last attempt: the thing it worked for (a cluster, a job) must
 * end FAILED with the reason rather than stay in a state nothing will move it out of.
 */
export type GiveUp = (task: TaskName, payload: unknown, error: unknown) => Promise<void>;

/** One graphile-worker runner and the ids of its workers still alive. */
interface RunnerWorkers {
  runner: Runner;
  alive: Set<string>;
}

export class WorkQueue {
  private readonly runners: RunnerWorkers[] = [];
  private utils?: WorkerUtils;
  private timer?: NodeJS.Timeout;
  private taskList?: TaskList;
  private stopping = false;
  /** Workers that died and are not replaced yet. */
  private lostWorkers = 0;
  /** Tasks running now: when each started. */
  private readonly running = new Map<symbol, number>();
  /** When the database was last seen away (a failed heartbeat, a worker that died), until claims left then are let go. */
  private databaseAwayAt?: number;
  private readonly workerIds = new Set<string>();
  private readonly processId = processIdentity();

  constructor(private readonly options: WorkQueueOptions) {}

  /**
   * Installs or updates graphile-worker's schema (before any call can enqueue). Under the schema
   * lock: graphile-worker creates its schema with "create ... if not exists", which two replicas
   * starting together still race on. makeWorkerUtils migrates as it starts, so it is inside too.
   */
  async migrate(): Promise<void> {
    await withSchemaLock(this.options.db, async () => {
      this.utils = await makeWorkerUtils({ connectionString: this.options.connectionString });
      await this.utils.migrate();
    });
  }

  async start(handlers: TaskHandlers, giveUp?: GiveUp): Promise<void> {
    const { log } = this.options;
    const taskList: TaskList = {};
    for (const [name, handler] of Object.entries(handlers) as [TaskName, TaskHandlers[TaskName]][]) {
      const task: Task = async (payload, helpers) => {
        const run = Symbol(name);
        this.running.set(run, Date.now());
        try {
          await handler(payload);
        } catch (error) {
          if (helpers.job.attempts >= helpers.job.max_attempts) {
            await giveUp?.(name, payload, error).catch((giveUpError: unknown) => log.error({ err: giveUpError, task: name }, 'could not record a task given up'));
          }
          throw error;
        } finally {
          this.running.delete(run);
        }
      };
      taskList[name] = task;
    }
    await this.sweep();
    this.taskList = taskList;
    await this.startWorkers(this.options.concurrency ?? 4);
    const beatEvery = this.options.heartbeatMs ?? 2000;
    this.timer = setInterval(() => {
      this.beatAndSweep()
        .then(() => this.replaceLostWorkers())
        .then(() => this.releaseLeftClaims())
        .catch((error: unknown) => {
          this.databaseAwayAt = Date.now();
          log.warn({ err: error }, 'worker heartbeat failed');
        });
    }, beatEvery);
    await this.beatAndSweep();
  }

  /** A runner of `concurrency` workers. */
  private async startWorkers(concurrency: number): Promise<void> {
    const { log } = this.options;
    const alive = new Set<string>();
    // Listen before run() creates the workers: their 'worker:create' events fire inside run(),
    // and a worker missed here would never beat, so its jobs would look abandoned.
    const events: WorkerEvents = new EventEmitter();
    events.on('worker:create', ({ worker }) => {
      alive.add(worker.workerId);
      this.workerIds.add(worker.workerId);
    });
    events.on('worker:fatalError', ({ worker, error }) => {
      // No longer beating: once it looks stale, the sweep unlocks the job it held.
      alive.delete(worker.workerId);
      this.workerIds.delete(worker.workerId);
      this.lostWorkers += 1;
      this.databaseAwayAt = Date.now();
      log.warn({ worker: worker.workerId, err: error }, 'a queue worker died (it could not record a job\'s outcome); another will replace it');
    });
    const runner = await run({
      connectionString: this.options.connectionString,
      concurrency,
      pollInterval: this.options.pollIntervalMs ?? 250,
      noHandleSignals: true,
      taskList: this.taskList,
      logger: graphileLogger(log),
      events,
    });
    runner.events.on('job:error', ({ job, error }) => {
      const last = job.attempts >= job.max_attempts;
      log.warn({ task: job.task_identifier, attempts: job.attempts, maxAttempts: job.max_attempts, err: error },
        last ? 'background job failed on its last attempt; given up' : 'background job failed; it will be retried');
    });
    if (this.stopping) {
      // stop() came while this one was starting: it must not outlive the queue.
      await runner.stop();
      return;
    }
    this.runners.push({ runner, alive });
  }

  /**
   * Called after a heartbeat went through (the database answers): starts as many workers as died,
   * and lets go of runners left with none (each holds a pool of its own).
   */
  private async replaceLostWorkers(): Promise<void> {
    if (this.lostWorkers === 0 || this.stopping) return;
    const count = this.lostWorkers;
    this.lostWorkers = 0;
    try {
      await this.startWorkers(count);
    } catch (error) {
      this.lostWorkers += count;
      throw error;
    }
    this.options.log.info({ workers: count }, 'started queue workers in place of those that died');
    for (const empty of this.runners.filter((r) => r.alive.size === 0)) {
      this.runners.splice(this.runners.indexOf(empty), 1);
      await empty.runner.stop().catch((error: unknown) => this.options.log.warn({ err: error }, 'could not release a runner whose workers died'));
    }
  }

  /**
   * Once the database answers after it was away: lets go of the dispatch claims this process made
   * before its oldest running task started (no running task can hold those). Done again until no
   * task that was running while the database was away is left.
   */
  private async releaseLeftClaims(): Promise<void> {
    const awayAt = this.databaseAwayAt;
    if (awayAt === undefined) return;
    const now = Date.now();
    const oldestRunning = Math.min(now, ...this.running.values());
    const released = await this.options.queue.releaseLeftClaims(this.options.db, this.processId, oldestRunning);
    if (released > 0) this.options.log.warn({ released }, 'let go of dispatch claims left by tasks that ended while the database was away');
    if (oldestRunning > awayAt && this.databaseAwayAt === awayAt) this.databaseAwayAt = undefined;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    for (const { runner } of this.runners.splice(0)) await runner.stop();
    // A clean stop leaves nothing locked: our heartbeat rows can go.
    await this.options.queue.forget(this.options.db, [...this.workerIds]);
    await this.utils?.release();
  }

  private async beatAndSweep(): Promise<void> {
    await this.options.queue.beat(this.options.db, [...this.workerIds], this.processId, Date.now());
    await this.sweep();
  }

  private async sweep(): Promise<void> {
    const { db, queue, log } = this.options;
    const stale = await queue.staleWorkers(db, Date.now() - (this.options.staleAfterMs ?? WORKER_STALE_AFTER_MS));
    if (stale.length === 0 || !this.utils) return;
    await this.utils.forceUnlockWorkers(stale);
    await queue.forget(db, stale);
    log.warn({ workers: stale }, 'unlocked the jobs of workers that stopped beating');
  }
}

function graphileLogger(log: Logger): GraphileLogger {
  const child = log.child({ component: 'graphile-worker' });
  return new GraphileLogger(() => (level, message, meta) => {
    const fields = meta ?? {};
    if (level === 'error') child.error(fields, message);
    else if (level === 'warning') child.warn(fields, message);
    else child.debug(fields, message);
  });
}
