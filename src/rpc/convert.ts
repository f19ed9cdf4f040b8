// Conversions between the wire types of gen-ts/ and the service's own model. Enum values travel as
// numbers on the wire and as names inside; an unknown number becomes a name validation rejects.
import Int64 from 'node-int64';
import * as domain from '../domain/types';
import type { RawClusterSpec, RawJobSpec } from '../domain/validation';
import { base, ms } from './wire';

/** Airavata's marker for an id the client did not set. */
export const NOT_SET = base.DEFAULT_ID;

function enumName(names: Record<number, string>, value: number | undefined): string {
  if (value === undefined || value === null) return 'UNSET';
  return names[value] ?? String(value);
}

function mapToRecord(map: Map<string, string> | undefined): Record<string, string> | undefined {
  return map === undefined || map === null ? undefined : Object.fromEntries(map);
}

function optional<T>(value: T | null | undefined): T | undefined {
  return value === null ? undefined : value;
}

export function toInt64(value: number): Int64 {
  return new Int64(value);
}

/** An i64 argument as a number; NaN when it does not fit a double exactly. */
export function fromInt64(value: Int64 | number | undefined): number {
  if (value === undefined || value === null) return Number.NaN;
  if (typeof value === 'number') return value;
  const n = value.toNumber(false);
  return Number.isFinite(n) ? n : Number.NaN;
}

export function toRawJobSpec(spec: ms.JobSpec): RawJobSpec {
  return {
    jobName: spec.jobName,
    taskId: optional(spec.taskId),
    processId: optional(spec.processId),
    experimentId: optional(spec.experimentId),
    parallelism: enumName(base.ApplicationParallelismType, spec.parallelism),
    command: spec.command ?? [],
    totalCPUCount: optional(spec.totalCPUCount),
    nodeCount: optional(spec.nodeCount),
    wallTimeLimit: optional(spec.wallTimeLimit),
    totalPhysicalMemory: optional(spec.totalPhysicalMemory),
    clusterId: optional(spec.clusterId),
    environment: mapToRecord(spec.environment),
    workingDir: optional(spec.workingDir),
    queueName: optional(spec.queueName),
    applicationId: optional(spec.applicationId),
    clientToken: optional(spec.clientToken),
    jobType: spec.jobType === undefined || spec.jobType === null ? undefined : enumName(ms.JobType, spec.jobType),
  };
}

export function toRawClusterSpec(spec: ms.ClusterSpec): RawClusterSpec {
  return {
    name: spec.name,
    kind: enumName(ms.ClusterKind, spec.kind),
    provider: enumName(ms.ProviderType, spec.provider),
    workerCount: optional(spec.workerCount),
    hosts: spec.hosts?.map((host) => ({
      address: host.address,
      sshUser: optional(host.sshUser),
      sshPort: optional(host.sshPort),
      roles: optional(host.roles),
    })),
    clientToken: optional(spec.clientToken),
    providerOptions: mapToRecord(spec.providerOptions),
    clusterOptions: mapToRecord(spec.clusterOptions),
  };
}

export function toWireJobHandle(handle: domain.JobHandle): ms.JobHandle {
  return new ms.JobHandle({
    jobId: handle.jobId,
    clusterId: handle.clusterId,
    nativeJobId: handle.nativeJobId,
    state: base.JobState[handle.state],
  });
}

function describeJob(job: domain.Job): string {
  const { spec } = job;
  const needs = [
    spec.parallelism,
    spec.totalCPUCount !== undefined ? `${spec.totalCPUCount} cpus` : undefined,
    spec.nodeCount !== undefined ? `${spec.nodeCount} nodes` : undefined,
    spec.wallTimeLimit !== undefined ? `${spec.wallTimeLimit} min` : undefined,
    spec.totalPhysicalMemory !== undefined ? `${spec.totalPhysicalMemory} MB` : undefined,
  ].filter((part) => part !== undefined);
  return `${needs.join(', ')}: ${JSON.stringify(spec.command)}`;
}

export function toWireJobModel(job: domain.Job): base.JobModel {
  return new base.JobModel({
    jobId: job.jobId,
    taskId: job.spec.taskId ?? NOT_SET,
    processId: job.spec.processId ?? NOT_SET,
    jobDescription: describeJob(job),
    creationTime: toInt64(job.createdAt),
    jobStatuses: job.statuses.map((status) => new base.JobStatus({
      jobState: base.JobState[status.state],
      timeOfStateChange: toInt64(status.time),
      reason: status.reason,
      statusId: status.statusId,
    })),
    jobName: job.spec.jobName,
    workingDir: job.workingDir ?? job.spec.workingDir,
    stdOut: job.stdOut,
    stdErr: job.stdErr,
    exitCode: job.exitCode,
  });
}

function toWireNode(node: domain.ClusterNode): ms.Node {
  return new ms.Node({
    nodeId: node.nodeId,
    address: node.address,
    state: ms.NodeState[node.state],
    roles: node.roles,
    providerResourceId: node.providerResourceId,
    lostReason: node.lostReason,
    lostSince: node.lostSince === undefined ? undefined : new Int64(node.lostSince),
  });
}

export function toWireCluster(cluster: domain.Cluster): ms.Cluster {
  return new ms.Cluster({
    clusterId: cluster.clusterId,
    name: cluster.name,
    kind: ms.ClusterKind[cluster.kind],
    provider: ms.ProviderType[cluster.provider],
    state: ms.ClusterState[cluster.state],
    stateReason: cluster.stateReason,
    nodes: cluster.nodes.map(toWireNode),
    failures: cluster.failures.map((failure) => new ms.ClusterFailure({
      step: failure.step, host: failure.host, task: failure.task, message: failure.message, time: toInt64(failure.time),
    })),
    createdAt: toInt64(cluster.createdAt),
    updatedAt: toInt64(cluster.updatedAt),
    gatewayId: cluster.gatewayId,
    applications: cluster.applications?.map((app) => new ms.Application({
      applicationId: app.applicationId, name: app.spec.name, version: app.spec.version,
      state: ms.ApplicationState[app.state], stateReason: app.stateReason, prefix: app.prefix,
    })),
    partitions: cluster.site?.partitions.map((p) => new ms.Partition({
      name: p.name, nodes: p.nodes, cpusPerNode: p.cpusPerNode, memoryMbPerNode: p.memoryMbPerNode, maxTimeMinutes: p.maxTimeMinutes,
    })),
    accounting: cluster.site?.accounting,
  });
}

export function toRawApplicationSpec(app: ms.ApplicationSpec): domain.ApplicationSpec {
  return {
    name: app.name,
    version: optional(app.version),
    debPackages: optional(app.debPackages),
    archiveUrl: optional(app.archiveUrl),
    archiveSha256: optional(app.archiveSha256),
    installCommands: optional(app.installCommands),
    environment: mapToRecord(app.environment),
  };
}

export function toWireClusterEvent(event: domain.ClusterEvent): ms.ClusterEvent {
  return new ms.ClusterEvent({
    seq: toInt64(event.seq), time: toInt64(event.time), kind: event.kind, host: event.host, task: event.task,
    message: event.message,
  });
}

export function toWireAllocation(allocation: domain.ResourceAllocation): ms.ResourceAllocation {
  return new ms.ResourceAllocation({
    allocationId: allocation.allocationId,
    provider: ms.ProviderType[allocation.provider],
    nodes: allocation.nodes.map(toWireNode),
    state: allocation.state,
    stateReason: allocation.stateReason,
    clusterId: allocation.clusterId,
    nativeJobId: allocation.nativeJobId,
    partition: allocation.partition,
    wallTimeMinutes: allocation.wallTimeMinutes,
    startTime: allocation.startTime === undefined ? undefined : toInt64(allocation.startTime),
    endTime: allocation.endTime === undefined ? undefined : toInt64(allocation.endTime),
  });
}
