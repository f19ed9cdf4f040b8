// Enqueuing background work with graphile-worker's own SQL function, so a job can be queued in the
// same transaction (or statement) as the state change that calls for it: both commit or neither.
import { hostname } from 'node:os';
import type { Queryable } from './db';

export type TaskName = 'cluster_workflow' | 'job_dispatch' | 'cluster_monitor' | 'place_waiting';

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

/** SQL (with its bindings) that adds a graphile-worker job; usable inside a CTE. */
export function addJobSql(task: TaskName, payload: object, options: EnqueueOptions = {}): { sql: string; bindings: (string | number | null)[] } {
  return {
    sql: `graphile_worker.add_job(?::text, ?::json, queue_name := ?::text, run_at := ?::timestamptz,
                                  max_attempts := ?::int, job_key := ?::text)`,
    bindings: [task, JSON.stringify(payload), options.queueName ?? null, options.runAt?.toISOString() ?? null,
      options.maxAttempts ?? MAX_ATTEMPTS, options.jobKey ?? null],
  };
}

export class QueueStore {
  async enqueue(db: Queryable, task: TaskName, payload: object, options: EnqueueOptions = {}): Promise<void> {
    const { sql, bindings } = addJobSql(task, payload, options);
    await db.raw(`SELECT ${sql}`, bindings);
  }

  async beat(db: Queryable, workerIds: readonly string[], processId: string, now: number): Promise<void> {
    if (workerIds.length === 0) return;
    await db('worker_heartbeats')
      .insert(workerIds.map((workerId) => ({ worker_id: workerId, process_id: processId, beat_at: now })))
      .onConflict('worker_id').merge(['beat_at']);
  }

  /**
   * Workers taken for dead: those whose process stopped beating before `staleBefore`, and those
   * holding a lock taken before then without ever having beaten since (a process killed between
   * its workers' first claim and its first heartbeat left no row to go stale).
   */
  async staleWorkers(db: Queryable, staleBefore: number): Promise<string[]> {
    const { rows } = await db.raw(`
      SELECT worker_id FROM worker_heartbeats WHERE beat_at < :staleBefore
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

  async forget(db: Queryable, workerIds: readonly string[]): Promise<void> {
    if (workerIds.length > 0) await db('worker_heartbeats').whereIn('worker_id', [...workerIds]).delete();
  }
}

/** Names this process in the heartbeat table. */
export function processIdentity(): string {
  return `${hostname()}:${process.pid}`;
}
