// An EC2 cluster end to end, through the Thrift API against the service as a process: the real
// AWS SDK in the service talks to the local AWS double (AWS_ENDPOINT_URL), whose "instances" are
// test hosts that boot when the double says running (network namespaces with their own name,
// address and sshd, accepting only the cluster's own key pair that the service imported). The
// Slurm kind configures them over SSH; jobs run there; the cluster scales out (a new instance)
// and in (one terminated); a lost instance (spot interruption) makes the cluster DEGRADED until
// the sweeper's repair replaces it; delete terminates everything and deletes the key pair; the
// orphan sweeper terminates an instance tagged for a cluster this database does not know.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { connectClients, type ServiceClients } from '../../src/client/connect';
import { base, ms } from '../../src/rpc/wire';
import type { AwsDouble, DoubleInstance } from '../support/aws/double';
import { clusterStory } from '../support/clusterStory';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { endServiceRun, startInstanceHosts, type InstanceHosts } from '../support/instanceHosts';
import { freePort, startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { authz, TEST_SECRET } from '../support/tokens';
import { until } from '../support/until';

jest.setTimeout(20 * 60_000);

const ROOT = path.resolve(__dirname, '../..');
const HELPER = path.join(ROOT, 'scripts/test-ssh-host');
const NET = '10.213.5';
const { JobState } = base;
const END = new Set([JobState.COMPLETE, JobState.FAILED, JobState.CANCELED]);


describe('an EC2 cluster on the AWS double, whose instances are test hosts', () => {
  let database: TestDatabase;
  let hosts: InstanceHosts;
  let double: AwsDouble;
  let service: ServiceProcess | undefined;
  let clients: ServiceClients | undefined;
  let token: base.AuthzToken;
  let clusterId = '';
  let dataDir: string;

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
  const liveInstances = (): DoubleInstance[] => double.instances().filter((i) => i.state !== 'terminated' && i.clusterTag === clusterId);
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

  beforeAll(async () => {
    database = await createTestDatabase({ migrate: false });
    dataDir = mkdtempSync(path.join(tmpdir(), 'ms-ec2-'));
    hosts = await startInstanceHosts({ bridge: 'msbr5', net: NET, lastOctets: [31, 32, 33, 34, 35, 36], namePrefix: 'mse', keyDir: dataDir });
    double = hosts.double;
    const port = await freePort();
    token = await authz('gw-ec2', 'operator');
    service = await startServiceProcess({
      DATABASE_URL: database.url, DATA_DIR: dataDir, THRIFT_PORT: String(port), AUTH_HS256_SECRET: TEST_SECRET,
      MONITOR_INTERVAL_MS: '500', LOG_LEVEL: 'info', EC2_POLL_INTERVAL_MS: '200', SWEEP_INTERVAL_MS: '4000',
      ...double.env,
    });
    clients = await connectClients({ host: '127.0.0.1', port });
  });

  afterAll(async () => {
    try {
      await endServiceRun(clients, token, clusterId, service);
    } finally {
      await hosts?.close();
      await database?.drop();
    }
  });

  it('refuses bad providerOptions at once, naming each one, recording nothing', async () => {
    const error = await api().cluster.createCluster(token, new ms.ClusterSpec({
      name: 'bad', kind: ms.ClusterKind.SLURM, provider: ms.ProviderType.EC2,
      providerOptions: new Map([['imageId', 'not-an-ami'], ['spot', 'maybe'], ['colour', 'blue']]),
    })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(base.InvalidRequestException);
    const text = JSON.stringify(error);
    for (const field of ['providerOptions.imageId', 'providerOptions.spot', 'providerOptions.colour']) expect(text).toContain(field);
    expect(await api().cluster.listClusters(token)).toEqual([]);
    expect(double.calls().filter((c) => c.action === 'RunInstances')).toEqual([]);
  });

  it('refuses a cluster the vCPU quota cannot hold before buying anything, naming the quota and the numbers', async () => {
    const error = await api().cluster.createCluster(token, new ms.ClusterSpec({
      name: 'huge', kind: ms.ClusterKind.SLURM, provider: ms.ProviderType.EC2, workerCount: 1000,
      providerOptions: new Map([['imageId', 'ami-0abcdef1234567890'], ['instanceTypes', 'c5.xlarge'], ['subnetIds', 'subnet-0a1b2c3d'], ['sshUser', 'root']]),
    })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(base.AiravataClientException);
    expect(JSON.stringify(error)).toMatch(/L-1216C47A.*1920/);
    expect(await api().cluster.listClusters(token)).toEqual([]);
    expect(double.calls().filter((c) => c.action === 'RunInstances')).toEqual([]);
  });

  it('buys one instance with the cluster\'s key pair, configures Slurm on it over SSH, and runs a job there', async () => {
    clusterId = await api().cluster.createCluster(token, new ms.ClusterSpec({
      name: 'burst', kind: ms.ClusterKind.SLURM, provider: ms.ProviderType.EC2, workerCount: 1,
      providerOptions: new Map([
        ['imageId', 'ami-0abcdef1234567890'], ['instanceTypes', 't3.small'], ['subnetIds', 'subnet-0a1b2c3d'],
        ['securityGroupIds', 'sg-0123456789abcdef0'], ['sshUser', 'root'], ['publicIp', 'false'],
      ]),
      clusterOptions: new Map([['openmpi_tcp_networks', `${NET}.0/24`], ['slurm_min_job_age', '10']]),
    }));
    const ready = await settled('READY', ms.ClusterState.READY);
    const [instance] = liveInstances();
    expect(liveInstances()).toHaveLength(1);
    expect(ready.nodes.map((n) => [n.address, ms.NodeState[n.state], n.providerResourceId])).toEqual([[instance.privateIp, 'CONFIGURED', instance.instanceId]]);
    expect(instance.tags).toMatchObject({ 'metascheduler:cluster': clusterId, 'metascheduler:gateway': 'gw-ec2', 'metascheduler:node': ready.nodes[0].nodeId });
    expect(instance.keyName).toBe(`metascheduler-${clusterId}`);
    expect(double.keyPairs().map((k) => k.keyName)).toContain(`metascheduler-${clusterId}`);
    const events = await story();
    expect(events).toMatch(/SSH answers on 1 node/);
    const model = await runJob('where');
    expect(model.jobStatuses?.map((s) => JobState[s.jobState])).toEqual(['SUBMITTED', 'QUEUED', 'ACTIVE', 'COMPLETE']);
    expect(model.stdOut).toBe(`ran on ${hosts.hostName(instance.privateIp)}\n`);
  });

  it('scales out by buying an instance, configured into the running cluster', async () => {
    await api().cluster.scaleCluster(token, clusterId, 2);
    const c = await settled('READY with 2 workers', ms.ClusterState.READY);
    expect(c.nodes.map((n) => ms.NodeState[n.state])).toEqual(['CONFIGURED', 'CONFIGURED']);
    expect(liveInstances()).toHaveLength(2);
    const sinfo = spawnSync(HELPER, ['exec', hosts.hostName(c.nodes[0].address), 'sinfo', '-h', '-N', '-o', '%N %t'], { env: hosts.helperEnv, encoding: 'utf8' });
    expect(sinfo.stdout.trim().split('\n')).toHaveLength(2);
  });

  it('notices a lost instance (spot interruption): DEGRADED, then a new instance replaces it: READY', async () => {
    const before = await cluster();
    const lost = before.nodes[1];
    if (!lost?.providerResourceId) throw new Error('no second worker');
    double.interrupt(lost.providerResourceId);
    await settled('DEGRADED', ms.ClusterState.DEGRADED);
    const after = await settled('READY again', ms.ClusterState.READY);
    const replaced = after.nodes.find((n) => n.nodeId === lost.nodeId);
    expect(replaced && ms.NodeState[replaced.state]).toBe('CONFIGURED');
    expect(replaced?.providerResourceId).not.toBe(lost.providerResourceId);
    expect(liveInstances()).toHaveLength(2);
    expect(await story()).toMatch(new RegExp(`orphan sweep: marked lost instance ${lost.providerResourceId}`));
    expect((await runJob('after-repair')).jobStatuses?.at(-1)?.jobState).toBe(JobState.COMPLETE);
  });

  it('scales in by draining the worker and terminating its instance', async () => {
    const before = await cluster();
    const leaving = before.nodes[1];
    await api().cluster.scaleCluster(token, clusterId, 1);
    const c = await settled('READY with 1 worker', ms.ClusterState.READY);
    expect(c.nodes.map((n) => ms.NodeState[n.state])).toEqual(['CONFIGURED', 'RELEASED']);
    expect(liveInstances()).toHaveLength(1);
    expect(double.instances().find((i) => i.instanceId === leaving.providerResourceId)?.state).toBe('terminated');
    expect(await story()).toMatch(new RegExp(`released: .*instance ${leaving.providerResourceId} terminated at`));
  });

  it('deletes the cluster: every instance terminated, the key pair deleted, the proof in the events', async () => {
    await api().cluster.deleteCluster(token, clusterId);
    const c = await settled('TERMINATED', ms.ClusterState.TERMINATED);
    expect(c.nodes.every((n) => n.state === ms.NodeState.RELEASED)).toBe(true);
    expect(liveInstances()).toEqual([]);
    expect(double.keyPairs().map((k) => k.keyName)).not.toContain(`metascheduler-${clusterId}`);
    expect(await story()).toMatch(/released: .*key pair/);
    expect(hosts.booted.size).toBe(0);
  });

  it('builds a cluster from one CloudFormation stack (template=true), runs a job there, and deletes the stack', async () => {
    clusterId = await api().cluster.createCluster(token, new ms.ClusterSpec({
      name: 'stacked', kind: ms.ClusterKind.SLURM, provider: ms.ProviderType.EC2, workerCount: 1,
      providerOptions: new Map([
        ['imageId', 'ami-0abcdef1234567890'], ['instanceTypes', 't3.small'], ['subnetIds', 'subnet-0a1b2c3d'],
        ['sshUser', 'root'], ['publicIp', 'false'], ['template', 'true'],
      ]),
      clusterOptions: new Map([['slurm_min_job_age', '10']]),
    }));
    const ready = await settled('READY from a stack', ms.ClusterState.READY);
    const [stack] = double.stacks().filter((s) => s.stackName === `metascheduler-${clusterId}`);
    expect(stack?.status).toBe('CREATE_COMPLETE');
    const [instance] = liveInstances();
    expect(instance.stackName).toBe(stack.stackName);
    expect(ready.nodes.map((n) => n.providerResourceId)).toEqual([instance.instanceId]);
    expect(await story()).toMatch(/CREATE_COMPLETE/);
    expect((await runJob('in-stack')).stdOut).toBe(`ran on ${hosts.hostName(instance.privateIp)}\n`);

    await api().cluster.deleteCluster(token, clusterId);
    await settled('TERMINATED', ms.ClusterState.TERMINATED);
    expect(double.stacks().find((s) => s.stackId === stack.stackId)?.status).toBe('DELETE_COMPLETE');
    expect(liveInstances()).toEqual([]);
    expect(double.keyPairs().map((k) => k.keyName)).not.toContain(`metascheduler-${clusterId}`);
  });

  it('the orphan sweeper terminates an instance tagged for a cluster this database does not know', async () => {
    const ec2 = new EC2Client({ region: double.env.AWS_REGION, endpoint: double.url, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'not-a-secret' } });
    const stray = await ec2.send(new RunInstancesCommand({
      ImageId: 'ami-0abcdef1234567890', InstanceType: 't3.micro', MinCount: 1, MaxCount: 1,
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'metascheduler:cluster', Value: '00000000-0000-4000-8000-000000000000' }] }],
    }));
    const strayId = stray.Instances?.[0]?.InstanceId ?? '';
    await until('the sweeper to terminate the stray instance', 120_000, async () =>
      (double.instances().find((i) => i.instanceId === strayId)?.state === 'terminated' ? true : undefined), 500);
    expect(service?.output()).toMatch(new RegExp(`orphan sweep: released instance ${strayId}`));
    ec2.destroy();
  });
});
