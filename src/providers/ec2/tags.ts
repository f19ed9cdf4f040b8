// What marks an AWS resource as ours: tags with the cluster and node ids (found again after a
// crash, by the orphan sweeper, by release), and names and tokens derived from the ids, never from
// time, so a step run twice asks for the same thing twice.
import { createHash } from 'node:crypto';
import type { Cluster, ClusterNode } from '../../domain/types';
import { shortId } from '../naming';

export { keyPairName, shortId } from '../naming';

export const TAG_CLUSTER = 'metascheduler:cluster';
export const TAG_NODE = 'metascheduler:node';
export const TAG_GATEWAY = 'metascheduler:gateway';

export interface Tag {
  Key: string;
  Value: string;
}

/** EC2 tag values hold at most 256 characters. */
const MAX_TAG_VALUE = 256;

/** The tags of a cluster's resources; with a node, those of the node's instance and volumes. */
export function resourceTags(cluster: Cluster, node?: ClusterNode): Tag[] {
  const name = node ? `ms-${cluster.name}-${shortId(node.nodeId)}` : `ms-${cluster.name}`;
  const tags: Tag[] = [
    { Key: 'Name', Value: name.slice(0, MAX_TAG_VALUE) },
    { Key: TAG_CLUSTER, Value: cluster.clusterId },
    { Key: TAG_GATEWAY, Value: cluster.gatewayId.slice(0, MAX_TAG_VALUE) },
  ];
  if (node) tags.push({ Key: TAG_NODE, Value: node.nodeId });
  return tags;
}


/**
 * RunInstances' idempotency token for one request of one node: the same cluster, node and attempt
 * always give the same token, so a request repeated after a crash returns the instance it bought.
 * A different request for the node (another type, subnet or market) takes another attempt number,
 * since EC2 refuses a token reused with other parameters. At most 64 ASCII characters.
 */
export function clientTokenFor(clusterId: string, nodeId: string, attempt = 0): string {
  const digest = createHash('sha256').update(`${clusterId}\n${nodeId}`).digest('hex').slice(0, 40);
  return `ms-${digest}-${attempt}`;
}

/** The value of a tag in an AWS tag list (EC2 returns Key/Value pairs, possibly undefined). */
export function tagValue(tags: readonly { Key?: string; Value?: string }[] | undefined, key: string): string | undefined {
  return tags?.find((tag) => tag.Key === key)?.Value;
}
