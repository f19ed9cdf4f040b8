// An OpenStack cluster end to end, through the Thrift API against the service as a process: the
// service's OpenStack client talks to the real test cloud (scripts/openstack-test-cloud: Keystone,
// Glance, Nova with the fake driver, Heat). A fake server cannot run anything, so each one of our
// clusters is given a test host (test/support/openstack/serverHosts.ts: its own namespace, address
// and sshd, accepting only the key of the server's Nova key pair), whose address the service reads
// from the server's metadata (OPENSTACK_ADDRESS_METADATA_KEY). The Slurm kind configures the hosts
// over SSH; a job runs there; the cluster scales out (a fourth server); delete deletes every server
// and the key pair; a cluster made from one Heat stack comes and goes with its stack; the orphan
// sweeper deletes a server tagged for a cluster this database does not know.
import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { connectClients, type ServiceClients } from '../../src/client/connect';
import { keyPairName } from '../../src/providers/naming';
import { OpenStackClient, type NovaServer } from '../../src/providers/openstack/client/index';
import { META_CLUSTER, META_GATEWAY, META_MEMBER, META_NODE, stackName } from '../../src/providers/openstack/metadata';
import { base, ms } from '../../src/rpc/wire';
import { clusterStory } from '../support/clusterStory';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { requireTestCloud, TEST_CLOUDS_YAML, testCloudConfig } from '../support/openstack/realCloud';
import { endOpenStackRun, startServerHosts, testCloudClusterSpec, type ServerHosts } from '../support/openstack/serverHosts';
import { freePort, startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { authz, TEST_SECRET } from '../support/tokens';
import { until } from '../support/until';

jest.setTimeout(20 * 60_000);

const ROOT = path.resolve(__dirname, '../..');
const HELPER = path.join(ROOT, 'scripts/test-ssh-host');
const CLOUD = 'test-demo';
const ADDRESS_KEY = 'metascheduler_test_address';
const GATEWAY = 'gw-openstack';
const { JobState } = base;
const END = new Set([JobState.COMPLETE, JobState.FAILED, JobState.CANCELED]);

describe('an OpenStack cluster on the test cloud, whose servers are test hosts', () => {
  let database: TestDatabase;
  let nova: OpenStackClient;
  let hosts: ServerHosts;
  let service: ServiceProcess | undefined;
  let clients: ServiceClients | undefined;
  let token: base.AuthzToken;
  let clusterId = '';
  const clusterIds: string[] = [];

  const api = (): ServiceClients => {
    if (!clients) throw new Error('service not started');
    return clients;
  };
  const cluster = () => api().cluster.getCluster(token, clusterId);
  const story = (): Promise<string> => clusterStory(api(), token, clusterId);
  const settled = (what: string, want: ms.ClusterState) => until(what, 600_000, async () => {
    const c = await cluster();
    if (c.state === ms.ClusterState.FAILED && want !== ms.ClusterState.FAILED) throw new Error(`cluster FAILED: ${c.stateReason}\n${await story()}`);
    return c.state === want ? c : undefined;
  }, 1000);
  /** The cluster's servers Nova still holds. */
  const liveServers = async (): Promise<NovaServer[]> =>
    (await nova.nova.listServers({ metadata: { [META_CLUSTER]: clusterId } })).filter((s) => s.status !== 'DELETED');
  const create = async (name: string, workers: number, extra: Array<[string, string]> = []): Promise<void> => {
    clusterId = await api().cluster.createCluster(token, testCloudClusterSpec(name, workers, CLOUD, extra));
    clusterIds.push(clusterId);
    hosts.track(clusterId);
  };
  const runJob = async (name: string): Promise<base.JobModel> => {
    const handle = await api().job.submitJob(token, new ms.JobSpec({
      jobName: name, parallelism: base.ApplicationParallelismType.SERIAL, command: ['/bin/sh', '-c', 'echo "ran on $(hostname)"'], clusterId,
    }));
    return until(`job ${name} to end`, 180_000, async () => {
      const model = await api().job.getJob(token, handle.jobId);
      const last = model.jobStatuses?.at(-1)?.jobState;
      return last !== undefined && END.has(last) ? model : undefined;
    });
  };
  /** Each node at the address its server was given, on the server it was given. */
  const expectNodesOnServers = (c: ms.Cluster, servers: readonly NovaServer[]): void => {
    const byId = new Map(servers.map((s) => [s.id, s]));
    for (const node of c.nodes) {
      const server = byId.get(node.providerResourceId ?? '');
      expect(server).toBeDefined();
      expect(node.address).toBe(server?.metadata?.[ADDRESS_KEY]);
      expect(node.address).toMatch(/^10\.213\.7\.\d+$/);
      expect(server?.metadata?.[META_NODE]).toBe(node.nodeId);
    }
    expect(new Set(c.nodes.map((n) => n.providerResourceId)).size).toBe(c.nodes.length);
  };

  beforeAll(async () => {
    await requireTestCloud();
    nova = new OpenStackClient(testCloudConfig(CLOUD));
    database = await createTestDatabase({ migrate: false });
    const dataDir = mkdtempSync(path.join(tmpdir(), 'ms-openstack-'));
    hosts = startServerHosts({
      client: nova, addressKey: ADDRESS_KEY, bridge: 'msbr7', net: '10.213.7', lastOctets: [31, 32, 33, 34, 35, 36, 37, 38],
      namePrefix: 'mso', keyDir: dataDir,
    });
    const port = await freePort();
    token = await authz(GATEWAY, 'operator');
    service = await startServiceProcess({
      DATABASE_URL: database.url, DATA_DIR: dataDir, THRIFT_PORT: String(port), AUTH_HS256_SECRET: TEST_SECRET,
      MONITOR_INTERVAL_MS: '500', LOG_LEVEL: 'info', SWEEP_INTERVAL_MS: '4000',
      OS_CLIENT_CONFIG_FILE: TEST_CLOUDS_YAML, OPENSTACK_CLOUD: CLOUD, OPENSTACK_POLL_INTERVAL_MS: '300', OPENSTACK_ADDRESS_METADATA_KEY: ADDRESS_KEY,
    });
    clients = await connectClients({ host: '127.0.0.1', port });
  }, 180_000);

  afterAll(() => endOpenStackRun({ clients, token, clusterId, service, nova, clusterIds, hosts, database }), 600_000);

  it('buys 3 servers with the cluster\'s key pair, configures Slurm on their hosts over SSH, and runs a job there', async () => {
    await create('stack3', 3);
    const ready = await settled('READY', ms.ClusterState.READY);
    const servers = await liveServers();
    expect(servers).toHaveLength(3);
    expect(ready.nodes.map((n) => ms.NodeState[n.state])).toEqual(['CONFIGURED', 'CONFIGURED', 'CONFIGURED']);
    expectNodesOnServers(ready, servers);
    for (const server of servers) {
      expect(server.status).toBe('ACTIVE');
      expect(server.key_name).toBe(keyPairName(clusterId));
      expect(server.metadata).toMatchObject({ [META_CLUSTER]: clusterId, [META_GATEWAY]: GATEWAY });
    }
    expect(await nova.nova.getKeyPair(keyPairName(clusterId))).toBeDefined();
    expect(hosts.booted.size).toBe(3);
    expect(await story()).toMatch(/SSH answers on 3 node/);

    const model = await runJob('where');
    expect(model.jobStatuses?.map((s) => JobState[s.jobState])).toEqual(['SUBMITTED', 'QUEUED', 'ACTIVE', 'COMPLETE']);
    const names = ready.nodes.map((n) => `ran on ${hosts.hostName(n.address)}\n`);
    expect(names).toContain(model.stdOut);
  });

  it('scales out by buying a fourth server, configured into the running cluster', async () => {
    await api().cluster.scaleCluster(token, clusterId, 4);
    const c = await settled('READY with 4 workers', ms.ClusterState.READY);
    expect(c.nodes.map((n) => ms.NodeState[n.state])).toEqual(['CONFIGURED', 'CONFIGURED', 'CONFIGURED', 'CONFIGURED']);
    const servers = await liveServers();
    expect(servers).toHaveLength(4);
    expectNodesOnServers(c, servers);
    const sinfo = spawnSync(HELPER, ['exec', hosts.hostName(c.nodes[0].address), 'sinfo', '-h', '-N', '-o', '%N %t'], { env: hosts.helperEnv, encoding: 'utf8' });
    expect(sinfo.stdout.trim().split('\n')).toHaveLength(4);
  });

  it('deletes the cluster: every server deleted, the key pair deleted, the hosts down', async () => {
    await api().cluster.deleteCluster(token, clusterId);
    const c = await settled('TERMINATED', ms.ClusterState.TERMINATED);
    expect(c.nodes.every((n) => n.state === ms.NodeState.RELEASED)).toBe(true);
    expect(await liveServers()).toEqual([]);
    expect(await nova.nova.getKeyPair(keyPairName(clusterId))).toBeUndefined();
    expect(await story()).toMatch(/key pair metascheduler-[0-9a-f-]+ deleted/);
    await until('the hosts to go down', 30_000, async () => (hosts.booted.size === 0 ? true : undefined));
  });

  it('builds a cluster from one Heat stack (template=true), runs a job there, and deletes the stack', async () => {
    await create('heated', 2, [['template', 'true']]);
    const ready = await settled('READY from a stack', ms.ClusterState.READY);
    const stack = await nova.heat.getStack(stackName(clusterId));
    expect(stack?.stack_status).toBe('CREATE_COMPLETE');
    const servers = await liveServers();
    expect(servers).toHaveLength(2);
    expect(servers.map((s) => s.metadata?.[META_MEMBER]).sort()).toEqual(['0', '1']);
    expectNodesOnServers(ready, servers);
    expect(ready.nodes.map((n) => ms.NodeState[n.state])).toEqual(['CONFIGURED', 'CONFIGURED']);
    expect(await story()).toMatch(/CREATE_COMPLETE/);
    const model = await runJob('in-stack');
    expect(ready.nodes.map((n) => `ran on ${hosts.hostName(n.address)}\n`)).toContain(model.stdOut);

    await api().cluster.deleteCluster(token, clusterId);
    await settled('TERMINATED', ms.ClusterState.TERMINATED);
    const after = await nova.heat.getStack(stackName(clusterId));
    expect(after === undefined || after.stack_status === 'DELETE_COMPLETE').toBe(true);
    expect(await liveServers()).toEqual([]);
    expect(await nova.nova.getKeyPair(keyPairName(clusterId))).toBeUndefined();
    await until('the hosts to go down', 30_000, async () => (hosts.booted.size === 0 ? true : undefined));
  });

  it('the orphan sweeper deletes a server tagged for a cluster this database does not know', async () => {
    const flavor = await nova.nova.findFlavor('m1.tiny');
    const image = await nova.glance.findImage('tiny-raw');
    if (!flavor || !image) throw new Error('the test cloud has no flavor m1.tiny or image tiny-raw: is scripts/openstack-test-cloud up complete?');
    const stranger = randomUUID();
    clusterIds.push(stranger);
    const stray = await nova.nova.createServer({
      name: 'ms-stray', flavorRef: flavor.id, imageRef: image.id, networks: 'none', metadata: { [META_CLUSTER]: stranger },
    });
    // The sweeper says what it did once Nova answers 404 for the server: wait for the line too.
    const released = new RegExp(`orphan sweep: released server ${stray.id} in ${CLOUD}: cluster ${stranger} is unknown to this database`);
    await until('the sweeper to delete the stray server and say so', 120_000, async () =>
      (released.test(service?.output() ?? '') ? true : undefined), 500);
    const after = await nova.nova.getServer(stray.id);
    expect(after === undefined || after.status === 'DELETED').toBe(true);
    expect(hosts.problems).toEqual([]);
  });
});
