// Which of a cluster's nodes serve. Pure: the workflow, the services and the providers share it.
import type { ClusterNode } from './types';

/**
 * A cluster's worker pool is its nodes with the worker role, in the order createCluster listed
 * them, except that a controller that is also a worker always serves (it comes first). The first
 * workerCount of the pool serve.
 */
export function servingWorkers<N extends Pick<ClusterNode, 'roles'>>(nodes: readonly N[], workerCount: number): N[] {
  const pool = nodes.filter((n) => n.roles.includes('worker'));
  const ordered = [...pool.filter((n) => n.roles.includes('controller')), ...pool.filter((n) => !n.roles.includes('controller'))];
  return ordered.slice(0, workerCount);
}

/** Nodes taking part in the cluster now: all but the RELEASED ones (workers scaled in). */
export function activeNodes<N extends Pick<ClusterNode, 'state'>>(nodes: readonly N[]): N[] {
  return nodes.filter((n) => n.state !== 'RELEASED');
}

/** The controller: the first node with the controller role, else the first node. */
export function controllerOf<N extends Pick<ClusterNode, 'roles'>>(nodes: readonly N[]): N | undefined {
  return nodes.find((n) => n.roles.includes('controller')) ?? nodes[0];
}
