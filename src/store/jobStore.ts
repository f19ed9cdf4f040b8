// Jobs and their status history. A job and its first status row are written by one statement, so a
// submit that returned is on disk whole, and a crash can never leave a job without its history.
import type { Job, JobSpec, JobState, JobStatusEntry } from '../domain/types';
import { canJobMove, IllegalTransitionError } from '../domain/stateMachines';
import type { Queryable } from './db';

interface JobRow {
  id: string;
  gateway_id: string;
  user_name: string;
  spec: JobSpec;
  state: JobState;
  fingerprint: string;
  client_token: string | null;
  cluster_id: string | null;
  native_job_id: string | null;
  exit_code: number | null;
  working_dir: string | null;
  std_out: string | null;
  std_err: string | null;
  created_at: number;
  updated_at: number;
  statuses: { id: number; state: JobState; time: number; reason: string | null }[] | null;
}

export interface NewJob {
  jobId: string;
  gatewayId: string;
  userName: string;
  spec: JobSpec;
  fingerprint: string;
  now: number;
  reason: string;
}

export interface StoredJob {
  job: Job;
  fingerprint: string;
}

const SELECT_JOB_WITH_HISTORY = `
  SELECT j.*,
         (SELECT json_agg(json_build_object('id', s.id, 'state', s.state, 'time', s.time, 'reason', s.reason)
                          ORDER BY s.id)
            FROM job_statuses s WHERE s.job_id = j.id) AS statuses
    FROM jobs j`;

function toJob(row: JobRow): Job {
  const statuses: JobStatusEntry[] = (row.statuses ?? []).map((s) => ({
    statusId: String(s.id),
    state: s.state,
    time: Number(s.time),
    ...(s.reason === null ? {} : { reason: s.reason }),
  }));
  return {
    jobId: row.id,
    gatewayId: row.gateway_id,
    userName: row.user_name,
    spec: row.spec,
    state: row.state,
    clusterId: row.cluster_id ?? undefined,
    nativeJobId: row.native_job_id ?? undefined,
    exitCode: row.exit_code ?? undefined,
    workingDir: row.working_dir ?? undefined,
    stdOut: row.std_out ?? undefined,
    stdErr: row.std_err ?? undefined,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    statuses,
  };
}

export class JobStore {
  /**
   * Records a new job in SUBMITTED with its first status row, in one statement (one commit).
   * Returns false when an idempotency key (client token, or Airavata's process/task/job name)
   * already names a job: the caller then looks that job up.
   */
  async insertSubmitted(db: Queryable, job: NewJob): Promise<boolean> {
    const { spec } = job;
    const result = await db.raw<{ rows: { id: string }[] }>(
      `WITH inserted AS (
         INSERT INTO jobs (id, gateway_id, user_name, job_name, task_id, process_id, experiment_id, client_token,
                           fingerprint, spec, state, cluster_id, working_dir, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, 'SUBMITTED', ?, ?, ?, ?)
         ON CONFLICT DO NOTHING
         RETURNING id, created_at),
       first_status AS (
         INSERT INTO job_statuses (job_id, state, time, reason)
         SELECT id, 'SUBMITTED', created_at, ? FROM inserted)
       SELECT id FROM inserted`,
      [job.jobId, job.gatewayId, job.userName, spec.jobName, spec.taskId ?? null, spec.processId ?? null,
        spec.experimentId ?? null, spec.clientToken ?? null, job.fingerprint, JSON.stringify(spec),
        spec.clusterId ?? null, spec.workingDir ?? null, job.now, job.now, job.reason],
    );
    return result.rows.length === 1;
  }

  /** The job an idempotency key of this spec already names, preferring the client token. */
  async findByIdempotencyKey(db: Queryable, gatewayId: string, spec: JobSpec): Promise<StoredJob | undefined> {
    const keys: string[] = [];
    const bindings: string[] = [gatewayId];
    if (spec.clientToken !== undefined) {
      keys.push('j.client_token = ?');
      bindings.push(spec.clientToken);
    }
    if (spec.processId !== undefined && spec.taskId !== undefined) {
      keys.push('(j.process_id = ? AND j.task_id = ? AND j.job_name = ?)');
      bindings.push(spec.processId, spec.taskId, spec.jobName);
    }
    if (keys.length === 0) return undefined;
    const orderByToken = spec.clientToken !== undefined ? 'ORDER BY (j.client_token IS NOT DISTINCT FROM ?) DESC' : '';
    if (spec.clientToken !== undefined) bindings.push(spec.clientToken);
    const result = await db.raw<{ rows: JobRow[] }>(
      `${SELECT_JOB_WITH_HISTORY} WHERE j.gateway_id = ? AND (${keys.join(' OR ')}) ${orderByToken} LIMIT 1`,
      bindings,
    );
    const row = result.rows[0];
    return row ? { job: toJob(row), fingerprint: row.fingerprint } : undefined;
  }

  async get(db: Queryable, gatewayId: string, jobId: string): Promise<Job | undefined> {
    const result = await db.raw<{ rows: JobRow[] }>(
      `${SELECT_JOB_WITH_HISTORY} WHERE j.id = ? AND j.gateway_id = ?`, [jobId, gatewayId]);
    const row = result.rows[0];
    return row ? toJob(row) : undefined;
  }

  /** The caller's jobs among jobIds, in the order asked; ids it does not have are left out. */
  async getMany(db: Queryable, gatewayId: string, jobIds: readonly string[]): Promise<Job[]> {
    if (jobIds.length === 0) return [];
    const result = await db.raw<{ rows: JobRow[] }>(
      `${SELECT_JOB_WITH_HISTORY} WHERE j.id = ANY(?) AND j.gateway_id = ?`, [[...jobIds], gatewayId]);
    const byId = new Map(result.rows.map((row) => [row.id, toJob(row)]));
    return jobIds.flatMap((id) => byId.get(id) ?? []);
  }

  /**
   * Moves a job to a new state and appends the status row, under a row lock so two writers cannot
   * interleave. Run inside a transaction. Throws IllegalTransitionError for a move the state
   * machine forbids; returns the state the job was in.
   */
  async transition(
    tx: Queryable, gatewayId: string, jobId: string, to: JobState, reason: string, now: number,
  ): Promise<JobState | undefined> {
    const row = await tx('jobs').select('state').where({ id: jobId, gateway_id: gatewayId }).forUpdate().first<
      { state: JobState } | undefined>();
    if (!row) return undefined;
    if (!canJobMove(row.state, to)) throw new IllegalTransitionError('job', jobId, row.state, to);
    await tx('jobs').update({ state: to, updated_at: now }).where({ id: jobId });
    await tx('job_statuses').insert({ job_id: jobId, state: to, time: now, reason });
    return row.state;
  }

  /** The current state under a row lock (inside a transaction), or undefined for another gateway's job. */
  async lockState(tx: Queryable, gatewayId: string, jobId: string): Promise<{ state: JobState; nativeJobId?: string } | undefined> {
    const row = await tx('jobs').select('state', 'native_job_id').where({ id: jobId, gateway_id: gatewayId })
      .forUpdate().first<{ state: JobState; native_job_id: string | null } | undefined>();
    return row ? { state: row.state, nativeJobId: row.native_job_id ?? undefined } : undefined;
  }
}
