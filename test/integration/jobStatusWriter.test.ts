// The monitor's batched writer on real Postgres: several jobs moved by one statement leave exactly
// the rows (jobs, history, outbox) the per-job path (lockWork + append) leaves, and a job another
// writer moved meanwhile, even one still holding its row lock, is left alone.
import type { JobState } from '../../src/domain/types';
import type { ObservedTransition } from '../../src/store/jobStatusWriter';
import { JobStore } from '../../src/store/jobStore';
import { createTestDatabase, type TestDatabase } from '../support/database';

jest.setTimeout(60_000);

const jobs = new JobStore({ outbox: true });
const T0 = 1_800_000_000_000;

/** What a tick records of each job: the same moves the monitor makes, per kind of change. */
function scenario(prefix: string): ObservedTransition[] {
  return [
    { jobId: `${prefix}-started`, from: 'QUEUED', changes: [{ state: 'ACTIVE', time: T0 + 10, reason: 'Slurm: RUNNING' }], facts: { nativeState: 'RUNNING' } },
    {
      jobId: `${prefix}-ran`, from: 'QUEUED',
      changes: [
        { state: 'ACTIVE', time: T0 + 5, reason: 'running (Slurm job 12)' },
        { state: 'COMPLETE', time: T0 + 9, reason: 'Slurm: COMPLETED, exit code 0' },
      ],
      facts: { exitCode: 0, nativeState: 'COMPLETED', endedAt: T0 + 9, stdOut: 'out ? $1 \'quoted\'\nline 2\n' },
    },
    {
      jobId: `${prefix}-failed`, from: 'ACTIVE',
      changes: [{ state: 'FAILED', time: T0 + 7, reason: 'Slurm: FAILED, exit code 3' }],
      facts: { exitCode: 3, nativeState: 'FAILED', endedAt: T0 + 7, stdErr: 'boom\n' },
    },
    {
      jobId: `${prefix}-canceled`, from: 'QUEUED',
      changes: [{ state: 'CANCELED', time: T0 + 8, reason: 'Slurm: CANCELLED' }],
      facts: { nativeState: 'CANCELLED', endedAt: T0 + 8 },
    },
  ];
}

describe('writeObserved: one statement for a tick of changes', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase({ queue: true });
  });
  afterAll(async () => {
    await database?.drop();
  });

  /** A dispatched job (QUEUED, or ACTIVE when asked), with Airavata ids for its outbox events. */
  async function dispatched(jobId: string, state: 'QUEUED' | 'ACTIVE'): Promise<void> {
    const inserted = await jobs.insertSubmitted(database.db, {
      jobId, gatewayId: 'gw-writer', userName: 'alice', fingerprint: jobId, now: T0, reason: 'submitted',
      spec: { jobName: `name-${jobId}`, parallelism: 'SERIAL', command: ['/bin/true'], experimentId: `exp-${jobId}`, processId: `proc-${jobId}`, taskId: `task-${jobId}` },
    });
    expect(inserted).toBe(true);
    expect(await jobs.recordDispatch(database.db, jobId, '12', `/jobs/${jobId}`, 'queued', T0 + 1)).toBe(true);
    if (state === 'ACTIVE') {
      await database.db.transaction(async (tx) => {
        await jobs.lockWork(tx, jobId);
        await jobs.append(tx, jobId, [{ state: 'ACTIVE', time: T0 + 2, reason: 'running' }], T0 + 2, { nativeState: 'RUNNING' });
      });
    }
  }

  async function setUp(transitions: readonly ObservedTransition[]): Promise<void> {
    for (const t of transitions) await dispatched(t.jobId, t.from === 'ACTIVE' ? 'ACTIVE' : 'QUEUED');
  }

  /** Everything stored of a job, with its id replaced so two jobs' records compare. */
  async function record(jobId: string, prefix: string) {
    const strip = (value: unknown) => JSON.parse(JSON.stringify(value).split(jobId).join('JOB').split(prefix).join('P')) as unknown;
    const job = await database.db('jobs').where({ id: jobId })
      .first('state', 'exit_code', 'native_state', 'std_out', 'std_err', 'ended_at', 'updated_at', 'job_name');
    const history = await database.db('job_statuses').where({ job_id: jobId }).orderBy('id').select('state', 'time', 'reason');
    const outbox = await database.db('job_event_outbox').where({ job_id: jobId }).orderBy('id')
      .select('gateway_id', 'experiment_id', 'process_id', 'task_id', 'job_name', 'state', 'time');
    return strip({ job, history, outbox });
  }

  it('writes several jobs in one call exactly as the per-job path writes them', async () => {
    const batched = scenario('batch');
    const oneByOne = scenario('single');
    await setUp(batched);
    await setUp(oneByOne);
    const now = T0 + 100;

    const moved = await jobs.writeObserved(database.db, batched, now);
    expect([...moved].sort()).toEqual(batched.map((t) => t.jobId).sort());
    for (const t of oneByOne) {
      await database.db.transaction(async (tx) => {
        await jobs.lockWork(tx, t.jobId);
        await jobs.append(tx, t.jobId, t.changes, now, t.facts);
      });
    }

    for (let i = 0; i < batched.length; i += 1) {
      const [b, s] = [await record(batched[i].jobId, 'batch'), await record(oneByOne[i].jobId, 'single')];
      expect(b).toEqual(s);
    }
    // And what the per-job path wrote is what a tick means (not two equal mistakes).
    expect(await record('batch-ran', 'batch')).toEqual({
      job: { state: 'COMPLETE', exit_code: 0, native_state: 'COMPLETED', std_out: 'out ? $1 \'quoted\'\nline 2\n', std_err: null, ended_at: T0 + 9, updated_at: now, job_name: 'name-JOB' },
      history: [
        { state: 'SUBMITTED', time: T0, reason: 'submitted' },
        { state: 'QUEUED', time: T0 + 1, reason: 'queued' },
        { state: 'ACTIVE', time: T0 + 5, reason: 'running (Slurm job 12)' },
        { state: 'COMPLETE', time: T0 + 9, reason: 'Slurm: COMPLETED, exit code 0' },
      ],
      outbox: ['SUBMITTED', 'QUEUED', 'ACTIVE', 'COMPLETE'].map((state, i) => ({
        gateway_id: 'gw-writer', experiment_id: 'exp-JOB', process_id: 'proc-JOB', task_id: 'task-JOB', job_name: 'name-JOB',
        state, time: [T0, T0 + 1, T0 + 5, T0 + 9][i],
      })),
    });
  });

  it('leaves alone a job another writer moved first, even while that writer still held its lock', async () => {
    const tick = scenario('race');
    await setUp(tick);
    const contested = 'race-ran';
    const before = await record(contested, 'race');

    // A cancel has locked and moved the job and not yet committed when the tick's statement runs.
    let releaseCancel: () => void = () => undefined;
    const cancelHolds = new Promise<void>((resolve) => { releaseCancel = resolve; });
    let cancelLocked: () => void = () => undefined;
    const locked = new Promise<void>((resolve) => { cancelLocked = resolve; });
    const cancel = database.db.transaction(async (tx) => {
      await jobs.lockWork(tx, contested);
      await jobs.append(tx, contested, [{ state: 'CANCELED', time: T0 + 50, reason: 'canceled by alice' }], T0 + 50, { endedAt: T0 + 50 });
      cancelLocked();
      await cancelHolds;
    });
    await locked;
    const writing = jobs.writeObserved(database.db, tick, T0 + 100);
    // The writer waits on the row lock; it must read the committed cancel, not its own snapshot.
    await new Promise((resolve) => setTimeout(resolve, 300));
    releaseCancel();
    await cancel;
    const moved = await writing;

    expect([...moved].sort()).toEqual(tick.map((t) => t.jobId).filter((id) => id !== contested).sort());
    const after = await record(contested, 'race') as { job: { state: JobState; exit_code: number | null; std_out: string | null }; history: { state: string }[]; outbox: { state: string }[] };
    expect(after.job).toMatchObject({ state: 'CANCELED', exit_code: null, std_out: null });
    expect(after.history.map((h) => h.state)).toEqual(['SUBMITTED', 'QUEUED', 'CANCELED']);
    expect(after.outbox.map((h) => h.state)).toEqual(['SUBMITTED', 'QUEUED', 'CANCELED']);
    expect(before).not.toEqual(after);

    // A tick that read the job before it moved and writes after: nothing happens either.
    expect((await jobs.writeObserved(database.db, [tick[1]], T0 + 200)).size).toBe(0);
    expect(await record(contested, 'race')).toEqual(after);
  });

  it('refuses a move the state machine forbids, writing nothing of the batch', async () => {
    await dispatched('illegal-ok', 'QUEUED');
    await dispatched('illegal-bad', 'QUEUED');
    const ok: ObservedTransition = { jobId: 'illegal-ok', from: 'QUEUED', changes: [{ state: 'ACTIVE', time: T0 + 3, reason: 'r' }], facts: {} };
    const bad: ObservedTransition = { jobId: 'illegal-bad', from: 'QUEUED', changes: [{ state: 'NON_CRITICAL_FAIL', time: T0 + 3, reason: 'r' }], facts: {} };
    await expect(jobs.writeObserved(database.db, [ok, bad], T0 + 10)).rejects.toThrow(/illegal job transition for illegal-bad: QUEUED -> NON_CRITICAL_FAIL/);
    const states = await database.db('jobs').whereIn('id', ['illegal-ok', 'illegal-bad']).orderBy('id').pluck('state');
    expect(states).toEqual(['QUEUED', 'QUEUED']);
  });

  it('reads a cluster\'s live jobs without their spec', async () => {
    await database.db('clusters').insert({
      id: 'c-live', gateway_id: 'gw-writer', user_name: 'alice', name: 'live', kind: 'SLURM', provider: 'STATIC', state: 'READY',
      spec: JSON.stringify({}), created_at: T0, updated_at: T0,
    });
    await dispatched('live-1', 'QUEUED');
    await dispatched('live-2', 'QUEUED');
    await database.db('jobs').update({ cluster_id: 'c-live' }).whereIn('id', ['live-1', 'live-2']);
    // An ended job is no longer watched.
    await jobs.writeObserved(database.db, [{ jobId: 'live-2', from: 'QUEUED', changes: [{ state: 'CANCELED', time: T0 + 4, reason: 'r' }], facts: {} }], T0 + 4);
    expect(await jobs.liveOnCluster(database.db, 'c-live')).toEqual([
      { jobId: 'live-1', gatewayId: 'gw-writer', state: 'QUEUED', nativeJobId: '12', workingDir: '/jobs/live-1' },
    ]);
  });
});
