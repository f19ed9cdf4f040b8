// What the providers that buy nodes share about a cluster's nodes: the pool they plan, and which
// nodes hold (or are about to hold) something bought, which a stack must keep when it changes.
import type { FieldError } from '../domain/errors';
import type { Cluster, ClusterNode, ClusterSpec, NodeState } from '../domain/types';
import type { PlannedNode } from './provider';

const SERVING_STATES: ReadonlySet<NodeState> = new Set<NodeState>(['PENDING', 'RUNNING', 'REACHABLE', 'CONFIGURED']);

export function holdsResource(node: ClusterNode): boolean {
  return SERVING_STATES.has(node.state) || (node.state === 'REQUESTED' && node.providerResourceId !== undefined);
}

/** The nodes that must exist after acquiring `nodes`: those already holding a resource, and these. */
export function servingAfter(cluster: Cluster, nodes: readonly ClusterNode[]): ClusterNode[] {
  const asked = new Map(nodes.map((n) => [n.nodeId, n]));
  const serving = cluster.nodes.filter((n) => asked.has(n.nodeId) || holdsResource(n)).map((n) => asked.get(n.nodeId) ?? n);
  const known = new Set(cluster.nodes.map((n) => n.nodeId));
  return [...serving, ...nodes.filter((n) => !known.has(n.nodeId))];
}

/**
 * The pool a provider that buys nodes plans: workerCount nodes (1 by default), the first also the
 * controller, addresses unknown until the nodes exist.
 */
export function boughtPool(spec: ClusterSpec, sshUser: string): PlannedNode[] {
  const count = Math.max(1, spec.workerCount ?? 1);
  return Array.from({ length: count }, (_, i) => boughtNode(i === 0 ? ['controller', 'worker'] : ['worker'], sshUser));
}

export function boughtNode(roles: string[], sshUser: string): PlannedNode {
  return { address: '', roles, state: 'REQUESTED', sshUser, sshPort: 22 };
}

/** A bought cluster has at least one node. */
export function atLeastOneNode(spec: ClusterSpec, provider: string): FieldError[] {
  return spec.workerCount !== undefined && spec.workerCount < 1
    ? [{ field: 'spec.workerCount', message: `an ${provider} cluster needs at least 1 node (got ${spec.workerCount})` }]
    : [];
}

/**
 * The spec with a service default written in (EC2's region, OpenStack's cloud), so a later change
 * of the service's setting cannot lose the cluster's resources.
 */
export function withDefaultOption(spec: ClusterSpec, key: string, value: string | undefined): ClusterSpec {
  if (spec.providerOptions?.[key] !== undefined || value === undefined) return spec;
  return { ...spec, providerOptions: { ...spec.providerOptions, [key]: value } };
}
