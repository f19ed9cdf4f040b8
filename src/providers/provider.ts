// Where a cluster's nodes come from. One implementation per provider (static hosts, EC2,
// OpenStack, an HPC site's pilot jobs), each in its own folder, looked up in the provider registry.
//
// Every method that changes the outside world must be idempotent: a workflow step that died half
// way is run again and must find its own earlier effect (a node already bought, already released)
// instead of repeating it. Keys for that derive from the cluster and node ids, never from time.
import type { FieldError } from '../domain/errors';
import type { Cluster, ClusterNode, ClusterSpec, NodeState, ProviderType } from '../domain/types';

/** How a provider failed, so the workflow can decide between waiting, retrying and giving up. */
export const PROVIDER_ERROR_CATEGORIES = ['throttled', 'capacity', 'quota', 'auth', 'bad_request', 'transient'] as const;
export type ProviderErrorCategory = (typeof PROVIDER_ERROR_CATEGORIES)[number];

export class ProviderError extends Error {
  constructor(readonly category: ProviderErrorCategory, message: string) {
    super(message);
    this.name = 'ProviderError';
  }

  /** Throttling and passing faults clear by themselves; the others need someone to act. */
  get retryable(): boolean {
    return this.category === 'throttled' || this.category === 'transient';
  }
}

/** One node of the pool createCluster records; address known up front for existing hosts only. */
export interface PlannedNode {
  address: string;
  roles: string[];
  state: NodeState;
  sshUser?: string;
  sshPort?: number;
}

export interface AcquiredNode {
  nodeId: string;
  address: string;
  providerResourceId?: string;
}

/** What a cluster needs against what the account has left, per resource ("instances", "cores"...). */
export interface QuotaCheck {
  needed: Record<string, number>;
  /** Unknown (not reported by the provider) when absent. */
  available?: Record<string, number>;
  /** Non-empty: the cluster cannot be had; each error names the field that asks too much. */
  errors: FieldError[];
}

export interface NodeDescription {
  nodeId: string;
  state: 'pending' | 'running' | 'stopped' | 'gone';
  address?: string;
  providerResourceId?: string;
}

/** Evidence that a node is no longer paid for (or never was). */
export interface ReleaseProof {
  nodeId: string;
  providerResourceId?: string;
  proof: string;
}

/** A resource the provider holds for us, for the orphan sweeper. */
export interface OwnedResource {
  providerResourceId: string;
  clusterId?: string;
  description: string;
}

export interface Provider {
  readonly type: ProviderType;
  /** The provider's part of a cluster spec (hosts, providerOptions); every bad field named. */
  validate(spec: ClusterSpec): FieldError[];
  /** The node pool createCluster records, in order; roles decide controller and workers. */
  plan(spec: ClusterSpec): PlannedNode[];
  /** Pre-flight, before anything is recorded: does the account have room for this cluster? */
  checkQuota(spec: ClusterSpec): Promise<QuotaCheck>;
  /** Makes the nodes exist; idempotent per node id. Returns each node's address. */
  acquire(cluster: Cluster, nodes: readonly ClusterNode[]): Promise<AcquiredNode[]>;
  describe(cluster: Cluster): Promise<NodeDescription[]>;
  /** Gives the nodes back; idempotent; proof for each. */
  release(cluster: Cluster, nodes: readonly ClusterNode[]): Promise<ReleaseProof[]>;
  /** Everything this provider holds for this service, whatever cluster it was for. */
  listOwned(): Promise<OwnedResource[]>;
}
