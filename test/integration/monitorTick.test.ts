// One monitor tick on real Postgres, with a scripted scheduler standing in for Slurm (the Slurm
// adapter is proven against real Slurm elsewhere; bench/monitor runs this path on real clusters):
// every change of the tick lands in one write, with the steps a poll missed, exit codes, native
// state, end time, output tails read in one call, the outbox events, placement of waiting jobs and
// the next tick queued; a job canceled while the tick ran is left as the cancel wrote it; a tick
// that sees no change writes no history.
import type { Cluster } from '../../src/domain/types';
import { createLogger } from '../../src/log';
import type { JobOutput, NativeJobStatus, Scheduler, TrackedJob } from '../../src/schedulers/scheduler';
import { ApplicationStore } from '../../src/store/applicationStore';
import { ClusterStore } from '../../src/store/clusterStore';
import { JobStore } from '../../src/store/jobStore';
import { QueueStore } from '../../src/store/queueStore';
import type { ClusterAccess } from '../../src/workflows/clusterAccess';
import { JobWorkflows } from '../../src/workflows/jobWork';
import { createTestDatabase, type TestDatabase } from '../support/database';

jest.setTimeout(60_000);

const T0 = 1_800_000_000_000;
const NOW = T0 + 60_000;
const GATEWAY = 'gw-tick';

/** A scheduler that says what the test scripts, and counts what it was asked. */
class ScriptedScheduler implements Scheduler {
  readonly name = 'Slurm';
  polls: TrackedJob[][] = [];
  tailCalls: JobOutput[][] = [];
  statuses: NativeJobStatus[] = [];
  /** Runs inside poll: another writer acting while the scheduler is being asked. */
  duringPoll: () => Promise<void> = async () => undefined;

  async submit(): Promise<string> { throw new Error('not in this test'); }
  submitMany = async (): Promise<never> => { throw new Error('not in this test'); };
  async findByJobIds(): Promise<Map<string, string>> { throw new Error('not in this test'); }
  async cancel(): Promise<void> { throw new Error('not in this test'); }
  async outputTails(): Promise<{ stdOut?: string; stdErr?: string }> { throw new Error('the batched read must be used'); }

  async poll(jobs: readonly TrackedJob[]): Promise<NativeJobStatus[]> {
    this.polls.push([...jobs]);
    await this.duringPoll();
    return this.statuses;
  }

  async outputTailsOfMany(jobs: readonly JobOutput[]): Promise<({ stdOut?: string; stdErr?: string } | undefined)[]> {
    this.tailCalls.push([...jobs]);
    return jobs.map((job) => ({ stdOut: `out of ${job.workingDir}\n` }));
  }
}

describe('monitor: one tick, one write', () => {
  let database: TestDatabase;
  const jobs = new JobStore({ outbox: true });
  const scheduler = new ScriptedScheduler();
  let workflows: JobWorkflows;

  beforeAll(async () => {
    database = await createTestDatabase({ queue: true });
    const access: ClusterAccess = {
      scheduler: (_cluster: Cluster) => scheduler,
      verify: async () => { throw new Error('not in this test'); },
      sshPrivateKey: async () => undefined,
    };
    workflows = new JobWorkflows({
      db: database.db, applications: new ApplicationStore(), jobs, clusters: new ClusterStore(), queue: new QueueStore(),
      access, log: createLogger('silent'), jobRoot: '/var/lib/metascheduler/jobs', monitorIntervalMs: 1000, staleAfterMs: 30_000,
      now: () => NOW,
    });
    await database.db('clusters').insert({
      id: 'c1', gateway_id: GATEWAY, user_name: 'alice', name: 'c1', kind: 'SLURM', provider: 'STATIC', state: 'READY',
      spec: JSON.stringify({ name: 'c1', kind: 'SLURM', provider: 'STATIC' }), created_at: T0, updated_at: T0,
    });
    for (const [i, id] of ['running', 'quick', 'failed', 'same', 'raced'].entries()) {
      expect(await jobs.insertSubmitted(database.db, {
        jobId: id, gatewayId: GATEWAY, userName: 'alice', fingerprint: id, now: T0, reason: 'submitted', clusterId: 'c1',
        spec: { jobName: `name-${id}`, parallelism: 'SERIAL', command: ['/bin/true'], experimentId: `exp-${id}` },
      })).toBe(true);
      expect(await jobs.recordDispatch(database.db, id, String(100 + i), `/jobs/${id}`, `queued as Slurm job ${100 + i}`, T0 + 1)).toBe(true);
    }
    await database.db.raw('DELETE FROM graphile_worker._private_jobs');
  });
  afterAll(async () => {
    await database?.drop();
  });

  const history = async (jobId: string) => (await database.db('job_statuses').where({ job_id: jobId }).orderBy('id')
    .select('state', 'time', 'reason')).map((s: { state: string; time: number; reason: string }) => `${s.state}@${s.time - T0} ${s.reason}`);
  const outbox = async (jobId: string) => (await database.db('job_event_outbox').where({ job_id: jobId }).orderBy('id')
    .select('state', 'time', 'experiment_id')).map((e: { state: string; time: number; experiment_id: string }) => `${e.state}@${e.time - T0} ${e.experiment_id}`);
  const queued = async () => (await database.db.raw(
    `SELECT t.identifier, j.key FROM graphile_worker._private_jobs j JOIN graphile_worker._private_tasks t ON t.id = j.task_id ORDER BY j.key`,
  ) as { rows: { identifier: string; key: string }[] }).rows.map((r) => `${r.identifier} ${r.key}`);

  it('records every change of a tick, and leaves a job canceled meanwhile as the cancel left it', async () => {
    scheduler.statuses = [
      { jobId: 'running', nativeJobId: '100', state: 'ACTIVE', nativeState: 'RUNNING', startTime: T0 + 10 },
      { jobId: 'quick', nativeJobId: '101', state: 'COMPLETE', nativeState: 'COMPLETED', exitCode: 0, startTime: T0 + 20, endTime: T0 + 30 },
      { jobId: 'failed', nativeJobId: '102', state: 'FAILED', nativeState: 'FAILED', exitCode: 3, reason: 'Slurm FAILED, ExitCode=3:0', endTime: T0 + 40 },
      { jobId: 'same', nativeJobId: '103', state: 'QUEUED', nativeState: 'PENDING', reason: 'Resources' },
      { jobId: 'raced', nativeJobId: '104', state: 'CANCELED', nativeState: 'CANCELLED', endTime: T0 + 50 },
    ];
    scheduler.duringPoll = async () => {
      await database.db.transaction(async (tx) => {
        await jobs.lockWork(tx, 'raced');
        await jobs.append(tx, 'raced', [{ state: 'CANCELED', time: T0 + 45, reason: 'canceled by alice' }], T0 + 45, { endedAt: T0 + 45 });
      });
    };

    await workflows.monitor('c1');

    expect(scheduler.polls).toHaveLength(1);
    expect(scheduler.polls[0].map((j) => `${j.jobId}=${j.nativeJobId}`).sort()).toEqual(['failed=102', 'quick=101', 'raced=104', 'running=100', 'same=103']);
    // One read of the output of every job that ended, as the gateway's account.
    expect(scheduler.tailCalls).toHaveLength(1);
    expect(scheduler.tailCalls[0].map((o) => o.workingDir).sort()).toEqual(['/jobs/failed', '/jobs/quick', '/jobs/raced']);
    expect(new Set(scheduler.tailCalls[0].map((o) => o.account)).size).toBe(1);

    expect(await history('running')).toEqual(['SUBMITTED@0 submitted', 'QUEUED@1 queued as Slurm job 100', 'ACTIVE@60000 Slurm: RUNNING']);
    expect(await history('quick')).toEqual([
      'SUBMITTED@0 submitted', 'QUEUED@1 queued as Slurm job 101', 'ACTIVE@20 running (Slurm job 101)', 'COMPLETE@30 Slurm: COMPLETED, exit code 0',
    ]);
    expect(await history('failed')).toEqual([
      'SUBMITTED@0 submitted', 'QUEUED@1 queued as Slurm job 102', 'FAILED@40 Slurm: FAILED (Slurm FAILED, ExitCode=3:0), exit code 3',
    ]);
    expect(await history('same')).toEqual(['SUBMITTED@0 submitted', 'QUEUED@1 queued as Slurm job 103']);
    expect(await history('raced')).toEqual(['SUBMITTED@0 submitted', 'QUEUED@1 queued as Slurm job 104', 'CANCELED@45 canceled by alice']);
    expect(await outbox('quick')).toEqual(['SUBMITTED@0 exp-quick', 'QUEUED@1 exp-quick', 'ACTIVE@20 exp-quick', 'COMPLETE@30 exp-quick']);
    expect(await outbox('raced')).toEqual(['SUBMITTED@0 exp-raced', 'QUEUED@1 exp-raced', 'CANCELED@45 exp-raced']);

    const rows = await database.db('jobs').orderBy('id').select('id', 'state', 'exit_code', 'native_state', 'ended_at', 'std_out', 'updated_at');
    expect(rows).toEqual([
      { id: 'failed', state: 'FAILED', exit_code: 3, native_state: 'FAILED', ended_at: T0 + 40, std_out: 'out of /jobs/failed\n', updated_at: NOW },
      { id: 'quick', state: 'COMPLETE', exit_code: 0, native_state: 'COMPLETED', ended_at: T0 + 30, std_out: 'out of /jobs/quick\n', updated_at: NOW },
      { id: 'raced', state: 'CANCELED', exit_code: null, native_state: 'PENDING', ended_at: T0 + 45, std_out: null, updated_at: T0 + 45 },
      { id: 'running', state: 'ACTIVE', exit_code: null, native_state: 'RUNNING', ended_at: null, std_out: null, updated_at: NOW },
      { id: 'same', state: 'QUEUED', exit_code: null, native_state: 'PENDING', ended_at: null, std_out: null, updated_at: T0 + 1 },
    ]);
    // Room freed: waiting jobs are placed; and the next tick is queued.
    expect(await queued()).toEqual([`cluster_monitor monitor:c1`, `place_waiting place:${GATEWAY}`]);
  });

  it('writes nothing on a tick that sees no change', async () => {
    scheduler.duringPoll = async () => undefined;
    scheduler.tailCalls = [];
    scheduler.statuses = [
      { jobId: 'running', nativeJobId: '100', state: 'ACTIVE', nativeState: 'RUNNING', startTime: T0 + 10 },
      { jobId: 'same', nativeJobId: '103', state: 'QUEUED', nativeState: 'PENDING', reason: 'Resources' },
    ];
    const before = await database.db('job_statuses').count<{ count: string }[]>('* as count');
    await workflows.monitor('c1');
    expect(scheduler.polls.at(-1)?.map((j) => j.jobId).sort()).toEqual(['running', 'same']);
    expect(scheduler.tailCalls).toEqual([]);
    expect(await database.db('job_statuses').count<{ count: string }[]>('* as count')).toEqual(before);
  });

  it('keeps the live set between ticks from the jobs that changed: a job dispatched joins it, one canceled leaves it', async () => {
    scheduler.statuses = [];
    expect(await jobs.insertSubmitted(database.db, {
      jobId: 'late', gatewayId: GATEWAY, userName: 'alice', fingerprint: 'late', now: NOW - 500, reason: 'submitted', clusterId: 'c1',
      spec: { jobName: 'name-late', parallelism: 'SERIAL', command: ['/bin/true'] },
    })).toBe(true);
    expect(await jobs.recordDispatch(database.db, 'late', '200', '/jobs/late', 'queued as Slurm job 200', NOW - 400)).toBe(true);
    await database.db.transaction(async (tx) => {
      await jobs.lockWork(tx, 'running');
      await jobs.append(tx, 'running', [{ state: 'CANCELED', time: NOW - 300, reason: 'canceled by alice' }], NOW - 300, { endedAt: NOW - 300 });
    });
    const reads = { full: 0, changed: 0 };
    const spy = [jest.spyOn(jobs, 'liveOnCluster').mockImplementation(async (...args) => {
      reads.full += 1;
      return JobStore.prototype.liveOnCluster.apply(jobs, args);
    }), jest.spyOn(jobs, 'changedOnCluster').mockImplementation(async (...args) => {
      reads.changed += 1;
      return JobStore.prototype.changedOnCluster.apply(jobs, args);
    })];
    try {
      await workflows.monitor('c1');
    } finally {
      for (const s of spy) s.mockRestore();
    }
    expect(reads).toEqual({ full: 0, changed: 1 });
    expect(scheduler.polls.at(-1)?.map((j) => `${j.jobId}=${j.nativeJobId}`).sort()).toEqual(['late=200', 'same=103']);
  });

  it('lets a tick that cannot reach the cluster end without an error, the next tick queued, nothing written', async () => {
    // A thrown tick stayed in the queue as a failed task: one more per tick for as long as the
    // host was unreachable (33 after a 16 s SSH outage at a 500 ms interval).
    await database.db.raw('DELETE FROM graphile_worker._private_jobs');
    scheduler.duringPoll = async () => { throw new Error('ssh: connect to host 10.0.0.9 port 22: Connection refused'); };
    const before = await database.db('job_statuses').count<{ count: string }[]>('* as count');
    try {
      await expect(workflows.monitor('c1')).resolves.toBeUndefined();
    } finally {
      scheduler.duringPoll = async () => undefined;
    }
    expect(await queued()).toEqual(['cluster_monitor monitor:c1']);
    expect(await database.db('job_statuses').count<{ count: string }[]>('* as count')).toEqual(before);
  });
});
