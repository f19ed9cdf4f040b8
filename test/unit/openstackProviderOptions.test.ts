import { InvalidRequestError } from '../../src/domain/errors';
import type { ClusterSpec } from '../../src/domain/types';
import type { NovaServer } from '../../src/providers/openstack/client/index';
import { clusterOfStackTags, clusterStackTag, META_CLUSTER, META_GATEWAY, META_NODE, serverMetadata, serverName } from '../../src/providers/openstack/metadata';
import { OpenStackProvider } from '../../src/providers/openstack/openstackProvider';
import { openStackOptionsOf, parseOpenStackOptions } from '../../src/providers/openstack/options';
import { addressOf, bestServer, byNode } from '../../src/providers/openstack/servers';
import { sshUserData } from '../../src/providers/openstack/keyPairs';
import { clusterOfKeyPair, keyPairName } from '../../src/providers/naming';
import type { Cluster } from '../../src/domain/types';

const specWith = (providerOptions: Record<string, string>, more: Partial<ClusterSpec> = {}): ClusterSpec => ({
  name: 'lab', kind: 'SLURM', provider: 'OPENSTACK', providerOptions, ...more,
});
const minimal = { flavor: 'm3.small', image: 'Featured-Ubuntu22' };

describe('parseOpenStackOptions', () => {
  it('reads a minimal spec with the defaults and the service cloud', () => {
    const { options, errors } = parseOpenStackOptions(specWith(minimal), 'jetstream2');
    expect(errors).toEqual([]);
    expect(options).toEqual({
      cloud: 'jetstream2', flavor: 'm3.small', image: 'Featured-Ubuntu22', network: 'auto', keyName: undefined, securityGroups: [],
      floatingIp: false, template: false, sshUser: 'ubuntu', keepOnFailure: false,
    });
  });

  it('reads every option; the spec cloud wins over the default', () => {
    const { options, errors } = parseOpenStackOptions(specWith({
      ...minimal, cloud: 'js2-tacc', network: 'auto_allocated_network', keyName: 'my key', securityGroups: 'default, exosphere',
      floatingIp: 'true', template: 'false', sshUser: 'rocky', keepOnFailure: 'true',
    }), 'other');
    expect(errors).toEqual([]);
    expect(options).toMatchObject({
      cloud: 'js2-tacc', network: 'auto_allocated_network', keyName: 'my key', securityGroups: ['default', 'exosphere'],
      floatingIp: true, sshUser: 'rocky', keepOnFailure: true,
    });
  });

  it('names every bad option at once', () => {
    const { options, errors } = parseOpenStackOptions(specWith({
      cloud: '../etc', flavor: '', image: 'a\nb', securityGroups: 'a,,b', floatingIp: 'yes', template: '1', sshUser: 'Root!', bogus: 'x',
    }));
    expect(options).toBeUndefined();
    expect(errors.map((e) => e.field).sort()).toEqual([
      'spec.providerOptions.bogus', 'spec.providerOptions.cloud', 'spec.providerOptions.flavor', 'spec.providerOptions.floatingIp',
      'spec.providerOptions.image', 'spec.providerOptions.securityGroups', 'spec.providerOptions.sshUser', 'spec.providerOptions.template',
    ]);
  });

  it('needs a cloud when the service has no default', () => {
    const { errors } = parseOpenStackOptions(specWith(minimal));
    expect(errors).toEqual([{ field: 'spec.providerOptions.cloud', message: expect.stringContaining('OPENSTACK_CLOUD') }]);
    expect(() => openStackOptionsOf(specWith(minimal))).toThrow(InvalidRequestError);
  });

  it('refuses a floating IP without a network of its own, or in template mode', () => {
    expect(parseOpenStackOptions(specWith({ ...minimal, floatingIp: 'true' }), 'c').errors)
      .toEqual([{ field: 'spec.providerOptions.floatingIp', message: expect.stringContaining("network is 'auto'") }]);
    expect(parseOpenStackOptions(specWith({ ...minimal, floatingIp: 'true', network: 'net', template: 'true' }), 'c').errors)
      .toEqual([{ field: 'spec.providerOptions.floatingIp', message: expect.stringContaining('template=true') }]);
  });
});

describe('OpenStackProvider without a cloud', () => {
  const provider = new OpenStackProvider({ defaultCloud: 'js2', clients: () => { throw new Error('no cloud in a unit test'); } });

  it('writes the default cloud into the spec it keeps', () => {
    expect(provider.settle(specWith(minimal)).providerOptions?.cloud).toBe('js2');
    expect(provider.settle(specWith({ ...minimal, cloud: 'mine' })).providerOptions?.cloud).toBe('mine');
  });

  it('plans workerCount nodes, the first also the controller, with the ssh user', () => {
    const nodes = provider.plan(specWith({ ...minimal, sshUser: 'rocky' }, { workerCount: 3 }));
    expect(nodes.map((n) => n.roles)).toEqual([['controller', 'worker'], ['worker'], ['worker']]);
    expect(nodes.every((n) => n.sshUser === 'rocky' && n.state === 'REQUESTED' && n.address === '')).toBe(true);
  });

  it('refuses fewer than one node', () => {
    expect(provider.validate(specWith(minimal, { workerCount: 0 }))).toEqual([{ field: 'spec.workerCount', message: expect.any(String) }]);
  });

  it('names the cloud as the sweep scope', () => {
    expect(provider.scopeOf(specWith(minimal))).toBe('js2');
  });
});

describe('what marks a server as ours', () => {
  const cluster = { clusterId: '11111111-2222-3333-4444-555555555555', gatewayId: 'gw', name: 'lab' } as Cluster;
  const node = { nodeId: 'abcdef01-0000-0000-0000-000000000000' } as Cluster['nodes'][number];

  it('carries cluster, gateway and node ids in metadata and a readable name', () => {
    expect(serverMetadata(cluster, node)).toEqual({ [META_CLUSTER]: cluster.clusterId, [META_GATEWAY]: 'gw', [META_NODE]: node.nodeId });
    expect(serverName(cluster, node)).toBe('ms-lab-abcdef01');
  });

  it('finds the cluster of a stack tag and of a key pair name, and nothing in anyone else\'s', () => {
    expect(clusterOfStackTags(['metascheduler', clusterStackTag('c-1')])).toBe('c-1');
    expect(clusterOfStackTags(['other'])).toBeUndefined();
    expect(clusterOfKeyPair(keyPairName('c-2'))).toBe('c-2');
    expect(clusterOfKeyPair('alice')).toBeUndefined();
  });

  it('hands the cluster key to cloud-init as one quoted line', () => {
    expect(sshUserData('ssh-rsa AAAAB3 comment here\n')).toBe('#cloud-config\nssh_authorized_keys:\n  - "ssh-rsa AAAAB3"\n');
  });
});

describe('reading servers', () => {
  const server = (over: Partial<NovaServer>): NovaServer => ({ id: 's', name: 'n', status: 'ACTIVE', ...over });
  const rule = { floatingIp: false, network: 'private' };

  it('takes the named network\'s IPv4 address, a floating one when asked, a test address from metadata first', () => {
    const addresses = {
      public: [{ addr: '2001:db8::5', version: 6 }, { addr: '198.51.100.7', version: 4 }],
      private: [{ addr: '10.0.0.5', version: 4 }, { addr: '203.0.113.9', version: 4, 'OS-EXT-IPS:type': 'floating' as const }],
    };
    expect(addressOf(server({ addresses }), rule)).toBe('10.0.0.5');
    expect(addressOf(server({ addresses }), { ...rule, floatingIp: true })).toBe('203.0.113.9');
    expect(addressOf(server({ addresses, metadata: { test_address: '10.9.9.9' } }), { ...rule, metadataKey: 'test_address' })).toBe('10.9.9.9');
    expect(addressOf(server({}), rule)).toBeUndefined();
  });

  it('keeps the ACTIVE server of a node that got two, and an ERROR one only when alone', () => {
    const servers = [
      server({ id: 'b', status: 'ERROR', metadata: { [META_NODE]: 'n1' } }),
      server({ id: 'a', status: 'ACTIVE', metadata: { [META_NODE]: 'n1' } }),
      server({ id: 'c', status: 'DELETED', metadata: { [META_NODE]: 'n2' } }),
      server({ id: 'd', status: 'ERROR', metadata: { [META_NODE]: 'n3' } }),
    ];
    const perNode = byNode(servers);
    expect(bestServer(perNode.get('n1'))?.id).toBe('a');
    expect(perNode.has('n2')).toBe(false);
    expect(bestServer(perNode.get('n3'))?.id).toBe('d');
  });
});
