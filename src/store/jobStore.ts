// Jobs and their status history. A job and its first status row are written by one statement, so a
// submit that returned is on disk whole, and a crash can never leave a job without its history.
import type { Job, JobSpec, JobState, JobStatusEntry } from '../domain/types';
import { canJobMove, IllegalTransitionError } from '../domain/stateMachines';
import type { Db, Queryable } from './db';
import { queryNamed, type NamedStatement } from './namedQuery';
import { addJobSql, MAX_ATTEMPTS } from './queueStore';
import { writeTransitions, type ObservedTransition } from './jobStatusWriter';

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
  dispatch_attempts: number;
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
  /** The cluster the job goes to, when known at submit: its dispatch is queued in the same statement. */
  clusterId?: string;
  /** The live pilot (allocation) of that cluster the job starts inside. */
  allocationId?: string;
}

/** A status to append, with the time it happened (which may precede now, e.g. a job's start). */
export interface StatusChange {
  state: JobState;
  time: number;
  reason: string;
}

/** What dispatch and monitoring need of a job. */
export interface JobWork {
  jobId: string;
  gatewayId: string;
  spec: JobSpec;
  state: JobState;
  clusterId?: string;
  nativeJobId?: string;
  workingDir?: string;
  /** Dispatches begun (claims taken); above 0 with no native id, one may have reached the scheduler. */
  dispatchAttempts: number;
}

/** What a monitor tick needs of a live job. */
export interface LiveJob {
  jobId: string;
  gatewayId: string;
  state: JobState;
  nativeJobId: string;
  workingDir?: string;
}

/** States in which a dispatched job is watched by its cluster's monitor. */
const LIVE_STATES: ReadonlySet<JobState> = new Set(['QUEUED', 'ACTIVE', 'SUSPENDED', 'UNKNOWN']);

function toLive(row: LiveRow): LiveJob {
  return {
    jobId: row.id, gatewayId: row.gateway_id, state: row.state, nativeJobId: row.native_job_id,
    ...(row.working_dir === null ? {} : { workingDir: row.working_dir }),
  };
}

interface LiveRow {
  id: string;
  gateway_id: string;
  state: JobState;
  native_job_id: string;
  working_dir: string | null;
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

const SELECT_BY_IDS: NamedStatement = {
  name: 'jobs_by_ids',
  text: `SELECT j.*,
                (SELECT json_agg(json_build_object('id', s.id, 'state', s.state, 'time', s.time, 'reason', s.reason)
                                 ORDER BY s.id)
                   FROM job_statuses s WHERE s.job_id = j.id) AS statuses
           FROM jobs j WHERE j.id = ANY($1::text[])`,
};

/**
 * New jobs from parallel arrays, one element per job, with their first status row, their dispatch
 * (for those that already have a cluster) and, in the variant with events, their SUBMITTED event.
 * ON CONFLICT DO NOTHING also settles two jobs of one list with the same key: the first is kept.
 */
function insertSubmittedStatement(withEvents: boolean): NamedStatement {
  return {
    name: withEvents ? 'jobs_insert_submitted_with_events' : 'jobs_insert_submitted',
    text: `WITH input AS (
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                              $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::bigint[],
                              $15::text[], $17::text[])
           WITH ORDINALITY AS t(id, gateway_id, user_name, job_name, task_id, process_id, experiment_id, client_token,
                                fingerprint, spec, cluster_id, placement_reason, working_dir, created_at, status_reason,
                                allocation_id, position)),
       inserted AS (
         INSERT INTO jobs (id, gateway_id, user_name, job_name, task_id, process_id, experiment_id, client_token,
                           fingerprint, spec, state, cluster_id, placement_reason, working_dir, created_at, updated_at, allocation_id)
         SELECT id, gateway_id, user_name, job_name, task_id, process_id, experiment_id, client_token,
                fingerprint, spec::jsonb, 'SUBMITTED', cluster_id, placement_reason, working_dir, created_at, created_at, allocation_id
           FROM input ORDER BY position
         ON CONFLICT DO NOTHING
         RETURNING id, gateway_id, experiment_id, process_id, task_id, job_name, cluster_id, created_at),
       first_status AS (
         INSERT INTO job_statuses (job_id, state, time, reason)
         SELECT i.id, 'SUBMITTED', i.created_at, input.status_reason
           FROM inserted i JOIN input ON input.id = i.id ORDER BY input.position),
       dispatch AS (
         SELECT graphile_worker.add_job('job_dispatch', json_build_object('jobId', id), max_attempts := $16::int,
                                        job_key := 'dispatch:' || id)
           FROM inserted WHERE cluster_id IS NOT NULL)${withEvents ? `,
       event AS (
         INSERT INTO job_event_outbox (job_id, gateway_id, experiment_id, process_id, task_id, job_name, state, time)
         SELECT id, gateway_id, experiment_id, process_id, task_id, job_name, 'SUBMITTED', created_at FROM inserted)` : ''}
       SELECT id, (SELECT count(*) FROM dispatch) AS queued FROM inserted`,
  };
}

const INSERT_SUBMITTED = insertSubmittedStatement(false);
const INSERT_SUBMITTED_WITH_EVENTS = insertSubmittedStatement(true);

/**
 * An upper estimate of the bytes a job (alias j) takes in a reply and in memory while the reply is
 * built: its spec, output tails, working directory and status history, plus room for ids, times and
 * framing. Read from stored lengths only (spec_bytes, and octet_length, which does not read a
 * text's value), so sizing a thousand large jobs costs almost nothing.
 */
const JOB_REPLY_BYTES = `(
    512 + j.spec_bytes + coalesce(octet_length(j.std_out), 0) + coalesce(octet_length(j.std_err), 0)
    + coalesce(octet_length(j.working_dir), 0)
    + (SELECT count(*) * 64 + coalesce(sum(octet_length(s.reason)), 0) FROM job_statuses s WHERE s.job_id = j.id))`;

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

export interface JobStoreOptions {
  /** Write a job-status event into the outbox with every state change (when events are published). */
  outbox: boolean;
}

export class JobStore {
  /** Public so other writers of job states (the batch dispatcher) write the outbox alike. */
  constructor(readonly options: JobStoreOptions = { outbox: false }) {}

  /**
   * Records a new job in SUBMITTED with its first status row, its queued dispatch (when it has a
   * cluster) and its SUBMITTED event, in one statement (one commit). Returns false when an
   * idempotency key (client token, or Airavata's process/task/job name) already names a job: the
   * caller then looks that job up.
   */
  async insertSubmitted(db: Db, job: NewJob): Promise<boolean> {
    return (await this.insertSubmittedMany(db, [job])).has(job.jobId);
  }

  /**
   * insertSubmitted for many jobs in one statement (one commit): the ids of those recorded. A job
   * left out had an idempotency key that another job, stored or earlier in the same list, already
   * holds. One fixed text for any number of jobs (arrays, unnested), so it is prepared once.
   */
  async insertSubmittedMany(db: Db, batch: readonly NewJob[]): Promise<Set<string>> {
    if (batch.length === 0) return new Set();
    const column = <T>(pick: (job: NewJob) => T) => batch.map(pick);
    const rows = await queryNamed<{ id: string }>(db, this.options.outbox ? INSERT_SUBMITTED_WITH_EVENTS : INSERT_SUBMITTED, [
      column((j) => j.jobId), column((j) => j.gatewayId), column((j) => j.userName), column((j) => j.spec.jobName),
      column((j) => j.spec.taskId ?? null), column((j) => j.spec.processId ?? null), column((j) => j.spec.experimentId ?? null),
      column((j) => j.spec.clientToken ?? null), column((j) => j.fingerprint), column((j) => JSON.stringify(j.spec)),
      column((j) => j.clusterId ?? null), column((j) => (j.clusterId ? j.reason : null)), column((j) => j.spec.workingDir ?? null),
      column((j) => j.now), column((j) => j.reason), MAX_ATTEMPTS, column((j) => j.allocationId ?? null),
    ]);
    return new Set(rows.map((row) => row.id));
  }

  /**
   * Jobs by id with their history and owner, whoever owns them (one prepared statement for many
   * concurrent getJob calls): the caller checks each job's gateway.
   */
  async getByIds(db: Db, jobIds: readonly string[]): Promise<Map<string, Job>> {
    if (jobIds.length === 0) return new Map();
    const rows = await queryNamed<JobRow>(db, SELECT_BY_IDS, [[...new Set(jobIds)]]);
    return new Map(rows.map((row) => [row.id, toJob(row)]));
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

  /**
   * The gateway's newest jobs, optionally of one cluster: at most limit of them, and fewer when
   * they would come to more than maxBytes (by JOB_REPLY_BYTES; the newest is returned whatever its
   * size). The sizes are summed in the database, so only the jobs returned are ever read.
   */
  async list(db: Queryable, gatewayId: string, clusterId: string | undefined, limit: number, maxBytes: number): Promise<Job[]> {
    const newestFirst = 'ORDER BY created_at DESC, id DESC';
    // The window runs over the limited rows only: sizing every job of the gateway would cost as
    // much as the jobs it is meant to spare.
    const result = await db.raw<{ rows: JobRow[] }>(
      `WITH newest AS (
         SELECT j.id, j.created_at, ${JOB_REPLY_BYTES} AS bytes
           FROM jobs j WHERE j.gateway_id = ? ${clusterId ? 'AND j.cluster_id = ?' : ''}
          ORDER BY j.created_at DESC, j.id DESC LIMIT ?),
       sized AS (
         SELECT id, sum(bytes) OVER (${newestFirst} ROWS UNBOUNDED PRECEDING) AS running_bytes,
                row_number() OVER (${newestFirst}) AS position
           FROM newest)
       ${SELECT_JOB_WITH_HISTORY} JOIN sized ON sized.id = j.id
        WHERE sized.position = 1 OR sized.running_bytes <= ?
        ORDER BY j.created_at DESC, j.id DESC`,
      [gatewayId, ...(clusterId ? [clusterId] : []), limit, maxBytes],
    );
    return result.rows.map(toJob);
  }

  /** JOB_REPLY_BYTES of the caller's jobs among jobIds; ids it does not have are left out. */
  async replySizes(db: Queryable, gatewayId: string, jobIds: readonly string[]): Promise<Map<string, number>> {
    if (jobIds.length === 0) return new Map();
    const result = await db.raw<{ rows: { id: string; bytes: number }[] }>(
      `SELECT j.id, ${JOB_REPLY_BYTES}::bigint AS bytes FROM jobs j WHERE j.id = ANY(?) AND j.gateway_id = ?`,
      [[...jobIds], gatewayId],
    );
    return new Map(result.rows.map((row) => [row.id, Number(row.bytes)]));
  }

  /** The caller's jobs among jobIds, in the order asked; ids it does not have are left out. */
  async getMany(db: Queryable, gatewayId: string, jobIds: readonly string[]): Promise<Job[]> {
    if (jobIds.length === 0) return [];
    const result = await db.raw<{ rows: JobRow[] }>(
      `${SELECT_JOB_WITH_HISTORY} WHERE j.id = ANY(?) AND j.gateway_id = ?`, [[...jobIds], gatewayId]);
    const byId = new Map(result.rows.map((row) => [row.id, toJob(row)]));
    return jobIds.flatMap((id) => byId.get(id) ?? []);
  }



  async work(db: Queryable, jobId: string): Promise<JobWork | undefined> {
    const row = await workRows(db)
      .where({ id: jobId }).first<WorkRow | undefined>();
    return row ? toWork(row) : undefined;
  }

  /**
   * Dispatched jobs of a cluster that have not ended: what its monitor watches, every tick. Only
   * the columns a tick needs (never the spec, which may be large).
   */
  async liveOnCluster(db: Queryable, clusterId: string): Promise<LiveJob[]> {
    const result = await db.raw<{ rows: LiveRow[] }>(
      `SELECT id, gateway_id, state, native_job_id, working_dir FROM jobs
        WHERE cluster_id = ? AND state IN ('QUEUED', 'ACTIVE', 'SUSPENDED', 'UNKNOWN') AND native_job_id IS NOT NULL`,
      [clusterId]);
    return result.rows.map(toLive);
  }

  /** Jobs placed in a pilot that have not ended (dispatched or not). */
  async liveInAllocation(db: Queryable, allocationId: string): Promise<string[]> {
    const rows = await db('jobs').select('id').where({ allocation_id: allocationId })
      .whereIn('state', ['QUEUED', 'ACTIVE', 'SUSPENDED', 'UNKNOWN']) as { id: string }[];
    return rows.map((row) => row.id);
  }

  /**
   * Jobs of a cluster that changed (updated_at) at or after since, whatever their state: what a
   * monitor that already holds the cluster's live jobs needs to bring them up to date.
   */
  async changedOnCluster(db: Queryable, clusterId: string, since: number): Promise<{ job: LiveJob; live: boolean }[]> {
    const result = await db.raw<{ rows: (Omit<LiveRow, 'native_job_id'> & { native_job_id: string | null })[] }>(
      `SELECT id, gateway_id, state, native_job_id, working_dir FROM jobs WHERE cluster_id = ? AND updated_at >= ?`,
      [clusterId, since]);
    return result.rows.map((row) => ({
      job: toLive({ ...row, native_job_id: row.native_job_id ?? '' }),
      live: row.native_job_id !== null && LIVE_STATES.has(row.state),
    }));
  }

  /** Writes one monitor tick's transitions at once (see writeTransitions): the ids of the jobs moved. */
  writeObserved(db: Queryable, transitions: readonly ObservedTransition[], now: number): Promise<Set<string>> {
    return writeTransitions(db, transitions, now, this.options);
  }

  /**
   * Stores the output tails read from running jobs, all in one statement: the ids of the jobs whose
   * stored tails changed. A job no longer ACTIVE is left alone (its final tails are written with
   * its end, and a read taken before that must not replace them); a tail that is undefined (no
   * file) leaves the stored one; a job whose tails are what is stored already is not written at
   * all (no new row version, no updated_at), an empty file counting as nothing stored yet.
   */
  async writeLiveTails(db: Queryable, tails: readonly { jobId: string; stdOut?: string; stdErr?: string }[], now: number): Promise<Set<string>> {
    if (tails.length === 0) return new Set();
    // In id order, as writeTransitions locks its rows.
    const sorted = [...tails].sort((a, b) => (a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0));
    const result = await db.raw<{ rows: { id: string }[] }>(
      `UPDATE jobs j SET std_out = coalesce(t.std_out, j.std_out), std_err = coalesce(t.std_err, j.std_err), updated_at = ?
         FROM unnest(?::text[], ?::text[], ?::text[]) AS t(id, std_out, std_err)
        WHERE j.id = t.id AND j.state = 'ACTIVE'
          AND (coalesce(t.std_out, j.std_out, '') <> coalesce(j.std_out, '') OR coalesce(t.std_err, j.std_err, '') <> coalesce(j.std_err, ''))
        RETURNING j.id`,
      // knex's types allow no array holding nulls; pg sends a null element as NULL.
      [now, sorted.map((t) => t.jobId), sorted.map((t) => t.stdOut ?? null) as unknown as string[], sorted.map((t) => t.stdErr ?? null) as unknown as string[]],
    );
    return new Set(result.rows.map((row) => row.id));
  }

  /** Jobs still SUBMITTED for a cluster (their dispatch may be lost with a crash before it ran). */
  async undispatched(db: Queryable, clusterId: string): Promise<string[]> {
    const rows = await db('jobs').select('id').where({ cluster_id: clusterId, state: 'SUBMITTED' }).whereNull('native_job_id') as { id: string }[];
    return rows.map((row) => row.id);
  }

  /** Jobs of a gateway waiting for the meta-scheduler to find them a cluster, oldest first. */
  async waiting(db: Queryable, gatewayId: string, limit: number): Promise<JobWork[]> {
    const rows = await workRows(db)
      .where({ gateway_id: gatewayId, state: 'SUBMITTED' }).whereNull('cluster_id')
      .orderBy('created_at').limit(limit) as WorkRow[];
    return rows.map(toWork);
  }

  /**
   * Leaves a cancel on a job whose dispatch began and recorded nothing, for that dispatch to
   * settle (DispatchStore), and makes its dispatch task due now, unless one is running: that run
   * records or searches, and reads the request when it does.
   */
  async requestCancel(tx: Queryable, jobId: string, requestedBy: string, now: number): Promise<void> {
    await tx('jobs').update({ cancel_requested: requestedBy, updated_at: now }).where({ id: jobId });
    const key = `dispatch:${jobId}`;
    const dispatch = addJobSql('job_dispatch', { jobId }, { jobKey: key });
    await tx.raw(`SELECT ${dispatch.sql} WHERE NOT EXISTS (
      SELECT 1 FROM graphile_worker._private_jobs j WHERE j.key = ? AND j.locked_at IS NOT NULL)`, [...dispatch.bindings, key]);
  }

  /** Gives a waiting job its cluster and queues its dispatch, in one transaction. */
  async assignCluster(tx: Queryable, jobId: string, clusterId: string, reason: string, now: number, allocationId?: string): Promise<boolean> {
    const updated = await tx('jobs').update({ cluster_id: clusterId, placement_reason: reason, updated_at: now, allocation_id: allocationId ?? null })
      .where({ id: jobId, state: 'SUBMITTED' }).whereNull('cluster_id');
    if (updated !== 1) return false;
    const dispatch = addJobSql('job_dispatch', { jobId }, { jobKey: `dispatch:${jobId}` });
    await tx.raw(`SELECT ${dispatch.sql}`, dispatch.bindings);
    return true;
  }

  /**
   * Records the native id of a dispatched job (SUBMITTED -> QUEUED) and ends the claim, in one
   * transaction. False when the job is no longer SUBMITTED (canceled while it was submitted): the
   * caller then cancels the native job it made.
   */
  async recordDispatch(db: Db, jobId: string, nativeJobId: string, workingDir: string, reason: string, now: number): Promise<boolean> {
    return db.transaction(async (tx) => {
      const updated = await tx('jobs')
        .update({ native_job_id: nativeJobId, working_dir: workingDir, dispatched_at: now, native_state: 'PENDING', dispatch_claimed_by: null, dispatch_claimed_at: null })
        .where({ id: jobId, state: 'SUBMITTED' }).whereNull('native_job_id');
      if (updated !== 1) return false;
      await this.append(tx, jobId, [{ state: 'QUEUED', time: now, reason }], now);
      return true;
    });
  }

  /**
   * Appends status changes in order, checking each against the state machine, and updates what
   * else is known. Run inside a transaction, after lockWork.
   */
  async append(
    tx: Queryable, jobId: string, changes: readonly StatusChange[], now: number,
    facts: { exitCode?: number; nativeState?: string; stdOut?: string; stdErr?: string; endedAt?: number } = {},
  ): Promise<void> {
    // The outbox's ids are the job's own columns (copied from the spec at submit): the spec itself,
    // which may be large, is not read.
    const row = await tx('jobs').select('state', 'gateway_id', 'experiment_id', 'process_id', 'task_id', 'job_name').where({ id: jobId })
      .first<{ state: JobState; gateway_id: string; experiment_id: string | null; process_id: string | null; task_id: string | null; job_name: string }>();
    let state = row.state;
    for (const change of changes) {
      if (!canJobMove(state, change.state)) throw new IllegalTransitionError('job', jobId, state, change.state);
      state = change.state;
    }
    if (changes.length > 0) {
      await tx('job_statuses').insert(changes.map((c) => ({ job_id: jobId, state: c.state, time: c.time, reason: c.reason })));
      if (this.options.outbox) {
        await tx('job_event_outbox').insert(changes.map((c) => ({
          job_id: jobId, gateway_id: row.gateway_id, experiment_id: row.experiment_id,
          process_id: row.process_id, task_id: row.task_id, job_name: row.job_name,
          state: c.state, time: c.time,
        })));
      }
    }
    await tx('jobs').update({
      state,
      updated_at: now,
      ...(facts.exitCode === undefined ? {} : { exit_code: facts.exitCode }),
      ...(facts.nativeState === undefined ? {} : { native_state: facts.nativeState }),
      ...(facts.stdOut === undefined ? {} : { std_out: facts.stdOut }),
      ...(facts.stdErr === undefined ? {} : { std_err: facts.stdErr }),
      ...(facts.endedAt === undefined ? {} : { ended_at: facts.endedAt }),
    }).where({ id: jobId });
  }

  /** Locks a job row for a worker (no gateway scope: workers act for every gateway). */
  async lockWork(tx: Queryable, jobId: string): Promise<JobWork | undefined> {
    const row = await workRows(tx)
      .where({ id: jobId }).forUpdate().first<WorkRow | undefined>();
    return row ? toWork(row) : undefined;
  }
}

/** The columns dispatch and monitoring read. */
const WORK_COLUMNS = ['id', 'gateway_id', 'spec', 'state', 'cluster_id', 'native_job_id', 'working_dir', 'dispatch_attempts'] as const;
type WorkRow = Pick<JobRow, (typeof WORK_COLUMNS)[number]>;

function workRows(db: Queryable) {
  return db('jobs').select(...WORK_COLUMNS);
}

function toWork(row: WorkRow): JobWork {
  return {
    jobId: row.id,
    gatewayId: row.gateway_id,
    spec: row.spec,
    state: row.state,
    clusterId: row.cluster_id ?? undefined,
    nativeJobId: row.native_job_id ?? undefined,
    workingDir: row.working_dir ?? undefined,
    dispatchAttempts: row.dispatch_attempts,
  };
}
