// Wire structs -> plain objects: enums by name, i64 as numbers (epoch ms), unset as absent. These
// are what --json prints and what the text renderings read, so both say the same thing.
import type { ClusterEvent } from '../domain/types';
import type Int64 from 'node-int64';
import { base, ms } from '../rpc/wire';

export function num(value: Int64 | number | undefined | null): number | undefined {
  if (value === undefined || value === null) return undefined;
  return typeof value === 'number' ? value : value.toNumber();
}

function name(names: Record<number, string>, value: number | undefined | null): string {
  if (value === undefined || value === null) return 'UNSET';
  return names[value] ?? String(value);
}

function opt<T>(value: T | null | undefined): T | undefined {
  return value === null ? undefined : value;
}

export interface NodeView {
  nodeId: string;
  address: string;
  state: string;
  roles: string[];
  providerResourceId?: string;
  /** Set while Slurm reports the node lost (the node health watch). */
  lostReason?: string;
  lostSince?: number;
}

export interface FailureView {
  step: string;
  host?: string;
  task?: string;
  message: string;
  time?: number;
}

export interface ApplicationView {
  applicationId: string;
  name: string;
  version?: string;
  state: string;
  stateReason?: string;
  prefix?: string;
}

export interface ClusterView {
  clusterId: string;
  name: string;
  gatewayId: string;
  kind: string;
  provider: string;
  state: string;
  stateReason?: string;
  nodes: NodeView[];
  failures: FailureView[];
  applications: ApplicationView[];
  /** HPC systems: each partition as proven at registration. */
  partitions?: { name: string; nodes: number; cpusPerNode: number; memoryMbPerNode: number; maxTimeMinutes?: number }[];
  accounting?: boolean;
  createdAt?: number;
  updatedAt?: number;
}

/** A cluster event as the CLI shows it: the service's own shape. */
export type EventView = ClusterEvent;

export interface JobStatusView {
  state: string;
  time?: number;
  reason?: string;
}

export interface JobView {
  jobId: string;
  jobName?: string;
  state: string;
  exitCode?: number;
  description: string;
  taskId?: string;
  processId?: string;
  workingDir?: string;
  createdAt?: number;
  statuses: JobStatusView[];
  stdOut?: string;
  stdErr?: string;
}

export interface AllocationView {
  allocationId: string;
  provider: string;
  state: string;
  stateReason?: string;
  nodes: NodeView[];
  clusterId?: string;
  nativeJobId?: string;
  partition?: string;
  wallTimeMinutes?: number;
  startTime?: number;
  endTime?: number;
}

export interface JobHandleView {
  jobId: string;
  clusterId?: string;
  nativeJobId?: string;
  state: string;
}

export function nodeView(node: ms.Node): NodeView {
  return {
    nodeId: node.nodeId,
    address: node.address,
    state: name(ms.NodeState, node.state),
    roles: node.roles ?? [],
    providerResourceId: opt(node.providerResourceId),
    lostReason: opt(node.lostReason),
    lostSince: num(node.lostSince),
  };
}

export function failureView(failure: ms.ClusterFailure): FailureView {
  return {
    step: failure.step, host: opt(failure.host), task: opt(failure.task), message: failure.message, time: num(failure.time),
  };
}

export function clusterView(cluster: ms.Cluster): ClusterView {
  return {
    clusterId: cluster.clusterId,
    name: cluster.name,
    gatewayId: cluster.gatewayId,
    kind: name(ms.ClusterKind, cluster.kind),
    provider: name(ms.ProviderType, cluster.provider),
    state: name(ms.ClusterState, cluster.state),
    stateReason: opt(cluster.stateReason),
    nodes: (cluster.nodes ?? []).map(nodeView),
    failures: (cluster.failures ?? []).map(failureView),
    applications: (cluster.applications ?? []).map((app) => ({
      applicationId: app.applicationId,
      name: app.name,
      version: opt(app.version),
      state: name(ms.ApplicationState, app.state),
      stateReason: opt(app.stateReason),
      prefix: opt(app.prefix),
    })),
    ...(cluster.partitions ? {
      partitions: cluster.partitions.map((p) => ({
        name: p.name, nodes: p.nodes, cpusPerNode: p.cpusPerNode, memoryMbPerNode: p.memoryMbPerNode, maxTimeMinutes: opt(p.maxTimeMinutes),
      })),
    } : {}),
    ...(cluster.accounting === undefined || cluster.accounting === null ? {} : { accounting: cluster.accounting }),
    createdAt: num(cluster.createdAt),
    updatedAt: num(cluster.updatedAt),
  };
}

export function eventView(event: ms.ClusterEvent): EventView {
  return {
    seq: num(event.seq) ?? 0,
    time: num(event.time) ?? 0,
    kind: event.kind,
    host: opt(event.host),
    task: opt(event.task),
    message: event.message,
  };
}

/** Airavata's marker for ids the client did not set reads as absent. */
function setId(id: string | undefined | null): string | undefined {
  return id === undefined || id === null || id === base.DEFAULT_ID ? undefined : id;
}

export function jobView(job: base.JobModel, options: { tails: boolean } = { tails: true }): JobView {
  const statuses = (job.jobStatuses ?? []).map((s) => ({
    state: name(base.JobState, s.jobState), time: num(s.timeOfStateChange), reason: opt(s.reason),
  }));
  return {
    jobId: job.jobId,
    jobName: opt(job.jobName),
    state: statuses.at(-1)?.state ?? 'UNKNOWN',
    exitCode: opt(job.exitCode),
    description: job.jobDescription,
    taskId: setId(job.taskId),
    processId: setId(job.processId),
    workingDir: opt(job.workingDir),
    createdAt: num(job.creationTime),
    statuses,
    ...(options.tails ? { stdOut: opt(job.stdOut), stdErr: opt(job.stdErr) } : {}),
  };
}

export function jobHandleView(handle: ms.JobHandle): JobHandleView {
  return {
    jobId: handle.jobId,
    clusterId: opt(handle.clusterId),
    nativeJobId: opt(handle.nativeJobId),
    state: name(base.JobState, handle.state),
  };
}

export function allocationView(allocation: ms.ResourceAllocation): AllocationView {
  return {
    allocationId: allocation.allocationId,
    provider: name(ms.ProviderType, allocation.provider),
    state: allocation.state,
    stateReason: opt(allocation.stateReason),
    nodes: (allocation.nodes ?? []).map(nodeView),
    clusterId: opt(allocation.clusterId),
    nativeJobId: opt(allocation.nativeJobId),
    partition: opt(allocation.partition),
    wallTimeMinutes: opt(allocation.wallTimeMinutes),
    startTime: num(allocation.startTime),
    endTime: num(allocation.endTime),
  };
}

export const FINAL_JOB_STATES: ReadonlySet<string> = new Set(['COMPLETE', 'FAILED', 'CANCELED']);
