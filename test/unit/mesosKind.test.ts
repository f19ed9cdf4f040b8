// The Mesos + Marathon kind's own rules on a cluster spec, its inventory, and its proof before READY
// judged from what the probes on the controller answer (a scripted runner stands in for the
// controller here: the probes themselves are fixed argv, checked below).
import type { ClusterNode, Cluster, ClusterSpec } from '../../src/domain/types';
import type { CommandResult, CommandRunner } from '../../src/exec/commandRunner';
import { createLogger } from '../../src/log';
import { MesosMarathonKind } from '../../src/kinds/mesos_marathon/mesosMarathonKind';
import { SlurmKind } from '../../src/kinds/slurm/slurmKind';

const kind = new MesosMarathonKind({ log: createLogger('silent') });
const spec = (hosts: { address: string; roles?: string[] }[], clusterOptions?: Record<string, string>): ClusterSpec => ({
  name: 'm', kind: 'MESOS_MARATHON', provider: 'STATIC', hosts, clusterOptions,
});
const node = (address: string, roles: string[], state: ClusterNode['state'] = 'CONFIGURED'): ClusterNode => ({
  nodeId: `n-${address}`, address, roles, state,
});
const clusterOf = (nodes: ClusterNode[], clusterOptions?: Record<string, string>): Cluster => ({
  clusterId: 'c1', gatewayId: 'gw', name: 'My Mesos', kind: 'MESOS_MARATHON', provider: 'STATIC', state: 'CONFIGURING',
  spec: spec(nodes.map((n) => ({ address: n.address, roles: n.roles })), clusterOptions), nodes, failures: [], createdAt: 0, updatedAt: 0,
});

/** A controller that answers each probe by its mode and target (argv: python3 -c SCRIPT mode host port [path]). */
function scripted(answer: (mode: string, host: string, port: string, path?: string) => Partial<CommandResult>): CommandRunner & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    run: async (argv) => {
      calls.push([...argv]);
      const [, , , mode, host, port, path] = argv;
      return { exitCode: 0, stdout: '', stderr: '', ...answer(mode, host, port, path) } as CommandResult;
    },
  };
}

const masterState = (agents: { ip: string; cpus: number; mem: number }[]) => JSON.stringify({
  leader: 'master@10.0.0.1:5050',
  slaves: agents.map((a, i) => ({ hostname: `agent${i}`, pid: `slave(1)@${a.ip}:5051`, active: true, resources: { cpus: a.cpus, mem: a.mem } })),
});

describe('MesosMarathonKind', () => {
  it('refuses unknown or malformed clusterOptions, naming each, and passes known ones to the playbook', () => {
    const errors = kind.validate(spec([{ address: '10.0.0.1' }], {
      nope: '1', marathon_http_port: '99999', mesos_package_source: 'deb http://x/ y; rm -rf /',
    }));
    expect(errors.map((e) => e.field).sort()).toEqual([
      'spec.clusterOptions["marathon_http_port"]', 'spec.clusterOptions["mesos_package_source"]', 'spec.clusterOptions["nope"]',
    ]);
    const cluster = clusterOf([node('10.0.0.1', ['controller', 'worker'])], {
      mesos_package_source: 'deb [trusted=yes] https://mirror.example.org/mesos bookworm main', marathon_http_port: '8081',
    });
    expect(kind.validate(cluster.spec)).toEqual([]);
    expect(kind.extraVars(cluster)).toEqual({
      mesos_cluster_name: 'My-Mesos',
      mesos_package_source: 'deb [trusted=yes] https://mirror.example.org/mesos bookworm main',
      marathon_http_port: 8081,
    });
  });

  it.each([
    ['deb [trusted=yes] https://mirror.example.org/mesos bookworm main', true],
    ['https://mirror.example.org/pool/mesos_1.11.0-2.0.1.debian9_amd64.deb', true],
    ['/srv/packages/mesos-1.11.0.tgz', false],
    ['deb http://x.org/ y; rm -rf /', false],
    ['https://mirror.example.org/index.html', false],
    ['deb https://x.org/ bookworm main\ndeb https://evil.org/ x y', false],
    ['relative/mesos.deb', false],
  ])('package source %j accepted: %s', (source, ok) => {
    expect(kind.validate(spec([{ address: '10.0.0.1' }], { mesos_package_source: source }))).toHaveLength(ok ? 0 : 1);
  });

  it('takes Marathon and Metronome also as tarballs, which their roles unpack', () => {
    expect(kind.validate(spec([{ address: '10.0.0.1' }], {
      marathon_package_source: '/srv/packages/marathon-1.11.24.tgz', metronome_package_source: 'https://mirror.example.org/metronome-0.6.66.tar.gz',
    }))).toEqual([]);
  });

  it('names an option that is a name on every object (constructor, __proto__) as unknown, for both kinds', () => {
    const options = Object.fromEntries([['constructor', 'x'], ['__proto__', 'y'], ['toString', 'z']]);
    expect(kind.validate(spec([{ address: '10.0.0.1' }], options)).map((e) => e.message.slice(0, 14)))
      .toEqual(['unknown option', 'unknown option', 'unknown option']);
    expect(new SlurmKind({ log: createLogger('silent') }).validate({ ...spec([{ address: '10.0.0.1' }], options), kind: 'SLURM' }))
      .toHaveLength(3);
  });

  it('wants 1, 3 or 5 masters (a ZooKeeper member beside each)', () => {
    const hosts = (masters: number) => Array.from({ length: masters + 1 }, (_, i) => ({ address: `10.0.0.${i + 1}`, roles: i < masters ? ['controller'] : ['worker'] }));
    expect(kind.validate(spec(hosts(2)))).toEqual([expect.objectContaining({ field: 'spec.hosts', message: expect.stringContaining('1, 3 or 5 masters') })]);
    expect(kind.validate(spec(hosts(4))).map((e) => e.field)).toEqual(['spec.hosts']);
    expect(kind.validate(spec(hosts(3)))).toEqual([]);
  });

  it('puts masters in zookeeper and mesos_masters, workers in mesos_agents, and leaves released nodes out', () => {
    const cluster = clusterOf([
      node('10.0.0.1', ['controller']), node('10.0.0.2', ['controller']), node('10.0.0.3', ['controller', 'worker']),
      node('10.0.0.4', ['worker']), node('10.0.0.5', ['worker'], 'RELEASED'),
    ]);
    const inventory = kind.inventory(cluster);
    expect(inventory.groups).toEqual({
      zookeeper: ['10.0.0.1', '10.0.0.2', '10.0.0.3'],
      mesos_masters: ['10.0.0.1', '10.0.0.2', '10.0.0.3'],
      mesos_agents: ['10.0.0.3', '10.0.0.4'],
    });
    expect(inventory.hosts.map((h) => [h.name, h.vars?.ms_node_addr])).toEqual([
      ['10.0.0.1', '10.0.0.1'], ['10.0.0.2', '10.0.0.2'], ['10.0.0.3', '10.0.0.3'], ['10.0.0.4', '10.0.0.4'],
    ]);
    expect(kind.leavingInventory(cluster, [cluster.nodes[3]]).groups).toEqual({ zookeeper: [], mesos_masters: [], mesos_agents: ['10.0.0.4'] });
  });

  it('proves the cluster: ZooKeeper imok, a leader with every agent, Marathon and Metronome answering; agent capacity read', async () => {
    const cluster = clusterOf([node('10.0.0.1', ['controller', 'worker']), node('10.0.0.2', ['worker'])]);
    const controller = scripted((mode, _host, port, path) => {
      if (mode === 'ruok') return { stdout: 'imok' };
      if (path === '/master/state') return { stdout: masterState([{ ip: '10.0.0.1', cpus: 4, mem: 7000.5 }, { ip: '10.0.0.2', cpus: 2, mem: 3000 }]) };
      return { stdout: port === '8080' ? '{"name":"marathon","leader":"10.0.0.1:8080"}' : '[]' };
    });
    const result = await kind.verify(cluster, controller);
    expect(result.failures).toEqual([]);
    expect([...result.capacity.entries()]).toEqual([
      ['n-10.0.0.1', { cpus: 4, memoryMb: 7000, nativeName: 'agent0' }],
      ['n-10.0.0.2', { cpus: 2, memoryMb: 3000, nativeName: 'agent1' }],
    ]);
    // Fixed probe program, the target only as arguments.
    expect(controller.calls.map((argv) => [argv[0], argv[1], ...argv.slice(3)])).toEqual([
      ['python3', '-c', 'ruok', '10.0.0.1', '2181'],
      ['python3', '-c', 'get', '10.0.0.1', '5050', '/master/state'],
      ['python3', '-c', 'get', '10.0.0.1', '8080', '/v2/info'],
      ['python3', '-c', 'get', '10.0.0.1', '9000', '/v1/jobs'],
    ]);
  });

  it('names what is missing: ZooKeeper not serving stops the proof there', async () => {
    const cluster = clusterOf([node('10.0.0.1', ['controller', 'worker'])]);
    const result = await kind.verify(cluster, scripted(() => ({ exitCode: 3, stderr: 'ConnectionRefusedError: [Errno 111] Connection refused' })));
    expect(result.failures).toEqual([{ host: '10.0.0.1', message: 'ZooKeeper on port 2181 does not serve: ConnectionRefusedError: [Errno 111] Connection refused' }]);
  });

  it('names an agent the leader does not know and a Marathon that does not answer', async () => {
    const cluster = clusterOf([node('10.0.0.1', ['controller', 'worker']), node('10.0.0.2', ['worker'])]);
    const result = await kind.verify(cluster, scripted((mode, _h, port, path) => {
      if (mode === 'ruok') return { stdout: 'imok' };
      if (path === '/master/state') return { stdout: masterState([{ ip: '10.0.0.1', cpus: 4, mem: 4096 }]) };
      return port === '8080' ? { exitCode: 3, stderr: 'URLError: timed out' } : { stdout: '[]' };
    }));
    expect(result.failures).toEqual([
      { host: '10.0.0.2', message: 'the Mesos agent is not registered with the leading master (master@10.0.0.1:5050)' },
      { host: '10.0.0.1', message: 'Marathon does not answer /v2/info on port 8080: URLError: timed out' },
    ]);
  });

  it('names masters without a leader', async () => {
    const cluster = clusterOf([node('10.0.0.1', ['controller', 'worker'])]);
    const result = await kind.verify(cluster, scripted((mode) => (mode === 'ruok' ? { stdout: 'imok' } : { stdout: '{"leader":""}' })));
    expect(result.failures).toEqual([{ host: '10.0.0.1', message: 'the Mesos masters have no elected leader: state has no leader' }]);
  });
});
