// The background queue through a Postgres restart: graphile-worker lets a worker die for good when
// it cannot record a job's outcome (the database went away under it) and starts none in its place,
// so before the fix a process whose workers were all busy at the restart ran no background work
// again until it was restarted itself, and the jobs those workers held stayed locked, their dead
// workers' heartbeats kept alive by the process; and the dispatch claims a task could not let go of
// while the database was away were held by a live process, so never taken over: those jobs waited
// SUBMITTED for good (both found by test/reliability/dependenciesDown.test.ts).
import { createLogger } from '../../src/log';
import { migrateLatest, openDb, type Db } from '../../src/store/db';
import { processIdentity, QueueStore } from '../../src/store/queueStore';
import { WorkQueue } from '../../src/workflows/workQueue';
import { startPrivatePostgres, type PrivatePostgres } from '../reliability/support/privatePostgres';
import { sleep, until } from '../support/until';

jest.setTimeout(180_000);

describe('WorkQueue through a Postgres restart', () => {
  let pg: PrivatePostgres;
  let db: Db;
  let workQueue: WorkQueue | undefined;
  const queue = new QueueStore();

  beforeAll(async () => {
    pg = await startPrivatePostgres();
    db = openDb(pg.url, 4);
    await migrateLatest(db);
  });
  afterAll(async () => {
    await workQueue?.stop().catch(() => undefined);
    await db?.destroy();
    await pg?.destroy();
  });

  it('replaces the workers that died while the database was down, their jobs run again, and claims left then are let go', async () => {
    const runs = new Map<string, number>();
    let releaseHeld: () => void = () => undefined;
    const held = new Promise<void>((resolve) => { releaseHeld = resolve; });
    workQueue = new WorkQueue({ connectionString: pg.url, db, queue, log: createLogger('silent'), concurrency: 2, staleAfterMs: 3000, heartbeatMs: 500 });
    await workQueue.migrate();
    await workQueue.start({
      cluster_workflow: async (payload) => {
        const id = (payload as { clusterId: string }).clusterId;
        runs.set(id, (runs.get(id) ?? 0) + 1);
        // The first run of each held job lasts until the database is gone: its outcome cannot be recorded.
        if (id !== 'after' && runs.get(id) === 1) await held;
      },
      job_dispatch: async () => {}, cluster_monitor: async () => {}, place_waiting: async () => {}, orphan_sweep: async () => {}, pilot_work: async () => {},
    });
    for (const id of ['held-1', 'held-2']) await queue.enqueue(db, 'cluster_workflow', { clusterId: id }, { queueName: `cluster:${id}`, jobKey: `cluster:${id}` });
    // Both workers busy.
    await until('both held jobs running', 30_000, async () => (runs.size === 2 ? true : undefined), 50);
    // A dispatch claim of this process that a task could not let go of (the database went away
    // under it): no task holds it any more.
    const claimedAt = Date.now();
    await db('jobs').insert({
      id: 'left-claim', gateway_id: 'gw', user_name: 'u', job_name: 'j', fingerprint: 'f', spec: JSON.stringify({}), state: 'SUBMITTED',
      created_at: claimedAt, updated_at: claimedAt, dispatch_claimed_by: processIdentity(), dispatch_claimed_at: claimedAt,
    });
    await pg.stop();
    releaseHeld();
    // Each worker fails to record its job's outcome and dies.
    await sleep(2000);
    await pg.start();
    const back = Date.now();
    await queue.enqueue(db, 'cluster_workflow', { clusterId: 'after' }, { queueName: 'cluster:after', jobKey: 'cluster:after' });
    await until('a job queued after the restart runs, and the held ones run again', 60_000, async () => (
      runs.get('after') === 1 && (runs.get('held-1') ?? 0) >= 2 && (runs.get('held-2') ?? 0) >= 2 ? true : undefined), 100);
    console.log(`workQueue: background work back ${((Date.now() - back) / 1000).toFixed(1)} s after Postgres started again`);
    expect(runs.get('after')).toBe(1);
    await until('the left claim let go', 30_000, async () => (
      (await db('jobs').where({ id: 'left-claim' }).first('dispatch_claimed_by') as { dispatch_claimed_by: string | null }).dispatch_claimed_by === null ? true : undefined), 200);
  });
});
