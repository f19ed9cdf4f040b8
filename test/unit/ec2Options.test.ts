import { InvalidRequestError } from '../../src/domain/errors';
import type { ClusterSpec } from '../../src/domain/types';
import { ec2OptionsOf, parseEc2Options } from '../../src/providers/ec2/options';
import { clientTokenFor, keyPairName, resourceTags, TAG_CLUSTER, TAG_GATEWAY, TAG_NODE } from '../../src/providers/ec2/tags';
import { launchLadder } from '../../src/providers/ec2/launch';
import { Ec2Provider } from '../../src/providers/ec2/ec2Provider';
import type { Cluster } from '../../src/domain/types';

const specWith = (providerOptions: Record<string, string>, more: Partial<ClusterSpec> = {}): ClusterSpec => ({
  name: 'lab', kind: 'SLURM', provider: 'EC2', providerOptions, ...more,
});

const minimal = { imageId: 'ami-0123456789abcdef0', instanceTypes: 't3.micro' };

describe('parseEc2Options', () => {
  it('reads a minimal spec with the defaults and the service region', () => {
    const { options, errors } = parseEc2Options(specWith(minimal), 'eu-west-1');
    expect(errors).toEqual([]);
    expect(options).toEqual({
      region: 'eu-west-1', imageId: 'ami-0123456789abcdef0', instanceTypes: ['t3.micro'], subnetIds: [], securityGroupIds: [],
      sshUser: 'ec2-user', publicIp: true, spot: false, template: false, keepOnFailure: false,
    });
  });

  it('reads every option, lists comma-separated and trimmed; the spec region wins over the default', () => {
    const { options, errors } = parseEc2Options(specWith({
      region: 'us-gov-west-1', imageId: 'ami-0abcdef1', instanceTypes: 't3.micro, c5.xlarge,u-6tb1.metal',
      subnetIds: 'subnet-0123abcd,subnet-0123abce', securityGroupIds: 'sg-0123456789abcdef0', sshUser: 'ubuntu',
      publicIp: 'false', spot: 'true', template: 'true', keepOnFailure: 'true',
    }), 'us-east-1');
    expect(errors).toEqual([]);
    expect(options).toMatchObject({
      region: 'us-gov-west-1', instanceTypes: ['t3.micro', 'c5.xlarge', 'u-6tb1.metal'], subnetIds: ['subnet-0123abcd', 'subnet-0123abce'],
      securityGroupIds: ['sg-0123456789abcdef0'], sshUser: 'ubuntu', publicIp: false, spot: true, template: true, keepOnFailure: true,
    });
  });

  it('names every bad option at once, each as spec.providerOptions.<name>', () => {
    const { options, errors } = parseEc2Options(specWith({
      imageId: 'ami-XYZ', instanceTypes: 't3.micro,,T3 large', subnetIds: 'subnet-0123abcd,subnet-0123abcd', securityGroupIds: 'sg-12',
      sshUser: 'root; rm -rf /', publicIp: 'yes', spot: '1', flavor: 'm1.small', region: 'mars-1',
    }));
    expect(options).toBeUndefined();
    const fields = errors.map((e) => e.field);
    for (const name of ['imageId', 'instanceTypes', 'subnetIds', 'securityGroupIds', 'sshUser', 'publicIp', 'spot', 'flavor', 'region']) {
      expect(fields).toContain(`spec.providerOptions.${name}`);
    }
    const message = (name: string): string => errors.filter((e) => e.field === `spec.providerOptions.${name}`).map((e) => e.message).join(' | ');
    expect(message('flavor')).toMatch(/not an EC2 option/);
    expect(message('publicIp')).toMatch(/'true' or 'false'/);
    expect(message('subnetIds')).toMatch(/listed twice/);
    expect(message('instanceTypes')).toMatch(/empty/);
    expect(message('instanceTypes')).toMatch(/"T3 large" is not an instance type/);
  });

  it('requires imageId and instanceTypes, and a region from somewhere', () => {
    const { errors } = parseEc2Options(specWith({}));
    expect(errors.map((e) => e.field).sort()).toEqual(
      ['spec.providerOptions.imageId', 'spec.providerOptions.instanceTypes', 'spec.providerOptions.region']);
    expect(errors.find((e) => e.field === 'spec.providerOptions.region')?.message).toMatch(/AWS_REGION/);
  });

  it('ec2OptionsOf throws the field errors as an InvalidRequestError', () => {
    expect(() => ec2OptionsOf(specWith({ ...minimal, spot: 'maybe' }), 'us-east-1')).toThrow(InvalidRequestError);
    try {
      ec2OptionsOf(specWith({ ...minimal, spot: 'maybe' }), 'us-east-1');
    } catch (error) {
      expect((error as InvalidRequestError).fieldErrors.map((e) => e.field)).toEqual(['spec.providerOptions.spot']);
    }
    expect(ec2OptionsOf(specWith(minimal), 'us-east-1').region).toBe('us-east-1');
  });
});

describe('Ec2Provider plan and validate', () => {
  const provider = new Ec2Provider({ defaultRegion: 'us-east-1' });

  it('plans workerCount nodes, the first also the controller, with the image user and no address yet', () => {
    const nodes = provider.plan(specWith({ ...minimal, sshUser: 'ubuntu' }, { workerCount: 3 }));
    expect(nodes.map((n) => n.roles)).toEqual([['controller', 'worker'], ['worker'], ['worker']]);
    expect(nodes.every((n) => n.address === '' && n.state === 'REQUESTED' && n.sshUser === 'ubuntu' && n.sshPort === 22)).toBe(true);
    expect(provider.plan(specWith(minimal))).toHaveLength(1);
    expect(provider.planWorker(specWith(minimal)).roles).toEqual(['worker']);
  });

  it('refuses zero nodes and template mode without a stack driver, by field', () => {
    const errors = provider.validate(specWith({ ...minimal, template: 'true' }, { workerCount: 0 }));
    expect(errors.map((e) => e.field).sort()).toEqual(['spec.providerOptions.template', 'spec.workerCount']);
    expect(provider.validate(specWith(minimal, { workerCount: 2 }))).toEqual([]);
  });

  it('scopes a spec to its region', () => {
    expect(provider.scopeOf(specWith(minimal))).toBe('us-east-1');
    expect(provider.scopeOf(specWith({ ...minimal, region: 'ap-southeast-2' }))).toBe('ap-southeast-2');
  });
});

describe('tags, names and tokens', () => {
  const cluster = { clusterId: '6f1c3a52-0b9e-4a8e-9d6c-2f4b8e7a1c90', gatewayId: 'gw-1', name: 'lab' } as Cluster;
  const node = { nodeId: 'a1b2c3d4-0000-4000-8000-000000000001', address: '', state: 'REQUESTED' as const, roles: ['worker'] };

  it('tags a node with the cluster, node and gateway and names it after the cluster', () => {
    const tags = Object.fromEntries(resourceTags(cluster, node).map((t) => [t.Key, t.Value]));
    expect(tags).toEqual({ Name: 'ms-lab-a1b2c3d4', [TAG_CLUSTER]: cluster.clusterId, [TAG_NODE]: node.nodeId, [TAG_GATEWAY]: 'gw-1' });
    expect(resourceTags(cluster).map((t) => t.Key)).not.toContain(TAG_NODE);
    expect(keyPairName(cluster.clusterId)).toBe(`metascheduler-${cluster.clusterId}`);
  });

  it('derives client tokens from the ids and attempt only: stable, distinct, at most 64 characters', () => {
    const token = clientTokenFor(cluster.clusterId, node.nodeId);
    expect(clientTokenFor(cluster.clusterId, node.nodeId, 0)).toBe(token);
    expect(clientTokenFor(cluster.clusterId, node.nodeId, 1)).not.toBe(token);
    expect(clientTokenFor(cluster.clusterId, 'another-node', 0)).not.toBe(token);
    expect(clientTokenFor(cluster.clusterId, node.nodeId, Number.MAX_SAFE_INTEGER).length).toBeLessThanOrEqual(64);
    expect(token).toMatch(/^[\x21-\x7e]+$/);
  });

  it('ladders spot before on-demand per type, types before subnets, each rung its own attempt', () => {
    const options = ec2OptionsOf(specWith({ ...minimal, instanceTypes: 't3.micro,t3.small', subnetIds: 'subnet-0000000a,subnet-0000000b', spot: 'true' }), 'us-east-1');
    const ladder = launchLadder(options).map((r) => `${r.index}:${r.subnetId}/${r.instanceType}/${r.market}`);
    expect(ladder).toEqual([
      '0:subnet-0000000a/t3.micro/spot', '1:subnet-0000000a/t3.micro/on-demand', '2:subnet-0000000a/t3.small/spot',
      '3:subnet-0000000a/t3.small/on-demand', '4:subnet-0000000b/t3.micro/spot', '5:subnet-0000000b/t3.micro/on-demand',
      '6:subnet-0000000b/t3.small/spot', '7:subnet-0000000b/t3.small/on-demand',
    ]);
  });
});
