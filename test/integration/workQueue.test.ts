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
    await workQueue.start({ cluster_workflow: clusterWorkflow, job_dispatch: async () => {}, cluster_monitor: async () => {}, place_waiting: async () => {} });
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
});
