// Concurrent submits and reads sharing statements, on real Postgres: every caller still gets its
// own job, idempotency keys hold inside one batch, dispatches and events are queued as before, and
// each cluster's busy CPUs (kept by the database) always equal the sum over its live jobs.
import { randomUUID } from 'node:crypto';
import { ApplicationStore } from '../../src/store/applicationStore';
import { ClusterStore } from '../../src/store/clusterStore';
import { JobStore, type NewJob } from '../../src/store/jobStore';
import { JobService } from '../../src/services/jobService';
import type { ClusterAccess } from '../../src/workflows/clusterAccess';
import type { JobSpec } from '../../src/domain/types';
import { startTestApp, type TestApp } from '../support/app';

let t: TestApp;
const clusters = new ClusterStore();

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t.close();
});

const noAccess: ClusterAccess = {
  scheduler: () => { throw new Error('no scheduler in this test'); },
  verify: async () => ({ failures: [], capacity: new Map() }),
  sshPrivateKey: async () => undefined,
};

function service(outbox = false): { service: JobService; store: JobStore } {
  const store = new JobStore({ outbox });
  return {
    store,
    service: new JobService({ db: t.app.db, jobs: store, clusters, access: noAccess, applications: new ApplicationStore(), jobRoot: '/var/lib/metascheduler/jobs' }),
  };
}

const caller = (gatewayId: string) => ({ gatewayId, userName: 'alice' });

function spec(extra: Partial<JobSpec> = {}): JobSpec {
  return { jobName: `j-${randomUUID().slice(0, 8)}`, command: ['/bin/true'], parallelism: 'SERIAL', ...extra };
}

/** A READY cluster of one configured node with `cpus` CPUs. */
async function readyCluster(gatewayId: string, cpus: number): Promise<string> {
  const clusterId = randomUUID();
  await t.app.db.transaction((tx) => clusters.insert(tx, {
    clusterId, gatewayId, userName: 'alice', now: Date.now(),
    spec: { name: `c-${clusterId.slice(0, 6)}`, kind: 'SLURM', provider: 'STATIC', hosts: [{ address: '203.0.113.9' }] },
    nodes: [{ nodeId: randomUUID(), address: '203.0.113.9', state: 'CONFIGURED', roles: ['controller', 'worker'] }],
  }));
  await t.app.db('nodes').update({ cpus, memory_mb: 4096 }).where({ cluster_id: clusterId });
  await t.app.db('clusters').update({ state: 'READY' }).where({ id: clusterId });
  return clusterId;
}

async function busyCpus(clusterId: string): Promise<{ kept: number; summed: number }> {
  const kept = await t.app.db('clusters').where({ id: clusterId }).first<{ busy_cpus: number }>('busy_cpus');
  const { rows } = await t.app.db.raw<{ rows: { summed: number }[] }>(
    `SELECT coalesce(sum(coalesce((spec->>'totalCPUCount')::int, 1)), 0)::int AS summed FROM jobs
      WHERE cluster_id = ? AND state IN ('SUBMITTED', 'QUEUED', 'ACTIVE', 'SUSPENDED', 'UNKNOWN')`, [clusterId]);
  return { kept: kept.busy_cpus, summed: rows[0].summed };
}

describe('batched submits and reads', () => {
  it('records 100 concurrent submits with their first status, in fewer statements than calls', async () => {
    const { service: jobs, store } = service();
    const many = jest.spyOn(store, 'insertSubmittedMany');
    const handles = await Promise.all(Array.from({ length: 100 }, () => jobs.submit(caller('gw-many'), spec())));
    expect(new Set(handles.map((h) => h.jobId)).size).toBe(100);
    expect(many.mock.calls.length).toBeLessThan(100);
    const reads = await Promise.all(handles.map((h) => jobs.get(caller('gw-many'), h.jobId)));
    reads.forEach((job, i) => {
      expect(job.jobId).toBe(handles[i].jobId);
      expect(job.statuses.map((s) => s.state)).toEqual(['SUBMITTED']);
    });
  });

  it('gives two submits of one clientToken in one batch the same job, and refuses a different request with it', async () => {
    const { service: jobs } = service();
    const same = spec({ clientToken: `tok-${randomUUID()}` });
    const [a, b] = await Promise.all([jobs.submit(caller('gw-tok'), same), jobs.submit(caller('gw-tok'), same)]);
    expect(a.jobId).toBe(b.jobId);
    const differing = await Promise.allSettled([
      jobs.submit(caller('gw-tok'), { ...same, command: ['/bin/false'] }), jobs.submit(caller('gw-tok'), same),
    ]);
    expect(differing[0].status).toBe('rejected');
    expect(differing[1]).toEqual({ status: 'fulfilled', value: a });
    expect(await t.app.db('jobs').where({ client_token: same.clientToken }).count<{ count: number }[]>('* as count'))
      .toEqual([{ count: 1 }]);
  });

  it('answers each concurrent getJob with its own job and hides another gateway\'s', async () => {
    const { service: jobs } = service();
    const mine = await jobs.submit(caller('gw-read-a'), spec());
    const theirs = await jobs.submit(caller('gw-read-b'), spec());
    const results = await Promise.allSettled([
      jobs.get(caller('gw-read-a'), mine.jobId), jobs.get(caller('gw-read-a'), theirs.jobId), jobs.get(caller('gw-read-b'), theirs.jobId),
    ]);
    expect(results[0]).toMatchObject({ status: 'fulfilled', value: { jobId: mine.jobId } });
    expect(results[1]).toMatchObject({ status: 'rejected', reason: { name: 'NotFoundError' } });
    expect(results[2]).toMatchObject({ status: 'fulfilled', value: { jobId: theirs.jobId } });
  });

  it('queues the dispatch and the SUBMITTED event of every placed job in the same statement', async () => {
    const { service: jobs } = service(true);
    const clusterId = await readyCluster('gw-placed', 64);
    const handles = await Promise.all(Array.from({ length: 20 }, () => jobs.submit(caller('gw-placed'), spec({ totalCPUCount: 2 }))));
    expect(handles.every((h) => h.clusterId === clusterId)).toBe(true);
    const ids = handles.map((h) => h.jobId);
    const { rows: queued } = await t.app.db.raw<{ rows: { key: string }[] }>(
      'SELECT key FROM graphile_worker._private_jobs WHERE key = ANY(?)', [ids.map((id) => `dispatch:${id}`)]);
    expect(queued).toHaveLength(20);
    const events = await t.app.db('job_event_outbox').whereIn('job_id', ids).select('state');
    expect(events.map((e: { state: string }) => e.state)).toEqual(Array(20).fill('SUBMITTED'));
    expect(await busyCpus(clusterId)).toEqual({ kept: 40, summed: 40 });
  });

  it('keeps busy CPUs equal to the live jobs\' sum through submits, state changes and cluster moves', async () => {
    const { service: jobs } = service();
    const first = await readyCluster('gw-busy', 1000);
    const handles = await Promise.all([1, 2, 3, 4].map((cpus) => jobs.submit(caller('gw-busy'), spec({ totalCPUCount: cpus }))));
    expect(await busyCpus(first)).toEqual({ kept: 10, summed: 10 });
    // Two jobs end in one statement, one moves to another cluster, one is deleted.
    await t.app.db('jobs').update({ state: 'COMPLETE' }).whereIn('id', [handles[0].jobId, handles[1].jobId]);
    const second = await readyCluster('gw-busy-2', 8);
    await t.app.db('jobs').update({ cluster_id: second }).where({ id: handles[2].jobId });
    await t.app.db('job_statuses').where({ job_id: handles[3].jobId }).delete();
    await t.app.db('jobs').where({ id: handles[3].jobId }).delete();
    expect(await busyCpus(first)).toEqual({ kept: 0, summed: 0 });
    expect(await busyCpus(second)).toEqual({ kept: 3, summed: 3 });
    // Placement reads the kept figure: the emptier cluster gets the next job.
    const next = await jobs.submit(caller('gw-busy'), spec());
    expect(next.clusterId).toBe(first);
  });

  it('fails a statement carrying a job that cannot be stored, leaving nothing of it', async () => {
    const { store } = service();
    const bad: NewJob = {
      jobId: randomUUID(), gatewayId: 'gw-bad', userName: 'alice', spec: spec(), fingerprint: 'f', now: Date.now(),
      reason: 'r', clusterId: randomUUID(), // no such cluster
    };
    const good: NewJob = { ...bad, jobId: randomUUID(), clusterId: undefined };
    await expect(store.insertSubmittedMany(t.app.db, [good, bad])).rejects.toThrow(/foreign key/);
    expect(await t.app.db('jobs').whereIn('id', [good.jobId, bad.jobId]).select('id')).toEqual([]);
    expect([...await store.insertSubmittedMany(t.app.db, [good])]).toEqual([good.jobId]);
  });
});
