// Template mode's stack driver against the local AWS double, through the real SDK clients configured
// the way the service configures them (AWS_ENDPOINT_URL and the environment): one CloudFormation
// stack from templates/ec2-cluster.json holds every instance of a cluster.
import { randomUUID } from 'node:crypto';
import { CreateStackCommand, DescribeStackEventsCommand } from '@aws-sdk/client-cloudformation';
import type { Cluster, ClusterNode, ClusterSpec } from '../../src/domain/types';
import { Ec2Provider } from '../../src/providers/ec2/ec2Provider';
import { ec2OptionsOf, type Ec2Options } from '../../src/providers/ec2/options';
import { CloudFormationStacks, describeEvent, logicalIdOf, stackNameOf } from '../../src/providers/ec2/stack';
import { keyPairName, TAG_CLUSTER, TAG_GATEWAY, TAG_NODE } from '../../src/providers/ec2/tags';
import { ProviderError } from '../../src/providers/provider';
import type { AwsDouble, AwsDoubleOptions } from '../support/aws/double';
import { startSdkHarness, stopSdkHarness, type SdkHarness } from '../support/aws/sdkHarness';
import { until } from '../support/until';

const IMAGE = 'ami-0123456789abcdef0';
const PRIVATE = ['10.2.0.11', '10.2.0.12', '10.2.0.13', '10.2.0.14', '10.2.0.15', '10.2.0.16', '10.2.0.17', '10.2.0.18'];
const PUBLIC = ['198.51.100.11', '198.51.100.12', '198.51.100.13', '198.51.100.14', '198.51.100.15', '198.51.100.16', '198.51.100.17', '198.51.100.18'];

function clusterOf(nodeCount: number, providerOptions: Record<string, string> = {}): { cluster: Cluster; options: Ec2Options } {
  const spec: ClusterSpec = {
    name: 'lab', kind: 'SLURM', provider: 'EC2', workerCount: nodeCount - 1,
    providerOptions: {
      imageId: IMAGE, instanceTypes: 't3.micro', subnetIds: 'subnet-0a1b2c3d', securityGroupIds: 'sg-0a1b2c3d', template: 'true', ...providerOptions,
    },
  };
  const nodes: ClusterNode[] = Array.from({ length: nodeCount }, (_, i) => ({
    nodeId: randomUUID(), address: '', state: 'REQUESTED', roles: i === 0 ? ['controller', 'worker'] : ['worker'],
  }));
  const cluster: Cluster = {
    clusterId: randomUUID(), gatewayId: 'gw-test', name: spec.name, kind: spec.kind, provider: 'EC2', state: 'PROVISIONING', spec, nodes,
    failures: [], createdAt: Date.now(), updatedAt: Date.now(),
  };
  return { cluster, options: ec2OptionsOf(spec, 'us-east-1') };
}

interface Harness extends SdkHarness {
  stacks: CloudFormationStacks;
}

let harness: Harness | undefined;

async function start(options: AwsDoubleOptions = {}): Promise<Harness> {
  const base = await startSdkHarness({ addresses: PRIVATE, publicAddresses: PUBLIC, ...options }, 'test@ec2Stack');
  harness = { ...base, stacks: new CloudFormationStacks({ clients: () => base.clients, pollIntervalMs: 20, waitTimeoutMs: 20_000 }) };
  return harness;
}

afterEach(async () => {
  await stopSdkHarness(harness);
  harness = undefined;
});

const callsOf = (double: AwsDouble, action: string) => double.calls().filter((c) => c.action === action);
const stackOf = (double: AwsDouble, cluster: Cluster) => double.stacks().filter((s) => s.stackName === stackNameOf(cluster.clusterId)).at(-1);
const instanceOfNode = (double: AwsDouble, nodeId: string, state = 'running') =>
  double.instances().filter((i) => i.tags[TAG_NODE] === nodeId && i.state === state);

async function failureOf(work: Promise<unknown>): Promise<ProviderError> {
  try {
    await work;
  } catch (error) {
    if (error instanceof ProviderError) return error;
    throw error;
  }
  throw new Error('expected a ProviderError');
}

describe('CloudFormation stacks (template mode)', () => {
  it('makes one stack holding a tagged instance per node, notes its events once each, and a second call changes nothing', async () => {
    const { double, clients, stacks, notes, context } = await start();
    const { cluster, options } = clusterOf(3);

    const acquired = await stacks.acquire(cluster, options, cluster.nodes, context);

    const stack = stackOf(double, cluster);
    expect(stack?.status).toBe('CREATE_COMPLETE');
    expect(stack?.tags).toMatchObject({ [TAG_CLUSTER]: cluster.clusterId, [TAG_GATEWAY]: 'gw-test' });
    expect(acquired.map((a) => a.nodeId)).toEqual(cluster.nodes.map((n) => n.nodeId));
    for (const [i, node] of cluster.nodes.entries()) {
      const [instance] = instanceOfNode(double, node.nodeId);
      expect(instance).toBeDefined();
      expect(instance?.tags).toMatchObject({
        [TAG_CLUSTER]: cluster.clusterId, [TAG_GATEWAY]: 'gw-test', [TAG_NODE]: node.nodeId, Name: `ms-lab-${node.nodeId}`,
        'aws:cloudformation:logical-id': logicalIdOf(node.nodeId),
      });
      expect(instance).toMatchObject({ stackName: stackNameOf(cluster.clusterId), keyName: keyPairName(cluster.clusterId), subnetId: 'subnet-0a1b2c3d', imageId: IMAGE });
      expect(acquired[i]).toEqual({ nodeId: node.nodeId, address: instance?.publicIp, providerResourceId: instance?.instanceId });
      expect(PUBLIC).toContain(acquired[i].address);
    }
    // The cluster's key pair, public half only, imported before the stack needed it.
    expect(double.keyPairs()).toEqual([expect.objectContaining({ keyName: keyPairName(cluster.clusterId), publicKey: context.sshPublicKey.split(' ').slice(0, 2).join(' ') })]);

    // Every event of the stack noted once, oldest first, in the stack's own words.
    const events = await clients.cloudFormation.send(new DescribeStackEventsCommand({ StackName: stack?.stackId }));
    const expected = (events.StackEvents ?? []).slice().reverse().map((e) => `stack: ${describeEvent(e)}`);
    expect(notes.filter((n) => n.startsWith('stack: '))).toEqual(expected);
    for (const node of cluster.nodes) expect(notes).toContain(`stack: ${logicalIdOf(node.nodeId)} CREATE_COMPLETE`);
    expect(notes).toContain(`stack: ${stackNameOf(cluster.clusterId)} CREATE_COMPLETE`);

    // The step run again finds the stack as asked: no second stack, no update, the same instances.
    const again = await stacks.acquire(cluster, options, cluster.nodes, context);
    expect(again).toEqual(acquired);
    expect(callsOf(double, 'CreateStack')).toHaveLength(1);
    expect(callsOf(double, 'UpdateStack')).toHaveLength(0);
    expect(double.stacks()).toHaveLength(1);
    expect(double.instances()).toHaveLength(3);
  });

  it('shrinks the stack to the remaining nodes: the leaving instance is terminated, the others stay as they were', async () => {
    const { double, stacks, context } = await start();
    const { cluster, options } = clusterOf(3);
    const acquired = await stacks.acquire(cluster, options, cluster.nodes, context);
    const [keep1, keep2, leaving] = cluster.nodes;

    const proofs = await stacks.release(cluster, options, [keep1, keep2], [leaving], context);

    expect(stackOf(double, cluster)?.status).toBe('UPDATE_COMPLETE');
    const leavingId = acquired[2].providerResourceId;
    expect(double.instances().find((i) => i.instanceId === leavingId)?.state).toBe('terminated');
    expect(proofs).toEqual([{ nodeId: leaving.nodeId, providerResourceId: leavingId, proof: expect.stringContaining(`instance ${leavingId} terminated`) }]);
    for (const node of [keep1, keep2]) {
      expect(instanceOfNode(double, node.nodeId).map((i) => i.instanceId)).toEqual([acquired.find((a) => a.nodeId === node.nodeId)?.providerResourceId]);
    }
    // The update kept every other parameter as the stack had it, so nothing was replaced.
    const update = callsOf(double, 'UpdateStack')[0]?.params ?? {};
    const kept = Object.keys(update).filter((k) => /^Parameters\.member\.\d+\.UsePreviousValue$/.test(k));
    expect(kept.length).toBeGreaterThan(5);
    expect(double.instances().filter((i) => i.state === 'running')).toHaveLength(2);

    // Acquiring the two again is a no-op; growing back to three adds one new instance.
    await stacks.acquire(cluster, options, [keep1, keep2], context);
    expect(callsOf(double, 'UpdateStack')).toHaveLength(1);
    const third: ClusterNode = { nodeId: randomUUID(), address: '', state: 'REQUESTED', roles: ['worker'] };
    const grown = await stacks.acquire(cluster, options, [keep1, keep2, third], context);
    expect(grown.slice(0, 2)).toEqual(acquired.slice(0, 2));
    expect(instanceOfNode(double, third.nodeId)).toHaveLength(1);
    expect(double.instances().filter((i) => i.state === 'running')).toHaveLength(3);
  });

  it('a resource that fails to create fails the call naming it and its reason; the stack rolls back and a rerun makes it anew', async () => {
    const { double, stacks, context, notes } = await start();
    const { cluster, options } = clusterOf(3);
    const victim = cluster.nodes[1];
    const reason = 'We currently do not have sufficient t3.micro capacity in the Availability Zone you requested (us-east-1a). (InsufficientInstanceCapacity)';
    double.failResource(new RegExp(`^${logicalIdOf(victim.nodeId)}$`), 'create', reason);

    const error = await failureOf(stacks.acquire(cluster, options, cluster.nodes, context));

    expect(error.category).toBe('capacity');
    expect(error.code).toBe(`${logicalIdOf(victim.nodeId)}: InsufficientInstanceCapacity`);
    expect(error.message).toContain(`${logicalIdOf(victim.nodeId)} (node ${victim.nodeId})`);
    expect(error.message).toContain('CREATE_FAILED');
    expect(error.message).toContain(reason);
    expect(error.message).toContain('ROLLBACK_COMPLETE');
    expect(stackOf(double, cluster)?.status).toBe('ROLLBACK_COMPLETE');
    expect(double.instances().filter((i) => i.state !== 'terminated')).toEqual([]);
    expect(notes).toContain(`stack: ${logicalIdOf(victim.nodeId)} CREATE_FAILED: ${reason}`);

    // The fault was used up: the rerun deletes the rolled-back stack and creates it again.
    const acquired = await stacks.acquire(cluster, options, cluster.nodes, context);
    expect(acquired).toHaveLength(3);
    expect(double.stacks().map((s) => s.status)).toEqual(['DELETE_COMPLETE', 'CREATE_COMPLETE']);
    expect(notes.some((n) => n.includes('ROLLBACK_COMPLETE, which can only be deleted'))).toBe(true);
  });

  it('a node that cannot be added rolls the update back: the call fails naming it, the old nodes keep running', async () => {
    const { double, stacks, context } = await start();
    const { cluster, options } = clusterOf(2);
    const acquired = await stacks.acquire(cluster, options, cluster.nodes, context);
    const extra: ClusterNode = { nodeId: randomUUID(), address: '', state: 'REQUESTED', roles: ['worker'] };
    double.failResource(new RegExp(`^${logicalIdOf(extra.nodeId)}$`), 'create', 'You have requested more vCPU capacity than your current vCPU limit of 2 allows (VcpuLimitExceeded)');

    const error = await failureOf(stacks.acquire(cluster, options, [...cluster.nodes, extra], context));

    expect(error.category).toBe('quota');
    expect(error.message).toContain(`${logicalIdOf(extra.nodeId)} (node ${extra.nodeId})`);
    expect(error.message).toContain('UPDATE_ROLLBACK_COMPLETE');
    expect(stackOf(double, cluster)?.status).toBe('UPDATE_ROLLBACK_COMPLETE');
    expect(double.instances().filter((i) => i.state === 'running').map((i) => i.instanceId).sort())
      .toEqual(acquired.map((a) => a.providerResourceId).sort());
  });

  it('deletes the stack and the key pair; a missing stack is already deleted', async () => {
    const { double, stacks, context } = await start();
    const { cluster, options } = clusterOf(2);
    await stacks.acquire(cluster, options, cluster.nodes, context);

    const proofs = await stacks.deleteStack(cluster, options, context);

    expect(stackOf(double, cluster)?.status).toBe('DELETE_COMPLETE');
    expect(double.instances().map((i) => i.state)).toEqual(['terminated', 'terminated']);
    expect(double.keyPairs()).toEqual([]);
    expect(proofs).toEqual([expect.stringMatching(/deleted: DELETE_COMPLETE$/), `key pair ${keyPairName(cluster.clusterId)} deleted`]);

    const again = await stacks.deleteStack(cluster, options, context);
    expect(again).toEqual([expect.stringContaining('already deleted'), `key pair ${keyPairName(cluster.clusterId)} was not there`]);
    expect(callsOf(double, 'DeleteStack')).toHaveLength(1);
  });

  it('DELETE_FAILED fails the call naming the resource that blocks it and why; deleting again finishes the job', async () => {
    const { double, stacks, context } = await start();
    const { cluster, options } = clusterOf(2);
    await stacks.acquire(cluster, options, cluster.nodes, context);
    const blocker = cluster.nodes[0];
    const reason = 'Client.UnauthorizedOperation: You are not authorized to terminate this instance (UnauthorizedOperation)';
    double.failResource(new RegExp(`^${logicalIdOf(blocker.nodeId)}$`), 'delete', reason);

    const error = await failureOf(stacks.deleteStack(cluster, options, context));

    expect(error.message).toContain(`${logicalIdOf(blocker.nodeId)} (node ${blocker.nodeId})`);
    expect(error.message).toContain(`DELETE_FAILED: ${reason}`);
    expect(error.category).toBe('auth');
    expect(error.code).toBe(`${logicalIdOf(blocker.nodeId)}: UnauthorizedOperation`);
    expect(stackOf(double, cluster)?.status).toBe('DELETE_FAILED');
    // The key pair stays while the stack does: its instance may still need it.
    expect(double.keyPairs()).toHaveLength(1);

    await stacks.deleteStack(cluster, options, context);
    expect(stackOf(double, cluster)?.status).toBe('DELETE_COMPLETE');
    expect(double.instances().every((i) => i.state === 'terminated')).toBe(true);
  });

  it('lists the stacks of ours (named and tagged) for the sweeper, whatever their state, and deletes one it found', async () => {
    const { double, clients, stacks, context } = await start();
    const { cluster, options } = clusterOf(1);
    await stacks.acquire(cluster, options, cluster.nodes, context);
    const { cluster: failed, options: failedOptions } = clusterOf(1);
    double.failResource(/.*/, 'create', 'InsufficientInstanceCapacity');
    await failureOf(stacks.acquire(failed, failedOptions, failed.nodes, context));
    // A stack named like ours but without our tag belongs to someone else.
    const body = JSON.stringify({ Resources: { Topic: { Type: 'AWS::SNS::Topic', Properties: {} } } });
    await clients.cloudFormation.send(new CreateStackCommand({ StackName: 'metascheduler-not-ours', TemplateBody: body }));
    await clients.cloudFormation.send(new CreateStackCommand({ StackName: 'someone-else', TemplateBody: body, Tags: [{ Key: TAG_CLUSTER, Value: 'x' }] }));

    const owned = await stacks.listStacks('us-east-1');

    expect(owned.map((o) => o.clusterId).sort()).toEqual([cluster.clusterId, failed.clusterId].sort());
    const orphan = owned.find((o) => o.clusterId === failed.clusterId);
    expect(orphan).toMatchObject({ resourceType: 'stack', scope: 'us-east-1', live: true, description: expect.stringContaining('ROLLBACK_COMPLETE') });
    if (orphan === undefined) throw new Error('no orphan');

    const proof = await stacks.deleteOwnedStack(orphan);

    expect(proof).toContain('DELETE_COMPLETE');
    expect(stackOf(double, failed)?.status).toBe('DELETE_COMPLETE');
    expect((await stacks.listStacks('us-east-1')).map((o) => o.clusterId)).toEqual([cluster.clusterId]);
    expect(await stacks.deleteOwnedStack(orphan)).toContain('already deleted');
  });

  it('without a subnet or security groups the stack leaves them to AWS; publicIp=false returns private addresses', async () => {
    const { double, stacks, context } = await start();
    const { cluster, options } = clusterOf(2, { subnetIds: '', securityGroupIds: '', publicIp: 'false' });

    const acquired = await stacks.acquire(cluster, options, cluster.nodes, context);

    const create = callsOf(double, 'CreateStack')[0]?.params ?? {};
    const keys = Object.entries(create).filter(([k]) => k.endsWith('.ParameterKey')).map(([, v]) => v);
    expect(keys).not.toContain('SubnetId');
    expect(keys).not.toContain('SecurityGroupIds');
    expect(create.TemplateBody).not.toContain('SubnetId');
    for (const [i, node] of cluster.nodes.entries()) {
      const [instance] = instanceOfNode(double, node.nodeId);
      expect(instance?.subnetId).toBeUndefined();
      expect(instance?.publicIp).toBeUndefined();
      expect(acquired[i].address).toBe(instance?.privateIp);
      expect(PRIVATE).toContain(acquired[i].address);
    }
  });

  it('releasing every node deletes the stack, with a proof for each node', async () => {
    const { double, stacks, context } = await start();
    const { cluster, options } = clusterOf(2);
    const acquired = await stacks.acquire(cluster, options, cluster.nodes, context);

    const proofs = await stacks.release(cluster, options, [], cluster.nodes, context);

    expect(stackOf(double, cluster)?.status).toBe('DELETE_COMPLETE');
    expect(proofs.map((p) => p.providerResourceId)).toEqual(acquired.map((a) => a.providerResourceId));
    for (const proof of proofs) expect(proof.proof).toMatch(/DELETE_COMPLETE; instance i-\w+ terminated/);
    expect(double.instances().every((i) => i.state === 'terminated')).toBe(true);
  });

  it('serves the EC2 provider in template mode: one stack for the nodes, a node released, the cluster released', async () => {
    const { double, clients, stacks, context } = await start();
    const provider = new Ec2Provider({ defaultRegion: 'us-east-1', pollIntervalMs: 20, waitTimeoutMs: 20_000, clients: () => clients, stack: stacks });
    const { cluster } = clusterOf(3);
    expect(provider.validate(cluster.spec)).toEqual([]);

    const acquired = await provider.acquire(cluster, cluster.nodes, context);
    cluster.nodes.forEach((node, i) => Object.assign(node, { state: 'RUNNING', address: acquired[i].address, providerResourceId: acquired[i].providerResourceId }));
    expect(callsOf(double, 'RunInstances')).toEqual([]);
    expect(stackOf(double, cluster)?.status).toBe('CREATE_COMPLETE');
    const owned = await provider.listOwned(['us-east-1']);
    expect(owned.filter((o) => o.resourceType === 'stack').map((o) => o.clusterId)).toEqual([cluster.clusterId]);

    const leaving = cluster.nodes[2];
    const [proof] = await provider.release(cluster, [leaving], context);
    leaving.state = 'RELEASED';
    expect(proof).toMatchObject({ nodeId: leaving.nodeId, proof: expect.stringContaining(`instance ${leaving.providerResourceId} terminated`) });
    expect(double.instances().filter((i) => i.state === 'running').map((i) => i.tags[TAG_NODE]).sort())
      .toEqual([cluster.nodes[0].nodeId, cluster.nodes[1].nodeId].sort());

    await provider.releaseCluster(cluster, context);
    expect(stackOf(double, cluster)?.status).toBe('DELETE_COMPLETE');
    expect(double.keyPairs()).toEqual([]);
    expect(double.instances().every((i) => i.state === 'terminated')).toBe(true);
  });

  it('a wait cut short by the service stopping is no failure; the rerun joins the stack it started instead of making another', async () => {
    const { double, stacks, context } = await start({ stackStepMs: 50 });
    const { cluster, options } = clusterOf(3);
    const controller = new AbortController();

    const first = stacks.acquire(cluster, options, cluster.nodes, { ...context, signal: controller.signal }).then(() => undefined, (e: unknown) => e);
    await until('CreateStack', 10_000, async () => (callsOf(double, 'CreateStack').length > 0 ? true : undefined), 10);
    controller.abort();
    const stopped = await first;
    expect(stopped).toBeInstanceOf(Error);
    expect(stopped).not.toBeInstanceOf(ProviderError);
    expect((stopped as Error).name).toBe('Interrupted');

    const acquired = await stacks.acquire(cluster, options, cluster.nodes, context);
    expect(acquired.map((a) => a.nodeId)).toEqual(cluster.nodes.map((n) => n.nodeId));
    expect(callsOf(double, 'CreateStack')).toHaveLength(1);
    expect(double.instances()).toHaveLength(3);
  });
});
