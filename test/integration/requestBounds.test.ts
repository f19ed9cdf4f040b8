// What an outside probe with a gateway token tried through the Thrift API, against the real server
// on Postgres: replies that grow with the request, errors that grow with it, a reused idempotency
// key, and input that could never run.
import { startTestApp, type TestApp } from '../support/app';
import { authz } from '../support/tokens';
import { LIMITS } from '../../src/domain/validation';
import { REPLY_BYTE_BUDGET } from '../../src/domain/replyBudget';
import { base, ms } from '../../src/rpc/wire';

const serial = (overrides: Partial<ms.IJobSpecArgs> = {}): ms.JobSpec => new ms.JobSpec({
  jobName: 'echo', parallelism: base.ApplicationParallelismType.SERIAL, command: ['/bin/echo', 'hello'], ...overrides,
});

/** A job just under the argv + environment limit: about 1 MB of command. */
const LARGE_ARGS = Math.floor(LIMITS.execBytes / (LIMITS.argLength + 1)) - 4;
const large = (jobName: string): ms.JobSpec => serial({
  jobName, command: ['/bin/echo', ...Array.from({ length: LARGE_ARGS }, (_, i) => `${i}`.padEnd(LIMITS.argLength, 'x'))],
});

async function jobCount(app: TestApp): Promise<number> {
  const [row] = await app.database.db('jobs').count<{ count: string }[]>('* as count');
  return Number(row.count);
}

async function failure(call: Promise<unknown>): Promise<base.InvalidRequestException> {
  const error = await call.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(base.InvalidRequestException);
  return error as base.InvalidRequestException;
}

describe('request bounds over Thrift', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp('framed');
  });
  afterAll(async () => {
    await app.close();
  });

  it('answers getJobs with one copy of a large job asked for 500 times', async () => {
    const token = await authz('gw-copies');
    const { jobId } = await app.clients.job.submitJob(token, large('big'));
    const jobs = await app.clients.job.getJobs(token, Array.from({ length: 500 }, () => jobId));
    expect(jobs.map((job) => job.jobId)).toEqual([jobId]);
    const replyChars = jobs.reduce((sum, job) => sum + (job.jobDescription?.length ?? 0), 0);
    expect(replyChars).toBeGreaterThan(900_000);
    expect(replyChars).toBeLessThan(2 * 1024 * 1024);
  });

  it('refuses a getJobs whose jobs exceed one reply, saying how many fit; listJobs returns only what fits', async () => {
    const token = await authz('gw-budget');
    const ids: string[] = [];
    for (let i = 0; i < 10; i += 1) ids.push((await app.clients.job.submitJob(token, large(`big-${i}`))).jobId);

    const error = await failure(app.clients.job.getJobs(token, ids));
    expect(error.message).toMatch(/jobIds: these 10 jobs come to about 9\.\d MiB, over the 8\.0 MiB one reply may carry; the first 8 ids/);
    const firstEight = await app.clients.job.getJobs(token, ids.slice(0, 8));
    expect(firstEight.map((job) => job.jobId)).toEqual(ids.slice(0, 8));

    const listed = await app.clients.job.listJobs(token, undefined, 10);
    expect(listed.map((job) => job.jobId)).toEqual([...ids].reverse().slice(0, 8));
    const listedChars = listed.reduce((sum, job) => sum + (job.jobDescription?.length ?? 0), 0);
    expect(listedChars).toBeLessThanOrEqual(REPLY_BYTE_BUDGET);
  });

  it('answers a huge bad command with one short error', async () => {
    const token = await authz('gw-errors');
    const error = await failure(app.clients.job.submitJob(token, serial({ command: Array.from({ length: 200_000 }, () => 'a\u0000') })));
    expect(error.message).toBe('invalid request: spec.command: has more than 1024 arguments (200,000)');
    const many = await failure(app.clients.job.submitJob(token, serial({ command: ['/bin/echo', ...Array.from({ length: 1000 }, () => 'a\u0000')] })));
    expect(many.message).toContain('spec.command: and 995 more errors in its elements');
    expect(many.message.length).toBeLessThan(600);
  });

  it('refuses another request under the same processId, taskId and jobName, naming the conflict', async () => {
    const token = await authz('gw-ids');
    const first = await app.clients.job.submitJob(token, serial({ processId: 'p-1', taskId: 't-1' }));
    expect((await app.clients.job.submitJob(token, serial({ processId: 'p-1', taskId: 't-1' }))).jobId).toBe(first.jobId);
    const before = await jobCount(app);
    const error = await failure(app.clients.job.submitJob(token, serial({ processId: 'p-1', taskId: 't-1', command: ['/bin/rm', '-rf', '/'] })));
    expect(error.message).toContain(`spec.processId: "p-1" with taskId "t-1" and jobName "echo" already names job ${first.jobId}`);
    expect(error.message).toContain('differs in command');
    await expect(app.clients.job.submitJob(token, serial({ processId: 'p-1', taskId: 't-1', totalCPUCount: 8 })))
      .rejects.toMatchObject({ message: expect.stringContaining('differs in totalCPUCount') });
    expect(await jobCount(app)).toBe(before);
  });

  it('refuses at submit what could never run, naming each field', async () => {
    const token = await authz('gw-never');
    const before = await jobCount(app);
    const error = await failure(app.clients.job.submitJob(token, serial({
      parallelism: base.ApplicationParallelismType.CCM,
      totalCPUCount: 4,
      workingDir: 'runs\\today',
      environment: new Map([['SLURM_NTASKS', '1000'], ['OMPI_MCA_rmaps_base_oversubscribe', '1'], ['A'.repeat(129), 'x']]),
    })));
    for (const field of ['spec.parallelism', 'spec.workingDir', 'spec.environment["SLURM_NTASKS"]',
      'spec.environment["OMPI_MCA_rmaps_base_oversubscribe"]', 'spec.environment["AAAA']) {
      expect(error.message).toContain(field);
    }
    expect(await jobCount(app)).toBe(before);
  });
});
