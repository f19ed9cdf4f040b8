// What every cloud provider shares, on a real Postgres with a stand-in provider that "buys" nodes
// in memory (the EC2 adapter itself is proven against the AWS double elsewhere): bought nodes go
// PENDING -> RUNNING -> REACHABLE (SSH answers) -> CONFIGURED with the cluster's own key pair; a
// failed create is rolled back unless keepOnFailure=true; a scale beyond the pool adds nodes; the
// orphan sweeper releases what no live cluster owns and replaces lost nodes.
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { AnsibleRunner, PlaybookResult, PlaybookRun } from '../../src/ansible/runner';
import type { Cluster, ClusterNode, ClusterSpec } from '../../src/domain/types';
import { defaultKinds } from '../../src/kinds/registry';
import { createLogger } from '../../src/log';
import type { OwnedResource, PlannedNode, Provider, ProvisionContext } from '../../src/providers/provider';
import { providerRegistry } from '../../src/providers/registry';
import { SecretBox } from '../../src/secrets/secretBox';
import { ClusterService } from '../../src/services/clusterService';
import { ClusterKeys } from '../../src/services/gatewayKeys';
import { ApplicationStore } from '../../src/store/applicationStore';
import { ClusterKeyStore } from '../../src/store/gatewayKeyStore';
import { ClusterStore } from '../../src/store/clusterStore';
import { IdempotencyStore } from '../../src/store/idempotencyStore';
import { JobStore } from '../../src/store/jobStore';
import { QueueStore } from '../../src/store/queueStore';
import type { ClusterAccess } from '../../src/workflows/clusterAccess';
import { ClusterWorkflow } from '../../src/workflows/clusterWorkflow';
import { OrphanSweeper } from '../../src/workflows/orphanSweep';
import { WorkQueue } from '../../src/workflows/workQueue';
import { createTestDatabase, type TestDatabase } from '../support/database';

let database: TestDatabase;
const applications = new ApplicationStore();
const clusters = new ClusterStore(applications);
const queue = new QueueStore();
const log = createLogger('silent');

beforeAll(async () => {
  database = await createTestDatabase();
  await new WorkQueue({ connectionString: database.url, db: database.db, queue, log, concurrency: 1 }).migrate();
});
afterAll(async () => {
  await database.drop();
});

/** A cloud in memory: instances by id, each with its node, cluster and the key it was given. */
class FakeCloud implements Provider {
  readonly type = 'EC2' as const;
  readonly buysNodes = true;
  readonly instances = new Map<string, { nodeId: string; clusterId: string; address: string; key: string; live: boolean }>();
  readonly clusterReleases: string[] = [];
  readonly notes: string[] = [];
  private next = 1;

  validate(): [] { return []; }

  plan(spec: ClusterSpec): PlannedNode[] {
    return Array.from({ length: spec.workerCount ?? 1 }, (_, i) => ({
      address: '', state: 'REQUESTED' as const, roles: i === 0 ? ['controller', 'worker'] : ['worker'], sshUser: 'admin',
    }));
  }

  planWorker(): PlannedNode {
    return { address: '', state: 'REQUESTED', roles: ['worker'], sshUser: 'admin' };
  }

  async checkQuota(spec: ClusterSpec, extra = 0): Promise<{ needed: Record<string, number>; errors: { field: string; message: string }[] }> {
    const needed = extra > 0 ? extra : spec.workerCount ?? 1;
    const live = [...this.instances.values()].filter((i) => i.live).length;
    return { needed: { instances: needed }, errors: live + needed > 6 ? [{ field: 'spec.workerCount', message: `needs ${needed} instances, ${6 - live} left` }] : [] };
  }

  async acquire(cluster: Cluster, nodes: readonly ClusterNode[], context: ProvisionContext) {
    await context.note(`buying ${nodes.length}`);
    return nodes.map((node) => {
      const found = [...this.instances.entries()].find(([, i]) => i.nodeId === node.nodeId && i.live);
      if (found) return { nodeId: node.nodeId, address: found[1].address, providerResourceId: found[0] };
      const id = `i-${this.next}`;
      this.instances.set(id, { nodeId: node.nodeId, clusterId: cluster.clusterId, address: `198.51.100.${this.next}`, key: context.sshPublicKey, live: true });
      this.next += 1;
      return { nodeId: node.nodeId, address: this.instances.get(id)?.address ?? '', providerResourceId: id };
    });
  }

  async describe(cluster: Cluster) {
    return cluster.nodes.map((node) => {
      const live = [...this.instances.values()].some((i) => i.nodeId === node.nodeId && i.live);
      return { nodeId: node.nodeId, state: live ? 'running' as const : 'gone' as const };
    });
  }

  async release(_cluster: Cluster, nodes: readonly ClusterNode[]) {
    return nodes.map((node) => {
      const ids = [...this.instances.entries()].filter(([, i]) => i.nodeId === node.nodeId && i.live).map(([id]) => id);
      for (const id of ids) this.terminate(id);
      return { nodeId: node.nodeId, proof: ids.length > 0 ? `terminated ${ids.join(', ')}` : 'nothing was bought' };
    });
  }

  async releaseCluster(cluster: Cluster) {
    this.clusterReleases.push(cluster.clusterId);
    return [`key pair of ${cluster.clusterId} deleted`];
  }

  scopeOf(): string {
    return 'moon-east-1';
  }

  async listOwned(scopes: readonly string[]): Promise<OwnedResource[]> {
    expect(scopes).toContain('moon-east-1');
    return [...this.instances.entries()].map(([id, i]) => ({
      providerResourceId: id, resourceType: 'instance', scope: 'moon-east-1', clusterId: i.clusterId, nodeId: i.nodeId, live: i.live, description: i.address,
    }));
  }

  async releaseOwned(resource: OwnedResource): Promise<string> {
    this.terminate(resource.providerResourceId);
    return `terminated ${resource.providerResourceId}`;
  }

  terminate(id: string): void {
    const instance = this.instances.get(id);
    if (instance) instance.live = false;
  }

  liveOf(clusterId: string): string[] {
    return [...this.instances.entries()].filter(([, i]) => i.clusterId === clusterId && i.live).map(([id]) => id);
  }
}

const ok: PlaybookResult = { status: 'successful', rc: 0, failures: [], hostStats: {}, changed: 0, durationMs: 1 };
const failedPlay: PlaybookResult = {
  status: 'failed', rc: 2, hostStats: {}, changed: 0, durationMs: 1,
  failures: [{ host: '198.51.100.1', task: 'install slurm', message: 'no package slurmd', unreachable: false }],
};

function setUp(options: { playbook?: (run: PlaybookRun) => PlaybookResult; sshFailures?: number } = {}) {
  const cloud = new FakeCloud();
  const providers = providerRegistry().register('EC2', cloud);
  const box = SecretBox.open(undefined, mkdtempSync(path.join(tmpdir(), 'ms-cloud-')));
  const clusterKeys = new ClusterKeys({ db: database.db, keys: new ClusterKeyStore(), box });
  const runs: PlaybookRun[] = [];
  const ansible: AnsibleRunner = { run: async (run) => { runs.push(run); return options.playbook?.(run) ?? ok; } };
  let sshFailures = options.sshFailures ?? 0;
  const reached: string[] = [];
  const access: ClusterAccess = {
    scheduler: () => { throw new Error('no jobs here'); },
    verify: async (c) => ({ failures: [], capacity: new Map(c.nodes.map((n) => [n.nodeId, { cpus: 2, memoryMb: 1024, nativeName: n.address }])) }),
    sshPrivateKey: (c) => clusterKeys.privateKey(c.clusterId),
    knownHosts: async (_c, nodes) => {
      // A new VM's sshd comes up a while after the cloud says "running".
      if (sshFailures > 0) { sshFailures -= 1; throw new Error('connect ECONNREFUSED'); }
      reached.push(...nodes.map((n) => n.address));
      return [];
    },
  };
  const kinds = defaultKinds({ slurm: { log }, mesos: { log } });
  const flow = new ClusterWorkflow({
    db: database.db, applications, clusters, jobs: new JobStore({ outbox: false }), queue, ansible, access, kinds, providers, log,
    playbookTimeoutMs: 60_000, localClusterGateways: [], jobRoot: '/var/lib/metascheduler/jobs', clusterKeys, reachTimeoutMs: 30_000,
  });
  const service = new ClusterService({ db: database.db, applications, clusters, idempotency: new IdempotencyStore(), queue, providers, kinds, localClusterGateways: [] });
  const sweeper = (dryRun = false) => new OrphanSweeper({ db: database.db, clusters, queue, providers, log, intervalMs: 60_000, dryRun, defaultScopes: {} });
  return { cloud, flow, service, runs, reached, clusterKeys, sweeper };
}

const caller = (gatewayId: string) => ({ gatewayId, userName: 'ada' });
const spec = (workerCount: number, providerOptions?: Record<string, string>) => ({
  name: 'burst', kind: 'SLURM', provider: 'EC2', workerCount, ...(providerOptions ? { providerOptions } : {}),
});
const get = async (clusterId: string): Promise<Cluster> => {
  const c = await clusters.getById(database.db, clusterId);
  if (!c) throw new Error(`no cluster ${clusterId}`);
  return c;
};
/** The cluster's workflow runs waiting in the queue, by their key's action ("rollback:<id>"...). */
const queued = async (clusterId: string): Promise<string[]> =>
  (await database.db('graphile_worker._private_jobs').where('key', 'like', `%:${clusterId}`).pluck('key') as string[])
    .map((key) => key.split(':')[0]).sort();
const events = async (clusterId: string) => (await clusters.events(database.db, clusterId, 0, 1000)).map((e) => `${e.kind}: ${e.message}`);

describe('clusters on a provider that buys nodes', () => {
  it('buys, reaches over SSH with the cluster\'s own key, configures, and gives everything back on delete', async () => {
    const { cloud, flow, service, runs, reached } = setUp({ sshFailures: 2 });
    const clusterId = await service.create(caller('gw-cloud'), spec(2));
    await flow.run({ clusterId, action: 'create' });
    const ready = await get(clusterId);
    expect(ready.state).toBe('READY');
    expect(ready.nodes.map((n) => [n.state, n.sshUser])).toEqual([['CONFIGURED', 'admin'], ['CONFIGURED', 'admin']]);
    expect([...new Set(reached)].sort()).toEqual(ready.nodes.map((n) => n.address).sort());
    // The nodes were given the cluster's own public key; Ansible signs in with its private half.
    const [instance] = cloud.instances.values();
    expect(instance.key).toMatch(/^ssh-rsa \S+ airavata-metascheduler-cluster-/);
    expect(runs[0].sshPrivateKey).toContain('PRIVATE KEY');
    expect(runs[0].inventory.hosts.map((h) => h.sshUser)).toEqual(['admin', 'admin']);
    const sealed = await database.db('cluster_keys').where({ cluster_id: clusterId }).first<{ private_key_sealed: string }>();
    expect(sealed.private_key_sealed).not.toContain('PRIVATE KEY');
    const log = await events(clusterId);
    expect(log).toContain('provider: EC2: buying 2');
    expect(log.some((e) => e.startsWith('provider: SSH answers on'))).toBe(true);
    const states = await database.db('cluster_events').where({ cluster_id: clusterId }).pluck('message') as string[];
    expect(states.some((m) => m.startsWith('READY'))).toBe(true);

    await service.delete(caller('gw-cloud'), clusterId);
    await flow.run({ clusterId, action: 'delete' });
    expect((await get(clusterId)).state).toBe('TERMINATED');
    expect(cloud.liveOf(clusterId)).toEqual([]);
    expect(cloud.clusterReleases).toEqual([clusterId]);
    expect(await database.db('cluster_keys').where({ cluster_id: clusterId }).first()).toBeUndefined();
  });

  it('rolls a failed create back: FAILED, what it bought released, the reason says so', async () => {
    const { cloud, flow, service } = setUp({ playbook: () => failedPlay });
    const clusterId = await service.create(caller('gw-cloud'), spec(2));
    await flow.run({ clusterId, action: 'create' });
    let c = await get(clusterId);
    expect(c.state).toBe('FAILED');
    expect(c.stateReason).toMatch(/configure failed at task "install slurm".*no package slurmd; rolling back$/);
    expect(cloud.liveOf(clusterId)).toHaveLength(2);
    expect(await queued(clusterId)).toContain('rollback');

    await flow.run({ clusterId, action: 'rollback' });
    c = await get(clusterId);
    expect(c.state).toBe('FAILED');
    expect(c.stateReason).toMatch(/no package slurmd; rolled back: everything it bought is released$/);
    expect(c.nodes.every((n) => n.state === 'RELEASED')).toBe(true);
    expect(cloud.liveOf(clusterId)).toEqual([]);
    expect(cloud.clusterReleases).toEqual([clusterId]);
    // Run again (a retried queue job): nothing changes.
    await flow.run({ clusterId, action: 'rollback' });
    expect((await get(clusterId)).stateReason).toBe(c.stateReason);
  });

  it('keeps what a failed create bought when keepOnFailure=true, and says how to release it', async () => {
    const { cloud, flow, service } = setUp({ playbook: () => failedPlay });
    const clusterId = await service.create(caller('gw-cloud'), spec(1, { keepOnFailure: 'true' }));
    await flow.run({ clusterId, action: 'create' });
    const c = await get(clusterId);
    expect(c.state).toBe('FAILED');
    expect(c.stateReason).toContain('kept for inspection (keepOnFailure=true): delete the cluster to release it');
    expect(cloud.liveOf(clusterId)).toHaveLength(1);
    expect(await queued(clusterId)).not.toContain('rollback');
    // The sweeper leaves it alone: the operator asked to keep it.
    expect(await setUpSweepOnly(cloud)).toEqual([]);
    await service.delete(caller('gw-cloud'), clusterId);
    await flow.run({ clusterId, action: 'delete' });
    expect(cloud.liveOf(clusterId)).toEqual([]);
  });

  it('grows the pool on a scale beyond it, after a quota pre-flight, and shrinks it again', async () => {
    const { cloud, flow, service } = setUp();
    const clusterId = await service.create(caller('gw-cloud'), spec(1));
    await flow.run({ clusterId, action: 'create' });
    await expect(service.scale(caller('gw-cloud'), clusterId, 9)).rejects.toMatchObject({ fieldErrors: [{ field: 'workerCount', message: expect.stringContaining('left') }] });
    expect((await get(clusterId)).nodes).toHaveLength(1);

    await service.scale(caller('gw-cloud'), clusterId, 3);
    expect((await get(clusterId)).nodes.map((n) => n.state)).toEqual(['CONFIGURED', 'REQUESTED', 'REQUESTED']);
    await flow.run({ clusterId, action: 'scale', workerCount: 3 });
    let c = await get(clusterId);
    expect(c.state).toBe('READY');
    expect(c.nodes.map((n) => n.state)).toEqual(['CONFIGURED', 'CONFIGURED', 'CONFIGURED']);
    expect(cloud.liveOf(clusterId)).toHaveLength(3);

    await service.scale(caller('gw-cloud'), clusterId, 1);
    await flow.run({ clusterId, action: 'scale', workerCount: 1 });
    c = await get(clusterId);
    expect(c.nodes.map((n) => n.state)).toEqual(['CONFIGURED', 'RELEASED', 'RELEASED']);
    expect(cloud.liveOf(clusterId)).toHaveLength(1);
    await service.delete(caller('gw-cloud'), clusterId);
    await flow.run({ clusterId, action: 'delete' });
  });
});

describe('the orphan sweeper', () => {
  it('releases what only dead or unknown clusters own, reports in dry-run, and replaces lost nodes', async () => {
    const { cloud, flow, service, sweeper } = setUp();
    const live = await service.create(caller('gw-sweep'), spec(2));
    await flow.run({ clusterId: live, action: 'create' });
    const dead = await service.create(caller('gw-sweep'), spec(1));
    await flow.run({ clusterId: dead, action: 'create' });
    await service.delete(caller('gw-sweep'), dead);
    await flow.run({ clusterId: dead, action: 'delete' });
    // Leaks: an instance of the TERMINATED cluster still running (a release that was lost), and one
    // of a cluster this database never heard of (a create recorded elsewhere, or crashed before).
    cloud.instances.set('i-leak', { nodeId: randomUUID(), clusterId: dead, address: '198.51.100.90', key: '', live: true });
    cloud.instances.set('i-stranger', { nodeId: randomUUID(), clusterId: randomUUID(), address: '198.51.100.91', key: '', live: true });

    const dry = await sweeper(true).sweep();
    expect(dry.map((f) => [f.resource.providerResourceId, f.action]).sort()).toEqual([['i-leak', 'would release'], ['i-stranger', 'would release']]);
    expect(cloud.instances.get('i-leak')?.live).toBe(true);

    const findings = await sweeper().sweep();
    expect(findings.map((f) => [f.resource.providerResourceId, f.action, f.reason]).sort()).toEqual([
      ['i-leak', 'released', 'cluster burst is TERMINATED'],
      ['i-stranger', 'released', expect.stringMatching(/^cluster \S+ is unknown to this database$/)],
    ]);
    expect(cloud.liveOf(live)).toHaveLength(2);
    expect(await events(dead)).toContainEqual(expect.stringMatching(/^sweep: orphan sweep: released instance i-leak in moon-east-1/));

    // A spot interruption: the live cluster's worker is gone.
    const [, worker] = (await get(live)).nodes;
    cloud.terminate(worker.providerResourceId ?? '');
    const lost = await sweeper().sweep();
    expect(lost.map((f) => [f.resource.nodeId, f.action])).toEqual([[worker.nodeId, 'marked lost']]);
    let c = await get(live);
    expect(c.state).toBe('DEGRADED');
    expect(c.nodes.map((n) => n.state)).toEqual(['CONFIGURED', 'FAILED']);
    expect(await queued(live)).toContain('repair');

    await flow.run({ clusterId: live, action: 'repair' });
    c = await get(live);
    expect(c.state).toBe('READY');
    expect(c.nodes.map((n) => n.state)).toEqual(['CONFIGURED', 'CONFIGURED']);
    expect(c.nodes[1].providerResourceId).not.toBe(worker.providerResourceId);
    expect(cloud.liveOf(live)).toHaveLength(2);
    expect(await sweeper().sweep()).toEqual([]);
    await service.delete(caller('gw-sweep'), live);
    await flow.run({ clusterId: live, action: 'delete' });
  });
});

/** A sweep over this cloud alone (what the keepOnFailure test needs). */
async function setUpSweepOnly(cloud: FakeCloud) {
  const providers = providerRegistry().register('EC2', cloud);
  return new OrphanSweeper({ db: database.db, clusters, queue, providers, log, intervalMs: 60_000, dryRun: false, defaultScopes: {} }).sweep();
}
