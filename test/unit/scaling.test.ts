// The pure parts of scaling: which workers serve, which join and leave, the inventory of active
// nodes, and the slurm_controller_addr option.
import { hostname } from 'node:os';
import type { Cluster, ClusterNode, NodeState } from '../../src/domain/types';
import { activeNodes, servingWorkers } from '../../src/domain/workerPool';
import { slurmInventory as inventoryOf } from '../../src/kinds/slurm/inventory';
import { clusterOptionErrors, slurmExtraVars } from '../../src/kinds/slurm/options';
import { scalePlan } from '../../src/workflows/clusterWorkflow';

const node = (address: string, roles: string[], state: NodeState = 'CONFIGURED'): ClusterNode => ({
  nodeId: `id-${address}`, address, roles, state,
});

const cluster = (nodes: ClusterNode[], clusterOptions?: Record<string, string>): Cluster => ({
  clusterId: 'c1', gatewayId: 'g', name: 'scale', kind: 'SLURM', provider: 'STATIC', state: 'READY',
  spec: {
    name: 'scale', kind: 'SLURM', provider: 'STATIC', ...(clusterOptions ? { clusterOptions } : {}),
    hosts: nodes.map((n) => ({ address: n.address, roles: n.roles })),
  },
  nodes, failures: [], createdAt: 0, updatedAt: 0,
});

describe('servingWorkers', () => {
  it('takes the first N hosts with the worker role, in order, a controller-worker first', () => {
    const nodes = [node('a', ['worker']), node('localhost', ['controller', 'worker']), node('b', ['worker']), node('c', ['controller'])];
    expect(servingWorkers(nodes, 1).map((n) => n.address)).toEqual(['localhost']);
    expect(servingWorkers(nodes, 2).map((n) => n.address)).toEqual(['localhost', 'a']);
    expect(servingWorkers(nodes, 3).map((n) => n.address)).toEqual(['localhost', 'a', 'b']);
  });
});

describe('scalePlan', () => {
  const pool = () => [
    node('ctl', ['controller', 'worker']), node('w1', ['worker']), node('w2', ['worker'], 'RELEASED'), node('w3', ['worker'], 'RELEASED'),
  ];
  const names = (plan: ReturnType<typeof scalePlan>) => ({ leaving: plan.leaving.map((n) => n.address), joining: plan.joining.map((n) => n.address) });

  it('joins the next released workers in pool order when growing', () => {
    expect(names(scalePlan(pool(), 3))).toEqual({ leaving: [], joining: ['w2'] });
    expect(names(scalePlan(pool(), 4))).toEqual({ leaving: [], joining: ['w2', 'w3'] });
  });

  it('releases the last serving workers when shrinking, never the controller', () => {
    expect(names(scalePlan(pool(), 1))).toEqual({ leaving: ['w1'], joining: [] });
    expect(names(scalePlan(pool(), 2))).toEqual({ leaving: [], joining: [] });
  });

  it('picks up a worker a crashed run left half-joined (RUNNING) or half-released (RELEASING)', () => {
    const nodes = [node('ctl', ['controller', 'worker']), node('w1', ['worker'], 'RUNNING'), node('w2', ['worker'], 'RELEASING')];
    expect(names(scalePlan(nodes, 2))).toEqual({ leaving: ['w2'], joining: ['w1'] });
  });
});

describe('inventoryOf', () => {
  it('leaves RELEASED workers out and gives ssh hosts their Slurm name and address', () => {
    const c = cluster([
      node('localhost', ['controller', 'worker']), node('10.213.0.11', ['worker']), node('10.213.0.12', ['worker'], 'RELEASED'),
    ], { slurm_controller_addr: '10.213.0.1' });
    expect(activeNodes(c.nodes).map((n) => n.address)).toEqual(['localhost', '10.213.0.11']);
    const inventory = inventoryOf(c);
    expect(inventory.groups).toEqual({ slurm_controller: ['localhost'], slurm_workers: ['localhost', '10.213.0.11'] });
    expect(inventory.hosts.map((h) => [h.name, h.vars])).toEqual([
      ['localhost', { slurm_node_name: hostname(), slurm_node_addr: '10.213.0.1' }],
      ['10.213.0.11', { slurm_node_name: '10-213-0-11', slurm_node_addr: '10.213.0.11' }],
    ]);
  });

  it('keeps the controller even when its worker role is released', () => {
    const inventory = inventoryOf(cluster([node('localhost', ['controller', 'worker'], 'RELEASED'), node('h', ['worker'])]));
    expect(inventory.groups).toEqual({ slurm_controller: ['localhost'], slurm_workers: ['h'] });
    expect(inventory.hosts.map((h) => h.name)).toEqual(['localhost', 'h']);
  });
});

describe('slurm_controller_addr', () => {
  it('must be an IPv4 address, and is a host var rather than an extra var', () => {
    expect(clusterOptionErrors({ clusterOptions: { slurm_controller_addr: '10.213.0.1' } })).toEqual([]);
    for (const bad of ['10.213.0', '256.1.1.1', 'host.example', '10.0.0.1; rm -rf /']) {
      expect(clusterOptionErrors({ clusterOptions: { slurm_controller_addr: bad } })).toEqual([
        { field: 'spec.clusterOptions["slurm_controller_addr"]', message: expect.stringContaining('must match') },
      ]);
    }
    expect(clusterOptionErrors({ clusterOptions: { openmpi_tcp_networks: '10.213.0.0/24,192.168.1.0/16' } })).toEqual([]);
    for (const bad of ['10.213.0.0', '10.213.0.0/33', 'eth0', '10.0.0.0/8;x', '']) {
      expect(clusterOptionErrors({ clusterOptions: { openmpi_tcp_networks: bad } })).toHaveLength(1);
    }
    expect(slurmExtraVars(cluster([node('localhost', ['controller', 'worker'])], { slurm_controller_addr: '10.213.0.1' })))
      .not.toHaveProperty('slurm_controller_addr');
  });
});
