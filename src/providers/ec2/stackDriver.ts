// Template mode: the nodes are bought as one CloudFormation stack. The provider hands those calls to
// a StackDriver (src/providers/ec2/stack.ts); this is the contract between the two.
import type { Cluster, ClusterNode } from '../../domain/types';
import type { AcquiredNode, OwnedResource, ProvisionContext, ReleaseProof } from '../provider';
import type { Ec2Options } from './options';

export interface StackDriver {
  /** Makes the cluster's stack hold exactly `serving` (every node that must exist after the call). */
  acquire(cluster: Cluster, options: Ec2Options, serving: readonly ClusterNode[], context: ProvisionContext): Promise<AcquiredNode[]>;
  /** Shrinks the stack to `remaining`; proof for each of `leaving`. */
  release(
    cluster: Cluster, options: Ec2Options, remaining: readonly ClusterNode[], leaving: readonly ClusterNode[],
    context?: Pick<ProvisionContext, 'note' | 'signal'>,
  ): Promise<ReleaseProof[]>;
  /** Deletes the cluster's stack; proof strings. */
  deleteStack(cluster: Cluster, options: Ec2Options, context?: Pick<ProvisionContext, 'note' | 'signal'>): Promise<string[]>;
  /** The stacks of ours in a region, for the orphan sweeper. */
  listStacks(region: string): Promise<OwnedResource[]>;
  deleteOwnedStack(resource: OwnedResource): Promise<string>;
}
