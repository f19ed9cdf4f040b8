/*
 * The Airavata meta-scheduler's Thrift contract: ProvisioningService, ClusterService and JobService,
 * served on one port through the multiplexed protocol under those names.
 * New fields take new ids and are optional; an id once used is never reused.
 */

include "airavata_base.thrift"

namespace java org.apache.airavata.metascheduler
namespace py airavata.metascheduler
namespace js airavata.metascheduler

/** Bumped on every change of this contract; each service answers it from getAPIVersion(). */
const string METASCHEDULER_API_VERSION = "0.4.0"

enum ProviderType {
  STATIC = 1,
  EC2 = 2,
  OPENSTACK = 3,
  HPC_PILOT = 4
}

enum ClusterKind {
  SLURM = 1,
  MESOS_MARATHON = 2
}

/**
 * What a job is. BATCH runs to completion (Slurm, or Metronome on a MESOS_MARATHON cluster).
 * SERVICE runs until cancelled, restarted by Marathon when it exits; only MESOS_MARATHON runs it.
 */
enum JobType {
  BATCH = 1,
  SERVICE = 2
}

enum ClusterState {
  REQUESTED = 1,
  PROVISIONING = 2,
  CONFIGURING = 3,
  READY = 4,
  SCALING = 5,
  DEGRADED = 6,
  TEARING_DOWN = 7,
  TERMINATED = 8,
  FAILED = 9
}

enum NodeState {
  REQUESTED = 1,
  PENDING = 2,
  RUNNING = 3,
  REACHABLE = 4,
  CONFIGURED = 5,
  RELEASING = 6,
  RELEASED = 7,
  FAILED = 8
}

/** Thrown by calls that name a cluster, job or allocation the caller's gateway does not have. */
exception NotFoundException {
  1: required string message,
  2: optional string resourceType,
  3: optional string resourceId
}

struct HostSpec {
  /** A host name or IP address; "localhost" means this machine, reached without ssh. */
  1: required string address,
  2: optional string sshUser,
  3: optional i32 sshPort,
  4: optional list<string> roles
}

struct ClusterSpec {
  1: required string name,
  2: required ClusterKind kind,
  3: required ProviderType provider,
  4: optional i32 workerCount,
  5: optional list<HostSpec> hosts,
  6: optional string clientToken,
  7: optional map<string, string> providerOptions,
  8: optional map<string, string> clusterOptions
}

struct Node {
  1: required string nodeId,
  2: required string address,
  3: required NodeState state,
  4: required list<string> roles,
  5: optional string providerResourceId,
  /**
   * Set while the node's scheduler reports it lost (Slurm: DOWN, not responding, drained, or not
   * listed), with Slurm's reason; the cluster is DEGRADED meanwhile. The node stays CONFIGURED:
   * a node whose machine is gone is FAILED instead. Absent: the node answers.
   */
  6: optional string lostReason,
  /** Since when the node is lost (ms since the epoch); set with lostReason. */
  7: optional i64 lostSince
}

struct ClusterFailure {
  1: required string step,
  2: optional string host,
  3: optional string task,
  4: required string message,
  5: required i64 time
}

enum ApplicationState {
  REQUESTED = 1,
  INSTALLING = 2,
  INSTALLED = 3,
  FAILED = 4
}

/** An application installed (or being installed) on a cluster by installApplication. */
struct Application {
  1: required string applicationId,
  2: required string name,
  3: optional string version,
  4: required ApplicationState state,
  5: optional string stateReason,
  /** Where it lives on every node. */
  6: optional string prefix
}

/** One partition of a registered HPC system (provider HPC_PILOT), as its Slurm reported it at registration. */
struct Partition {
  1: required string name,
  2: required i32 nodes,
  /** The smallest CPU count among its nodes. */
  3: required i32 cpusPerNode,
  /** The smallest memory among its nodes, MB. */
  4: required i32 memoryMbPerNode,
  /** MaxTime; absent: unlimited. */
  5: optional i32 maxTimeMinutes
}

struct Cluster {
  1: required string clusterId,
  2: required string name,
  3: required ClusterKind kind,
  4: required ProviderType provider,
  5: required ClusterState state,
  6: optional string stateReason,
  7: required list<Node> nodes,
  8: required list<ClusterFailure> failures,
  9: required i64 createdAt,
  10: required i64 updatedAt,
  11: required string gatewayId,
  12: optional list<Application> applications,
  /** HPC systems only: each partition proven at registration (nodes, CPUs, memory, MaxTime). */
  13: optional list<Partition> partitions,
  /** HPC systems only: sacct answers there (final states come from it, else from our exit-status files). */
  14: optional bool accounting
}

struct ClusterEvent {
  1: required i64 seq,
  2: required i64 time,
  3: required string kind,
  4: optional string host,
  5: optional string task,
  6: required string message
}

struct ApplicationSpec {
  1: required string name,
  2: optional string version,
  /** Debian packages installed on every node. */
  3: optional list<string> debPackages,
  4: optional string archiveUrl,
  /** Hex SHA-256 of the archive; required with archiveUrl. */
  5: optional string archiveSha256,
  /** Each command is an argv list, run without a shell. */
  6: optional list<list<string>> installCommands,
  /** Environment given to jobs that name this application. */
  7: optional map<string, string> environment
}

struct JobSpec {
  1: required string jobName,
  2: optional string taskId,
  3: optional string processId,
  4: optional string experimentId,
  5: required airavata_base.ApplicationParallelismType parallelism,
  /** argv, never a shell line. */
  6: required list<string> command,
  7: optional i32 totalCPUCount,
  8: optional i32 nodeCount,
  /** Minutes. */
  9: optional i32 wallTimeLimit,
  /** MB. */
  10: optional i32 totalPhysicalMemory,
  /** Unset: the meta-scheduler chooses the cluster. */
  11: optional string clusterId,
  12: optional map<string, string> environment,
  13: optional string workingDir,
  14: optional string queueName,
  15: optional string applicationId,
  16: optional string clientToken,
  /** Unset: BATCH. */
  17: optional JobType jobType
}

struct JobHandle {
  1: required string jobId,
  2: optional string clusterId,
  3: optional string nativeJobId,
  4: required airavata_base.JobState state
}

struct ResourceRequest {
  1: required ProviderType provider,
  2: required i32 count,
  3: optional map<string, string> providerOptions,
  4: optional string clientToken
}

/**
 * Pilots (provider HPC_PILOT): state REQUESTED, QUEUED (the placeholder waits at the site), ACTIVE
 * (running: nodes and endTime known), RELEASING, ENDED or FAILED.
 */
struct ResourceAllocation {
  1: required string allocationId,
  2: required ProviderType provider,
  3: required list<Node> nodes,
  4: required string state,
  5: optional string stateReason,
  /** Pilots: the HPC system (cluster) whose nodes it holds. */
  6: optional string clusterId,
  /** Pilots: the placeholder's job id at the site. */
  7: optional string nativeJobId,
  8: optional string partition,
  9: optional i32 wallTimeMinutes,
  /** Epoch ms. */
  10: optional i64 startTime,
  /** Epoch ms: when the pilot's wall time runs out. */
  11: optional i64 endTime
}

service BaseService {
  string getAPIVersion()
}

service ClusterService extends BaseService {
  string createCluster(1: required airavata_base.AuthzToken authzToken, 2: required ClusterSpec spec)
    throws (1: airavata_base.InvalidRequestException ire, 2: airavata_base.AiravataClientException ace,
            3: airavata_base.AiravataSystemException ase, 4: airavata_base.AuthorizationException ae),

  Cluster getCluster(1: required airavata_base.AuthzToken authzToken, 2: required string clusterId)
    throws (1: airavata_base.InvalidRequestException ire, 2: airavata_base.AiravataClientException ace,
            3: airavata_base.AiravataSystemException ase, 4: airavata_base.AuthorizationException ae,
            5: NotFoundException nfe),

  list<Cluster> listClusters(1: required airavata_base.AuthzToken authzToken)
    throws (1: airavata_base.InvalidRequestException ire, 2: airavata_base.AiravataClientException ace,
            3: airavata_base.AiravataSystemException ase, 4: airavata_base.AuthorizationException ae),

  list<ClusterEvent> getClusterEvents(1: required airavata_base.AuthzToken authzToken,
                                      2: required string clusterId, 3: required i64 afterSeq)
    throws (1: airavata_base.InvalidRequestException ire, 2: airavata_base.AiravataClientException ace,
            3: airavata_base.AiravataSystemException ase, 4: airavata_base.AuthorizationException ae,
            5: NotFoundException nfe),

  void scaleCluster(1: required airavata_base.AuthzToken authzToken, 2: required string clusterId,
                    3: required i32 workerCount)
    throws (1: airavata_base.InvalidRequestException ire, 2: airavata_base.AiravataClientException ace,
            3: airavata_base.AiravataSystemException ase, 4: airavata_base.AuthorizationException ae,
            5: NotFoundException nfe),

  void deleteCluster(1: required airavata_base.AuthzToken authzToken, 2: required string clusterId)
    throws (1: airavata_base.InvalidRequestException ire, 2: airavata_base.AiravataClientException ace,
            3: airavata_base.AiravataSystemException ase, 4: airavata_base.AuthorizationException ae,
            5: NotFoundException nfe),

  string installApplication(1: required airavata_base.AuthzToken authzToken, 2: required string clusterId,
                            3: required ApplicationSpec app)
    throws (1: airavata_base.InvalidRequestException ire, 2: airavata_base.AiravataClientException ace,
            3: airavata_base.AiravataSystemException ase, 4: airavata_base.AuthorizationException ae,
            5: NotFoundException nfe),

  string getGatewaySSHPublicKey(1: required airavata_base.AuthzToken authzToken)
    throws (1: airavata_base.InvalidRequestException ire, 2: airavata_base.AiravataClientException ace,
            3: airavata_base.AiravataSystemException ase, 4: airavata_base.AuthorizationException ae)
}

service JobService extends BaseService {
  JobHandle submitJob(1: required airavata_base.AuthzToken authzToken, 2: required JobSpec spec)
    throws (1: airavata_base.InvalidRequestException ire, 2: airavata_base.AiravataClientException ace,
            3: airavata_base.AiravataSystemException ase, 4: airavata_base.AuthorizationException ae,
            5: NotFoundException nfe),

  airavata_base.JobModel getJob(1: required airavata_base.AuthzToken authzToken, 2: required string jobId)
    throws (1: airavata_base.InvalidRequestException ire, 2: airavata_base.AiravataClientException ace,
            3: airavata_base.AiravataSystemException ase, 4: airavata_base.AuthorizationException ae,
            5: NotFoundException nfe),

  list<airavata_base.JobModel> getJobs(1: required airavata_base.AuthzToken authzToken,
                                       2: required list<string> jobIds)
    throws (1: airavata_base.InvalidRequestException ire, 2: airavata_base.AiravataClientException ace,
            3: airavata_base.AiravataSystemException ase, 4: airavata_base.AuthorizationException ae),

  void cancelJob(1: required airavata_base.AuthzToken authzToken, 2: required string jobId)
    throws (1: airavata_base.InvalidRequestException ire, 2: airavata_base.AiravataClientException ace,
            3: airavata_base.AiravataSystemException ase, 4: airavata_base.AuthorizationException ae,
            5: NotFoundException nfe),

  /** The gateway's jobs, newest first; clusterId narrows to one cluster. At most `limit` (default 100, max 1000). */
  list<airavata_base.JobModel> listJobs(1: required airavata_base.AuthzToken authzToken, 2: optional string clusterId,
                                        3: optional i32 limit)
    throws (1: airavata_base.InvalidRequestException ire, 2: airavata_base.AiravataClientException ace,
            3: airavata_base.AiravataSystemException ase, 4: airavata_base.AuthorizationException ae)
}

service ProvisioningService extends BaseService {
  string provisionResources(1: required airavata_base.AuthzToken authzToken, 2: required ResourceRequest request)
    throws (1: airavata_base.InvalidRequestException ire, 2: airavata_base.AiravataClientException ace,
            3: airavata_base.AiravataSystemException ase, 4: airavata_base.AuthorizationException ae),

  ResourceAllocation getAllocation(1: required airavata_base.AuthzToken authzToken, 2: required string allocationId)
    throws (1: airavata_base.InvalidRequestException ire, 2: airavata_base.AiravataClientException ace,
            3: airavata_base.AiravataSystemException ase, 4: airavata_base.AuthorizationException ae,
            5: NotFoundException nfe),

  list<ResourceAllocation> listAllocations(1: required airavata_base.AuthzToken authzToken)
    throws (1: airavata_base.InvalidRequestException ire, 2: airavata_base.AiravataClientException ace,
            3: airavata_base.AiravataSystemException ase, 4: airavata_base.AuthorizationException ae),

  void releaseResources(1: required airavata_base.AuthzToken authzToken, 2: required string allocationId)
    throws (1: airavata_base.InvalidRequestException ire, 2: airavata_base.AiravataClientException ace,
            3: airavata_base.AiravataSystemException ase, 4: airavata_base.AuthorizationException ae,
            5: NotFoundException nfe)
}
