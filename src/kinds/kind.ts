// What runs on a cluster's nodes. One implementation per cluster kind (Slurm; Mesos + Marathon to
// come), each in its own folder, looked up in the kind registry. The workflow sequences the steps
// (configure, verify, scale, tear down, install applications) and asks the kind for everything
// kind-specific: its options, inventory, playbooks and variables, the proof before READY, and the
// scheduler that runs jobs on it.
import type { AnsibleInventory } from '../ansible/runner';
import type { ClusterCapabilities } from '../domain/capabilities';
import type { FieldError } from '../domain/errors';
import type { Cluster, ClusterNode, ClusterSpec, SiteFacts } from '../domain/types';
import type { CommandRunner } from '../exec/commandRunner';
import type { Scheduler } from '../schedulers/scheduler';

/** What the kind learnt about one node while verifying it (placement reads it). */
export interface NodeCapacityFact {
  cpus: number;
  memoryMb: number;
  nativeName: string;
}

/** The proof before READY: failures (none means proven) and each node's capacity by node id. */
export interface VerifyResult {
  failures: { host?: string; message: string }[];
  capacity: Map<string, NodeCapacityFact>;
  /** An HPC system's partitions and accounting, as the proof found them. */
  site?: SiteFacts;
}

export interface KindPlaybooks {
  /**
   * Builds or updates the cluster on every active node. A scale-in runs it once, with the leaving
   * nodes already out of the inventory and drainVars: it drains them first, while the running
   * cluster still has them, and applies the configuration without them only after their work ended.
   */
  configure: string;
  /** Stops what configure started and removes what it wrote (whole cluster or leaving nodes). */
  teardown: string;
  /** Installs one application on every active node. */
  application: string;
}

export interface ClusterKindDriver {
  readonly kind: Cluster['kind'];
  /** What jobs it runs: request validation and placement read this. */
  readonly capabilities: ClusterCapabilities;
  readonly playbooks: KindPlaybooks;
  /** The kind's part of a cluster spec (clusterOptions, host constraints); every bad field named. */
  validate(spec: ClusterSpec): FieldError[];
  /** The inventory of the cluster's active nodes (and its controller, always). */
  inventory(cluster: Cluster): AnsibleInventory;
  /** The inventory of leaving nodes only, for the teardown that releases them. */
  leavingInventory(cluster: Cluster, leaving: readonly ClusterNode[]): AnsibleInventory;
  /** The kind's playbook variables (tunables from clusterOptions, names). */
  extraVars(cluster: Cluster): Record<string, unknown>;
  /** Variables for the configure run that drops these nodes: it drains them first, until their jobs ended. */
  drainVars(leaving: readonly ClusterNode[]): Record<string, unknown>;
  /** Proof that every active worker takes work, run on the controller. */
  verify(cluster: Cluster, controller: CommandRunner): Promise<VerifyResult>;
  /** The scheduler of this cluster, reached through its controller. */
  scheduler(cluster: Cluster, controller: CommandRunner): Scheduler;
}
