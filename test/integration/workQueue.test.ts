// The background queue on a real Postgres: a live process keeps its work however long it runs, and
// work a dead process held is taken over within seconds, even when that process died before it
// ever recorded a heartbeat.
import { createLogger } from '../../src/log';
import { QueueStore } from '../../src/store/queueStore';
import { WorkQueue, type TaskHandlers } from '../../src/workflows/workQueue';
import { createTestDatabase, type TestDatabase } from '../support/database';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('WorkQueue', () => {
  let database: TestDatabase;
  const queue = new QueueStore();
  let workQueue: WorkQueue | undefined;

  beforeEach(async () => {
    database = await createTestDatabase();
  });
  afterEach(async () => {
    await workQueue?.stop();
    workQueue = undefined;
    await database.drop();
  });

  const start = async (clusterWorkflow: TaskHandlers['cluster_workflow']) => {
    workQueue = new WorkQueue({
      connectionString: database.url, db: database.db, queue, log: createLogger('silent'), concurrency: 2, staleAfterMs: 3000, heartbeatMs: 500,
    });
    await workQueue.migrate();
    await workQueue.start({ cluster_workflow: clusterWorkflow, job_dispatch: async () => {}, cluster_monitor: async () => {}, place_waiting: async () => {}, orphan_sweep: async () => {}, pilot_work: async () => {} });
  };

  it('keeps a long task of a live process to itself: it runs once, its workers beat', async () => {
    let runs = 0;
    await start(async () => { runs += 1; await sleep(6000); });
    await queue.enqueue(database.db, 'cluster_workflow', { clusterId: 'long' }, { queueName: 'cluster:long', jobKey: 'cluster:long' });
    await sleep(5000); // past staleAfterMs (3 s) while the task still runs
    expect(runs).toBe(1);
    const beats = await database.db('worker_heartbeats').select('worker_id') as { worker_id: string }[];
    expect(beats.length).toBe(2);
    expect(await queue.staleWorkers(database.db, Date.now() - 3000)).toEqual([]);
    await sleep(2000);
    expect(runs).toBe(1);
  });

  it('takes over, within seconds, a task a dead process held without ever having beaten', async () => {
    const migrate = new WorkQueue({ connectionString: database.url, db: database.db, queue, log: createLogger('silent') });
    await migrate.migrate();
    await migrate.stop();
    await queue.enqueue(database.db, 'cluster_workflow', { clusterId: 'orphan' }, { queueName: 'cluster:orphan', jobKey: 'cluster:orphan' });
    // A process that claimed it and was killed before its first heartbeat: a lock, and no row.
    await database.db.raw(`UPDATE graphile_worker._private_jobs SET locked_by = 'worker-dead', locked_at = now() - interval '20 seconds'`);
    await database.db.raw(`UPDATE graphile_worker._private_job_queues SET locked_by = 'worker-dead', locked_at = now() - interval '20 seconds'`);
    const started = Date.now();
    let ranAfter: number | undefined;
    await start(async () => { ranAfter ??= Date.now() - started; });
    for (let i = 0; i < 40 && ranAfter === undefined; i += 1) await sleep(250);
    expect(ranAfter).toBeDefined();
    expect(ranAfter).toBeLessThan(5000);
  });

  it('never runs two monitor ticks of one cluster at once, across replicas, when its key is added during a tick', async () => {
    // Two replicas' queues on one database, as two service processes would have.
    const replicas = [0, 1].map(() => new WorkQueue({
      connectionString: database.url, db: database.db, queue, log: createLogger('silent'), concurrency: 2, staleAfterMs: 3000, heartbeatMs: 500,
    }));
    let running = 0;
    let mostAtOnce = 0;
    let ticks = 0;
    const monitor = async (): Promise<void> => {
      running += 1;
      ticks += 1;
      mostAtOnce = Math.max(mostAtOnce, running);
      await sleep(800);
      running -= 1;
    };
    try {
      for (const replica of replicas) {
        await replica.migrate();
        await replica.start({ cluster_workflow: async () => {}, job_dispatch: async () => {}, cluster_monitor: monitor, place_waiting: async () => {}, orphan_sweep: async () => {}, pilot_work: async () => {} });
      }
      await queue.enqueue(database.db, 'cluster_monitor', { clusterId: 'c1' }, { jobKey: 'monitor:c1' });
      for (let i = 0; i < 40 && running === 0; i += 1) await sleep(50);
      expect(running).toBe(1);
      // What a replica's start-up recovery does while the tick runs on one of them.
      await queue.enqueue(database.db, 'cluster_monitor', { clusterId: 'c1' }, { jobKey: 'monitor:c1' });
      for (let i = 0; i < 60 && ticks < 2; i += 1) await sleep(50);
      for (let i = 0; i < 40 && running > 0; i += 1) await sleep(50);
      expect({ ticks, mostAtOnce }).toEqual({ ticks: 2, mostAtOnce: 1 });
    } finally {
      for (const replica of replicas) await replica.stop();
    }
  });

  it('takes a process for dead only once its dispatch claims are as old as its last heartbeat allows', async () => {
    const migrate = new WorkQueue({ connectionString: database.url, db: database.db, queue, log: createLogger('silent') });
    await migrate.migrate();
    await migrate.stop();
    const now = Date.now();
    await queue.beat(database.db, ['worker-killed'], 'host:4242', now - 20_000);
    // A claim it wrote after its last heartbeat: it was alive then.
    await database.db('jobs').insert({
      id: 'claimed-job', gateway_id: 'gw', user_name: 'u', job_name: 'n', fingerprint: 'f', spec: {}, state: 'SUBMITTED',
      created_at: now, updated_at: now, dispatch_claimed_by: 'host:4242', dispatch_claimed_at: now - 1000,
    });
    expect(await queue.staleWorkers(database.db, now - 10_000)).toEqual([]);
    await database.db('jobs').update({ dispatch_claimed_at: now - 15_000 }).where({ id: 'claimed-job' });
    expect(await queue.staleWorkers(database.db, now - 10_000)).toEqual(['worker-killed']);
  });

  it("adds recovery's jobs only where none is running or due, leaving other replicas' jobs as they are", async () => {
    const migrate = new WorkQueue({ connectionString: database.url, db: database.db, queue, log: createLogger('silent') });
    await migrate.migrate();
    await migrate.stop();
    interface Row { key: string; run_at: Date; attempts: number; max_attempts: number; locked_by: string | null }
    const rows = async (): Promise<Row[]> => database.db.withSchema('graphile_worker').from('_private_jobs')
      .select('key', 'run_at', 'attempts', 'max_attempts', 'locked_by').orderBy('id') as Promise<Row[]>;
    const later = new Date(Date.now() + 60_000);

    // Nothing under the key: added.
    expect(await queue.enqueueIfAbsent(database.db, 'job_dispatch', { jobId: 'j1' }, { jobKey: 'dispatch:j1', runAt: later })).toBe(true);
    // Due later (a backoff, a delayed look): left alone, its time kept.
    expect(await queue.enqueueIfAbsent(database.db, 'job_dispatch', { jobId: 'j1' }, { jobKey: 'dispatch:j1' })).toBe(false);
    expect((await rows()).map((r) => [r.key, r.run_at.getTime()])).toEqual([['dispatch:j1', later.getTime()]]);

    // Running on another replica: no second job, and the running one keeps its retries.
    await database.db.raw("UPDATE graphile_worker._private_jobs SET locked_by = 'worker-other', locked_at = now(), attempts = 1");
    expect(await queue.enqueueIfAbsent(database.db, 'job_dispatch', { jobId: 'j1' }, { jobKey: 'dispatch:j1' })).toBe(false);
    expect((await rows()).map((r) => [r.key, r.attempts, r.locked_by])).toEqual([['dispatch:j1', 1, 'worker-other']]);

    // Failed for good while its work still waits: added again, due now.
    await database.db.raw('UPDATE graphile_worker._private_jobs SET locked_by = NULL, locked_at = NULL, attempts = max_attempts');
    expect(await queue.enqueueIfAbsent(database.db, 'job_dispatch', { jobId: 'j1' }, { jobKey: 'dispatch:j1' })).toBe(true);
    const holder = (await rows()).filter((r) => r.key === 'dispatch:j1');
    expect(holder.map((r) => ({ attempts: r.attempts, due: r.run_at.getTime() <= Date.now() }))).toEqual([{ attempts: 0, due: true }]);
  });
});
