// Job calls through the real Thrift server on a real Postgres, both transports.
import { startTestApp, type TestApp } from '../support/app';
import { authz } from '../support/tokens';
import { base, ms } from '../../src/rpc/wire';

const serial = (overrides: Partial<ms.IJobSpecArgs> = {}): ms.JobSpec => new ms.JobSpec({
  jobName: 'echo', parallelism: base.ApplicationParallelismType.SERIAL, command: ['/bin/echo', 'hello'], ...overrides,
});

async function rowCounts(app: TestApp): Promise<{ jobs: number; statuses: number }> {
  const [jobs] = await app.database.db('jobs').count<{ count: string }[]>('* as count');
  const [statuses] = await app.database.db('job_statuses').count<{ count: string }[]>('* as count');
  return { jobs: Number(jobs.count), statuses: Number(statuses.count) };
}

describe.each(['buffered', 'framed'] as const)('JobService over %s transport', (transport) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp(transport);
  });
  afterAll(async () => {
    await app.close();
  });

  it('answers getAPIVersion on every service', async () => {
    const version = ms.METASCHEDULER_API_VERSION;
    await expect(app.clients.job.getAPIVersion()).resolves.toBe(version);
    await expect(app.clients.cluster.getAPIVersion()).resolves.toBe(version);
    await expect(app.clients.provisioning.getAPIVersion()).resolves.toBe(version);
  });

  it('records a submitted job with its first status and returns it from getJob', async () => {
    const token = await authz('gw-a');
    const handle = await app.clients.job.submitJob(token, serial({
      taskId: 'task-1', processId: 'proc-1', experimentId: 'exp-1', environment: new Map([['GREETING', 'hi']]),
    }));
    expect(handle.state).toBe(base.JobState.SUBMITTED);
    const job = await app.clients.job.getJob(token, handle.jobId);
    expect(job).toMatchObject({ jobId: handle.jobId, taskId: 'task-1', processId: 'proc-1', jobName: 'echo' });
    expect(job.jobStatuses).toHaveLength(1);
    expect(job.jobStatuses?.[0].jobState).toBe(base.JobState.SUBMITTED);
    expect(job.creationTime?.toNumber()).toBeGreaterThan(Date.now() - 60_000);
    expect(job.jobDescription).toContain('/bin/echo');
  });

  it('returns the first handle for a retried submit, by clientToken and by Airavata ids', async () => {
    const token = await authz('gw-a');
    const before = await rowCounts(app);
    const first = await app.clients.job.submitJob(token, serial({ clientToken: 'retry-1' }));
    const again = await app.clients.job.submitJob(token, serial({ clientToken: 'retry-1' }));
    expect(again.jobId).toBe(first.jobId);
    const byIds = await app.clients.job.submitJob(token, serial({ processId: 'p9', taskId: 't9' }));
    const byIdsAgain = await app.clients.job.submitJob(token, serial({ processId: 'p9', taskId: 't9' }));
    expect(byIdsAgain.jobId).toBe(byIds.jobId);
    expect(await rowCounts(app)).toEqual({ jobs: before.jobs + 2, statuses: before.statuses + 2 });
  });

  it('refuses a clientToken reused for a different request, naming the field', async () => {
    const token = await authz('gw-a');
    await app.clients.job.submitJob(token, serial({ clientToken: 'reuse-1' }));
    const before = await rowCounts(app);
    await expect(app.clients.job.submitJob(token, serial({ clientToken: 'reuse-1', command: ['/bin/false'] })))
      .rejects.toMatchObject({ message: expect.stringContaining('spec.clientToken') });
    expect(await rowCounts(app)).toEqual(before);
  });

  it('rejects a bad submit with every field named and stores nothing', async () => {
    const token = await authz('gw-a');
    const before = await rowCounts(app);
    const error = await app.clients.job.submitJob(token, new ms.JobSpec({
      jobName: '', parallelism: base.ApplicationParallelismType.MPI, command: [], nodeCount: -1, wallTimeLimit: -5,
    })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(base.InvalidRequestException);
    const message = (error as base.InvalidRequestException).message;
    for (const field of ['spec.jobName', 'spec.command', 'spec.nodeCount', 'spec.wallTimeLimit', 'spec.totalCPUCount']) {
      expect(message).toContain(field);
    }
    expect(await rowCounts(app)).toEqual(before);
  });

  it('rejects an unknown parallelism number', async () => {
    const token = await authz('gw-a');
    await expect(app.clients.job.submitJob(token, serial({ parallelism: 99 as base.ApplicationParallelismType })))
      .rejects.toMatchObject({ message: expect.stringContaining('spec.parallelism: unknown value "99"') });
  });

  it('keeps one gateway out of another gateway\'s jobs', async () => {
    const owner = await authz('gw-a');
    const stranger = await authz('gw-b');
    const handle = await app.clients.job.submitJob(owner, serial());
    await expect(app.clients.job.getJob(stranger, handle.jobId)).rejects.toBeInstanceOf(ms.NotFoundException);
    await expect(app.clients.job.cancelJob(stranger, handle.jobId)).rejects.toBeInstanceOf(ms.NotFoundException);
    await expect(app.clients.job.getJobs(stranger, [handle.jobId])).resolves.toEqual([]);
    const mine = await app.clients.job.getJobs(owner, [handle.jobId, 'no-such-job']);
    expect(mine.map((j) => j.jobId)).toEqual([handle.jobId]);
    // the same clientToken in another gateway is another job
    const a = await app.clients.job.submitJob(owner, serial({ clientToken: 'shared' }));
    const b = await app.clients.job.submitJob(stranger, serial({ clientToken: 'shared' }));
    expect(b.jobId).not.toBe(a.jobId);
  });

  it('cancels a job not yet dispatched, idempotently', async () => {
    const token = await authz('gw-a', 'carol');
    const handle = await app.clients.job.submitJob(token, serial());
    await app.clients.job.cancelJob(token, handle.jobId);
    await app.clients.job.cancelJob(token, handle.jobId);
    const job = await app.clients.job.getJob(token, handle.jobId);
    expect(job.jobStatuses?.map((s) => s.jobState)).toEqual([base.JobState.SUBMITTED, base.JobState.CANCELED]);
    expect(job.jobStatuses?.[1].reason).toContain('carol');
  });

  it('refuses calls with a missing, forged or mismatched token', async () => {
    const good = await authz('gw-a');
    await expect(app.clients.job.getJobs(new base.AuthzToken({ accessToken: '' }), []))
      .rejects.toBeInstanceOf(base.AuthorizationException);
    await expect(app.clients.job.getJobs(new base.AuthzToken({ accessToken: `${good.accessToken}x`, claimsMap: good.claimsMap }), []))
      .rejects.toBeInstanceOf(base.AuthorizationException);
    await expect(app.clients.job.getJobs(await authz('gw-a', 'alice', 'gw-b'), []))
      .rejects.toBeInstanceOf(base.AuthorizationException);
  });

  it('lists the gateway\'s jobs newest first, and only its own', async () => {
    const token = await authz('gw-list');
    const first = await app.clients.job.submitJob(token, serial({ jobName: 'l1' }));
    const second = await app.clients.job.submitJob(token, serial({ jobName: 'l2' }));
    const listed = await app.clients.job.listJobs(token, undefined, 10);
    expect(listed.map((j) => j.jobId)).toEqual([second.jobId, first.jobId]);
    expect(await app.clients.job.listJobs(await authz('gw-nobody'), undefined, undefined)).toEqual([]);
    await expect(app.clients.job.listJobs(token, undefined, 0)).rejects.toMatchObject({ message: expect.stringContaining('limit') });
  });

  it('answers a job id that does not exist with NotFoundException', async () => {
    const token = await authz('gw-a');
    await expect(app.clients.job.getJob(token, 'missing')).rejects.toMatchObject({ resourceType: 'job', resourceId: 'missing' });
  });

  it('refuses a job for a cluster the gateway does not have', async () => {
    const token = await authz('gw-a');
    await expect(app.clients.job.submitJob(token, serial({ clusterId: 'nope' }))).rejects.toBeInstanceOf(ms.NotFoundException);
  });
});
