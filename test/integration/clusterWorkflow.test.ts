// The cluster workflow on a real Postgres with a stand-in Ansible: a provider and a kind registered
// in a few lines run create -> READY -> scale -> delete through the unchanged workflow; what it
// refuses before any playbook runs; errors no retry can fix end the cluster FAILED.
import { randomUUID } from 'node:crypto';
import type { AnsibleRunner, PlaybookResult, PlaybookRun } from '../../src/ansible/runner';
import { CLUSTER_CAPABILITIES } from '../../src/domain/capabilities';
import { InvalidRequestError } from '../../src/domain/errors';
import type { Cluster, ClusterNode, ClusterSpec } from '../../src/domain/types';
import type { ClusterKindDriver } from '../../src/kinds/kind';
import { defaultKinds, kindRegistry, type KindRegistry } from '../../src/kinds/registry';
import { ProviderError, type Provider } from '../../src/providers/provider';
import { StaticProvider } from '../../src/providers/static/staticProvider';
import { defaultProviders, providerRegistry, type ProviderRegistry } from '../../src/providers/registry';
import { createLogger } from '../../src/log';
import type { ThisMachineProbe } from '../../src/net/thisMachine';
import { ApplicationStore } from '../../src/store/applicationStore';
import { ClusterStore } from '../../src/store/clusterStore';
import { JobStore } from '../../src/store/jobStore';
import { QueueStore } from '../../src/store/queueStore';
import type { ClusterAccess } from '../../src/workflows/clusterAccess';
import { ClusterWorkflow } from '../../src/workflows/clusterWorkflow';
import { WorkQueue } from '../../src/workflows/workQueue';
import { createTestDatabase, type TestDatabase } from '../support/database';

let database: TestDatabase;
const applications = new ApplicationStore();
const clusters = new ClusterStore(applications);

beforeAll(async () => {
  database = await createTestDatabase();
  // READY queues the cluster's monitor: the queue's schema must be there.
  await new WorkQueue({ connectionString: database.url, db: database.db, queue: new QueueStore(), log: createLogger('silent'), concurrency: 1 }).migrate();
});
afterAll(async () => {
  await database.drop();
});

/** A resolver where rebind.example now leads to this machine. */
const probe: ThisMachineProbe = {
  resolve: async (name) => (name === 'rebind.example' ? ['127.0.0.1'] : ['203.0.113.5']),
  ownNames: () => ['service-host'],
  ownAddresses: () => ['127.0.0.1'],
};

const access: ClusterAccess = {
  scheduler: () => { throw new Error('no scheduler in this test'); },
  verify: async () => ({ failures: [], capacity: new Map() }),
  sshPrivateKey: async () => undefined,
};

async function cluster(gatewayId: string, addresses: string[], kinds: Pick<ClusterSpec, 'kind' | 'provider'> = { kind: 'SLURM', provider: 'STATIC' }): Promise<string> {
  const clusterId = randomUUID();
  const spec: ClusterSpec = { name: 'c', ...kinds, hosts: addresses.map((address) => ({ address })) };
  await database.db.transaction((tx) => clusters.insert(tx, {
    clusterId, gatewayId, userName: 'u', spec, now: Date.now(),
    nodes: addresses.map((address, i) => ({
      nodeId: randomUUID(), address, state: i > 1 ? 'RELEASED' : 'REQUESTED', roles: i === 0 ? ['controller', 'worker'] : ['worker'],
    })),
  }));
  return clusterId;
}

const ok: PlaybookResult = { status: 'successful', rc: 0, failures: [], hostStats: {}, changed: 0, durationMs: 1 };

function workflow(
  ansible: AnsibleRunner, localClusterGateways: '*' | string[],
  drivers: { kinds: KindRegistry; providers: ProviderRegistry } = { kinds: defaultKinds({ slurm: { log: createLogger('silent') }, mesos: { log: createLogger('silent') } }), providers: defaultProviders() },
): ClusterWorkflow {
  return new ClusterWorkflow({
    ...drivers, db: database.db, applications, clusters, jobs: new JobStore({ outbox: false }), queue: new QueueStore(), ansible, access,
    log: createLogger('silent'), playbookTimeoutMs: 60_000, localClusterGateways, thisMachine: probe, jobRoot: '/var/lib/metascheduler/jobs',
  });
}

describe('ClusterWorkflow with drivers registered by a test', () => {
  it('runs create -> READY -> scale out and in -> delete through a fake provider and a fake kind', async () => {
    // A provider that "buys" nodes (an address per node id, idempotently) and a kind with its own
    // playbooks: a few lines each, registered under names the workflow has never heard of.
    const bought = new Map<string, string>();
    const released: string[] = [];
    const provider: Provider = {
      type: 'EC2', buysNodes: false, validate: () => [], plan: () => [], checkQuota: async () => ({ needed: {}, errors: [] }),
      acquire: async (_c, nodes) => nodes.map((n) => {
        if (!bought.has(n.nodeId)) bought.set(n.nodeId, `10.99.0.${bought.size + 1}`);
        return { nodeId: n.nodeId, address: bought.get(n.nodeId) as string, providerResourceId: `i-${n.nodeId.slice(0, 8)}` };
      }),
      describe: async () => [],
      release: async (_c, nodes) => nodes.map((n) => { released.push(n.nodeId); return { nodeId: n.nodeId, proof: `terminated i-${n.nodeId.slice(0, 8)}` }; }),
      listOwned: async () => [],
    };
    const kind: ClusterKindDriver = {
      kind: 'MESOS_MARATHON', capabilities: CLUSTER_CAPABILITIES.MESOS_MARATHON,
      playbooks: { configure: 'fake.yml', teardown: 'fake_teardown.yml', application: 'fake_app.yml' },
      validate: () => [],
      inventory: (c: Cluster) => ({ hosts: c.nodes.filter((n) => n.state !== 'RELEASED').map((n) => ({ name: n.address, connection: 'ssh' as const })), groups: {} }),
      leavingInventory: (_c: Cluster, leaving: readonly ClusterNode[]) => ({ hosts: leaving.map((n) => ({ name: n.address, connection: 'ssh' as const })), groups: {} }),
      extraVars: () => ({ fake_kind: true }),
      drainVars: (leaving: readonly ClusterNode[]) => ({ fake_drain: leaving.map((n) => n.address) }),
      verify: async (c: Cluster) => ({ failures: [], capacity: new Map(c.nodes.map((n) => [n.nodeId, { cpus: 4, memoryMb: 1024, nativeName: n.address }])) }),
      scheduler: () => { throw new Error('no jobs in this test'); },
    };
    const drivers = { kinds: kindRegistry().register('MESOS_MARATHON', kind), providers: providerRegistry().register('EC2', provider) };
    const runs: PlaybookRun[] = [];
    const ansible: AnsibleRunner = { run: async (run) => { runs.push(run); return ok; } };
    const access: ClusterAccess = { scheduler: () => kind.scheduler({} as Cluster, {} as never), verify: (c) => kind.verify(c, {} as never), sshPrivateKey: async () => undefined };
    const flow = new ClusterWorkflow({
      ...drivers, db: database.db, applications, clusters, jobs: new JobStore({ outbox: false }), queue: new QueueStore(), ansible, access,
      log: createLogger('silent'), playbookTimeoutMs: 60_000, localClusterGateways: [], thisMachine: probe, jobRoot: '/var/lib/metascheduler/jobs',
    });
    const clusterId = await cluster('gw-fake', ['pending-0', 'pending-1', 'pending-2'], { kind: 'MESOS_MARATHON', provider: 'EC2' });

    await flow.run({ clusterId, action: 'create' });
    let c = await clusters.getById(database.db, clusterId);
    expect(c?.state).toBe('READY');
    expect(c?.nodes.map((n) => [n.address, n.state])).toEqual([['10.99.0.1', 'CONFIGURED'], ['10.99.0.2', 'CONFIGURED'], ['pending-2', 'RELEASED']]);
    expect(runs.map((r) => r.playbook)).toEqual(['fake.yml']);
    expect(runs[0].extraVars).toMatchObject({ fake_kind: true, ms_cluster_id: clusterId, ms_job_user: expect.stringMatching(/^ms-gw-fake-/) });

    await database.db.transaction((tx) => clusters.transition(tx, clusterId, 'SCALING', 'test', Date.now()));
    await flow.run({ clusterId, action: 'scale', workerCount: 3 });
    c = await clusters.getById(database.db, clusterId);
    expect(c?.state).toBe('READY');
    expect(c?.nodes.map((n) => [n.address, n.state])).toEqual([['10.99.0.1', 'CONFIGURED'], ['10.99.0.2', 'CONFIGURED'], ['10.99.0.3', 'CONFIGURED']]);

    await database.db.transaction((tx) => clusters.transition(tx, clusterId, 'SCALING', 'test', Date.now()));
    runs.length = 0;
    await flow.run({ clusterId, action: 'scale', workerCount: 1 });
    c = await clusters.getById(database.db, clusterId);
    expect(c?.state).toBe('READY');
    expect(c?.nodes.map((n) => n.state)).toEqual(['CONFIGURED', 'RELEASED', 'RELEASED']);
    // one configure run without them that drains them first, then the leaving ones torn down
    expect(runs.map((r) => [r.playbook, r.inventory.hosts.map((h) => h.name)])).toEqual([
      ['fake.yml', ['10.99.0.1']], ['fake_teardown.yml', ['10.99.0.2', '10.99.0.3']],
    ]);
    expect(runs[0].extraVars).toMatchObject({ fake_drain: ['10.99.0.2', '10.99.0.3'] });
    expect(released).toHaveLength(2);

    await database.db.transaction((tx) => clusters.transition(tx, clusterId, 'TEARING_DOWN', 'test', Date.now()));
    await flow.run({ clusterId, action: 'delete' });
    c = await clusters.getById(database.db, clusterId);
    expect(c?.state).toBe('TERMINATED');
    expect(runs.at(-1)?.playbook).toBe('fake_teardown.yml');
    expect(new Set(released).size).toBe(3);
    const events = await clusters.events(database.db, clusterId, 0, 1000);
    expect(events.filter((e) => e.kind === 'provider' && e.message.startsWith('released: terminated i-'))).toHaveLength(5);
  });
});

describe('ClusterWorkflow refusals', () => {
  it('checks again before a playbook runs: a host that now resolves to this machine fails the build, no play runs', async () => {
    const runs: PlaybookRun[] = [];
    const ansible: AnsibleRunner = { run: async (run) => { runs.push(run); throw new Error('must not run'); } };
    const clusterId = await cluster('gw-outside', ['rebind.example']);
    await workflow(ansible, ['gw-other']).run({ clusterId, action: 'create' });
    const failed = await clusters.getById(database.db, clusterId);
    expect(failed?.state).toBe('FAILED');
    expect(failed?.failures[0]).toMatchObject({ step: 'authorize', host: 'rebind.example' });
    expect(failed?.stateReason).toContain('LOCAL_CLUSTER_GATEWAYS');
    expect(runs).toEqual([]);
  });

  it('passes a listed gateway through to the playbook, with its account in the variables', async () => {
    const runs: PlaybookRun[] = [];
    const ansible: AnsibleRunner = { run: async (run) => { runs.push(run); return ok; } };
    const clusterId = await cluster('gw-local', ['localhost']);
    await workflow(ansible, ['gw-local']).run({ clusterId, action: 'create' });
    expect((await clusters.getById(database.db, clusterId))?.state).toBe('READY');
    expect(runs[0].extraVars).toMatchObject({ ms_job_user: expect.stringMatching(/^ms-gw-local-[0-9a-f]{8}$/), ms_job_uid: expect.any(Number) });
  });

  it('ends the cluster FAILED when the bridge refuses the run itself, instead of leaving it to be retried', async () => {
    const ansible: AnsibleRunner = { run: async () => { throw InvalidRequestError.of('inventory.hosts[0].name', 'must be a host name or address'); } };
    const clusterId = await cluster('gw-any', ['203.0.113.5']);
    await expect(workflow(ansible, '*').run({ clusterId, action: 'create' })).resolves.toBeUndefined();
    const failed = await clusters.getById(database.db, clusterId);
    expect(failed?.state).toBe('FAILED');
    expect(failed?.stateReason).toContain('inventory.hosts[0].name');
  });
});

describe('ClusterWorkflow decisions on failure', () => {
  /** STATIC, but acquiring as the test says. */
  const providerThat = (acquire: Provider['acquire']): ProviderRegistry =>
    providerRegistry().register('STATIC', Object.assign(new StaticProvider(), { acquire }));
  const drivers = (providers: ProviderRegistry) => ({ kinds: defaultKinds({ slurm: { log: createLogger('silent') }, mesos: { log: createLogger('silent') } }), providers });
  const noAnsible: AnsibleRunner = { run: async () => { throw new Error('no playbook should run'); } };

  it('ends the cluster FAILED at once when the provider says quota (no retry can help)', async () => {
    const clusterId = await cluster('gw-q', ['203.0.113.5']);
    const flow = workflow(noAnsible, '*', drivers(providerThat(async () => { throw new ProviderError('quota', 'instances: 0 of 2 left'); })));
    await expect(flow.run({ clusterId, action: 'create' })).resolves.toBeUndefined();
    const c = await clusters.getById(database.db, clusterId);
    expect(c?.state).toBe('FAILED');
    expect(c?.stateReason).toBe('provision failed: quota: instances: 0 of 2 left');
  });

  it('leaves a throttled provider to the queue: the run throws, the cluster waits in PROVISIONING', async () => {
    const clusterId = await cluster('gw-t', ['203.0.113.5']);
    const flow = workflow(noAnsible, '*', drivers(providerThat(async () => { throw new ProviderError('throttled', 'RequestLimitExceeded'); })));
    await expect(flow.run({ clusterId, action: 'create' })).rejects.toThrow('RequestLimitExceeded');
    expect((await clusters.getById(database.db, clusterId))?.state).toBe('PROVISIONING');
  });

  it('ends the cluster FAILED with the reason once its run is given up', async () => {
    const clusterId = await cluster('gw-g', ['203.0.113.5']);
    await workflow(noAnsible, '*').giveUp({ clusterId, action: 'create' }, new Error('controller unreachable'));
    const c = await clusters.getById(database.db, clusterId);
    expect(c?.state).toBe('FAILED');
    expect(c?.stateReason).toContain('given up after repeated failures: controller unreachable');
  });

  it('lets a delete that came in during a build win: the build stops without failing the cluster', async () => {
    const clusterId = await cluster('gw-d', ['203.0.113.5']);
    const ansible: AnsibleRunner = {
      run: async () => {
        // The delete call lands while the playbook runs.
        await database.db.transaction((tx) => clusters.transition(tx, clusterId, 'TEARING_DOWN', 'delete requested', Date.now()));
        return ok;
      },
    };
    await expect(workflow(ansible, '*').run({ clusterId, action: 'create' })).resolves.toBeUndefined();
    expect((await clusters.getById(database.db, clusterId))?.state).toBe('TEARING_DOWN');
  });
});
