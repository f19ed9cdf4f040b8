// The monitor's watches over live jobs on a real Slurm built on this machine by our own playbook
// (bare ansible-playbook, as in slurm.test.ts), the real SlurmScheduler (squeue, the job completion
// log, output read as the gateway's account) and the real service answering getJob over Thrift:
// - a running job's output shows in getJob while it runs, growing, and whole once it ended;
// - a job Slurm forgot (it ended while its completion log was away, so neither squeue nor the log
//   knows it) goes UNKNOWN after the grace with the reason, and COMPLETE once the log is back.
// The test drives the monitor's ticks itself (background workers off). Torn down afterwards.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import * as path from 'node:path';
import { execa } from 'execa';
import { DEFAULT_JOB_ROOT } from '../../src/config';
import { gatewayAccount } from '../../src/domain/gatewayAccount';
import type { Cluster } from '../../src/domain/types';
import { LocalCommandRunner } from '../../src/exec/commandRunner';
import { createLogger } from '../../src/log';
import { base } from '../../src/rpc/wire';
import { DEFAULT_JOBCOMP_LOG, SlurmScheduler } from '../../src/schedulers/slurm/slurmScheduler';
import { ApplicationStore } from '../../src/store/applicationStore';
import { ClusterStore } from '../../src/store/clusterStore';
import { JobStore } from '../../src/store/jobStore';
import { QueueStore } from '../../src/store/queueStore';
import type { ClusterAccess } from '../../src/workflows/clusterAccess';
import { JobWorkflows } from '../../src/workflows/jobWork';
import { startTestApp, type TestApp } from '../support/app';
import { authz } from '../support/tokens';
import { until } from '../support/until';

jest.setTimeout(60_000);

const CLUSTER_ID = 'slurm-watch-test';
const GATEWAY = 'gw-slurm-watch';
const ACCOUNT = gatewayAccount(GATEWAY);
const PLAYBOOKS = path.resolve(__dirname, '../../playbooks');
/** Shortened for the test (the default is 5 min). */
const MISSING_GRACE_MS = 3000;
const log = createLogger('silent');
const runner = new LocalCommandRunner();
const { JobState } = base;

let work: string;
let inventory: string;
/** Set when the playbook refused a host that another cluster owns: then we must not tear down. */
let foreignOwner: string | undefined;
let app: TestApp;
let token: base.AuthzToken;
let workflows: JobWorkflows;
/** Where the completion log is while a test keeps it away from Slurm's readers. */
let logAside: string | undefined;

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

/** A job for the cluster, dispatched to Slurm as the service does it: its native id. */
async function dispatched(command: string[]): Promise<{ jobId: string; nativeJobId: string }> {
  const jobId = randomUUID();
  const jobs = new JobStore();
  expect(await jobs.insertSubmitted(app.database.db, {
    jobId, gatewayId: GATEWAY, userName: 'alice', fingerprint: jobId, now: Date.now(), reason: 'test', clusterId: CLUSTER_ID,
    spec: { jobName: `watch-${jobId.slice(0, 8)}`, parallelism: 'SERIAL', command },
  })).toBe(true);
  await workflows.dispatch(jobId);
  const work = await jobs.work(app.database.db, jobId);
  if (!work?.nativeJobId) throw new Error(`job ${jobId} was not dispatched (${work?.state})`);
  return { jobId, nativeJobId: work.nativeJobId };
}

/** Monitor ticks (every 300 ms) until getJob's answer satisfies `done`. */
async function watch(what: string, jobId: string, done: (job: base.JobModel) => boolean, timeoutMs = 30_000): Promise<base.JobModel> {
  let last: base.JobModel | undefined;
  try {
    return await until(what, timeoutMs, async () => {
      await workflows.monitor(CLUSTER_ID);
      last = await app.clients.job.getJob(token, jobId);
      return done(last) ? last : undefined;
    }, 300);
  } catch (error) {
    const seen = last ? `${states(last).join(' ')}, stdOut ${JSON.stringify(last.stdOut)}` : 'nothing';
    throw new Error(`${error instanceof Error ? error.message : String(error)} (last seen: ${seen})`);
  }
}

const stateOf = (job: base.JobModel): string => JobState[job.jobStatuses?.at(-1)?.jobState ?? 0];
const states = (job: base.JobModel): string[] => (job.jobStatuses ?? []).map((s) => JobState[s.jobState]);

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'ms-slurm-watch-'));
  inventory = path.join(work, 'inventory.yml');
  const host = [
    '        localhost:',
    '          ansible_connection: local',
    '          ansible_python_interpreter: /usr/bin/python3',
    `          slurm_node_name: ${hostname()}`,
  ].join('\n');
  writeFileSync(inventory, `all:\n  children:\n    slurm_controller:\n      hosts:\n${host}\n    slurm_workers:\n      hosts:\n${host}\n`);
  const started = Date.now();
  const run = await playbook('slurm.yml', 150_000);
  if (!run.ok) {
    const failure = run.output.split('\n').filter((l) => /FAILED!|fatal:|ERROR/.test(l)).join('\n') || run.output.slice(-2000);
    if (/is owned by metascheduler cluster|it is not ours/.test(run.output)) foreignOwner = failure;
    throw new Error(`slurm.yml failed${foreignOwner ? ' (Slurm here belongs to another cluster; not tearing it down)' : ''}:\n${failure}`);
  }
  console.log(`slurm.yml took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await until('sinfo to show the node idle', 60_000, async () => {
    const node = (await sh(['sinfo', '-h', '-o', '%T'])).trim().split('\n');
    return node.length > 0 && node.every((s) => s === 'idle') ? true : undefined;
  });

  app = await startTestApp('buffered');
  token = await authz(GATEWAY);
  const now = Date.now();
  await app.database.db('clusters').insert({
    id: CLUSTER_ID, gateway_id: GATEWAY, user_name: 'alice', name: 'local', kind: 'SLURM', provider: 'STATIC', state: 'READY',
    spec: JSON.stringify({ name: 'local', kind: 'SLURM', provider: 'STATIC' }), created_at: now, updated_at: now,
  });
  // One scheduler for the cluster, as the service keeps one: it reads the completion log as it grows.
  const slurm = new SlurmScheduler({ runner, log });
  const access: ClusterAccess = {
    scheduler: (_cluster: Cluster) => slurm,
    verify: async () => { throw new Error('not in this test'); },
    sshPrivateKey: async () => undefined,
  };
  workflows = new JobWorkflows({
    db: app.database.db, applications: new ApplicationStore(), jobs: new JobStore(), clusters: new ClusterStore(), queue: new QueueStore(),
    access, log, jobRoot: DEFAULT_JOB_ROOT, monitorIntervalMs: 1000, staleAfterMs: 10_000,
    missingGraceMs: MISSING_GRACE_MS, liveOutput: { intervalMs: 1000, maxJobsPerTick: 10 },
  });
}, 240_000);

afterAll(async () => {
  // The log goes back where Slurm and teardown expect it, whatever happened.
  if (logAside !== undefined && existsSync(logAside)) renameSync(logAside, DEFAULT_JOBCOMP_LOG);
  await runner.run(['scancel', '-u', ACCOUNT.name]).catch(() => undefined);
  await app?.close();
  if (foreignOwner === undefined && inventory) {
    const started = Date.now();
    const run = await playbook('slurm_teardown.yml', 150_000);
    if (!run.ok) console.error(`slurm_teardown.yml failed:\n${run.output.slice(-3000)}`);
    console.log(`slurm_teardown.yml took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  if (work) rmSync(work, { recursive: true, force: true });
}, 180_000);

describe('the monitor on real Slurm', () => {
  it("shows a running job's output in getJob as it grows, and the whole tail once it ended", async () => {
    const { jobId } = await dispatched(['/bin/sh', '-c', 'echo first; echo warn >&2; sleep 5; echo second; sleep 5; echo last']);
    const first = await watch('the first line while it runs', jobId, (job) => stateOf(job) === 'ACTIVE' && job.stdOut === 'first\n' && job.stdErr === 'warn\n');
    expect(first.exitCode).toBeUndefined();
    const second = await watch('the second line while it runs', jobId, (job) => job.stdOut !== 'first\n');
    expect({ state: stateOf(second), stdOut: second.stdOut }).toEqual({ state: 'ACTIVE', stdOut: 'first\nsecond\n' });
    const ended = await watch('its end', jobId, (job) => stateOf(job) !== 'ACTIVE');
    expect(states(ended)).toEqual(['SUBMITTED', 'QUEUED', 'ACTIVE', 'COMPLETE']);
    expect(ended).toMatchObject({ exitCode: 0, stdOut: 'first\nsecond\nlast\n', stdErr: 'warn\n' });
  });

  it('reports a job Slurm forgot UNKNOWN after the grace, with the reason, and takes its true end once its record is back', async () => {
    const { jobId, nativeJobId } = await dispatched(['/bin/sh', '-c', 'echo done; sleep 4']);
    await watch('it to run', jobId, (job) => stateOf(job) === 'ACTIVE');
    // No ticks now: it ends unseen, Slurm writes its completion record, and squeue lets it go.
    const record = new RegExp(`^JobId=${nativeJobId} .* JobState=COMPLETED `, 'm');
    await until(`Slurm job ${nativeJobId} to end and be logged`, 30_000, async () => {
      const listed = (await sh(['squeue', '-h', '-j', nativeJobId, '-o', '%i'])).trim() !== '';
      return !listed && record.test(readFileSync(DEFAULT_JOBCOMP_LOG, 'utf8')) ? true : undefined;
    });
    // The completion log goes away (lost, or replaced by one that never had the record).
    logAside = `${DEFAULT_JOBCOMP_LOG}.aside-${randomUUID()}`;
    renameSync(DEFAULT_JOBCOMP_LOG, logAside);

    const missingFrom = Date.now();
    const unknown = await watch('it to be reported UNKNOWN', jobId, (job) => stateOf(job) !== 'ACTIVE');
    console.log(`reported UNKNOWN ${((Date.now() - missingFrom) / 1000).toFixed(1)} s after the log went away (grace ${MISSING_GRACE_MS / 1000} s)`);
    expect(states(unknown)).toEqual(['SUBMITTED', 'QUEUED', 'ACTIVE', 'UNKNOWN']);
    expect(unknown.jobStatuses?.at(-1)?.reason).toMatch(new RegExp(
      `^Slurm no longer knows job ${nativeJobId} \\(not in its queue for \\d+ s\\) and no completion record of it was found; `
      + 'its true state is taken if Slurm reports it again$'));
    // Its output is still read at its end, not while it is UNKNOWN.
    expect(unknown.exitCode).toBeUndefined();

    // The log is back: its record says how the job ended.
    if (existsSync(DEFAULT_JOBCOMP_LOG)) {
      // slurmctld opened a new log meanwhile: what it holds follows the old one.
      writeFileSync(logAside, readFileSync(DEFAULT_JOBCOMP_LOG), { flag: 'a' });
    }
    renameSync(logAside, DEFAULT_JOBCOMP_LOG);
    logAside = undefined;
    const ended = await watch('its true end', jobId, (job) => stateOf(job) !== 'UNKNOWN');
    expect(states(ended)).toEqual(['SUBMITTED', 'QUEUED', 'ACTIVE', 'UNKNOWN', 'COMPLETE']);
    expect(ended).toMatchObject({ exitCode: 0, stdOut: 'done\n' });
  });
});
