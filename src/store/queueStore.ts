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
  maxAttempts?: number;
}

/** SQL (with its bindings) that adds a graphile-worker job; usable inside a CTE. */
export function addJobSql(task: TaskName, payload: object, options: EnqueueOptions = {}): { sql: string; bindings: (string | number | null)[] } {
  return {
    sql: `graphile_worker.add_job(?::text, ?::json, queue_name := ?::text, run_at := ?::timestamptz,
                                  max_attempts := ?::int, job_key := ?::text)`,
    bindings: [task, JSON.stringify(payload), options.queueName ?? null, options.runAt?.toISOString() ?? null,
      options.maxAttempts ?? 25, options.jobKey ?? null],
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

  /** Workers whose process stopped beating before `staleBefore`. */
  async staleWorkers(db: Queryable, staleBefore: number): Promise<string[]> {
    const rows = await db('worker_heartbeats').select('worker_id').where('beat_at', '<', staleBefore) as { worker_id: string }[];
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
