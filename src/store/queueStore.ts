// Enqueuing background work with graphile-worker's own SQL function, so a job can be queued in the
// same transaction (or statement) as the state change that calls for it: both commit or neither.
import { hostname } from 'node:os';
import type { Queryable } from './db';

export type TaskName = 'cluster_workflow' | 'job_dispatch' | 'cluster_monitor' | 'place_waiting' | 'orphan_sweep' | 'pilot_work';

export interface EnqueueOptions {
  /** At most one pending job per key; a newer add replaces a pending one. */
  jobKey?: string;
  /** Jobs of one named queue run one at a time, in order (e.g. all workflow runs of a cluster). */
  queueName?: string;
  runAt?: Date;
  /** Default MAX_ATTEMPTS. */
  maxAttempts?: number;
}

/**
 * Attempts before a task is given up. graphile-worker waits e^attempts seconds between them, so 8
 * attempts span about 1.3 hours: long enough to outlast a controller reboot or a broker restart,
 * short enough that a cluster or job stuck on a lasting fault ends FAILED the same day.
 */
export const MAX_ATTEMPTS = 8;

/**
 * Tasks whose runs under one job key must never overlap, on any replica. A job key alone does not
 * ensure it: adding a job under a key whose job is running (locked) does not replace that job but
 * adds a second one that any idle worker runs at once, beside the first. That happens whenever
 * something adds the same key during a run: a replica's start-up recovery, a cluster turning READY
 * again, the running tick queuing its successor. Giving such jobs a named queue per key makes
 * graphile-worker run them one after another: one monitor tick per cluster at a time, one placement
 * pass per gateway at a time.
 */
const SERIAL_PER_KEY: ReadonlySet<TaskName> = new Set<TaskName>(['cluster_monitor', 'place_waiting', 'pilot_work']);

/** The named queue a job goes into: the caller's, or its key's for tasks serial per key. */
export function queueNameOf(task: TaskName, options: EnqueueOptions): string | null {
  if (options.queueName !== undefined) return options.queueName;
  return SERIAL_PER_KEY.has(task) && options.jobKey !== undefined ? options.jobKey : null;
}

/** SQL (with its bindings) that adds a graphile-worker job; usable inside a CTE. */
export function addJobSql(task: TaskName, payload: object, options: EnqueueOptions = {}): { sql: string; bindings: (string | number | null)[] } {
  return {
    sql: `graphile_worker.add_job(?::text, ?::json, queue_name := ?::text, run_at := ?::timestamptz,
                                  max_attempts := ?::int, job_key := ?::text)`,
    bindings: [task, JSON.stringify(payload), queueNameOf(task, options), options.runAt?.toISOString() ?? null,
      options.maxAttempts ?? MAX_ATTEMPTS, options.jobKey ?? null],
  };
}

export class QueueStore {
  async enqueue(db: Queryable, task: TaskName, payload: object, options: EnqueueOptions = {}): Promise<void> {
    const { sql, bindings } = addJobSql(task, payload, options);
    await db.raw(`SELECT ${sql}`, bindings);
  }

  /**
   * Adds a job only when no job under its key is running or still due to run: for recovery, which
   * fills gaps. A blind add would not be harmless while another replica works on the key: the
   * running job would be marked as on its last attempt (so not retried), a second run queued after
   * it, and a job waiting out its backoff made due at once. Two replicas checking at the same moment
   * may both add; the key still leaves one pending job.
   */
  async enqueueIfAbsent(db: Queryable, task: TaskName, payload: object, options: EnqueueOptions & { jobKey: string }): Promise<boolean> {
    const { sql, bindings } = addJobSql(task, payload, options);
    const { rows } = await db.raw(`
      SELECT ${sql} IS NOT NULL AS added WHERE NOT EXISTS (
        SELECT 1 FROM graphile_worker._private_jobs j
        WHERE j.key = ? AND (j.locked_at IS NOT NULL OR j.attempts < j.max_attempts))`,
    [...bindings, options.jobKey]) as { rows: { added: boolean }[] };
    return rows.length > 0;
  }

  async beat(db: Queryable, workerIds: readonly string[], processId: string, now: number): Promise<void> {
    if (workerIds.length === 0) return;
    await db('worker_heartbeats')
      .insert(workerIds.map((workerId) => ({ worker_id: workerId, process_id: processId, beat_at: now })))
      .onConflict('worker_id').merge(['beat_at']);
  }

  /**
   * Workers taken for dead: those whose process gave no sign of life since `staleBefore`, and
   * those holding a lock taken before then without ever having beaten since (a process killed
   * between its workers' first claim and its first heartbeat left no row to go stale).
   *
   * A dispatch claim is a sign of life too, and the one a dispatcher goes by: it takes a claim
   * over only once the claim itself is that old. Unlocking a dead process's queue jobs earlier
   * would have them run while its claims still hold, find the job claimed, and put it off by a
   * whole stale period more; waiting for the claims too lets them be taken over at the first try.
   */
  async staleWorkers(db: Queryable, staleBefore: number): Promise<string[]> {
    const { rows } = await db.raw(`
      SELECT h.worker_id FROM worker_heartbeats h
      WHERE h.beat_at < :staleBefore
        AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.dispatch_claimed_by = h.process_id AND j.dispatch_claimed_at >= :staleBefore)
      UNION
      SELECT locks.locked_by FROM (
        SELECT locked_by, locked_at FROM graphile_worker._private_jobs WHERE locked_by IS NOT NULL
        UNION ALL
        SELECT locked_by, locked_at FROM graphile_worker._private_job_queues WHERE locked_by IS NOT NULL
      ) locks
      WHERE locks.locked_at < to_timestamp(:staleBefore / 1000.0)
        AND NOT EXISTS (SELECT 1 FROM worker_heartbeats h WHERE h.worker_id = locks.locked_by AND h.beat_at >= :staleBefore)`,
    { staleBefore }) as { rows: { worker_id: string }[] };
    return rows.map((row) => row.worker_id);
  }

  /**
   * Lets go of the dispatch claims this process made before `claimedBefore` on jobs still waiting
   * for one: claims no task of the process holds any more, left by a task that could not let go
   * of them because the database was away at that moment. A live process's claims never go stale,
   * so without this those jobs would wait for a restart. Their next claim searches the scheduler
   * first, so a job submitted but not recorded is adopted, not submitted twice.
   */
  async releaseLeftClaims(db: Queryable, processId: string, claimedBefore: number): Promise<number> {
    return db('jobs').update({ dispatch_claimed_by: null, dispatch_claimed_at: null })
      .where({ dispatch_claimed_by: processId, state: 'SUBMITTED' }).whereNull('native_job_id')
      .where('dispatch_claimed_at', '<', claimedBefore);
  }

  async forget(db: Queryable, workerIds: readonly string[]): Promise<void> {
    if (workerIds.length > 0) await db('worker_heartbeats').whereIn('worker_id', [...workerIds]).delete();
  }
}

/** Names this process in the heartbeat table. */
export function processIdentity(): string {
  return `${hostname()}:${process.pid}`;
}
