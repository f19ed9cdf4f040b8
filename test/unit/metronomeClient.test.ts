// The Metronome client against the replay double: each call parses its official example, every
// body sent passes jobspec.schema.json, and the ids we derive from our job ids are valid per the
// schemas' patterns whatever the job id (Metronome's job ids and Marathon's app ids).
import { marathonAppId } from '../../src/schedulers/marathon/marathonScheduler';
import { MesosApiError } from '../../src/schedulers/mesos/errors';
import { MesosHttpClient } from '../../src/schedulers/mesos/httpJson';
import { mesosName } from '../../src/schedulers/mesos/task';
import { MetronomeClient, type MetronomeJobSpec } from '../../src/schedulers/metronome/client';
import { metronomeJobId, metronomeNativeId, parseMetronomeNativeId } from '../../src/schedulers/metronome/metronomeScheduler';
import { JobRefusedError } from '../../src/schedulers/scheduler';
import { fixtureJson, MesosApiDouble, schemaErrorsOf } from '../support/mesosApiDouble';

let double: MesosApiDouble;
let client: MetronomeClient;

beforeEach(async () => {
  double = await MesosApiDouble.start();
  client = new MetronomeClient(new MesosHttpClient({ service: 'Metronome', endpoints: [double.url], timeoutMs: 2_000, sleep: async () => undefined }));
});

afterEach(async () => {
  expect(double.schemaErrors).toEqual([]);
  await double.close();
});

async function failure(promise: Promise<unknown>): Promise<MesosApiError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(MesosApiError);
  return error as MesosApiError;
}

const SMALL: MetronomeJobSpec = { id: 'airavata.small', labels: { 'airavata.jobId': 'small' }, run: { cmd: 'true', cpus: 0.1, mem: 32, disk: 0 } };

describe('each call parses its example', () => {
  test('createJob sends job.json as it is, valid per the schema, and reads the job back', async () => {
    await client.deleteJob('prod.example.app');
    const example = fixtureJson<MetronomeJobSpec>('metronome', 'job.json');
    const created = await client.createJob(example);
    expect(created).toMatchObject({ id: 'prod.example.app', description: 'Example Application', labels: { location: 'olympus', owner: 'zeus' } });
    expect(created.run?.cpus).toBe(1.5);
    expect(double.requestsTo('/v1/jobs', 'POST')[0].json).toEqual(example);
    expect(double.validatedBodies).toBe(1);
  });

  test('getJob reads job.json with the runs and history it asked for', async () => {
    const job = await client.getJob('prod.example.app');
    expect(job).toMatchObject({
      id: 'prod.example.app', labels: { location: 'olympus', owner: 'zeus' }, activeRuns: [],
      history: { successCount: 0, failureCount: 0, successfulFinishedRuns: [], failedFinishedRuns: [] },
    });
    expect(job?.run?.restart).toEqual({ activeDeadlineSeconds: 120, policy: 'NEVER' });
    expect(double.requests[0].query.getAll('embed')).toEqual(['activeRuns', 'history']);
  });

  test('getJob of a job Metronome does not have is undefined', async () => {
    expect(await client.getJob('no.such.job')).toBeUndefined();
  });

  test('listJobs reads job_list.json as served', async () => {
    double.script({ status: 200, body: fixtureJson('metronome', 'job_list.json') }, { method: 'GET', path: '/v1/jobs' });
    const jobs = await client.listJobs();
    expect(jobs.map((j) => [j.id, j.description, j.run?.cmd])).toEqual([
      ['prod.email.summary', 'Send summary every day', 'sendSummary'],
      ['cleanDb --force', 'DB cleaner', 'false'],
    ]);
    expect(double.requests[0].query.getAll('embed')).toEqual(['activeRuns', 'history']);
  });

  test('startRun reads run.json', async () => {
    double.script({ status: 201, body: fixtureJson('metronome', 'run.json') }, { method: 'POST' });
    const run = await client.startRun('prod');
    expect(run).toEqual({ id: '20160715130259A34HX', jobId: 'prod', status: 'STARTING', createdAt: '2016-07-15T13:02:59.735+0000', completedAt: null, tasks: [] });
  });

  test('a run is started, read, stopped into the history; a second stop finds nothing', async () => {
    await client.createJob(SMALL);
    const run = await client.startRun(SMALL.id);
    expect(run.status).toBe('STARTING');
    double.setRunStatus(SMALL.id, run.id, 'ACTIVE');
    const active = await client.getRun(SMALL.id, run.id);
    expect(active?.status).toBe('ACTIVE');
    expect(active?.tasks[0].status).toBe('TASK_RUNNING');
    expect(await client.stopRun(SMALL.id, run.id)).toBe(true);
    expect(await client.getRun(SMALL.id, run.id)).toBeUndefined();
    expect(await client.stopRun(SMALL.id, run.id)).toBe(false);
    const job = await client.getJob(SMALL.id);
    expect(job?.activeRuns).toEqual([]);
    expect(job?.history?.failedFinishedRuns.map((r) => r.id)).toEqual([run.id]);
  });

  test('updateJob sends the job whole, valid per the schema', async () => {
    await client.createJob(SMALL);
    const updated = await client.updateJob({ ...SMALL, labels: { ...SMALL.labels, extra: 'yes' } });
    expect(updated.labels).toEqual({ 'airavata.jobId': 'small', extra: 'yes' });
    expect(double.validatedBodies).toBe(2);
  });

  test('deleteJob with runs under way needs stopCurrentJobRuns; a missing job is false', async () => {
    await client.createJob(SMALL);
    await client.startRun(SMALL.id);
    const refused = await failure(client.deleteJob(SMALL.id));
    expect(refused).toMatchObject({ status: 409, apiMessage: 'There are active job runs. Override with stopCurrentJobRuns=true' });
    expect(await client.deleteJob(SMALL.id, { stopCurrentJobRuns: true })).toBe(true);
    expect(await client.deleteJob(SMALL.id)).toBe(false);
  });

  test('a body Metronome would not take is answered 422 with the schema\'s words, as a typed error', async () => {
    const error = await failure(client.createJob({ ...SMALL, id: 'Not_Valid' }));
    expect(error).toMatchObject({ service: 'Metronome', status: 422, apiMessage: 'Object is not valid' });
    expect(error.details).toContain('/id must match pattern');
    // The double caught it; this test meant it to.
    expect(double.schemaErrors).toHaveLength(1);
    double.schemaErrors.length = 0;
  });

  test('a second create of the same id is a 409', async () => {
    await client.createJob(SMALL);
    expect((await failure(client.createJob(SMALL))).status).toBe(409);
  });
});

describe('ids derived from our job ids', () => {
  const AWKWARD = [
    '3f0c2a9e-5d1b-4c7a-9e2f-8b6d4a1c0e57', 'Job_A', 'job-a', 'job_a', '--x--', 'a..b', 'a.b', 'UPPER', 'with space', 'tab\there',
    '$(rm -rf /)', "it's", 'a/b/c', 'ÄÖÜ-émoji-🚀', '-', '123', 'x'.repeat(300), 'a--b', 'trailing-',
  ];

  test.each(AWKWARD)('%j gives a Metronome job id and a Marathon app id the schemas accept', (jobId) => {
    const id = metronomeJobId(jobId);
    expect(schemaErrorsOf('job', { id, run: { cmd: 'true', cpus: 1, mem: 32, disk: 0 } })).toEqual([]);
    // Metronome's own check (JobId.scala) is stricter than the schema: one name per dot, no dash at either end.
    for (const name of id.split('.')) expect(name).toMatch(/^([a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])$/);
    expect(schemaErrorsOf('app', { id: marathonAppId(jobId), cmd: 'true' })).toEqual([]);
    expect(id.length).toBeLessThanOrEqual(100);
    // The native id reads back.
    expect(parseMetronomeNativeId(metronomeNativeId(id, '20160715130259A34HX'))).toEqual({ jobId: id, runId: '20160715130259A34HX' });
  });

  test('a job id that is already a valid name is kept as it is; ids that clean up alike still differ', () => {
    expect(metronomeJobId('3f0c2a9e-5d1b-4c7a-9e2f-8b6d4a1c0e57')).toBe('airavata.3f0c2a9e-5d1b-4c7a-9e2f-8b6d4a1c0e57');
    const names = AWKWARD.map(mesosName);
    expect(new Set(names).size).toBe(AWKWARD.length);
    expect(mesosName('Job_A')).not.toBe(mesosName('job_a'));
    expect(mesosName('Job_A')).toMatch(/^job-a-[0-9a-f]{12}$/);
  });

  test('the schema check itself refuses what the derivation avoids', () => {
    for (const bad of ['Job_A', 'a..b', '-x', 'x-', 'with space']) {
      expect(schemaErrorsOf('job', { id: bad, run: { cmd: 'true', cpus: 1, mem: 32, disk: 0 } })).not.toEqual([]);
    }
  });

  test('an empty job id is refused', () => {
    expect(() => metronomeJobId('')).toThrow(JobRefusedError);
  });
});
