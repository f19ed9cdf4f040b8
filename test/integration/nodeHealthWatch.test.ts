// The node health watch's writes on real Postgres, with a scripted controller standing in for
// sinfo (real Slurm, with real lost workers, is test/reliability/lostNodes.test.ts): a READY
// cluster goes DEGRADED with a reason naming the node, the node is marked lost with Slurm's reason
// and keeps CONFIGURED, each loss and return is an event; Slurm's changing word rewords it; a repair
// run or a restart's recovery never touches such a cluster; every node back: READY with the marks
// gone and waiting jobs placed; a controller that does not answer changes nothing; a cluster a
// workflow took while sinfo ran is left to it; a bought node Slurm lost whose instance is gone is
// still the orphan sweep's (FAILED, a repair queued).
import type { Cluster } from '../../src/domain/types';
import type { CommandResult, CommandRunner } from '../../src/exec/commandRunner';
import { createLogger } from '../../src/log';
import type { Provider } from '../../src/providers/provider';
import { providerRegistry } from '../../src/providers/registry';
import { ApplicationStore } from '../../src/store/applicationStore';
import { ClusterStore } from '../../src/store/clusterStore';
import { JobStore } from '../../src/store/jobStore';
import { QueueStore } from '../../src/store/queueStore';
import { ClusterWorkflow, type ClusterWorkflowDeps } from '../../src/workflows/clusterWorkflow';
import { NodeHealthWatch } from '../../src/workflows/nodeHealth';
import { OrphanSweeper } from '../../src/workflows/orphanSweep';
import { recoverWork } from '../../src/workflows/recovery';
import { createTestDatabase, type TestDatabase } from '../support/database';

jest.setTimeout(60_000);

const T0 = 1_800_000_000_000;
const GATEWAY = 'gw-health';

/** sinfo as the test scripts it, and what ran. */
class ScriptedController {
  result: CommandResult = { exitCode: 0, stdout: '', stderr: '' };
  argv: string[][] = [];
  /** Runs inside the call: another writer acting while sinfo runs. */
  during: () => Promise<void> = async () => undefined;
  readonly runner = {
    run: async (argv: readonly string[]): Promise<CommandResult> => {
      this.argv.push([...argv]);
      await this.during();
      return this.result;
    },
  } as unknown as CommandRunner;
}

describe('node health watch: marks, DEGRADED and READY on real Postgres', () => {
  let database: TestDatabase;
  const clusters = new ClusterStore();
  const queue = new QueueStore();
  const controller = new ScriptedController();
  let now = T0;
  let watch: NodeHealthWatch;

  const get = async (id: string): Promise<Cluster> => {
    const c = await clusters.getById(database.db, id);
    if (!c) throw new Error(`no cluster ${id}`);
    return c;
  };
  const events = async (id: string): Promise<string[]> =>
    (await clusters.events(database.db, id, 0, 1000)).filter((e) => e.kind === 'health' || e.kind === 'state').map((e) => `${e.kind}: ${e.message}`);
  const queued = async (): Promise<string[]> => (await database.db('graphile_worker._private_jobs').pluck('key') as string[]).sort();
  const sinfo = (stdout: string): void => {
    controller.result = { exitCode: 0, stdout, stderr: '' };
  };

  /** A READY cluster: controller+worker 10.9.0.1, worker 10.9.0.2 (instances i-1, i-2 when bought). */
  async function readyCluster(id: string, provider: 'STATIC' | 'EC2' = 'STATIC'): Promise<void> {
    await database.db('clusters').insert({
      id, gateway_id: GATEWAY, user_name: 'alice', name: id, kind: 'SLURM', provider, state: 'READY',
      spec: JSON.stringify({ name: id, kind: 'SLURM', provider }), created_at: T0, updated_at: T0,
    });
    const bought = (n: number) => (provider === 'EC2' ? { providerResourceId: `i-${id}-${n}` } : {});
    await clusters.insertNodes(database.db, id, [
      { nodeId: `${id}-n1`, address: '10.9.0.1', roles: ['controller', 'worker'], state: 'CONFIGURED', ...bought(1) },
      { nodeId: `${id}-n2`, address: '10.9.0.2', roles: ['worker'], state: 'CONFIGURED', ...bought(2) },
    ], 0, T0);
  }

  beforeAll(async () => {
    database = await createTestDatabase({ queue: true });
    watch = new NodeHealthWatch({
      db: database.db, clusters, queue, log: createLogger('silent'), controller: () => controller.runner, intervalMs: 1000, now: () => now,
    });
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('a worker Slurm does not reach: DEGRADED naming it, marked lost, still CONFIGURED; Slurm\'s new word rewords it', async () => {
    await readyCluster('c1');
    sinfo('10-9-0-1|idle|none\n10-9-0-2|idle*|none\n');
    now = T0 + 10_000;
    const change = await watch.check(await get('c1'));
    expect(controller.argv.at(-1)).toEqual(['sinfo', '--Node', '--noheader', '--format=%N|%T|%E']);
    expect(change?.cluster).toBe('DEGRADED');
    let c = await get('c1');
    expect(c.state).toBe('DEGRADED');
    expect(c.operation).toBeUndefined();
    expect(c.stateReason).toBe('1 node(s) lost in Slurm: 10.9.0.2 (Slurm node 10-9-0-2): Slurm: IDLE+NOT_RESPONDING; jobs there end as Slurm decides (requeued or NODE_FAIL)');
    expect(c.nodes.map((n) => [n.address, n.state, n.lostReason, n.lostSince])).toEqual([
      ['10.9.0.1', 'CONFIGURED', undefined, undefined], ['10.9.0.2', 'CONFIGURED', 'Slurm: IDLE+NOT_RESPONDING', T0 + 10_000],
    ]);

    // The same reading again writes nothing.
    now = T0 + 12_000;
    expect(await watch.check(c)).toEqual({ lost: [], back: [] });
    // SlurmdTimeout later Slurm says DOWN: the mark and the reason follow, lostSince stays.
    sinfo('10-9-0-1|idle|none\n10-9-0-2|down*|Not responding\n');
    now = T0 + 20_000;
    await watch.check(c);
    c = await get('c1');
    expect(c.nodes[1]).toMatchObject({ lostReason: 'Slurm: DOWN+NOT_RESPONDING (Not responding)', lostSince: T0 + 10_000 });
    expect(c.stateReason).toContain('Slurm: DOWN+NOT_RESPONDING (Not responding)');
    // The node's event first, then the cluster's move (one transaction), then the new word.
    expect(await events('c1')).toEqual([
      'health: node 10.9.0.2 lost: Slurm: IDLE+NOT_RESPONDING',
      'state: DEGRADED: 1 node(s) lost in Slurm: 10.9.0.2 (Slurm node 10-9-0-2): Slurm: IDLE+NOT_RESPONDING; jobs there end as Slurm decides (requeued or NODE_FAIL)',
      'health: node 10.9.0.2 still lost: Slurm: DOWN+NOT_RESPONDING (Not responding)',
    ]);
  });

  it('is never repaired: a repair run leaves it, and a restart\'s recovery queues no repair', async () => {
    await database.db.raw('DELETE FROM graphile_worker._private_jobs');
    const flow = new ClusterWorkflow({
      db: database.db, clusters, queue, jobs: new JobStore(), applications: new ApplicationStore(), log: createLogger('silent'),
    } as unknown as ClusterWorkflowDeps);
    await flow.run({ clusterId: 'c1', action: 'repair' });
    const c = await get('c1');
    expect([c.state, c.nodes.map((n) => n.state)]).toEqual(['DEGRADED', ['CONFIGURED', 'CONFIGURED']]);
    await recoverWork({ db: database.db, clusters, jobs: new JobStore(), queue, log: createLogger('silent') });
    // Its monitor is resumed (that is where the watch runs); nothing else.
    expect(await queued()).toEqual(['monitor:c1']);
  });

  it('a controller that does not answer changes nothing', async () => {
    controller.result = { exitCode: 1, stdout: '', stderr: 'slurm_load_node: Unable to contact slurm controller (connect failure)' };
    const before = await get('c1');
    now = T0 + 25_000;
    expect(await watch.check(before)).toBeUndefined();
    const after = await get('c1');
    expect([after.state, after.stateReason, after.nodes[1].lostReason]).toEqual([before.state, before.stateReason, before.nodes[1].lostReason]);
  });

  it('every node answering again: READY, the marks gone, waiting jobs placed', async () => {
    await database.db.raw('DELETE FROM graphile_worker._private_jobs');
    sinfo('10-9-0-1|idle|none\n10-9-0-2|idle|none\n');
    now = T0 + 30_000;
    expect((await watch.check(await get('c1')))?.cluster).toBe('READY');
    const c = await get('c1');
    expect(c.state).toBe('READY');
    expect(c.stateReason).toBe('every node answers Slurm again (10.9.0.2 back)');
    expect(c.nodes.map((n) => [n.lostReason, n.lostSince])).toEqual([[undefined, undefined], [undefined, undefined]]);
    expect((await events('c1')).slice(-2)).toEqual([
      'health: node 10.9.0.2 answers again: Slurm says idle',
      'state: READY: every node answers Slurm again (10.9.0.2 back)',
    ]);
    expect(await queued()).toEqual([`place:${GATEWAY}`]);
  });

  it('a node sinfo does not list, or one drained with a reason, is lost too', async () => {
    sinfo('10-9-0-1|drained|bad disk\n');
    now = T0 + 40_000;
    await watch.check(await get('c1'));
    const c = await get('c1');
    expect(c.state).toBe('DEGRADED');
    expect(c.nodes.map((n) => n.lostReason)).toEqual(['Slurm: DRAINED (bad disk)', 'not listed by sinfo']);
    expect(c.stateReason).toMatch(/^2 node\(s\) lost in Slurm: 10\.9\.0\.1 .*DRAINED \(bad disk\); 10\.9\.0\.2 .*not listed by sinfo;/);
  });

  it('leaves a cluster a workflow took while sinfo ran', async () => {
    await readyCluster('c2');
    sinfo('10-9-0-1|idle|none\n10-9-0-2|down*|Not responding\n');
    const read = await get('c2');
    controller.during = async () => {
      await database.db.transaction(async (tx) => {
        await clusters.transition(tx, 'c2', 'SCALING', 'scale to 1 worker(s)', T0);
        await clusters.setOperation(tx, 'c2', 'scale', T0);
      });
    };
    try {
      await watch.check(read);
    } finally {
      controller.during = async () => undefined;
    }
    const c = await get('c2');
    expect([c.state, c.operation, c.nodes.map((n) => n.lostReason)]).toEqual(['SCALING', 'scale', [undefined, undefined]]);
    // And while it scales, the watch does not read it at all.
    now = T0 + 100_000;
    expect(watch.due(c)).toBe(false);
  });

  it('a bought worker Slurm lost whose instance is gone: the orphan sweep still marks it FAILED and queues its repair', async () => {
    await readyCluster('c3', 'EC2');
    sinfo('10-9-0-1|idle|none\n10-9-0-2|down*|Not responding\n');
    await watch.check(await get('c3'));
    expect((await get('c3')).state).toBe('DEGRADED');
    await database.db.raw('DELETE FROM graphile_worker._private_jobs');
    // The cloud: only the controller's instance is still there.
    const cloud = {
      buysNodes: true,
      scopeOf: () => 'moon-1',
      listOwned: async () => [{ providerResourceId: 'i-c3-1', resourceType: 'instance', scope: 'moon-1', clusterId: 'c3', nodeId: 'c3-n1', live: true }],
      describe: async () => [{ nodeId: 'c3-n1', state: 'running' }, { nodeId: 'c3-n2', state: 'gone' }],
    } as unknown as Provider;
    const sweeper = new OrphanSweeper({
      db: database.db, clusters, queue, providers: providerRegistry().register('EC2', cloud), log: createLogger('silent'),
      intervalMs: 60_000, dryRun: false, defaultScopes: {},
    });
    expect((await sweeper.sweep()).map((f) => [f.resource.nodeId, f.action])).toEqual([['c3-n2', 'marked lost']]);
    const c = await get('c3');
    expect([c.state, c.operation, c.stateReason]).toEqual(['DEGRADED', 'repair', '1 node(s) lost: 10.9.0.2; being replaced']);
    expect(c.nodes.map((n) => n.state)).toEqual(['CONFIGURED', 'FAILED']);
    expect(await queued()).toEqual(['repair:c3']);
    // The repair is the workflow's now: the watch leaves the cluster alone.
    expect(watch.due(c)).toBe(false);
  });
});
