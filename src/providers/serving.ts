// Which of a cluster's nodes hold (or are about to hold) something bought: what a stack must keep
// when it grows or shrinks. Shared by the providers that buy nodes.
import type { Cluster, ClusterNode, NodeState } from '../domain/types';

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
