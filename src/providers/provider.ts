// Where a cluster's nodes come from. One implementation per provider (static hosts, EC2,
// OpenStack, an HPC site's pilot jobs), each in its own folder, looked up in the provider registry.
//
// Every method that changes the outside world must be idempotent: a workflow step that died half
// way is run again and must find its own earlier effect (a node already bought, already released)
// instead of repeating it. Keys for that derive from the cluster and node ids, never from time.
import type { FieldError } from '../domain/errors';
import type { Cluster, ClusterKind, ClusterNode, ClusterSpec, NodeState, ProviderType } from '../domain/types';
import type { ClusterKindDriver } from '../kinds/kind';

/** How a provider failed, so the workflow can decide between waiting, retrying and giving up. */
export const PROVIDER_ERROR_CATEGORIES = ['throttled', 'capacity', 'quota', 'auth', 'bad_request', 'transient'] as const;
export type ProviderErrorCategory = (typeof PROVIDER_ERROR_CATEGORIES)[number];

export class ProviderError extends Error {
  /**
   * @param code the provider's own error code (EC2 "InsufficientInstanceCapacity", ...), carried
   *   to the cluster's failure so the operator can look it up.
   */
  constructor(readonly category: ProviderErrorCategory, message: string, readonly code?: string) {
    super(message);
    this.name = 'ProviderError';
  }

  /** Throttling and passing faults clear by themselves; the others need someone to act. */
  get retryable(): boolean {
    return this.category === 'throttled' || this.category === 'transient';
  }
}

/** What the workflow hands a provider that buys nodes, besides the nodes. */
export interface ProvisionContext {
  /** OpenSSH public key (one line) the new nodes must accept for their ssh user: the cluster's own pair. */
  sshPublicKey: string;
  /** Progress and notices (a spot fallback, a throttled call, a stack event) for the cluster's events. */
  note(message: string): Promise<void>;
  /** Aborted when the service stops: long waits end early; the step runs again after restart. */
  signal?: AbortSignal;
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
  /** Non-empty: the request names what the provider does not have (a flavor, an image): bad input, not quota. */
  invalid?: FieldError[];
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
  /** What it is ("instance", "key-pair", "stack"), for the sweeper's findings. */
  resourceType: string;
  /** Where it is (EC2: the region); what listOwned was asked for. */
  scope: string;
  /** From the resource's tags; absent when it carries none of ours. */
  clusterId?: string;
  nodeId?: string;
  /** Still costing money or still there (an instance running, pending, stopped). */
  live: boolean;
  description: string;
}

export interface Provider {
  readonly type: ProviderType;
  /**
   * True when the provider buys its nodes (clouds): a scale beyond the planned pool adds nodes,
   * each cluster gets its own SSH key pair, and a failed create releases what it bought.
   */
  readonly buysNodes: boolean;
  /** The provider's part of a cluster spec (hosts, providerOptions); every bad field named. */
  validate(spec: ClusterSpec): FieldError[];
  /**
   * A site that runs its own scheduler (an HPC system) supplies the driver that uses it as it is,
   * in place of the kind's: the workflow then runs no playbook there (nothing to configure, nothing
   * to tear down), and proof and jobs go through this driver. Undefined: the kind's driver.
   */
  siteDriver?(kind: ClusterKind): ClusterKindDriver | undefined;
  /**
   * The spec as it is kept: defaults that could change later (EC2: the service's AWS_REGION) are
   * written in, so the cluster's resources are always looked for where they were made.
   */
  settle?(spec: ClusterSpec): ClusterSpec;
  /** The node pool createCluster records, in order; roles decide controller and workers. */
  plan(spec: ClusterSpec): PlannedNode[];
  /** One more worker for a scale beyond the pool (providers that buy nodes only). */
  planWorker?(spec: ClusterSpec): PlannedNode;
  /** Pre-flight, before anything is recorded: does the account have room for this cluster? */
  checkQuota(spec: ClusterSpec, extraWorkers?: number): Promise<QuotaCheck>;
  /** Makes the nodes exist; idempotent per node id. Returns each node's address. */
  acquire(cluster: Cluster, nodes: readonly ClusterNode[], context: ProvisionContext): Promise<AcquiredNode[]>;
  describe(cluster: Cluster): Promise<NodeDescription[]>;
  /** Gives the nodes back; idempotent; proof for each. */
  release(cluster: Cluster, nodes: readonly ClusterNode[], context?: Pick<ProvisionContext, 'note' | 'signal'>): Promise<ReleaseProof[]>;
  /** Gives back what the cluster held beside its nodes (key pair, stack); after every node is released. */
  releaseCluster?(cluster: Cluster, context?: Pick<ProvisionContext, 'note' | 'signal'>): Promise<string[]>;
  /** The scope (EC2: region) a cluster's resources live in, for the sweeper. */
  scopeOf?(spec: ClusterSpec): string;
  /** Everything this provider holds for this service in these scopes, whatever cluster it was for. */
  listOwned(scopes: readonly string[]): Promise<OwnedResource[]>;
  /** Gives back one resource listOwned found (the sweeper's action); idempotent. */
  releaseOwned?(resource: OwnedResource): Promise<string>;
}
