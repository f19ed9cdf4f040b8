// The Mesos adapters: the task's command line run by a real /bin/sh (as Mesos runs it), the state
// mapping tables, and submit/poll/cancel/findByJobIds of MesosSchedulers over the replay double,
// with every Metronome job and Marathon app it sends checked against the official schemas.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { JobSpec } from '../../src/domain/types';
import { createLogger } from '../../src/log';
import type { MarathonApp } from '../../src/schedulers/marathon/client';
import {
  FAILED_LABEL, MARATHON_CONDITIONS, marathonAppDefinition, marathonAppStatus, type MarathonCondition, type MarathonObservation,
} from '../../src/schedulers/marathon/marathonScheduler';
import { MesosSchedulers, type MesosSchedulersOptions } from '../../src/schedulers/mesos/mesosSchedulers';
import { JOB_ID_LABEL, taskCommand } from '../../src/schedulers/mesos/task';
import { METRONOME_RUN_STATUSES, type MetronomeJob } from '../../src/schedulers/metronome/client';
import {
  CANCELED_RUN_LABEL, metronomeJobId, metronomeJobSpec, metronomeRunState, metronomeRunStatus,
} from '../../src/schedulers/metronome/metronomeScheduler';
import { JobRefusedError, type BatchJob, type TrackedJob } from '../../src/schedulers/scheduler';
import { MesosApiDouble } from '../support/mesosApiDouble';

const log = createLogger('silent');

function job(spec: Partial<JobSpec> = {}, extra: Partial<BatchJob> = {}): BatchJob {
  const jobId = randomUUID();
  return {
    jobId,
    spec: { jobName: 'test', parallelism: 'SERIAL', command: ['/bin/echo', 'hello'], ...spec },
    workingDir: `/var/lib/airavata/jobs/gw1/${jobId}`,
    environment: { GREETING: 'hi there', EMPTY: '' },
    account: 'gw_gw1',
    ...extra,
  };
}

const service = (spec: Partial<JobSpec> = {}, extra: Partial<BatchJob> = {}) => job({ ...spec, jobType: 'SERVICE' }, extra);

describe('the task command, run by /bin/sh as Mesos runs it', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'mesos-cmd-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const VALUES = ['plain', 'two words', "it's", '"double"', '$(touch PWNED)', '`touch PWNED2`', '$HOME', 'a;b|c&d', '*', 'line\nbreak', '\\back', '-n', ''];

  test.each([
    ['with no wall time', undefined],
    ['under a wall time', 60],
  ])('every argv value reaches the program as it is (%s), in the working directory, output in its files', (_label, wallTimeSeconds) => {
    const workingDir = path.join(dir, "work dir $(x) 'q'");
    const batch = job({ command: ['printf', '[%s]\\n', ...VALUES] }, { workingDir });
    const cmd = taskCommand(batch, { wallTimeSeconds });
    execFileSync('/bin/sh', ['-c', cmd], { cwd: dir });
    expect(readFileSync(path.join(workingDir, 'stdout.txt'), 'utf8')).toBe(VALUES.map((v) => `[${v}]\n`).join(''));
    expect(readFileSync(path.join(workingDir, 'stderr.txt'), 'utf8')).toBe('');
    expect(existsSync(path.join(workingDir, 'PWNED'))).toBe(false);
    expect(existsSync(path.join(workingDir, 'PWNED2'))).toBe(false);
    expect(existsSync(path.join(dir, 'PWNED'))).toBe(false);
  });

  test('a service appends to its output across restarts; a batch job starts it afresh', () => {
    const workingDir = path.join(dir, 'svc');
    const run = (cmd: string) => execFileSync('/bin/sh', ['-c', cmd], { cwd: dir });
    const svc = service({ command: ['echo', 'once'] }, { workingDir });
    run(taskCommand(svc, { append: true }));
    run(taskCommand(svc, { append: true }));
    expect(readFileSync(path.join(workingDir, 'stdout.txt'), 'utf8')).toBe('once\nonce\n');
    run(taskCommand(svc));
    expect(readFileSync(path.join(workingDir, 'stdout.txt'), 'utf8')).toBe('once\n');
  });

  test('the exit status is the program\'s', () => {
    const cmd = taskCommand(job({ command: ['sh', '-c', 'exit 7'] }, { workingDir: path.join(dir, 'x') }));
    let status: number | null = null;
    try {
      execFileSync('/bin/sh', ['-c', cmd]);
    } catch (error) {
      status = (error as { status: number | null }).status;
    }
    expect(status).toBe(7);
  });

  test('a wall time stops the program (timeout\'s status 124)', () => {
    const cmd = taskCommand(job({ command: ['sleep', '5'] }, { workingDir: path.join(dir, 'w') }), { wallTimeSeconds: 1 });
    expect(cmd).toContain('exec timeout -k 30 1 ');
    let status: number | null = null;
    try {
      execFileSync('/bin/sh', ['-c', cmd]);
    } catch (error) {
      status = (error as { status: number | null }).status;
    }
    expect(status).toBe(124);
  });

  test('what cannot be quoted or located is refused', () => {
    expect(() => taskCommand(job({ command: ['echo', 'nul\0byte'] }))).toThrow(JobRefusedError);
    expect(() => taskCommand(job({}, { workingDir: 'relative/dir' }))).toThrow(JobRefusedError);
  });
});

describe('what a job becomes', () => {
  test('a Metronome job: our label, the account, resources, env, the quoted command, no restart', () => {
    const batch = job({ totalCPUCount: 2, totalPhysicalMemory: 2048, wallTimeLimit: 30 });
    const spec = metronomeJobSpec(batch);
    expect(spec).toEqual({
      id: metronomeJobId(batch.jobId),
      description: `Airavata job ${batch.jobId}`,
      labels: { [JOB_ID_LABEL]: batch.jobId },
      run: {
        cmd: `mkdir -p -- '${batch.workingDir}' && cd -- '${batch.workingDir}' && exec timeout -k 30 1800 '/bin/echo' 'hello' >stdout.txt 2>stderr.txt`,
        cpus: 2, mem: 2048, disk: 0, user: 'gw_gw1', env: { GREETING: 'hi there', EMPTY: '' }, maxLaunchDelay: 3600, restart: { policy: 'NEVER' },
      },
    });
  });

  test('defaults: 1 CPU, 128 MB, no disk; Metronome\'s least memory is 32 MB', () => {
    expect(metronomeJobSpec(job()).run).toMatchObject({ cpus: 1, mem: 128, disk: 0 });
    expect(metronomeJobSpec(job({ totalPhysicalMemory: 8 })).run.mem).toBe(32);
    expect(metronomeJobSpec(job(), { resources: { cpus: 0.5, diskMb: 64 } }).run).toMatchObject({ cpus: 0.5, mem: 128, disk: 64 });
  });

  test('a Marathon app: /airavata/<id>, one instance, no ports, output appended', () => {
    const svc = service();
    expect(marathonAppDefinition(svc)).toEqual({
      id: `/airavata/${svc.jobId}`,
      cmd: `mkdir -p -- '${svc.workingDir}' && cd -- '${svc.workingDir}' && exec '/bin/echo' 'hello' >>stdout.txt 2>>stderr.txt`,
      cpus: 1, mem: 128, disk: 0, instances: 1, user: 'gw_gw1', env: { GREETING: 'hi there', EMPTY: '' },
      labels: { [JOB_ID_LABEL]: svc.jobId }, portDefinitions: [],
    });
  });

  test.each([
    ['root account', job({}, { account: 'root' }), /never run as root/],
    ['not an account name', job({}, { account: '-rf' }), /not a Unix account name/],
    ['MPI', job({ parallelism: 'MPI' }), /parallelism MPI cannot run on Mesos/],
    ['OPENMP', job({ parallelism: 'OPENMP' }), /parallelism OPENMP/],
    ['two nodes', job({ nodeCount: 2 }), /runs on one Mesos agent/],
    ['no program', job({ command: [] }), /no program/],
    ['bad env name', job({}, { environment: { 'A-B': 'x' } }), /not an identifier/],
    ['zero CPUs', job({ totalCPUCount: 0 }), /totalCPUCount/],
    ['a SERVICE to Metronome', service(), /runs on Marathon/],
  ])('refused for Metronome: %s', (_label, batch, message) => {
    expect(() => metronomeJobSpec(batch)).toThrow(JobRefusedError);
    expect(() => metronomeJobSpec(batch)).toThrow(message);
  });

  test('refused for Marathon: a BATCH job, and root', () => {
    expect(() => marathonAppDefinition(job())).toThrow(/BATCH job runs on Metronome/);
    expect(() => marathonAppDefinition(service({}, { account: 'root' }))).toThrow(JobRefusedError);
  });
});

describe('state mapping', () => {
  const tracked: TrackedJob = { jobId: 'j1', nativeJobId: 'metronome:airavata.j1/r1' };

  test('every Metronome run status', () => {
    const table = Object.fromEntries(METRONOME_RUN_STATUSES.map((s) => [s, [metronomeRunState(s, false), metronomeRunState(s, true)]]));
    expect(table).toEqual({
      INITIAL: ['QUEUED', 'QUEUED'],
      STARTING: ['QUEUED', 'QUEUED'],
      ACTIVE: ['ACTIVE', 'ACTIVE'],
      SUCCESS: ['COMPLETE', 'COMPLETE'],
      // A stopped run is recorded by Metronome as failed; ours is CANCELED.
      FAILED: ['FAILED', 'CANCELED'],
    });
    expect(metronomeRunState('SOMETHING_NEW', false)).toBe('UNKNOWN');
  });

  test('runs read from active runs and from the history', () => {
    const base: MetronomeJob = { id: 'airavata.j1', labels: { [JOB_ID_LABEL]: 'j1' } };
    const active = (status: string): MetronomeJob => ({
      ...base,
      activeRuns: [{ id: 'r1', jobId: 'airavata.j1', status, createdAt: '2016-07-15T13:02:59.735+0000', completedAt: null,
        tasks: [{ id: 't', status: 'TASK_RUNNING', startedAt: '2016-07-15T13:03:00.000+0000' }] }],
    });
    expect(metronomeRunStatus(tracked, active('STARTING'), 'r1')).toMatchObject({ state: 'QUEUED', nativeState: 'STARTING' });
    expect(metronomeRunStatus(tracked, active('ACTIVE'), 'r1')).toMatchObject({ state: 'ACTIVE', startTime: Date.UTC(2016, 6, 15, 13, 3, 0) });
    const history = (successful: boolean, labels: Record<string, string> = {}): MetronomeJob => ({
      ...base,
      labels: { ...base.labels, ...labels },
      activeRuns: [],
      history: {
        successfulFinishedRuns: successful ? [{ id: 'r1', createdAt: '2016-07-15T13:02:59.735+0000', finishedAt: '2016-07-15T13:10:00.000+0000' }] : [],
        failedFinishedRuns: successful ? [] : [{ id: 'r1', createdAt: '2016-07-15T13:02:59.735+0000', finishedAt: '2016-07-15T13:10:00.000+0000' }],
      },
    });
    expect(metronomeRunStatus(tracked, history(true), 'r1')).toMatchObject({ state: 'COMPLETE', exitCode: 0, endTime: Date.UTC(2016, 6, 15, 13, 10, 0) });
    expect(metronomeRunStatus(tracked, history(false), 'r1')).toMatchObject({ state: 'FAILED', nativeState: 'FAILED' });
    expect(metronomeRunStatus(tracked, history(false, { [CANCELED_RUN_LABEL]: 'r1' }), 'r1')).toMatchObject({ state: 'CANCELED' });
    // Another run stopped by us does not make this one canceled.
    expect(metronomeRunStatus(tracked, history(false, { [CANCELED_RUN_LABEL]: 'r0' }), 'r1')).toMatchObject({ state: 'FAILED' });
    // Named nowhere (between active and history): nothing is concluded.
    expect(metronomeRunStatus(tracked, { ...base, activeRuns: [] }, 'r1')).toBeUndefined();
  });

  test('every Marathon condition', () => {
    const svc: TrackedJob = { jobId: 'j2', nativeJobId: 'marathon:/airavata/j2' };
    const app = (extra: Partial<MarathonApp>): MarathonApp => ({
      id: '/airavata/j2', instances: 1, labels: { [JOB_ID_LABEL]: 'j2' }, healthChecks: 0, deployments: [], tasks: [],
      tasksRunning: 0, tasksStaged: 0, tasksHealthy: 0, tasksUnhealthy: 0, ...extra,
    });
    const running = { tasksRunning: 1, tasks: [{ id: 't1', state: 'TASK_RUNNING', startedAt: '2015-08-26T20:23:44.678Z', healthCheckResults: [] }] };
    const failure = { message: 'Command exited with status 1', state: 'TASK_FAILED', taskId: 't0', timestamp: '2015-08-26T20:30:00.000Z' };
    const seen = (observed: Partial<MarathonObservation>) => marathonAppStatus(svc, { deletedByUs: false, crashLooping: false, ...observed });
    const cases: [MarathonCondition, Partial<MarathonObservation>, string, RegExp][] = [
      ['DELETED', { app: undefined, deletedByUs: true }, 'CANCELED', /deleted by cancel/],
      ['DELETED', { app: undefined }, 'CANCELED', /deleted outside this service/],
      ['FAILED', { app: app({ instances: 0, labels: { [JOB_ID_LABEL]: 'j2', [FAILED_LABEL]: 'TASK_FAILED: boom' } }) }, 'FAILED', /repeated task failures: TASK_FAILED: boom/],
      ['FAILED', { app: app({ lastTaskFailure: failure }), crashLooping: true }, 'FAILED', /keep failing: TASK_FAILED: Command exited with status 1/],
      ['SUSPENDED', { app: app({ instances: 0 }) }, 'SUSPENDED', /scaled to 0/],
      ['RUNNING', { app: app(running) }, 'ACTIVE', /1 task\(s\) running/],
      ['RUNNING', { app: app({ ...running, healthChecks: 1 }) }, 'ACTIVE', /health not yet known/],
      ['HEALTHY', { app: app({ ...running, healthChecks: 1, tasksHealthy: 1 }) }, 'ACTIVE', /healthy/],
      ['UNHEALTHY', {
        app: app({ healthChecks: 1, tasksRunning: 1, tasksUnhealthy: 1,
          tasks: [{ id: 't1', state: 'TASK_RUNNING', healthCheckResults: [{ alive: false, lastFailureCause: 'connection refused' }] }] }),
      }, 'ACTIVE', /1 of 1 task\(s\) failing health checks: connection refused/],
      // Crash loop, but a task runs again just now: not failed.
      ['RUNNING', { app: app({ ...running, lastTaskFailure: failure }), crashLooping: true }, 'ACTIVE', /running/],
      ['RESTARTING', { app: app({ lastTaskFailure: failure }) }, 'ACTIVE', /restarts it after: TASK_FAILED: Command exited with status 1/],
      ['STAGING', { app: app({ tasksStaged: 1, deployments: ['d1'] }) }, 'QUEUED', /staging/],
      ['DEPLOYING', { app: app({ deployments: ['d1'] }) }, 'QUEUED', /deployment d1 under way/],
      ['WAITING', { app: app({}) }, 'QUEUED', /waits for resources/],
    ];
    for (const [condition, observed, state, reason] of cases) {
      const status = seen(observed);
      expect([condition, status.nativeState, status.state]).toEqual([condition, condition, state]);
      expect(status.reason).toMatch(reason);
    }
    expect(new Set(cases.map(([c]) => c))).toEqual(new Set(MARATHON_CONDITIONS));
    expect(seen({ app: app(running) }).startTime).toBe(Date.parse('2015-08-26T20:23:44.678Z'));
  });
});

describe('MesosSchedulers over the double', () => {
  let double: MesosApiDouble;
  let schedulers: MesosSchedulers;

  function make(options: Partial<MesosSchedulersOptions> = {}): MesosSchedulers {
    return new MesosSchedulers({
      marathon: [double.url], metronome: [double.url], log, timeoutMs: 2_000, deploymentPollMs: 5, deploymentTimeoutMs: 2_000,
      http: { sleep: async () => undefined },
      ...options,
    });
  }

  beforeEach(async () => {
    double = await MesosApiDouble.start();
    schedulers = make();
  });

  afterEach(async () => {
    expect(double.schemaErrors).toEqual([]);
    await double.close();
  });

  const runOf = (nativeJobId: string) => nativeJobId.slice(nativeJobId.lastIndexOf('/') + 1);

  test('a BATCH job: a Metronome job and run, polled through QUEUED, ACTIVE, COMPLETE', async () => {
    const batch = job();
    const nativeJobId = await schedulers.submit(batch);
    const metronomeId = metronomeJobId(batch.jobId);
    expect(nativeJobId).toMatch(new RegExp(`^metronome:${metronomeId.replace(/\./g, '\\.')}/\\w+$`));
    const created = double.jobs.get(metronomeId);
    expect(created?.spec).toMatchObject({ labels: { [JOB_ID_LABEL]: batch.jobId }, run: { user: 'gw_gw1', restart: { policy: 'NEVER' } } });
    expect(double.validatedBodies).toBe(1);
    const tracked = [{ jobId: batch.jobId, nativeJobId }];
    expect(await schedulers.poll(tracked)).toEqual([expect.objectContaining({ state: 'QUEUED', nativeState: 'STARTING' })]);
    double.setRunStatus(metronomeId, runOf(nativeJobId), 'ACTIVE');
    const [active] = await schedulers.poll(tracked);
    expect(active).toMatchObject({ state: 'ACTIVE', nativeState: 'ACTIVE' });
    expect(active.startTime).toEqual(expect.any(Number));
    double.setRunStatus(metronomeId, runOf(nativeJobId), 'SUCCESS');
    expect(await schedulers.poll(tracked)).toEqual([expect.objectContaining({ state: 'COMPLETE', exitCode: 0, endTime: expect.any(Number) })]);
    // One list call per poll, whatever the number of jobs.
    expect(double.requestsTo('/v1/jobs', 'GET')).toHaveLength(3);
    expect(double.requestsTo('/v1/jobs', 'GET')[0].query.getAll('embed')).toEqual(['activeRuns', 'history']);
  });

  test('a run that fails is FAILED; one stopped by cancel is CANCELED, also for a scheduler started afresh', async () => {
    const [failing, canceled] = [job(), job()];
    const [failingId, canceledId] = [await schedulers.submit(failing), await schedulers.submit(canceled)];
    double.setRunStatus(metronomeJobId(failing.jobId), runOf(failingId), 'FAILED');
    double.setRunStatus(metronomeJobId(canceled.jobId), runOf(canceledId), 'ACTIVE');
    await schedulers.cancel(canceledId);
    // Marked before the stop, in a body the schema accepts.
    expect(double.jobs.get(metronomeJobId(canceled.jobId))?.spec.labels).toEqual({ [JOB_ID_LABEL]: canceled.jobId, [CANCELED_RUN_LABEL]: runOf(canceledId) });
    expect(double.requestsTo(/\/actions\/stop$/, 'POST')).toHaveLength(1);
    const tracked = [{ jobId: failing.jobId, nativeJobId: failingId }, { jobId: canceled.jobId, nativeJobId: canceledId }];
    for (const scheduler of [schedulers, make()]) {
      expect((await scheduler.poll(tracked)).map((s) => [s.jobId, s.state])).toEqual([[failing.jobId, 'FAILED'], [canceled.jobId, 'CANCELED']]);
    }
    // Canceling a run that has ended changes nothing.
    await schedulers.cancel(failingId);
    expect(double.requestsTo(/\/actions\/stop$/, 'POST')).toHaveLength(1);
  });

  test('a SERVICE job: a Marathon app followed through its deployment, running, unhealthy, then deleted by cancel', async () => {
    const svc = service();
    const nativeJobId = await schedulers.submit(svc);
    expect(nativeJobId).toBe(`marathon:/airavata/${svc.jobId}`);
    // The deployment was followed to its end before submit returned.
    expect(double.requestsTo('/v2/deployments', 'GET').length).toBeGreaterThanOrEqual(2);
    expect(double.apps.get(`/airavata/${svc.jobId}`)?.definition).toMatchObject({ user: 'gw_gw1', instances: 1, labels: { [JOB_ID_LABEL]: svc.jobId } });
    const tracked = [{ jobId: svc.jobId, nativeJobId }];
    expect(await schedulers.poll(tracked)).toEqual([expect.objectContaining({ state: 'ACTIVE', nativeState: 'RUNNING' })]);
    double.apps.get(`/airavata/${svc.jobId}`)!.definition.healthChecks = [{ protocol: 'COMMAND', command: { value: 'true' } }];
    double.setHealth(`/airavata/${svc.jobId}`, false, 'connection refused');
    expect(await schedulers.poll(tracked)).toEqual([expect.objectContaining({ state: 'ACTIVE', nativeState: 'UNHEALTHY', reason: expect.stringContaining('connection refused') })]);
    await schedulers.cancel(nativeJobId);
    expect(double.requestsTo(`/v2/apps/airavata/${svc.jobId}`, 'DELETE')).toHaveLength(1);
    expect(double.deployments.size).toBe(0);
    expect(await schedulers.poll(tracked)).toEqual([expect.objectContaining({ state: 'CANCELED', reason: 'Marathon app deleted by cancel' })]);
    // Again: nothing there, nothing done.
    await schedulers.cancel(nativeJobId);
  });

  test('a service whose tasks keep failing is FAILED, scaled to 0 and labelled, and stays FAILED', async () => {
    schedulers = make({ maxTaskFailures: 2 });
    const svc = service();
    const appId = `/airavata/${svc.jobId}`;
    const tracked = [{ jobId: svc.jobId, nativeJobId: await schedulers.submit(svc) }];
    double.failTask(appId, 'Command exited with status 1');
    expect(await schedulers.poll(tracked)).toEqual([expect.objectContaining({ state: 'ACTIVE', nativeState: 'RESTARTING' })]);
    double.runTask(appId);
    double.failTask(appId, 'Command exited with status 1');
    expect(await schedulers.poll(tracked)).toEqual([expect.objectContaining({ state: 'FAILED', reason: expect.stringContaining('Command exited with status 1') })]);
    const [scaled] = double.requestsTo(`/v2/apps${appId}`, 'PUT');
    expect(scaled.json).toMatchObject({ id: appId, instances: 0, labels: { [JOB_ID_LABEL]: svc.jobId, [FAILED_LABEL]: 'TASK_FAILED: Command exited with status 1' } });
    // A scheduler that never saw the failures reads the label.
    expect(await make().poll(tracked)).toEqual([expect.objectContaining({ state: 'FAILED' })]);
  });

  test('findByJobIds finds jobs of both kinds by their label, and only those asked for', async () => {
    const [batch, svc, other] = [job(), service(), job()];
    const batchId = await schedulers.submit(batch);
    const svcId = await schedulers.submit(svc);
    await schedulers.submit(other);
    const found = await schedulers.findByJobIds([batch.jobId, svc.jobId, 'never-submitted']);
    expect(found).toEqual(new Map([[batch.jobId, batchId], [svc.jobId, svcId]]));
  });

  test('a submit cut short is adopted, never run twice', async () => {
    const batch = job();
    const first = await schedulers.submit(batch);
    // As if the answer had been lost: the same job submitted again.
    expect(await schedulers.submit(batch)).toBe(first);
    expect(double.requestsTo(/\/runs$/, 'POST')).toHaveLength(1);
    // The Metronome job made but no run started yet: the run is started.
    const half = job();
    double.jobs.set(metronomeJobId(half.jobId), { spec: { ...metronomeJobSpec(half) } as unknown as Record<string, unknown>, activeRuns: [], successful: [], failed: [] });
    expect(await schedulers.findByJobIds([half.jobId])).toEqual(new Map());
    expect(await schedulers.submit(half)).toMatch(/^metronome:/);
    const svc = service();
    const svcId = await schedulers.submit(svc);
    expect(await schedulers.submit(svc)).toBe(svcId);
  });

  test('an id taken by something that is not ours is refused', async () => {
    const batch = job();
    double.jobs.set(metronomeJobId(batch.jobId), { spec: { id: metronomeJobId(batch.jobId), labels: {}, run: {} }, activeRuns: [], successful: [], failed: [] });
    await expect(schedulers.submit(batch)).rejects.toThrow(/exists and is not this job's/);
  });

  test('submitMany routes by job type, refuses what cannot run, and keeps the order', async () => {
    const jobs = [job(), service(), job({}, { account: 'root' }), job({ parallelism: 'MPI' }), service()];
    const outcomes = await schedulers.submitMany(jobs);
    expect(outcomes.map((o) => [o.jobId, o.kind])).toEqual(jobs.map((j, i) => [j.jobId, [2, 3].includes(i) ? 'refused' : 'submitted']));
    expect(outcomes.map((o) => (o.kind === 'submitted' ? o.nativeJobId.split(':')[0] : o.kind))).toEqual(['metronome', 'marathon', 'refused', 'refused', 'marathon']);
    const refused = outcomes[2];
    expect(refused.kind === 'refused' && refused.error).toBeInstanceOf(JobRefusedError);
    // Nothing reached Mesos for the refused ones.
    expect(double.requestsTo('/v1/jobs', 'POST')).toHaveLength(1);
  });

  test('root is refused before anything is sent', async () => {
    await expect(schedulers.submit(job({}, { account: 'root' }))).rejects.toThrow(JobRefusedError);
    await expect(schedulers.submit(service({}, { account: 'root' }))).rejects.toThrow(JobRefusedError);
    expect(double.requests).toEqual([]);
  });

  test('Marathon unreachable: Metronome jobs are still polled; both unreachable: the error', async () => {
    const down = await closedPort();
    const batch = job();
    const nativeJobId = await schedulers.submit(batch);
    const halfDown = make({ marathon: [down], maxRetries: 0 });
    const statuses = await halfDown.poll([{ jobId: batch.jobId, nativeJobId }, { jobId: 'svc', nativeJobId: 'marathon:/airavata/svc' }]);
    expect(statuses.map((s) => s.jobId)).toEqual([batch.jobId]);
    const allDown = make({ marathon: [down], metronome: [down], maxRetries: 0 });
    await expect(allDown.poll([{ jobId: batch.jobId, nativeJobId }])).rejects.toThrow(/ECONNREFUSED/);
    await expect(allDown.findByJobIds([batch.jobId])).rejects.toThrow(/ECONNREFUSED/);
    expect(await halfDown.findByJobIds([batch.jobId])).toEqual(new Map([[batch.jobId, nativeJobId]]));
  });

  test('a job deleted from Metronome outside the service is CANCELED', async () => {
    const batch = job();
    const nativeJobId = await schedulers.submit(batch);
    double.jobs.delete(metronomeJobId(batch.jobId));
    expect(await schedulers.poll([{ jobId: batch.jobId, nativeJobId }])).toEqual([
      expect.objectContaining({ state: 'CANCELED', nativeState: 'DELETED', reason: expect.stringContaining('deleted outside') }),
    ]);
  });

  test('output is not readable from here: empty tails, so the end is still recorded', async () => {
    expect(await schedulers.outputTails()).toEqual({});
    expect(await schedulers.outputTailsOfMany([{ account: 'a', workingDir: '/x' }, { account: 'a', workingDir: '/y' }])).toEqual([{}, {}]);
  });

  test('native ids neither framework made are refused by cancel and left out of polls', async () => {
    await expect(schedulers.cancel('12345')).rejects.toThrow(/not a Mesos native id/);
    expect(await schedulers.poll([{ jobId: 'x', nativeJobId: '12345' }])).toEqual([]);
  });
});

async function closedPort(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
