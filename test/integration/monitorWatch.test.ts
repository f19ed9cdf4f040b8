// The monitor's watches over live jobs on real Postgres, with scripted schedulers and a clock the
// test moves (the Slurm side is proven on real Slurm in slurmWatch.test.ts): a job its Slurm no
// longer reports goes UNKNOWN after the grace, once, with the reason, and takes its true state when
// Slurm speaks of it again; HPC systems and Mesos clusters are left to their own rules; running
// jobs' output tails are stored while they run, at most so many per tick and once per interval
// each, without a write when nothing changed, never cleared by a scheduler that cannot read output.
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
const GATEWAY = 'gw-watch';
const GRACE = 300_000;
const INTERVAL = 30_000;

type Tails = { stdOut?: string; stdErr?: string };

/** Says what the test scripts; reads output as the test scripts it, per working directory. */
class ScriptedScheduler implements Scheduler {
  statuses = new Map<string, NativeJobStatus>();
  tails = new Map<string, Tails>();
  reads: string[][] = [];

  constructor(readonly name: string) {}

  async submit(): Promise<string> { throw new Error('not in this test'); }
  submitMany = async (): Promise<never> => { throw new Error('not in this test'); };
  async findByJobIds(): Promise<Map<string, string>> { throw new Error('not in this test'); }
  async cancel(): Promise<void> { throw new Error('not in this test'); }
  async outputTails(): Promise<Tails> { throw new Error('the batched read must be used'); }

  async poll(jobs: readonly TrackedJob[]): Promise<NativeJobStatus[]> {
    return jobs.flatMap((job) => this.statuses.get(job.jobId) ?? []);
  }

  async outputTailsOfMany(jobs: readonly JobOutput[]): Promise<Tails[]> {
    this.reads.push(jobs.map((job) => job.workingDir.split('/').pop() as string));
    return jobs.map((job) => this.tails.get(job.workingDir) ?? {});
  }
}

describe('monitor: forgotten jobs and live output', () => {
  let database: TestDatabase;
  const jobs = new JobStore({ outbox: true });
  const schedulers = new Map<string, ScriptedScheduler>([
    ['slurm', new ScriptedScheduler('Slurm')], ['hpc', new ScriptedScheduler('Slurm')], ['mesos', new ScriptedScheduler('Mesos')],
  ]);
  const slurm = schedulers.get('slurm') as ScriptedScheduler;
  let now = T0;
  let workflows: JobWorkflows;
  let nextNative = 100;

  const running = (jobId: string): NativeJobStatus => ({ jobId, nativeJobId: '0', state: 'ACTIVE', nativeState: 'RUNNING' });
  const history = async (jobId: string) => (await database.db('job_statuses').where({ job_id: jobId }).orderBy('id')
    .select('state', 'reason')).map((s: { state: string; reason: string }) => `${s.state} ${s.reason}`);
  const outbox = async (jobId: string) => (await database.db('job_event_outbox').where({ job_id: jobId }).orderBy('id')
    .select('state')).map((e: { state: string }) => e.state);
  const row = (jobId: string) => database.db('jobs').where({ id: jobId })
    .first<{ state: string; std_out: string | null; std_err: string | null; updated_at: number; version: string }>(
      'state', 'std_out', 'std_err', 'updated_at', database.db.raw('xmin::text AS version'));
  /** A job dispatched to the cluster, then moved to the given state. */
  const dispatched = async (clusterId: string, jobId: string, state: 'QUEUED' | 'ACTIVE' = 'ACTIVE'): Promise<void> => {
    expect(await jobs.insertSubmitted(database.db, {
      jobId, gatewayId: GATEWAY, userName: 'alice', fingerprint: jobId, now, reason: 'submitted', clusterId,
      spec: { jobName: jobId, parallelism: 'SERIAL', command: ['/bin/true'] },
    })).toBe(true);
    nextNative += 1;
    expect(await jobs.recordDispatch(database.db, jobId, String(nextNative), `/jobs/${jobId}`, `queued as job ${nextNative}`, now)).toBe(true);
    if (state === 'ACTIVE') {
      await database.db.transaction(async (tx) => {
        await jobs.lockWork(tx, jobId);
        await jobs.append(tx, jobId, [{ state: 'ACTIVE', time: now, reason: 'running' }], now);
      });
    }
  };
  const tick = async (...clusterIds: string[]): Promise<void> => {
    for (const clusterId of clusterIds) await workflows.monitor(clusterId);
  };

  beforeAll(async () => {
    database = await createTestDatabase({ queue: true });
    const access: ClusterAccess = {
      scheduler: (cluster: Cluster) => schedulers.get(cluster.clusterId) as Scheduler,
      verify: async () => { throw new Error('not in this test'); },
      sshPrivateKey: async () => undefined,
    };
    workflows = new JobWorkflows({
      db: database.db, applications: new ApplicationStore(), jobs, clusters: new ClusterStore(), queue: new QueueStore(),
      access, log: createLogger('silent'), jobRoot: '/var/lib/metascheduler/jobs', monitorIntervalMs: 1000, staleAfterMs: 30_000,
      missingGraceMs: GRACE, liveOutput: { intervalMs: INTERVAL, maxJobsPerTick: 2 },
      now: () => now,
    });
    const cluster = (id: string, kind: string, provider: string, site?: object) => ({
      id, gateway_id: GATEWAY, user_name: 'alice', name: id, kind, provider, state: 'READY',
      spec: JSON.stringify({ name: id, kind, provider }), created_at: T0, updated_at: T0, ...(site ? { site: JSON.stringify(site) } : {}),
    });
    await database.db('clusters').insert([
      cluster('slurm', 'SLURM', 'STATIC'),
      cluster('hpc', 'SLURM', 'HPC_PILOT', { partitions: [], accounting: false }),
      cluster('mesos', 'MESOS_MARATHON', 'STATIC'),
    ]);
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('reports a job Slurm no longer knows UNKNOWN after the grace, once, with the reason; then takes its true state', async () => {
    await dispatched('slurm', 'lost');
    await dispatched('slurm', 'lost-queued', 'QUEUED');
    await dispatched('slurm', 'listed');
    slurm.statuses.set('listed', running('listed'));
    await tick('slurm');
    now += GRACE - 1;
    await tick('slurm');
    expect((await row('lost')).state).toBe('ACTIVE');
    expect((await row('lost-queued')).state).toBe('QUEUED');

    now += 1;
    await tick('slurm');
    const reason = `Slurm no longer knows job 101 (not in its queue for ${GRACE / 1000} s) and no completion record of it was found; `
      + 'its true state is taken if Slurm reports it again';
    expect(await history('lost')).toEqual(['SUBMITTED submitted', 'QUEUED queued as job 101', 'ACTIVE running', `UNKNOWN ${reason}`]);
    expect((await history('lost-queued')).at(-1)).toMatch(/^UNKNOWN Slurm no longer knows job 102 /);
    expect(await outbox('lost')).toEqual(['SUBMITTED', 'QUEUED', 'ACTIVE', 'UNKNOWN']);
    expect((await row('listed')).state).toBe('ACTIVE');

    // Still watched, and nothing more is written while Slurm stays silent.
    now += GRACE;
    await tick('slurm');
    expect(await history('lost')).toHaveLength(4);

    // It is listed again: it runs. Then its completion record shows up: it ended, and how.
    slurm.statuses.set('lost', { jobId: 'lost', nativeJobId: '101', state: 'ACTIVE', nativeState: 'RUNNING' });
    now += 1000;
    await tick('slurm');
    expect((await history('lost')).slice(4)).toEqual(['ACTIVE Slurm: RUNNING']);
    slurm.tails.set('/jobs/lost-queued', { stdOut: 'done\n', stdErr: '' });
    slurm.statuses.set('lost-queued', { jobId: 'lost-queued', nativeJobId: '102', state: 'COMPLETE', nativeState: 'COMPLETED', exitCode: 0, endTime: now - 500 });
    now += 1000;
    await tick('slurm');
    expect((await history('lost-queued')).slice(3)).toEqual(['COMPLETE Slurm: COMPLETED, exit code 0']);
    expect(await row('lost-queued')).toMatchObject({ state: 'COMPLETE', std_out: 'done\n' });
    for (const id of ['lost', 'lost-queued', 'listed']) slurm.statuses.delete(id);
  });

  it('leaves jobs an HPC system or a Mesos cluster does not report to their own rules', async () => {
    await dispatched('hpc', 'hpc-silent');
    await dispatched('mesos', 'mesos-silent');
    await tick('hpc', 'mesos');
    now += 3 * GRACE;
    await tick('hpc', 'mesos');
    expect((await row('hpc-silent')).state).toBe('ACTIVE');
    expect((await row('mesos-silent')).state).toBe('ACTIVE');
    await database.db('jobs').whereIn('id', ['hpc-silent', 'mesos-silent']).update({ state: 'CANCELED' });
  });

  it("stores a running job's growing output, read once per interval, writing only what changed", async () => {
    // The jobs of the first test are done with: only this one runs (and is listed) now.
    await database.db('jobs').where({ cluster_id: 'slurm' }).whereIn('state', ['ACTIVE', 'UNKNOWN', 'QUEUED']).update({ state: 'CANCELED', updated_at: now });
    await dispatched('slurm', 'talker');
    slurm.statuses.set('talker', running('talker'));
    slurm.reads = [];
    slurm.tails.set('/jobs/talker', { stdOut: 'first\n', stdErr: '' });
    now += 1000;
    await tick('slurm');
    expect(slurm.reads).toEqual([['talker']]);
    expect(await row('talker')).toMatchObject({ state: 'ACTIVE', std_out: 'first\n', std_err: '', updated_at: now });
    const model = (await jobs.getByIds(database.db, ['talker'])).get('talker');
    expect(model).toMatchObject({ state: 'ACTIVE', stdOut: 'first\n' });

    // Within the interval: not read again, even though the file grew.
    slurm.tails.set('/jobs/talker', { stdOut: 'first\nsecond\n', stdErr: 'warn\n' });
    now += INTERVAL - 1;
    await tick('slurm');
    expect(slurm.reads).toHaveLength(1);
    expect((await row('talker')).std_out).toBe('first\n');

    now += 1;
    await tick('slurm');
    expect(slurm.reads).toHaveLength(2);
    expect(await row('talker')).toMatchObject({ std_out: 'first\nsecond\n', std_err: 'warn\n', updated_at: now });

    // Read again with nothing new: no write at all (the row keeps its version and its stamp).
    const before = await row('talker');
    now += INTERVAL;
    await tick('slurm');
    expect(slurm.reads).toHaveLength(3);
    expect(await row('talker')).toEqual(before);

    // A file that is gone leaves what is stored.
    slurm.tails.set('/jobs/talker', { stdErr: 'warn\n' });
    now += INTERVAL;
    await tick('slurm');
    expect(await row('talker')).toMatchObject({ std_out: 'first\nsecond\n', std_err: 'warn\n' });

    // It ends: the final tails are written with its end, and it is read no more.
    slurm.tails.set('/jobs/talker', { stdOut: 'first\nsecond\nlast\n', stdErr: 'warn\n' });
    slurm.statuses.set('talker', { jobId: 'talker', nativeJobId: '0', state: 'COMPLETE', nativeState: 'COMPLETED', exitCode: 0, endTime: now });
    now += 1000;
    await tick('slurm');
    expect(await row('talker')).toMatchObject({ state: 'COMPLETE', std_out: 'first\nsecond\nlast\n' });
    const reads = slurm.reads.length;
    now += INTERVAL;
    await tick('slurm');
    expect(slurm.reads).toHaveLength(reads);
    slurm.statuses.delete('talker');
  });

  it('reads at most so many jobs a tick, each in turn', async () => {
    for (const id of ['w1', 'w2', 'w3']) {
      await dispatched('slurm', id);
      slurm.statuses.set(id, running(id));
      slurm.tails.set(`/jobs/${id}`, { stdOut: `${id}\n` });
    }
    slurm.reads = [];
    now += 1000;
    await tick('slurm');
    now += 1000;
    await tick('slurm');
    now += 1000;
    await tick('slurm');
    expect(slurm.reads.map((r) => r.sort())).toEqual([['w1', 'w2'], ['w3']]);
    for (const id of ['w1', 'w2', 'w3']) expect((await row(id)).std_out).toBe(`${id}\n`);
    for (const id of ['w1', 'w2', 'w3']) slurm.statuses.delete(id);
    await database.db('jobs').whereIn('id', ['w1', 'w2', 'w3']).update({ state: 'CANCELED' });
  });

  it('never clears what is stored when the scheduler cannot read output (Mesos)', async () => {
    const mesos = schedulers.get('mesos') as ScriptedScheduler;
    await dispatched('mesos', 'service');
    await database.db('jobs').where({ id: 'service' }).update({ std_out: 'kept\n' });
    mesos.statuses.set('service', running('service'));
    mesos.reads = [];
    const before = await row('service');
    now += 1000;
    await tick('mesos');
    expect(mesos.reads).toEqual([['service']]);
    expect(await row('service')).toEqual(before);
  });

  it('leaves a job that ended while its output was read as its end left it', async () => {
    await dispatched('slurm', 'raced');
    await database.db.transaction(async (tx) => {
      await jobs.lockWork(tx, 'raced');
      await jobs.append(tx, 'raced', [{ state: 'CANCELED', time: now, reason: 'canceled by alice' }], now, { stdOut: 'final\n', endedAt: now });
    });
    expect(await jobs.writeLiveTails(database.db, [{ jobId: 'raced', stdOut: 'stale\n' }], now + 1)).toEqual(new Set());
    expect((await row('raced')).std_out).toBe('final\n');
  });
});
