// Batched dispatch on real Postgres (with graphile-worker's schema) and a real Slurm built on this
// machine by our own playbook (bare ansible-playbook, as in slurm.test.ts), jobs submitted as the
// gateway's account through runuser: a batch is each in Slurm exactly once, a refused job fails
// alone, a job canceled while its batch was submitted has its native job canceled, an earlier
// attempt's job is adopted, a live claim is left alone and a failed submit lets its claims go.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import * as path from 'node:path';
import { execa } from 'execa';
import { DEFAULT_JOB_ROOT } from '../../src/config';
import { gatewayAccount } from '../../src/domain/gatewayAccount';
import type { Cluster, JobSpec } from '../../src/domain/types';
import { LocalCommandRunner } from '../../src/exec/commandRunner';
import { createLogger } from '../../src/log';
import type { BatchJob, Scheduler, SubmitOutcome } from '../../src/schedulers/scheduler';
import { SlurmScheduler } from '../../src/schedulers/slurm';
import { ApplicationStore } from '../../src/store/applicationStore';
import { ClusterStore } from '../../src/store/clusterStore';
import { JobStore } from '../../src/store/jobStore';
import { QueueStore } from '../../src/store/queueStore';
import type { ClusterAccess } from '../../src/workflows/clusterAccess';
import { JobWorkflows } from '../../src/workflows/jobWork';
import { JobCancel } from '../../src/services/jobCancel';
import { createTestDatabase, type TestDatabase } from '../support/database';

jest.setTimeout(120_000);

const CLUSTER_ID = 'batch-dispatch-test';
const GATEWAY = 'gw-batch-dispatch';
const ACCOUNT = gatewayAccount(GATEWAY);
const PLAYBOOKS = path.resolve(__dirname, '../../playbooks');
const log = createLogger('silent');
const runner = new LocalCommandRunner();

let base: string;
let inventory: string;
/** Set when the playbook refused a host that another cluster owns: then we must not tear down. */
let foreignOwner: string | undefined;
let database: TestDatabase;
const jobs = new JobStore({ outbox: true });
const slurm = new SlurmScheduler({ runner, log });
/** What the workflows reach the cluster with; a test may put a scheduler of its own in. */
let scheduler: Scheduler = slurm;
let workflows: JobWorkflows;
let cancels: JobCancel;
const ALICE = { gatewayId: GATEWAY, userName: 'alice' };

async function playbook(file: string, timeoutMs: number): Promise<{ ok: boolean; output: string }> {
  const result = await execa('ansible-playbook', ['-i', inventory, path.join(PLAYBOOKS, file), '-e', `ms_cluster_id=${CLUSTER_ID}`,
    '-e', `ms_job_user=${ACCOUNT.name}`, '-e', `ms_job_uid=${ACCOUNT.uid}`], {
    cwd: PLAYBOOKS, reject: false, timeout: timeoutMs, killSignal: 'SIGTERM', all: true, env: { ANSIBLE_NOCOLOR: '1' },
  });
  return { ok: result.exitCode === 0, output: typeof result.all === 'string' ? result.all : '' };
}

async function sh(argv: string[]): Promise<string> {
  const result = await runner.run(argv, { timeoutMs: 60_000 });
  if (result.exitCode !== 0) throw new Error(`${argv.join(' ')}: exit ${result.exitCode}: ${result.stderr}`);
  return result.stdout;
}

/** How many jobs Slurm has (any state) under each of our ids' names. */
async function slurmCopies(jobIds: readonly string[]): Promise<number[]> {
  const names = (await sh(['squeue', '-h', '-a', '-t', 'all', '-o', '%j'])).split('\n');
  return jobIds.map((id) => names.filter((name) => name === `ms-${id}`).length);
}

async function slurmState(nativeJobId: string): Promise<string> {
  return (await sh(['squeue', '-h', '-a', '-t', 'all', '-j', nativeJobId, '-o', '%T'])).trim();
}

async function submitted(spec: Partial<JobSpec> = {}): Promise<string> {
  const jobId = randomUUID();
  const inserted = await jobs.insertSubmitted(database.db, {
    jobId, gatewayId: GATEWAY, userName: 'alice', fingerprint: jobId, now: Date.now(), reason: 'test', clusterId: CLUSTER_ID,
    spec: { jobName: `batch-${jobId.slice(0, 8)}`, parallelism: 'SERIAL', command: ['/bin/sleep', '60'], clientToken: jobId, ...spec },
  });
  if (!inserted) throw new Error('job not inserted');
  return jobId;
}

async function row(jobId: string) {
  return database.db('jobs').where({ id: jobId }).first<{
    state: string; native_job_id: string | null; dispatch_claimed_by: string | null; dispatch_attempts: number; working_dir: string | null;
    cancel_requested: string | null;
  }>();
}

async function history(jobId: string): Promise<{ state: string; reason: string }[]> {
  return database.db('job_statuses').select('state', 'reason').where({ job_id: jobId }).orderBy('id');
}

async function pendingTask(jobId: string): Promise<{ run_at: Date } | undefined> {
  return database.db('graphile_worker._private_jobs').select('run_at').where({ key: `dispatch:${jobId}` }).first();
}

beforeAll(async () => {
  base = mkdtempSync(path.join(tmpdir(), 'ms-batch-dispatch-'));
  inventory = path.join(base, 'inventory.yml');
  const host = [
    '        localhost:',
    '          ansible_connection: local',
    '          ansible_python_interpreter: /usr/bin/python3',
    `          slurm_node_name: ${hostname()}`,
  ].join('\n');
  writeFileSync(inventory, `all:\n  children:\n    slurm_controller:\n      hosts:\n${host}\n    slurm_workers:\n      hosts:\n${host}\n`);
  const run = await playbook('slurm.yml', 150_000);
  if (!run.ok) {
    const failure = run.output.split('\n').filter((l) => /FAILED!|fatal:|ERROR/.test(l)).join('\n') || run.output.slice(-2000);
    if (/is owned by metascheduler cluster|it is not ours/.test(run.output)) foreignOwner = failure;
    throw new Error(`slurm.yml failed${foreignOwner ? ' (Slurm here belongs to another cluster; not tearing it down)' : ''}:\n${failure}`);
  }
  // Nothing starts while we look: every job stays PENDING, so squeue shows all of them.
  await sh(['scontrol', 'update', `nodename=${hostname()}`, 'state=drain', 'reason=batch-dispatch-test']);

  database = await createTestDatabase({ queue: true });
  const now = Date.now();
  await database.db('clusters').insert({
    id: CLUSTER_ID, gateway_id: GATEWAY, user_name: 'alice', name: 'local', kind: 'SLURM', provider: 'STATIC', state: 'READY',
    spec: JSON.stringify({ name: 'local', kind: 'SLURM', provider: 'STATIC' }), created_at: now, updated_at: now,
  });
  const access: ClusterAccess = {
    scheduler: (_cluster: Cluster) => scheduler,
    verify: async () => { throw new Error('not in this test'); },
    sshPrivateKey: async () => undefined,
  };
  workflows = new JobWorkflows({
    db: database.db, applications: new ApplicationStore(), jobs, clusters: new ClusterStore(), queue: new QueueStore(),
    access, log, jobRoot: DEFAULT_JOB_ROOT, monitorIntervalMs: 1000, staleAfterMs: 10_000,
  });
  cancels = new JobCancel({ db: database.db, jobs, clusters: new ClusterStore(), access, now: Date.now });
}, 240_000);

afterAll(async () => {
  await runner.run(['scancel', '-u', ACCOUNT.name]).catch(() => undefined);
  await database?.drop();
  if (foreignOwner === undefined && inventory) {
    const run = await playbook('slurm_teardown.yml', 150_000);
    if (!run.ok) console.error(`slurm_teardown.yml failed:\n${run.output.slice(-3000)}`);
  }
  if (base) rmSync(base, { recursive: true, force: true });
}, 180_000);

afterEach(() => {
  scheduler = slurm;
});

describe('batched dispatch on real Slurm', () => {
  it('dispatches every due job of the cluster in one task, each in Slurm exactly once', async () => {
    const ids = [];
    for (let i = 0; i < 20; i += 1) ids.push(await submitted());
    await workflows.dispatch(ids[7]);
    const rows = await Promise.all(ids.map(row));
    expect(rows.map((r) => r?.state)).toEqual(ids.map(() => 'QUEUED'));
    const natives = rows.map((r) => r?.native_job_id);
    expect(new Set(natives).size).toBe(20);
    expect(await slurmCopies(ids)).toEqual(ids.map(() => 1));
    for (const [i, id] of ids.entries()) {
      expect(await history(id)).toEqual([
        { state: 'SUBMITTED', reason: 'test' },
        { state: 'QUEUED', reason: `queued as Slurm job ${natives[i]} on cluster local` },
      ]);
      expect(rows[i]).toMatchObject({ dispatch_claimed_by: null, dispatch_attempts: 1, working_dir: path.join(DEFAULT_JOB_ROOT, ACCOUNT.name, id) });
      // Nothing is left for the job's own dispatch task to do: it is gone.
      expect(await pendingTask(id)).toBeUndefined();
    }
    // Its files were made by the account, not by root.
    expect(statSync(path.join(DEFAULT_JOB_ROOT, ACCOUNT.name, ids[0], `.ms-${ids[0]}.sbatch`)).uid).toBe(ACCOUNT.uid);
    const events = await database.db('job_event_outbox').select('job_id', 'state').whereIn('job_id', ids).orderBy('id') as { job_id: string; state: string }[];
    for (const id of ids) expect(events.filter((e) => e.job_id === id).map((e) => e.state)).toEqual(['SUBMITTED', 'QUEUED']);
    // A task that runs again finds its job dispatched: nothing more reaches Slurm.
    await workflows.dispatch(ids[3]);
    expect(await slurmCopies(ids)).toEqual(ids.map(() => 1));
  });

  it('fails a job Slurm refuses, and one whose directory the account cannot make, alone; the rest are queued', async () => {
    const good = [await submitted(), await submitted()];
    const refused = await submitted({ queueName: 'no-such-partition' });
    const link = path.join(DEFAULT_JOB_ROOT, ACCOUNT.name, `escape-${randomUUID()}`);
    await sh(['ln', '-s', '/root', link]);
    try {
      const escaping = await submitted({ workingDir: path.join(link, 'job') });
      await workflows.dispatch(good[0]);
      expect((await Promise.all(good.map(row))).map((r) => r?.state)).toEqual(['QUEUED', 'QUEUED']);
      expect(await slurmCopies(good)).toEqual([1, 1]);
      expect(await row(refused)).toMatchObject({ state: 'FAILED', native_job_id: null });
      expect((await history(refused)).at(-1)?.reason).toMatch(/^Slurm refused the job: .*partition/);
      expect(await row(escaping)).toMatchObject({ state: 'FAILED', native_job_id: null });
      expect((await history(escaping)).at(-1)?.reason).toMatch(/^cannot create the working directory as /);
      expect(await slurmCopies([refused, escaping])).toEqual([0, 0]);
      expect(await pendingTask(refused)).toBeUndefined();
    } finally {
      rmSync(link, { force: true });
    }
  });

  it("cancels the native job of a job canceled while its batch was being submitted, and records the others", async () => {
    const ids = [await submitted(), await submitted(), await submitted()];
    const canceled = ids[1];
    // The real scheduler; while its sbatch runs, the job is canceled (as cancelJob does it).
    scheduler = Object.assign(Object.create(slurm) as Scheduler, {
      submitMany: async (batch: readonly BatchJob[]): Promise<SubmitOutcome[]> => {
        const outcomes = await slurm.submitMany(batch);
        await database.db.transaction(async (tx) => {
          await jobs.lockWork(tx, canceled);
          await jobs.append(tx, canceled, [{ state: 'CANCELED', time: Date.now(), reason: 'canceled by alice before dispatch' }], Date.now());
        });
        return outcomes;
      },
    });
    await workflows.dispatch(ids[0]);
    expect((await Promise.all(ids.map(row))).map((r) => r?.state)).toEqual(['QUEUED', 'CANCELED', 'QUEUED']);
    expect(await row(canceled)).toMatchObject({ native_job_id: null });
    // It did reach Slurm once, and Slurm has it canceled.
    expect(await slurmCopies(ids)).toEqual([1, 1, 1]);
    const native = (await slurm.findByJobIds([canceled])).get(canceled);
    expect(native).toMatch(/^\d+$/);
    expect(await slurmState(native as string)).toBe('CANCELLED');
    expect((await history(canceled)).map((h) => h.state)).toEqual(['SUBMITTED', 'CANCELED']);
  });

  it('adopts the job an earlier, interrupted attempt left in Slurm instead of submitting it again', async () => {
    const jobId = await submitted();
    // An earlier dispatch reached sbatch and died before recording: its claim is stale, its process gone.
    const nativeJobId = await slurm.submit({
      jobId, spec: { jobName: 'x', parallelism: 'SERIAL', command: ['/bin/sleep', '60'] }, workingDir: path.join(DEFAULT_JOB_ROOT, ACCOUNT.name, jobId),
      environment: {}, account: ACCOUNT.name,
    });
    await database.db('jobs').update({ dispatch_attempts: 1, dispatch_claimed_by: 'gone-host:1', dispatch_claimed_at: Date.now() - 60_000 }).where({ id: jobId });
    await workflows.dispatch(jobId);
    expect(await row(jobId)).toMatchObject({ state: 'QUEUED', native_job_id: nativeJobId, dispatch_attempts: 2 });
    expect((await history(jobId)).at(-1)?.reason).toBe(`found already queued as Slurm job ${nativeJobId} on cluster local`);
    expect(await slurmCopies([jobId])).toEqual([1]);
  });

  // Crash chaos found it: a cancel came while a dispatch was between sbatch and recording, the
  // service died, the job was reported CANCELED "before dispatch", and Slurm ran it unseen.
  it('leaves a cancel for a dispatch that died after sbatch: the next dispatch adopts the job and cancels it in Slurm', async () => {
    const jobId = await submitted();
    const nativeJobId = await slurm.submit({
      jobId, spec: { jobName: 'x', parallelism: 'SERIAL', command: ['/bin/sleep', '60'] }, workingDir: path.join(DEFAULT_JOB_ROOT, ACCOUNT.name, jobId),
      environment: {}, account: ACCOUNT.name,
    });
    await database.db('jobs').update({ dispatch_attempts: 1, dispatch_claimed_by: 'gone-host:1', dispatch_claimed_at: Date.now() - 60_000 }).where({ id: jobId });
    await cancels.cancel(ALICE, jobId);
    // Not ended yet: only a dispatch can tell whether the earlier one got there; its task is due now.
    expect(await row(jobId)).toMatchObject({ state: 'SUBMITTED', cancel_requested: 'alice' });
    expect((await pendingTask(jobId))?.run_at.getTime()).toBeLessThanOrEqual(Date.now());
    await cancels.cancel(ALICE, jobId); // a retried cancel changes nothing
    await workflows.dispatch(jobId);
    expect(await row(jobId)).toMatchObject({ state: 'QUEUED', native_job_id: nativeJobId, dispatch_claimed_by: null });
    expect((await history(jobId)).at(-1)?.reason).toBe(`found already queued as Slurm job ${nativeJobId} on cluster local`);
    expect(await slurmState(nativeJobId)).toBe('CANCELLED');
    expect(await slurmCopies([jobId])).toEqual([1]);
    // The monitor then reports what Slurm says.
    await workflows.monitor(CLUSTER_ID);
    expect(await row(jobId)).toMatchObject({ state: 'CANCELED' });
    await cancels.cancel(ALICE, jobId);
  });

  it('cancels in Slurm a job canceled while its sbatch ran, when the dispatch then dies before recording', async () => {
    const jobId = await submitted();
    scheduler = Object.assign(Object.create(slurm) as Scheduler, {
      submitMany: async (batch: readonly BatchJob[]): Promise<SubmitOutcome[]> => {
        await slurm.submitMany(batch);
        // cancelJob while sbatch has run and nothing is recorded; then the dispatch dies.
        await cancels.cancel(ALICE, jobId);
        throw new Error('killed before recording');
      },
    });
    await expect(workflows.dispatch(jobId)).rejects.toThrow(/killed before recording/);
    expect(await row(jobId)).toMatchObject({ state: 'SUBMITTED', native_job_id: null, cancel_requested: 'alice' });
    scheduler = slurm;
    await workflows.dispatch(jobId);
    const recorded = await row(jobId);
    expect(recorded).toMatchObject({ state: 'QUEUED', dispatch_attempts: 2 });
    expect(await slurmState(recorded?.native_job_id as string)).toBe('CANCELLED');
    expect(await slurmCopies([jobId])).toEqual([1]);
  });

  it('cancels in Slurm a job canceled while its live dispatch ran sbatch, once it is recorded', async () => {
    const jobId = await submitted();
    scheduler = Object.assign(Object.create(slurm) as Scheduler, {
      submitMany: async (batch: readonly BatchJob[]): Promise<SubmitOutcome[]> => {
        const outcomes = await slurm.submitMany(batch);
        await cancels.cancel(ALICE, jobId);
        return outcomes;
      },
    });
    await workflows.dispatch(jobId);
    const recorded = await row(jobId);
    expect(recorded).toMatchObject({ state: 'QUEUED', dispatch_attempts: 1, cancel_requested: 'alice' });
    expect(await slurmState(recorded?.native_job_id as string)).toBe('CANCELLED');
  });

  it('ends CANCELED a job whose begun dispatch never reached Slurm, once a dispatch has searched; an untouched one at once', async () => {
    const jobId = await submitted();
    await database.db('jobs').update({ dispatch_attempts: 1, dispatch_claimed_by: 'gone-host:1', dispatch_claimed_at: Date.now() - 60_000 }).where({ id: jobId });
    await cancels.cancel(ALICE, jobId);
    let submittedJobs = 0;
    scheduler = Object.assign(Object.create(slurm) as Scheduler, {
      submitMany: async (batch: readonly BatchJob[]) => { submittedJobs += batch.length; return slurm.submitMany(batch); },
    });
    await workflows.dispatch(jobId);
    expect(submittedJobs).toBe(0);
    expect(await row(jobId)).toMatchObject({ state: 'CANCELED', native_job_id: null });
    expect((await history(jobId)).at(-1)?.reason).toBe('canceled by alice before dispatch (its earlier dispatch had not reached Slurm)');
    expect(await pendingTask(jobId)).toBeUndefined();
    const untouched = await submitted();
    await cancels.cancel(ALICE, untouched);
    expect(await row(untouched)).toMatchObject({ state: 'CANCELED' });
    expect((await history(untouched)).at(-1)?.reason).toBe('canceled by alice before dispatch');
    expect(await slurmCopies([jobId, untouched])).toEqual([0, 0]);
  });

  it('keeps the cancel and retries when Slurm cannot be searched for a job whose dispatch began', async () => {
    const jobId = await submitted();
    await database.db('jobs').update({ dispatch_attempts: 1 }).where({ id: jobId });
    await cancels.cancel(ALICE, jobId);
    scheduler = Object.assign(Object.create(slurm) as Scheduler, {
      findByJobIds: async () => { throw new Error('squeue: slurm_load_jobs error: Unable to contact slurm controller'); },
    });
    await expect(workflows.dispatch(jobId)).rejects.toThrow(/Unable to contact slurm controller/);
    expect(await row(jobId)).toMatchObject({ state: 'SUBMITTED', native_job_id: null, cancel_requested: 'alice', dispatch_claimed_by: null });
    scheduler = slurm;
    await workflows.dispatch(jobId);
    expect(await row(jobId)).toMatchObject({ state: 'CANCELED' });
    expect(await slurmCopies([jobId])).toEqual([0]);
  });

  it('wakes the jobs waiting out a retry once a round queues on the cluster again after it failed, and only then', async () => {
    const waiting = [await submitted(), await submitted()];
    // The cluster cannot be reached: the round retries everything it claimed.
    scheduler = Object.assign(Object.create(slurm) as Scheduler, {
      submitMany: async (batch: readonly BatchJob[]): Promise<SubmitOutcome[]> =>
        batch.map((job) => ({ kind: 'failed', jobId: job.jobId, error: new Error('ssh: connect to host 10.0.0.9 port 22: Connection refused') })),
    });
    await expect(workflows.dispatch(waiting[0])).rejects.toThrow(/Connection refused/);
    // What the queue keeps of a long outage: tries counted, the next one far off.
    const farOff = new Date(Date.now() + 30 * 60_000);
    const keys = waiting.map((id) => `dispatch:${id}`);
    await database.db('graphile_worker._private_jobs').whereIn('key', keys).update({ attempts: 6, run_at: farOff });

    // The cluster works again: a new job's round queues it, and the waiting ones become due at once
    // (not claimed by that round: their tasks were not due when it claimed).
    scheduler = slurm;
    const fresh = await submitted();
    await workflows.dispatch(fresh);
    expect(await row(fresh)).toMatchObject({ state: 'QUEUED' });
    for (const id of waiting) {
      expect(await row(id)).toMatchObject({ state: 'SUBMITTED', native_job_id: null });
      expect((await pendingTask(id))?.run_at.getTime()).toBeLessThanOrEqual(Date.now());
    }
    await workflows.dispatch(waiting[0]);
    for (const id of waiting) expect(await row(id)).toMatchObject({ state: 'QUEUED' });
    expect(await slurmCopies([...waiting, fresh])).toEqual([1, 1, 1]);

    // A job waiting out a retry on a cluster that has not failed keeps its delay.
    const own = await submitted();
    await database.db('graphile_worker._private_jobs').where('key', `dispatch:${own}`).update({ attempts: 2, run_at: farOff });
    const next = await submitted();
    await workflows.dispatch(next);
    expect(await row(next)).toMatchObject({ state: 'QUEUED' });
    expect((await pendingTask(own))?.run_at.getTime()).toBe(farOff.getTime());
    await database.db('graphile_worker._private_jobs').where('key', `dispatch:${own}`).update({ run_at: new Date() });
    await workflows.dispatch(own);
    expect(await row(own)).toMatchObject({ state: 'QUEUED' });
  });

  it('leaves a job claimed by a live process alone, and looks at it again once that claim could be stale', async () => {
    const held = await submitted();
    const other = await submitted();
    const now = Date.now();
    await database.db('worker_heartbeats').insert({ worker_id: 'live-worker', process_id: 'live-host:1', beat_at: now });
    await database.db('jobs').update({ dispatch_attempts: 1, dispatch_claimed_by: 'live-host:1', dispatch_claimed_at: now }).where({ id: held });
    await workflows.dispatch(held);
    // The other job was due: this task's round took it; the held one is untouched.
    expect(await row(other)).toMatchObject({ state: 'QUEUED' });
    expect(await row(held)).toMatchObject({ state: 'SUBMITTED', native_job_id: null, dispatch_claimed_by: 'live-host:1', dispatch_attempts: 1 });
    expect(await slurmCopies([held, other])).toEqual([0, 1]);
    const task = await pendingTask(held);
    expect(task?.run_at.getTime()).toBeGreaterThan(now + 5_000);
    await database.db('jobs').update({ dispatch_claimed_by: null, dispatch_claimed_at: null }).where({ id: held });
  });

  it('lets the claims go and throws for a retry when the submit program cannot run; the retry searches first', async () => {
    // runuser is found, bash is not: the program never runs, so nothing can have reached Slurm.
    const broken = new SlurmScheduler({ runner: new LocalCommandRunner({ baseEnv: { PATH: '/usr/sbin' } }), log });
    scheduler = Object.assign(Object.create(slurm) as Scheduler, { submitMany: (batch: readonly BatchJob[]) => broken.submitMany(batch) });
    const ids = [await submitted(), await submitted()];
    await expect(workflows.dispatch(ids[0])).rejects.toThrow(/without a word on this job/);
    for (const id of ids) expect(await row(id)).toMatchObject({ state: 'SUBMITTED', native_job_id: null, dispatch_claimed_by: null, dispatch_attempts: 1 });
    scheduler = slurm;
    await workflows.dispatch(ids[0]);
    for (const id of ids) expect(await row(id)).toMatchObject({ state: 'QUEUED', dispatch_attempts: 2 });
    expect(await slurmCopies(ids)).toEqual([1, 1]);
  });
});
