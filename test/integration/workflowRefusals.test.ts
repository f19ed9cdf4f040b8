// The cluster workflow on a real Postgres with a stand-in Ansible: what it refuses before any
// playbook runs, and errors no retry can fix ending the cluster FAILED instead of being retried.
import { randomUUID } from 'node:crypto';
import type { AnsibleRunner, PlaybookRun } from '../../src/ansible/runner';
import { InvalidRequestError } from '../../src/domain/errors';
import type { ClusterSpec } from '../../src/domain/types';
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

async function cluster(gatewayId: string, addresses: string[]): Promise<string> {
  const clusterId = randomUUID();
  const spec: ClusterSpec = { name: 'c', kind: 'SLURM', provider: 'STATIC', hosts: addresses.map((address) => ({ address })) };
  await database.db.transaction((tx) => clusters.insert(tx, {
    clusterId, gatewayId, userName: 'u', spec, now: Date.now(),
    nodes: addresses.map((address, i) => ({ nodeId: randomUUID(), address, state: 'REQUESTED', roles: i === 0 ? ['controller', 'worker'] : ['worker'] })),
  }));
  return clusterId;
}

function workflow(ansible: AnsibleRunner, localClusterGateways: '*' | string[]): ClusterWorkflow {
  return new ClusterWorkflow({
    db: database.db, applications, clusters, jobs: new JobStore({ outbox: false }), queue: new QueueStore(), ansible, access,
    log: createLogger('silent'), playbookTimeoutMs: 60_000, localClusterGateways, thisMachine: probe, jobRoot: '/var/lib/metascheduler/jobs',
  });
}

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
    const ansible: AnsibleRunner = {
      run: async (run) => {
        runs.push(run);
        return { status: 'successful', rc: 0, failures: [], hostStats: {}, changed: 0, durationMs: 1 };
      },
    };
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
