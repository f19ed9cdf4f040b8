// What marks a server of ours: Nova metadata with the cluster, node and gateway ids, set when the
// server is created, so a rerun after a crash, release and the orphan sweeper find it whether or not
// the database recorded it. Names derive from the ids, never from time.
import type { Cluster, ClusterNode } from '../../domain/types';
import { shortId } from '../naming';

export const META_CLUSTER = 'metascheduler_cluster';
export const META_NODE = 'metascheduler_node';
export const META_GATEWAY = 'metascheduler_gateway';
/** A Heat group member's index ("0", "1"...), set by the stack template. */
export const META_MEMBER = 'metascheduler_member';

/** Nova metadata values hold at most 255 characters. */
const MAX_META_VALUE = 255;

export function serverMetadata(cluster: Cluster, node?: ClusterNode): Record<string, string> {
  const metadata: Record<string, string> = {
    [META_CLUSTER]: cluster.clusterId,
    [META_GATEWAY]: cluster.gatewayId.slice(0, MAX_META_VALUE),
  };
  if (node) metadata[META_NODE] = node.nodeId;
  return metadata;
}

/** ms-<cluster name>-<node id's first block>: readable in Horizon, unique within the cluster. */
export function serverName(cluster: Cluster, node: ClusterNode): string {
  return `ms-${cluster.name}-${shortId(node.nodeId)}`.slice(0, 255);
}

/** The cluster's Heat stack: one per cluster, found again by name after a crash. */
export function stackName(clusterId: string): string {
  return `metascheduler-${clusterId}`;
}

export const STACK_TAG = 'metascheduler';

/** The tag that says which cluster a stack is for (Heat tags are plain strings without commas). */
export function clusterStackTag(clusterId: string): string {
  return `${META_CLUSTER}=${clusterId}`;
}

export function clusterOfStackTags(tags: readonly string[] | null): string | undefined {
  const prefix = `${META_CLUSTER}=`;
  return tags?.find((tag) => tag.startsWith(prefix))?.slice(prefix.length) || undefined;
}
