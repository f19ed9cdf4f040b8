// Crashes in the middle of an OpenStack cluster's create: the service (a process, talking to the
// real test cloud) is SIGKILLed as soon as Nova lists the cluster's first server (server mode), or
// as soon as Heat lists its stack (template mode), and started again on the same database. The
// rerun finds what the first run made by its metadata or the stack's name: the cluster ends READY,
// no node was ever given a second server, no second stack was made, and delete leaves nothing.
// The servers are test hosts, as in openstackCluster.test.ts (test/support/openstack/serverHosts.ts).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { connectClients, type ServiceClients } from '../../src/client/connect';
import { keyPairName } from '../../src/providers/naming';
import { OpenStackClient, type HeatStack, type NovaServer } from '../../src/providers/openstack/client/index';
import { META_CLUSTER, stackName } from '../../src/providers/openstack/metadata';
import { base, ms } from '../../src/rpc/wire';
import { clusterStory } from '../support/clusterStory';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { requireTestCloud, TEST_CLOUDS_YAML, testCloudConfig } from '../support/openstack/realCloud';
import { endOpenStackRun, startServerHosts, testCloudClusterSpec, type ServerHosts } from '../support/openstack/serverHosts';
import { freePort, startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { authz, TEST_SECRET } from '../support/tokens';
import { until } from '../support/until';

jest.setTimeout(30 * 60_000);

const CLOUD = 'test-demo';
const ADDRESS_KEY = 'metascheduler_test_address';

describe('an OpenStack cluster through a SIGKILL of the service mid-create', () => {
  let database: TestDatabase;
  let nova: OpenStackClient;
  let hosts: ServerHosts;
  let service: ServiceProcess | undefined;
  let clients: ServiceClients | undefined;
  let token: base.AuthzToken;
  let clusterId = '';
  let env: Record<string, string>;
  const clusterIds: string[] = [];

  const api = (): ServiceClients => {
    if (!clients) throw new Error('service not started');
    return clients;
  };
  const start = async (): Promise<void> => {
    const port = await freePort();
    service = await startServiceProcess({ ...env, THRIFT_PORT: String(port) });
    clients = await connectClients({ host: '127.0.0.1', port });
  };
  /** SIGKILL: no shutdown hook runs, the queue's locks and claims are left as they were. */
  const kill = async (): Promise<void> => {
    clients?.close();
    clients = undefined;
    service?.child.kill('SIGKILL');
    if (service) await service.exited;
  };
  const cluster = () => api().cluster.getCluster(token, clusterId);
  const story = (): Promise<string> => clusterStory(api(), token, clusterId);
  const settled = (what: string, want: ms.ClusterState) => until(what, 600_000, async () => {
    const c = await cluster();
    if (c.state === ms.ClusterState.FAILED) throw new Error(`cluster FAILED: ${c.stateReason}\n${await story()}`);
    return c.state === want ? c : undefined;
  }, 1000);
  const liveServers = async (): Promise<NovaServer[]> =>
    (await nova.nova.listServers({ metadata: { [META_CLUSTER]: clusterId } })).filter((s) => s.status !== 'DELETED');
  /** Every server ever seen with the cluster's metadata, deleted ones too. */
  const serversEverSeen = (): string[] => [...hosts.seen].filter(([, s]) => s.clusterId === clusterId).map(([id]) => id).sort();
  const create = async (name: string, workers: number, extra: Array<[string, string]> = []): Promise<void> => {
    clusterId = await api().cluster.createCluster(token, testCloudClusterSpec(name, workers, CLOUD, extra));
    clusterIds.push(clusterId);
    hosts.track(clusterId);
  };
  /** Polls the cloud until `probe` finds something, failing at once if the cluster FAILED or got READY first. */
  const beforeReady = <T>(what: string, probe: () => Promise<T | undefined>): Promise<T> => until(what, 300_000, async () => {
    const found = await probe();
    if (found !== undefined) return found;
    const c = await cluster();
    if (c.state === ms.ClusterState.FAILED || c.state === ms.ClusterState.READY) {
      throw new Error(`cluster ${ms.ClusterState[c.state]} before ${what}: ${c.stateReason}\n${await story()}`);
    }
    return undefined;
  }, 100);
  const deleteAndCheck = async (): Promise<void> => {
    await api().cluster.deleteCluster(token, clusterId);
    const c = await settled('TERMINATED', ms.ClusterState.TERMINATED);
    expect(c.nodes.every((n) => n.state === ms.NodeState.RELEASED)).toBe(true);
    expect(await liveServers()).toEqual([]);
    expect(await nova.nova.getKeyPair(keyPairName(clusterId))).toBeUndefined();
    await until('the hosts to go down', 30_000, async () => (hosts.booted.size === 0 ? true : undefined));
  };

  beforeAll(async () => {
    await requireTestCloud();
    nova = new OpenStackClient(testCloudConfig(CLOUD));
    database = await createTestDatabase({ migrate: false });
    const dataDir = mkdtempSync(path.join(tmpdir(), 'ms-openstack-crash-'));
    hosts = startServerHosts({
      client: nova, addressKey: ADDRESS_KEY, bridge: 'msbr8', net: '10.213.8', lastOctets: [41, 42, 43, 44, 45, 46],
      namePrefix: 'msoc', keyDir: dataDir,
    });
    token = await authz('gw-openstack-crash', 'operator');
    // The same DATA_DIR (and so the same secrets key) across restarts, as a restarted host would have.
    // The sweeper only reports: the test cloud's project is shared with the other OpenStack test
    // files, whose clusters this database does not know.
    env = {
      DATABASE_URL: database.url, DATA_DIR: dataDir, AUTH_HS256_SECRET: TEST_SECRET, MONITOR_INTERVAL_MS: '500', LOG_LEVEL: 'info',
      SWEEP_DRY_RUN: 'true', OS_CLIENT_CONFIG_FILE: TEST_CLOUDS_YAML, OPENSTACK_CLOUD: CLOUD, OPENSTACK_POLL_INTERVAL_MS: '300',
      OPENSTACK_ADDRESS_METADATA_KEY: ADDRESS_KEY,
    };
    await start();
  }, 180_000);

  afterAll(() => endOpenStackRun({ clients, token, clusterId, service, nova, clusterIds, hosts, database }), 600_000);

  it('server mode: killed once Nova lists the first server, it ends READY with one server per node, none bought twice', async () => {
    await create('crashy', 3);
    const first = await beforeReady('Nova to list the cluster\'s first server', async () => {
      const servers = await liveServers();
      return servers.length > 0 ? servers : undefined;
    });
    await kill();
    await start();

    const ready = await settled('READY', ms.ClusterState.READY);
    expect(ready.nodes.map((n) => ms.NodeState[n.state])).toEqual(['CONFIGURED', 'CONFIGURED', 'CONFIGURED']);
    const live = (await liveServers()).map((s) => s.id).sort();
    const recorded = ready.nodes.map((n) => n.providerResourceId ?? '').sort();
    expect(live).toHaveLength(3);
    expect(live).toEqual(recorded);
    // What the first run made was kept, and nothing else was ever made.
    for (const server of first) expect(live).toContain(server.id);
    expect(serversEverSeen()).toEqual(live);
    const events = await story();
    expect(events).toMatch(/[1-3] of 3 node\(s\) have a server from an earlier run: kept/);
    expect(events).not.toMatch(/spare server/);
  });

  it('server mode: delete leaves no server, no key pair and no host', async () => {
    await deleteAndCheck();
  });

  it('template mode: killed once Heat lists the stack, the rerun finds that stack instead of making another', async () => {
    await create('crashstack', 2, [['template', 'true']]);
    const seen = await beforeReady('Heat to list the cluster\'s stack', async (): Promise<HeatStack | undefined> =>
      (await nova.heat.listStacks({ name: stackName(clusterId) }))[0]);
    await kill();
    await start();

    const ready = await settled('READY', ms.ClusterState.READY);
    expect(ready.nodes.map((n) => ms.NodeState[n.state])).toEqual(['CONFIGURED', 'CONFIGURED']);
    const stacks = await nova.heat.listStacks({ name: stackName(clusterId) });
    expect(stacks.map((s) => [s.id, s.stack_status])).toEqual([[seen.id, 'CREATE_COMPLETE']]);
    const live = (await liveServers()).map((s) => s.id).sort();
    expect(live).toEqual(ready.nodes.map((n) => n.providerResourceId ?? '').sort());
    expect(serversEverSeen()).toEqual(live);
    // Only the first run asked Heat for a stack.
    expect((await story()).match(/stack metascheduler-[0-9a-f-]+: creating 2 server\(s\)/g)).toHaveLength(1);

    await deleteAndCheck();
    const after = await nova.heat.getStack(stackName(clusterId));
    expect(after === undefined || after.stack_status === 'DELETE_COMPLETE').toBe(true);
  });
});
