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

export class WorkQueue {
  private runner?: Runner;
  private utils?: WorkerUtils;
  private timer?: NodeJS.Timeout;
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
        try {
          await handler(payload);
        } catch (error) {
          if (helpers.job.attempts >= helpers.job.max_attempts) {
            await giveUp?.(name, payload, error).catch((giveUpError: unknown) => log.error({ err: giveUpError, task: name }, 'could not record a task given up'));
          }
          throw error;
        }
      };
      taskList[name] = task;
    }
    await this.sweep();
    // Listen before run() creates the workers: their 'worker:create' events fire inside run(),
    // and a worker missed here would never beat, so its jobs would look abandoned.
    const events: WorkerEvents = new EventEmitter();
    events.on('worker:create', ({ worker }) => {
      this.workerIds.add(worker.workerId);
    });
    this.runner = await run({
      connectionString: this.options.connectionString,
      concurrency: this.options.concurrency ?? 4,
      pollInterval: this.options.pollIntervalMs ?? 250,
      noHandleSignals: true,
      taskList,
      logger: graphileLogger(log),
      events,
    });
    this.runner.events.on('job:error', ({ job, error }) => {
      const last = job.attempts >= job.max_attempts;
      log.warn({ task: job.task_identifier, attempts: job.attempts, maxAttempts: job.max_attempts, err: error },
        last ? 'background job failed on its last attempt; given up' : 'background job failed; it will be retried');
    });
    const beatEvery = this.options.heartbeatMs ?? 2000;
    this.timer = setInterval(() => {
      this.beatAndSweep().catch((error: unknown) => log.warn({ err: error }, 'worker heartbeat failed'));
    }, beatEvery);
    await this.beatAndSweep();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.runner?.stop();
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
