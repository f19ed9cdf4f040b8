// The EC2 provider (instance mode) against the local AWS double, through the real SDK clients
// configured the way the service configures them: from AWS_ENDPOINT_URL and the environment.
import { randomUUID } from 'node:crypto';
import { RunInstancesCommand } from '@aws-sdk/client-ec2';
import type { Cluster, ClusterNode, ClusterSpec } from '../../src/domain/types';
import { Ec2Provider } from '../../src/providers/ec2/ec2Provider';
import { clientTokenFor, keyPairName, TAG_CLUSTER, TAG_GATEWAY, TAG_NODE } from '../../src/providers/ec2/tags';
import { ProviderError, type OwnedResource } from '../../src/providers/provider';
import type { StackDriver } from '../../src/providers/ec2/stackDriver';
import type { AwsDouble, AwsDoubleOptions } from '../support/aws/double';
import { startSdkHarness, stopSdkHarness, type SdkHarness } from '../support/aws/sdkHarness';
import { until } from '../support/until';

const IMAGE = 'ami-0123456789abcdef0';

function specOf(providerOptions: Record<string, string>, workerCount: number): ClusterSpec {
  return { name: 'lab', kind: 'SLURM', provider: 'EC2', workerCount, providerOptions: { imageId: IMAGE, instanceTypes: 't3.micro', ...providerOptions } };
}

function clusterOf(spec: ClusterSpec, provider: Ec2Provider): Cluster {
  const nodes: ClusterNode[] = provider.plan(spec).map((planned) => ({ ...planned, nodeId: randomUUID() }));
  return {
    clusterId: randomUUID(), gatewayId: 'gw-test', name: spec.name, kind: spec.kind, provider: 'EC2', state: 'PROVISIONING', spec, nodes,
    failures: [], createdAt: Date.now(), updatedAt: Date.now(),
  };
}

interface Harness extends SdkHarness {
  provider: Ec2Provider;
}

let harness: Harness | undefined;

async function start(options: AwsDoubleOptions = {}, waitTimeoutMs = 20_000): Promise<Harness> {
  // What the service does in production: the SDK finds the endpoint and credentials in the environment.
  const base = await startSdkHarness(options, 'test@ec2Provider');
  harness = { ...base, provider: new Ec2Provider({ defaultRegion: base.double.env.AWS_REGION, pollIntervalMs: 50, waitTimeoutMs, clients: () => base.clients }) };
  return harness;
}

afterEach(async () => {
  await stopSdkHarness(harness);
  harness = undefined;
});

const callsOf = (double: AwsDouble, action: string) => double.calls().filter((c) => c.action === action);
const errorOf = (promise: Promise<unknown>): Promise<unknown> => promise.then(() => { throw new Error('expected a failure'); }, (e: unknown) => e);

describe('Ec2Provider: quota pre-flight', () => {
  it('refuses a cluster the vCPU quota cannot hold, naming L-1216C47A and the numbers, and buys nothing', async () => {
    const { double, provider, clients } = await start({ quotas: { 'L-1216C47A': 8 } });
    // Someone else's instance already holds 2 of the 8 vCPUs.
    await clients.ec2.send(new RunInstancesCommand({ ImageId: IMAGE, InstanceType: 'c5.large', MinCount: 1, MaxCount: 1 }));
    const runsBefore = callsOf(double, 'RunInstances').length;

    const check = await provider.checkQuota(specOf({}, 4));
    expect(check.needed).toEqual({ instances: 4, vCPUs: 8 });
    expect(check.available).toEqual({ vCPUs: 6 });
    expect(check.errors).toEqual([{
      field: 'spec.workerCount',
      message: 'needs 8 vCPUs of t3.micro but quota L-1216C47A (Running On-Demand Standard instances) is 8 vCPUs with 2 running: 6 available',
    }]);
    expect(callsOf(double, 'RunInstances')).toHaveLength(runsBefore);
    expect(double.keyPairs()).toEqual([]);

    const fits = await provider.checkQuota(specOf({}, 3));
    expect(fits.errors).toEqual([]);
    // A scale asks only for the extra workers: the cluster's own instances are among the running.
    expect((await provider.checkQuota(specOf({}, 3), 4)).errors[0]?.message).toMatch(/^needs 8 vCPUs/);
  });

  it('checks spot against the spot quota', async () => {
    const { provider } = await start({ quotas: { 'L-1216C47A': 100, 'L-34B43A08': 2 } });
    const check = await provider.checkQuota(specOf({ spot: 'true' }, 2));
    expect(check.errors[0]?.message).toMatch(/quota L-34B43A08 .* is 2 vCPUs with 0 running: 2 available/);
  });

  it('does not refuse when Service Quotas will not answer, and says nothing is known', async () => {
    const { double, provider } = await start();
    double.fail({ action: 'GetServiceQuota', code: 'AccessDeniedException', message: 'User is not authorized to perform servicequotas:GetServiceQuota', times: Infinity });
    const check = await provider.checkQuota(specOf({}, 2));
    expect(check).toEqual({ needed: { instances: 2, vCPUs: 4 }, errors: [] });
  });

  it('names an instance type EC2 does not have', async () => {
    const { provider } = await start();
    const check = await provider.checkQuota(specOf({ instanceTypes: 'x9.huge' }, 1));
    expect(check.errors).toHaveLength(1);
    expect(check.errors[0].field).toBe('spec.providerOptions.instanceTypes');
    expect(check.errors[0].message).toMatch(/x9\.huge/);
  });
});

describe('Ec2Provider: acquire', () => {
  it('buys one tagged instance per node with the cluster key pair and returns their addresses', async () => {
    const publicAddresses = ['198.51.100.10', '198.51.100.11', '198.51.100.12'];
    const { double, provider, context } = await start({ publicAddresses, bootMs: 100 });
    const cluster = clusterOf(specOf({ subnetIds: 'subnet-0a1b2c3d', securityGroupIds: 'sg-0a1b2c3d' }, 3), provider);

    const acquired = await provider.acquire(cluster, cluster.nodes, context);

    const instances = double.instances();
    expect(instances).toHaveLength(3);
    expect(acquired.map((a) => a.nodeId)).toEqual(cluster.nodes.map((n) => n.nodeId));
    for (const [i, node] of cluster.nodes.entries()) {
      const instance = instances.find((x) => x.tags[TAG_NODE] === node.nodeId);
      expect(instance).toBeDefined();
      expect(instance?.state).toBe('running');
      expect(instance?.tags).toMatchObject({ [TAG_CLUSTER]: cluster.clusterId, [TAG_GATEWAY]: 'gw-test', Name: `ms-lab-${node.nodeId.split('-')[0]}` });
      expect(instance?.keyName).toBe(keyPairName(cluster.clusterId));
      expect(instance?.subnetId).toBe('subnet-0a1b2c3d');
      expect(acquired[i]).toEqual({ nodeId: node.nodeId, address: instance?.publicIp, providerResourceId: instance?.instanceId });
    }
    expect(acquired.map((a) => a.address).sort()).toEqual(publicAddresses);
    // Only the public half of the key travels, with the cluster's tags.
    expect(double.keyPairs()).toEqual([expect.objectContaining({
      keyName: keyPairName(cluster.clusterId), publicKey: context.sshPublicKey.split(' ').slice(0, 2).join(' '),
      tags: expect.objectContaining({ [TAG_CLUSTER]: cluster.clusterId }),
    })]);
    const runs = callsOf(double, 'RunInstances');
    const tokens = runs.map((c) => c.params.ClientToken).sort();
    expect(tokens).toEqual(cluster.nodes.map((n) => clientTokenFor(cluster.clusterId, n.nodeId, 0)).sort());
    for (const run of runs) {
      expect(run.params).toMatchObject({
        MinCount: '1', MaxCount: '1', 'NetworkInterface.1.AssociatePublicIpAddress': 'true', 'NetworkInterface.1.SecurityGroupId.1': 'sg-0a1b2c3d',
        'TagSpecification.1.ResourceType': 'instance', 'TagSpecification.2.ResourceType': 'volume', 'MetadataOptions.HttpTokens': 'required',
      });
    }
  });

  it('uses the private address when publicIp=false', async () => {
    const { double, provider, context } = await start({ addresses: ['10.0.0.5'], publicAddresses: ['198.51.100.5'] });
    const cluster = clusterOf(specOf({ publicIp: 'false', subnetIds: 'subnet-0a1b2c3d' }, 1), provider);
    const [node] = await provider.acquire(cluster, cluster.nodes, context);
    expect(node.address).toBe('10.0.0.5');
    expect(callsOf(double, 'RunInstances')[0].params.SubnetId).toBe('subnet-0a1b2c3d');
  });

  it('run again (after a crash) buys nothing new and returns the same instances', async () => {
    const { double, provider, context } = await start({ bootMs: 1_000 });
    const cluster = clusterOf(specOf({}, 3), provider);
    // The first run dies while waiting for the instances to run.
    const controller = new AbortController();
    const firstRun = errorOf(provider.acquire(cluster, cluster.nodes, { ...context, signal: controller.signal }));
    await until('three instances bought', 10_000, async () => (double.instances().length === 3 ? true : undefined), 20);
    controller.abort();
    expect(await firstRun).not.toBeInstanceOf(ProviderError);

    const second = await provider.acquire(cluster, cluster.nodes, context);
    const third = await provider.acquire(cluster, cluster.nodes, context);
    expect(double.instances()).toHaveLength(3);
    expect(callsOf(double, 'RunInstances')).toHaveLength(3);
    expect(third).toEqual(second);
    expect(new Set(second.map((a) => a.providerResourceId))).toEqual(new Set(double.instances().map((i) => i.instanceId)));
    expect(double.keyPairs()).toHaveLength(1);
  });

  it('buys 100 nodes with several RunInstances in flight at once, never more than 16', async () => {
    const { double, provider, context } = await start({ latencyMs: 40 });
    const cluster = clusterOf(specOf({}, 100), provider);
    let mostInFlight = 0;
    const acquiring = provider.acquire(cluster, cluster.nodes, context);
    let done = false;
    void acquiring.finally(() => { done = true; });
    while (!done) {
      mostInFlight = Math.max(mostInFlight, callsOf(double, 'RunInstances').filter((c) => c.status === 0).length);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const acquired = await acquiring;
    expect(acquired).toHaveLength(100);
    expect(new Set(acquired.map((a) => a.address)).size).toBe(100);
    expect(mostInFlight).toBeGreaterThan(1);
    expect(mostInFlight).toBeLessThanOrEqual(16);
    // Waiting asks about all pending instances in one call per poll, not one call per instance.
    expect(callsOf(double, 'DescribeInstances').length).toBeLessThan(100);
  });

  it('moves to the next instance type when EC2 has no capacity for the first, and says so once', async () => {
    const { double, provider, context, notes } = await start();
    double.fail({ action: 'RunInstances', code: 'InsufficientInstanceCapacity', times: Infinity, match: (p) => p.InstanceType === 't3.micro' });
    const cluster = clusterOf(specOf({ instanceTypes: 't3.micro,t3.small' }, 2), provider);

    await provider.acquire(cluster, cluster.nodes, context);

    expect(double.instances().map((i) => i.instanceType)).toEqual(['t3.small', 't3.small']);
    expect(notes.filter((n) => n.startsWith('no on-demand capacity'))).toEqual(['no on-demand capacity for t3.micro (InsufficientInstanceCapacity): trying t3.small']);
    // The second request of a node carries its own token, so EC2's idempotency check lets it through.
    const smallTokens = callsOf(double, 'RunInstances').filter((c) => c.params.InstanceType === 't3.small').map((c) => c.params.ClientToken);
    expect(smallTokens.sort()).toEqual(cluster.nodes.map((n) => clientTokenFor(cluster.clusterId, n.nodeId, 1)).sort());
  });

  it('moves to the next subnet when no type has capacity in the first', async () => {
    const { double, provider, context, notes } = await start();
    double.fail({ action: 'RunInstances', code: 'InsufficientInstanceCapacity', times: Infinity, match: (p) => p['NetworkInterface.1.SubnetId'] === 'subnet-0000000a' });
    const cluster = clusterOf(specOf({ instanceTypes: 't3.micro,t3.small', subnetIds: 'subnet-0000000a,subnet-0000000b' }, 1), provider);
    await provider.acquire(cluster, cluster.nodes, context);
    expect(double.instances().map((i) => [i.instanceType, i.subnetId])).toEqual([['t3.micro', 'subnet-0000000b']]);
    expect(notes).toContain('no on-demand capacity for t3.small in subnet-0000000a (InsufficientInstanceCapacity): trying t3.micro in subnet-0000000b');
  });

  it('fails with a capacity ProviderError carrying the AWS code when nothing has capacity', async () => {
    const { double, provider, context } = await start();
    double.fail({ action: 'RunInstances', code: 'InsufficientInstanceCapacity', message: 'We currently do not have sufficient capacity', times: Infinity });
    const cluster = clusterOf(specOf({ instanceTypes: 't3.micro,t3.small' }, 1), provider);
    const error = await errorOf(provider.acquire(cluster, cluster.nodes, context));
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ category: 'capacity', code: 'InsufficientInstanceCapacity' });
    expect((error as Error).message).toMatch(/tried t3\.micro, t3\.small/);
    expect(double.instances()).toEqual([]);
  });

  it('asks for spot first and falls back to on-demand when spot has no capacity, saying so', async () => {
    const { double, provider, context, notes } = await start();
    double.fail({ action: 'RunInstances', code: 'InsufficientInstanceCapacity', times: Infinity, match: (p) => p['InstanceMarketOptions.MarketType'] === 'spot' });
    const cluster = clusterOf(specOf({ spot: 'true' }, 1), provider);
    await provider.acquire(cluster, cluster.nodes, context);
    expect(double.instances().map((i) => i.spot)).toEqual([false]);
    expect(notes).toContain('spot capacity unavailable for t3.micro (InsufficientInstanceCapacity): on-demand instead');
  });

  it('buys spot when spot is there', async () => {
    const { double, provider, context } = await start();
    const cluster = clusterOf(specOf({ spot: 'true' }, 2), provider);
    await provider.acquire(cluster, cluster.nodes, context);
    expect(double.instances().map((i) => i.spot)).toEqual([true, true]);
  });

  it('rides out throttling: the SDK retries, then the provider backs off and tries again', async () => {
    const { double, provider, context, notes } = await start();
    // More RequestLimitExceeded answers than the SDK's own three attempts absorb.
    double.fail({ action: 'RunInstances', code: 'RequestLimitExceeded', message: 'Request limit exceeded.', times: 4 });
    const cluster = clusterOf(specOf({}, 1), provider);
    const [node] = await provider.acquire(cluster, cluster.nodes, context);
    expect(node.providerResourceId).toBe(double.instances()[0].instanceId);
    expect(callsOf(double, 'RunInstances').filter((c) => c.status === 503)).toHaveLength(4);
    expect(notes.some((n) => /throttled \(RequestLimitExceeded: Request limit exceeded\.\); retrying in \d+ ms/.test(n))).toBe(true);
  });

  it('classifies what no retry cures: a vCPU limit is quota, an IAM refusal is auth', async () => {
    const { double, provider, context } = await start();
    double.fail({ action: 'RunInstances', code: 'VcpuLimitExceeded', message: 'You have requested more vCPU capacity than your current vCPU limit of 4 allows' });
    const cluster = clusterOf(specOf({}, 1), provider);
    expect(await errorOf(provider.acquire(cluster, cluster.nodes, context))).toMatchObject({ category: 'quota', code: 'VcpuLimitExceeded' });

    double.fail({ action: 'ImportKeyPair', code: 'UnauthorizedOperation', message: 'You are not authorized to perform this operation.', status: 403 });
    const other = clusterOf(specOf({}, 1), provider);
    const denied = await errorOf(provider.acquire(other, other.nodes, context));
    expect(denied).toMatchObject({ category: 'auth', code: 'UnauthorizedOperation', message: 'You are not authorized to perform this operation.' });
  });

  it('fails with the state reason when an instance ends while starting, and a rerun buys it anew', async () => {
    const { double, provider, context } = await start({ bootMs: 1_500 });
    const cluster = clusterOf(specOf({}, 1), provider);
    const acquiring = errorOf(provider.acquire(cluster, cluster.nodes, context));
    const first = await until('an instance bought', 10_000, async () => double.instances()[0], 20);
    double.interrupt(first.instanceId);
    const error = await acquiring;
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ category: 'capacity', code: 'Server.SpotInstanceTermination' });
    expect((error as Error).message).toContain(first.instanceId);

    await until('the interrupted instance terminated', 10_000, async () => (double.instances()[0].state === 'terminated' ? true : undefined), 20);
    const [again] = await provider.acquire(cluster, cluster.nodes, context);
    expect(again.providerResourceId).not.toBe(first.instanceId);
    expect(double.instances().filter((i) => i.state !== 'terminated').map((i) => i.instanceId)).toEqual([again.providerResourceId]);
  });
});

describe('Ec2Provider: describe, release and the sweeper', () => {
  it('describes an interrupted instance as gone and the others as running', async () => {
    const { double, provider, context } = await start();
    const cluster = clusterOf(specOf({}, 2), provider);
    const acquired = await provider.acquire(cluster, cluster.nodes, context);
    double.interrupt(acquired[1].providerResourceId as string);
    await until('the interruption done', 10_000, async () => (double.instances().some((i) => i.state === 'terminated') ? true : undefined), 20);

    const described = await provider.describe(cluster);
    expect(described).toEqual([
      { nodeId: cluster.nodes[0].nodeId, state: 'running', address: acquired[0].address, providerResourceId: acquired[0].providerResourceId },
      { nodeId: cluster.nodes[1].nodeId, state: 'gone', providerResourceId: acquired[1].providerResourceId },
    ]);
  });

  it('release terminates the nodes instances, waits, and proves it per node', async () => {
    const { double, provider, context } = await start();
    const cluster = clusterOf(specOf({}, 3), provider);
    const acquired = await provider.acquire(cluster, cluster.nodes.slice(0, 2), context);
    // The first node was recorded with its instance; the second was bought but never recorded.
    const recorded: ClusterNode[] = [
      { ...cluster.nodes[0], providerResourceId: acquired[0].providerResourceId },
      cluster.nodes[1],
      cluster.nodes[2],
    ];

    const proofs = await provider.release(cluster, recorded, context);

    expect(proofs.map((p) => p.nodeId)).toEqual(cluster.nodes.map((n) => n.nodeId));
    for (const [i, proof] of proofs.slice(0, 2).entries()) {
      expect(proof.providerResourceId).toBe(acquired[i].providerResourceId);
      expect(proof.proof).toMatch(new RegExp(`^instance ${acquired[i].providerResourceId} terminated at \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z \\(was running\\)$`));
    }
    expect(proofs[2]).toEqual({ nodeId: cluster.nodes[2].nodeId, providerResourceId: undefined, proof: 'nothing was bought' });
    expect(double.instances().map((i) => i.state)).toEqual(['terminated', 'terminated']);

    // Idempotent: again, the instances are found terminated.
    const again = await provider.release(cluster, recorded, context);
    expect(again[0].proof).toMatch(/terminated at .* \(was terminated\)$/);
    expect(callsOf(double, 'TerminateInstances')).toHaveLength(1);
  });

  it('releaseCluster ends what is left of the cluster and deletes its key pair', async () => {
    const { double, provider, context } = await start();
    const cluster = clusterOf(specOf({}, 2), provider);
    await provider.acquire(cluster, cluster.nodes, context);
    await provider.release(cluster, cluster.nodes.slice(0, 1), context);

    const proofs = await provider.releaseCluster(cluster, context);
    expect(proofs).toHaveLength(2);
    expect(proofs[0]).toMatch(/^instance i-[0-9a-f]+ terminated at .* \(was running\)$/);
    expect(proofs[1]).toBe(`key pair ${keyPairName(cluster.clusterId)} deleted`);
    expect(double.keyPairs()).toEqual([]);
    expect(double.instances().every((i) => i.state === 'terminated')).toBe(true);
    expect(await provider.releaseCluster(cluster, context)).toEqual([`key pair ${keyPairName(cluster.clusterId)} was not there`]);
  });

  it('listOwned finds an orphan instance and key pair by their tags; releaseOwned ends them', async () => {
    const { double, provider, clients, context } = await start();
    const cluster = clusterOf(specOf({}, 1), provider);
    await provider.acquire(cluster, cluster.nodes, context);
    // An instance a crashed run bought for a cluster the database never recorded.
    const orphanCluster = randomUUID();
    await clients.ec2.send(new RunInstancesCommand({
      ImageId: IMAGE, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1,
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: TAG_CLUSTER, Value: orphanCluster }, { Key: TAG_NODE, Value: 'node-x' }] }],
    }));
    // Not ours: no tag of ours.
    await clients.ec2.send(new RunInstancesCommand({ ImageId: IMAGE, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 }));

    const owned = await provider.listOwned(['us-east-1']);
    expect(owned.filter((o) => o.resourceType === 'instance').map((o) => o.clusterId).sort()).toEqual([cluster.clusterId, orphanCluster].sort());
    const orphan = owned.find((o) => o.clusterId === orphanCluster);
    expect(orphan).toMatchObject({ resourceType: 'instance', scope: 'us-east-1', nodeId: 'node-x', live: true });
    expect(orphan?.description).toMatch(/t3\.micro/);
    const key = owned.find((o) => o.resourceType === 'key-pair');
    expect(key).toMatchObject({ providerResourceId: keyPairName(cluster.clusterId), clusterId: cluster.clusterId, live: true });

    expect(await provider.releaseOwned(orphan!)).toMatch(/^instance i-[0-9a-f]+ terminated at .* \(was running\)$/);
    expect(await provider.releaseOwned(key!)).toBe(`key pair ${keyPairName(cluster.clusterId)} deleted`);
    const after = await provider.listOwned(['us-east-1']);
    expect(after.find((o) => o.clusterId === orphanCluster)?.live).toBe(false);
    expect(after.some((o) => o.resourceType === 'key-pair')).toBe(false);
    expect(double.instances().find((i) => i.tags[TAG_CLUSTER] === orphanCluster)?.state).toBe('terminated');
  });
});

describe('Ec2Provider: template mode', () => {
  it('hands the nodes that must exist to the stack driver, and its stacks to the sweeper', async () => {
    const { double, clients, context } = await start();
    const seen: string[][] = [];
    const stackResource: OwnedResource = { providerResourceId: 'arn:stack', resourceType: 'stack', scope: 'us-east-1', live: true, description: 'stack' };
    const stack: StackDriver = {
      acquire: async (_cluster, _options, serving) => {
        seen.push(serving.map((n) => n.nodeId));
        return serving.map((n) => ({ nodeId: n.nodeId, address: '192.0.2.1', providerResourceId: 'i-0123456789abcdef0' }));
      },
      release: async (_cluster, _options, remaining, leaving) => {
        seen.push(remaining.map((n) => n.nodeId), leaving.map((n) => n.nodeId));
        return leaving.map((n) => ({ nodeId: n.nodeId, proof: 'stack updated' }));
      },
      deleteStack: async () => ['stack deleted'],
      listStacks: async () => [stackResource],
      deleteOwnedStack: async () => 'stack deleted',
    };
    const provider = new Ec2Provider({ defaultRegion: 'us-east-1', pollIntervalMs: 50, clients: () => clients, stack });
    expect(provider.validate(specOf({ template: 'true' }, 3))).toEqual([]);
    const cluster = clusterOf(specOf({ template: 'true' }, 3), provider);
    const [running, released, requested] = cluster.nodes;
    running.state = 'RUNNING';
    released.state = 'RELEASED';
    const added: ClusterNode = { nodeId: randomUUID(), address: '', state: 'REQUESTED', roles: ['worker'] };

    await provider.acquire(cluster, [requested, added], context);
    await provider.release(cluster, [requested], context);
    expect(seen).toEqual([[running.nodeId, requested.nodeId, added.nodeId], [running.nodeId], [requested.nodeId]]);
    expect(await provider.releaseCluster(cluster, context)).toEqual(['stack deleted', `key pair ${keyPairName(cluster.clusterId)} was not there`]);
    expect((await provider.listOwned(['us-east-1'])).filter((o) => o.resourceType === 'stack')).toEqual([stackResource]);
    expect(callsOf(double, 'RunInstances')).toEqual([]);
  });
});
