// STATIC: hosts that exist already (given in the spec's hosts). Nothing is bought, so nothing is
// released: acquiring is taking the hosts as they are, and the proof of release is that.
import type { FieldError } from '../../domain/errors';
import type { Cluster, ClusterNode, ClusterSpec } from '../../domain/types';
import { servingWorkers } from '../../domain/workerPool';
import type { AcquiredNode, NodeDescription, OwnedResource, PlannedNode, Provider, QuotaCheck, ReleaseProof } from '../provider';

export class StaticProvider implements Provider {
  readonly type = 'STATIC' as const;
  readonly buysNodes = false;

  /** (Request validation already requires hosts for STATIC and refuses them for the others.) */
  validate(spec: ClusterSpec): FieldError[] {
    const errors: FieldError[] = [];
    for (const key of Object.keys(spec.providerOptions ?? {})) {
      errors.push({ field: `spec.providerOptions[${JSON.stringify(key.slice(0, 40))}]`, message: 'STATIC clusters take no providerOptions' });
    }
    const pool = this.plan(spec).filter((n) => n.roles.includes('worker')).length;
    if (spec.workerCount !== undefined && (spec.workerCount < 1 || spec.workerCount > pool)) {
      errors.push({ field: 'spec.workerCount', message: `must be between 1 and the ${pool} host(s) with the worker role (got ${spec.workerCount})` });
    }
    return errors;
  }

  /** The hosts in order; the first is the controller unless roles say otherwise. */
  plan(spec: ClusterSpec): PlannedNode[] {
    const nodes: PlannedNode[] = (spec.hosts ?? []).map((host, i) => ({
      address: host.address,
      state: 'REQUESTED',
      roles: host.roles && host.roles.length > 0 ? host.roles : i === 0 ? ['controller', 'worker'] : ['worker'],
      sshUser: host.sshUser,
      sshPort: host.sshPort,
    }));
    // With workerCount, only the first N worker hosts serve; the others wait RELEASED for a scale.
    if (spec.workerCount !== undefined) {
      const serving = new Set(servingWorkers(nodes, spec.workerCount));
      for (const node of nodes) if (node.roles.includes('worker') && !serving.has(node)) node.state = 'RELEASED';
    }
    return nodes;
  }

  async checkQuota(spec: ClusterSpec): Promise<QuotaCheck> {
    return { needed: { hosts: spec.hosts?.length ?? 0 }, available: { hosts: spec.hosts?.length ?? 0 }, errors: [] };
  }

  async acquire(_cluster: Cluster, nodes: readonly ClusterNode[]): Promise<AcquiredNode[]> {
    return nodes.map((node) => ({ nodeId: node.nodeId, address: node.address }));
  }

  async describe(cluster: Cluster): Promise<NodeDescription[]> {
    return cluster.nodes.map((node) => ({ nodeId: node.nodeId, state: 'running', address: node.address }));
  }

  async release(_cluster: Cluster, nodes: readonly ClusterNode[]): Promise<ReleaseProof[]> {
    return nodes.map((node) => ({ nodeId: node.nodeId, proof: `static host ${node.address}: nothing was bought, the host is left as it was` }));
  }

  async listOwned(_scopes: readonly string[]): Promise<OwnedResource[]> {
    return [];
  }
}
