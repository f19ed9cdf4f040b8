// Crashes at each step of an EC2 cluster's create, scale and delete: the service (a process, its
// SDK talking to the AWS double) is SIGKILLed right after the double carried out a call the
// service had not yet seen the answer to (ImportKeyPair, RunInstances, TerminateInstances), or in
// the middle of the configure playbook, and started again on the same database. After each
// restart the cluster ends READY (or TERMINATED), no node was ever bought twice, and the double
// holds nothing that no live cluster owns.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { connectClients, type ServiceClients } from '../../src/client/connect';
import { base, ms } from '../../src/rpc/wire';
import type { AwsDouble } from '../support/aws/double';
import { clusterStory } from '../support/clusterStory';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { endServiceRun, startInstanceHosts, type InstanceHosts } from '../support/instanceHosts';
import { freePort, startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { authz, TEST_SECRET } from '../support/tokens';
import { until } from '../support/until';

jest.setTimeout(30 * 60_000);


describe('an EC2 cluster through a SIGKILL of the service at each step', () => {
  let database: TestDatabase;
  let hosts: InstanceHosts;
  let double: AwsDouble;
  let service: ServiceProcess | undefined;
  let clients: ServiceClients | undefined;
  let token: base.AuthzToken;
  let clusterId = '';
  let env: Record<string, string>;
  const kills: string[] = [];

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
  const kill = async (when: string): Promise<void> => {
    clients?.close();
    clients = undefined;
    service?.child.kill('SIGKILL');
    if (service) await service.exited;
    kills.push(when);
  };
  const cluster = () => api().cluster.getCluster(token, clusterId);
  const story = (): Promise<string> => clusterStory(api(), token, clusterId);
  const settled = (what: string, want: ms.ClusterState) => until(what, 600_000, async () => {
    const c = await cluster();
    if (c.state === ms.ClusterState.FAILED) throw new Error(`cluster FAILED: ${c.stateReason}\n${await story()}`);
    return c.state === want ? c : undefined;
  }, 1000);
  /** Kills the service once the double has carried out the next matching call, then starts it again. */
  const killAfter = async (action: string, trigger: () => Promise<unknown>): Promise<void> => {
    const held = double.hold(action, { after: true });
    let arrived = false;
    void held.arrived.then(() => { arrived = true; });
    await trigger();
    // A cluster that FAILED never makes the call: say why instead of waiting for it.
    await until(`the service to call ${action}`, 300_000, async () => {
      if (arrived) return true;
      const c = clusterId ? await cluster() : undefined;
      if (c?.state === ms.ClusterState.FAILED) throw new Error(`cluster FAILED before ${action}: ${c.stateReason}\n${await story()}`);
      return undefined;
    }, 200);
    await kill(`after ${action}`);
    held.release();
    await start();
  };
  /** Every node bought at most once: per node tag, the instances ever launched. */
  const launchesPerNode = (): Map<string, number> => {
    const counts = new Map<string, number>();
    for (const i of double.instances()) if (i.nodeTag) counts.set(i.nodeTag, (counts.get(i.nodeTag) ?? 0) + 1);
    return counts;
  };
  const liveInstances = () => double.instances().filter((i) => i.state !== 'terminated');

  beforeAll(async () => {
    database = await createTestDatabase({ migrate: false });
    const dataDir = mkdtempSync(path.join(tmpdir(), 'ms-ec2-crash-'));
    hosts = await startInstanceHosts({ bridge: 'msbr6', net: '10.213.6', lastOctets: [41, 42, 43, 44], namePrefix: 'msk', keyDir: dataDir });
    double = hosts.double;
    token = await authz('gw-crash', 'operator');
    // The same DATA_DIR (and so the same secrets key) across restarts, as a restarted host would have.
    env = {
      DATABASE_URL: database.url, DATA_DIR: dataDir, AUTH_HS256_SECRET: TEST_SECRET, MONITOR_INTERVAL_MS: '500',
      LOG_LEVEL: 'info', EC2_POLL_INTERVAL_MS: '200', ...double.env,
    };
    await start();
  });

  afterAll(async () => {
    try {
      await endServiceRun(clients, token, clusterId, service);
    } finally {
      await hosts?.close();
      await database?.drop();
    }
  });

  it('create: killed after ImportKeyPair, after RunInstances and during the configure playbook, it still ends READY', async () => {
    await killAfter('ImportKeyPair', async () => {
      clusterId = await api().cluster.createCluster(token, new ms.ClusterSpec({
        name: 'crashy', kind: ms.ClusterKind.SLURM, provider: ms.ProviderType.EC2, workerCount: 1,
        providerOptions: new Map([['imageId', 'ami-0abcdef1234567890'], ['instanceTypes', 't3.small'], ['subnetIds', 'subnet-0a1b2c3d'], ['sshUser', 'root']]),
        clusterOptions: new Map([['slurm_min_job_age', '10']]),
      }));
    });
    await killAfter('RunInstances', async () => undefined);
    // Mid-playbook: the configure run started on the one bought instance.
    await until('the configure playbook to start', 300_000, async () => ((await story()).includes('configure: slurm.yml started') ? true : undefined), 250);
    await kill('during the configure playbook');
    await start();

    const ready = await settled('READY', ms.ClusterState.READY);
    expect(ready.nodes.map((n) => ms.NodeState[n.state])).toEqual(['CONFIGURED']);
    expect([...launchesPerNode().values()]).toEqual([1]);
    expect(liveInstances().map((i) => i.instanceId)).toEqual([ready.nodes[0].providerResourceId]);
    expect(double.keyPairs().map((k) => k.keyName)).toEqual([`metascheduler-${clusterId}`]);
    expect(kills).toHaveLength(3);
  });

  it('scale: killed after the new node\'s RunInstances, it ends READY with two workers, none bought twice', async () => {
    await killAfter('RunInstances', () => api().cluster.scaleCluster(token, clusterId, 2));
    const ready = await settled('READY with 2', ms.ClusterState.READY);
    expect(ready.nodes.map((n) => ms.NodeState[n.state])).toEqual(['CONFIGURED', 'CONFIGURED']);
    expect([...launchesPerNode().values()]).toEqual([1, 1]);
    expect(liveInstances()).toHaveLength(2);
  });

  it('delete: killed after TerminateInstances, it ends TERMINATED with nothing left in the double', async () => {
    await killAfter('TerminateInstances', () => api().cluster.deleteCluster(token, clusterId));
    const c = await settled('TERMINATED', ms.ClusterState.TERMINATED);
    expect(c.nodes.every((n) => n.state === ms.NodeState.RELEASED)).toBe(true);
    await until('the double to finish terminating', 60_000, async () => (liveInstances().length === 0 ? true : undefined));
    expect(double.keyPairs()).toEqual([]);
    expect([...launchesPerNode().values()]).toEqual([1, 1]);
    expect(hosts.booted.size).toBe(0);
  });
});
