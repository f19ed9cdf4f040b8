// The service's own model, free of Thrift types (a gRPC face may be asked for later). Enum-like
// values are the names of the IDL (thrift-idl/) and of Airavata (docs/airavata-mapping.md); src/rpc/ converts them to and from wire numbers.

export const JOB_STATES = [
  'SUBMITTED', 'QUEUED', 'ACTIVE', 'COMPLETE', 'CANCELED', 'FAILED', 'SUSPENDED', 'UNKNOWN', 'NON_CRITICAL_FAIL',
] as const;
export type JobState = (typeof JOB_STATES)[number];

export const PARALLELISM_TYPES = ['SERIAL', 'MPI', 'OPENMP', 'OPENMP_MPI', 'CCM', 'CRAY_MPI'] as const;
export type Parallelism = (typeof PARALLELISM_TYPES)[number];

export const PROVIDER_TYPES = ['STATIC', 'EC2', 'OPENSTACK', 'HPC_PILOT'] as const;
export type ProviderType = (typeof PROVIDER_TYPES)[number];

export const CLUSTER_KINDS = ['SLURM', 'MESOS_MARATHON'] as const;
export type ClusterKind = (typeof CLUSTER_KINDS)[number];

export const CLUSTER_STATES = [
  'REQUESTED', 'PROVISIONING', 'CONFIGURING', 'READY', 'SCALING', 'DEGRADED', 'TEARING_DOWN', 'TERMINATED', 'FAILED',
] as const;
export type ClusterState = (typeof CLUSTER_STATES)[number];

export const NODE_STATES = [
  'REQUESTED', 'PENDING', 'RUNNING', 'REACHABLE', 'CONFIGURED', 'RELEASING', 'RELEASED', 'FAILED',
] as const;
export type NodeState = (typeof NODE_STATES)[number];

export const NODE_ROLES = ['controller', 'worker'] as const;

/** Who is calling: established by the token, it scopes everything the call can see. */
export interface Caller {
  gatewayId: string;
  userName: string;
}

export const JOB_TYPES = ['BATCH', 'SERVICE'] as const;
export type JobType = (typeof JOB_TYPES)[number];

export interface JobSpec {
  jobName: string;
  taskId?: string;
  processId?: string;
  experimentId?: string;
  parallelism: Parallelism;
  command: string[];
  totalCPUCount?: number;
  nodeCount?: number;
  wallTimeLimit?: number;
  totalPhysicalMemory?: number;
  clusterId?: string;
  environment?: Record<string, string>;
  workingDir?: string;
  queueName?: string;
  applicationId?: string;
  clientToken?: string;
  /** BATCH (default): runs to completion. SERVICE: runs until cancelled (Marathon restarts it). */
  jobType?: JobType;
}

export interface JobStatusEntry {
  statusId: string;
  state: JobState;
  time: number;
  reason?: string;
}

export interface Job {
  jobId: string;
  gatewayId: string;
  userName: string;
  spec: JobSpec;
  state: JobState;
  clusterId?: string;
  nativeJobId?: string;
  exitCode?: number;
  workingDir?: string;
  stdOut?: string;
  stdErr?: string;
  createdAt: number;
  updatedAt: number;
  statuses: JobStatusEntry[];
}

export interface JobHandle {
  jobId: string;
  clusterId?: string;
  nativeJobId?: string;
  state: JobState;
}

export interface HostSpec {
  address: string;
  sshUser?: string;
  sshPort?: number;
  roles?: string[];
}

export interface ClusterSpec {
  name: string;
  kind: ClusterKind;
  provider: ProviderType;
  workerCount?: number;
  hosts?: HostSpec[];
  clientToken?: string;
  providerOptions?: Record<string, string>;
  clusterOptions?: Record<string, string>;
}

export interface ClusterNode {
  nodeId: string;
  address: string;
  state: NodeState;
  roles: string[];
  providerResourceId?: string;
  /** The account and port the service signs in with; the spec's host entry, or the provider's image user. */
  sshUser?: string;
  sshPort?: number;
  /**
   * Set while the node health watch finds the node lost in its scheduler (Slurm: DOWN, not
   * responding, drained, not listed): Slurm's reason, and since when. The node stays CONFIGURED:
   * it is ours and configured, only not answering (a provider-lost node is FAILED instead).
   */
  lostReason?: string;
  lostSince?: number;
}

export interface ClusterFailure {
  step: string;
  host?: string;
  task?: string;
  message: string;
  time: number;
}

export const APPLICATION_STATES = ['REQUESTED', 'INSTALLING', 'INSTALLED', 'FAILED'] as const;
export type ApplicationState = (typeof APPLICATION_STATES)[number];

export interface ApplicationSpec {
  name: string;
  version?: string;
  debPackages?: string[];
  archiveUrl?: string;
  archiveSha256?: string;
  installCommands?: string[][];
  environment?: Record<string, string>;
}

export interface Application {
  applicationId: string;
  clusterId: string;
  gatewayId: string;
  spec: ApplicationSpec;
  state: ApplicationState;
  stateReason?: string;
  /** Install directory on every node. */
  prefix: string;
}

/** One partition of an HPC system, as its Slurm reported it when the system was registered. */
export interface PartitionFacts {
  name: string;
  nodes: number;
  /** The smallest CPU count among its nodes (what a job may count on per node). */
  cpusPerNode: number;
  /** The smallest memory among its nodes, MB. */
  memoryMbPerNode: number;
  /** MaxTime in minutes; absent: UNLIMITED. */
  maxTimeMinutes?: number;
}

/** What was learnt of an HPC system (provider HPC_PILOT) over SSH before it was READY. */
export interface SiteFacts {
  partitions: PartitionFacts[];
  /** True when sacct answers there (final states come from it), else from our exit-status files. */
  accounting: boolean;
  checkedAt: number;
}

export interface Cluster {
  clusterId: string;
  gatewayId: string;
  name: string;
  kind: ClusterKind;
  provider: ProviderType;
  state: ClusterState;
  stateReason?: string;
  spec: ClusterSpec;
  nodes: ClusterNode[];
  failures: ClusterFailure[];
  applications?: Application[];
  /** The workflow under way (create, scale, delete, rollback, repair), when one is. */
  operation?: string;
  /** HPC systems only: partitions and accounting, as proven at registration. */
  site?: SiteFacts;
  createdAt: number;
  updatedAt: number;
}

export interface ClusterEvent {
  seq: number;
  time: number;
  kind: string;
  host?: string;
  task?: string;
  message: string;
}

/**
 * A pilot's life: REQUESTED (recorded) -> QUEUED (placeholder job waiting at the site) -> ACTIVE
 * (running: its nodes and end time known; jobs start inside it) -> ENDED (wall time reached,
 * released, or cancelled at the site); FAILED when the placeholder could not be submitted.
 */
export const ALLOCATION_STATES = ['REQUESTED', 'QUEUED', 'ACTIVE', 'RELEASING', 'ENDED', 'FAILED'] as const;
export type AllocationState = (typeof ALLOCATION_STATES)[number];

export interface ResourceAllocation {
  allocationId: string;
  provider: ProviderType;
  nodes: ClusterNode[];
  state: string;
  stateReason?: string;
  /** Pilots: the HPC system (cluster) it holds nodes of, the placeholder's job id, its partition. */
  clusterId?: string;
  nativeJobId?: string;
  partition?: string;
  /** Pilots: nodes asked for and wall time, minutes. */
  nodeCount?: number;
  wallTimeMinutes?: number;
  /** Pilots: CPUs per node (the partition's), for placement. */
  cpusPerNode?: number;
  /** Epoch ms: when the pilot started, and when it ends (start + wall time) once it runs. */
  startTime?: number;
  endTime?: number;
  createdAt?: number;
}
