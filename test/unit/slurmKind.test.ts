// The Slurm kind's own rules on a cluster spec, and what it hands the workflow.
import { hostname } from 'node:os';
import type { Cluster, ClusterSpec } from '../../src/domain/types';
import { createLogger } from '../../src/log';
import { SlurmKind } from '../../src/kinds/slurm/slurmKind';

const kind = new SlurmKind({ log: createLogger('silent') });
const spec = (addresses: string[], clusterOptions?: Record<string, string>): ClusterSpec => ({
  name: 'c', kind: 'SLURM', provider: 'STATIC', hosts: addresses.map((address) => ({ address })), clusterOptions,
});

describe('SlurmKind', () => {
  it('refuses two hosts that would be one Slurm node, whatever their case', () => {
    const errors = kind.validate(spec(['10.0.0.1', '10-0-0-1', 'node.a', 'NODE-A']));
    expect(errors.map((e) => e.field)).toEqual(['spec.hosts[1].address', 'spec.hosts[3].address']);
    expect(errors[0].message).toContain('same Slurm node as hosts[0]');
    // localhost is named after this machine in the inventory
    expect(kind.validate(spec(['localhost', hostname()])).map((e) => e.field)).toEqual(['spec.hosts[1].address']);
    expect(kind.validate(spec(['10.0.0.1', '10.0.0.2']))).toEqual([]);
  });

  it('names a few colliding hosts and counts the rest', () => {
    const addresses = Array.from({ length: 40 }, (_, i) => [`10.0.0.${i}`, `10-0-0-${i}`]).flat();
    const errors = kind.validate(spec(addresses));
    expect(errors).toHaveLength(6);
    expect(errors[5]).toEqual({ field: 'spec.hosts', message: 'and 35 more hosts that share a Slurm node name' });
  });

  it('refuses unknown clusterOptions and passes known ones to the playbook', () => {
    expect(kind.validate(spec(['h1'], { nope: '1' })).map((e) => e.field)).toEqual(['spec.clusterOptions["nope"]']);
    const cluster = { name: 'My Cluster', spec: spec(['h1'], { slurm_min_job_age: '10', slurm_controller_addr: '10.0.0.9' }) } as Cluster;
    expect(kind.extraVars(cluster)).toEqual({ slurm_cluster_name: 'mycluster', slurm_min_job_age: 10 });
    expect(kind.drainVars([{ address: '10.0.0.1' } as Cluster['nodes'][number]])).toEqual({ slurm_drain_nodes: ['10-0-0-1'] });
  });
});
