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
import {
  Logger as GraphileLogger, makeWorkerUtils, run, type Runner, type Task, type TaskList, type WorkerUtils,
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

export type TaskHandlers = Record<TaskName, (payload: unknown) => Promise<void>>;

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

  async start(handlers: TaskHandlers): Promise<void> {
    const { log } = this.options;
    const taskList: TaskList = {};
    for (const [name, handler] of Object.entries(handlers)) {
      const task: Task = async (payload) => {
        await handler(payload);
      };
      taskList[name] = task;
    }
    await this.sweep();
    this.runner = await run({
      connectionString: this.options.connectionString,
      concurrency: this.options.concurrency ?? 4,
      pollInterval: this.options.pollIntervalMs ?? 250,
      noHandleSignals: true,
      taskList,
      logger: graphileLogger(log),
    });
    this.runner.events.on('worker:create', ({ worker }) => {
      this.workerIds.add(worker.workerId);
    });
    this.runner.events.on('job:error', ({ job, error }) => {
      log.warn({ task: job.task_identifier, attempts: job.attempts, err: error }, 'background job failed; it will be retried');
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
    const stale = await queue.staleWorkers(db, Date.now() - (this.options.staleAfterMs ?? 10_000));
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
