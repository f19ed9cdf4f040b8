// Text renderings of the views for people at a terminal. --json prints the views themselves.
import { fields, isoTime, table } from './output';
import type { AllocationView, ClusterView, EventView, FailureView, JobView, NodeView } from './views';

export function clusterTable(clusters: readonly ClusterView[]): string {
  if (clusters.length === 0) return 'no clusters';
  return table(['ID', 'NAME', 'KIND', 'PROVIDER', 'STATE', 'NODES', 'CREATED'], clusters.map((c) => [
    c.clusterId, c.name, c.kind, c.provider, c.state, String(c.nodes.length), isoTime(c.createdAt),
  ]));
}

function nodeTable(nodes: readonly NodeView[]): string {
  return table(['  ADDRESS', 'STATE', 'ROLES', 'NODE ID'], nodes.map((n) => [
    `  ${n.address}`, n.lostReason === undefined ? n.state : `${n.state}, lost: ${n.lostReason}`, n.roles.join(',') || '-', n.nodeId,
  ]));
}

export function failureLine(f: FailureView): string {
  const where = [f.host, f.task ? JSON.stringify(f.task) : undefined].filter(Boolean).join(' ');
  return `${f.step}${where ? ` ${where}` : ''}: ${f.message}`;
}

export function clusterDetails(c: ClusterView): string {
  const parts = [fields([
    ['cluster', c.clusterId],
    ['name', c.name],
    ['gateway', c.gatewayId],
    ['kind', c.kind],
    ['provider', c.provider],
    ['state', c.state],
    ['reason', c.stateReason],
    ['created', isoTime(c.createdAt)],
    ['updated', isoTime(c.updatedAt)],
  ])];
  parts.push(c.nodes.length > 0 ? `nodes:\n${nodeTable(c.nodes)}` : 'nodes: none');
  if (c.partitions && c.partitions.length > 0) {
    parts.push(`partitions (final states from ${c.accounting ? 'sacct' : 'exit records'}):\n${table(['  NAME', 'NODES', 'CPUS/NODE', 'MB/NODE', 'MAXTIME'], c.partitions.map((p) => [
      `  ${p.name}`, String(p.nodes), String(p.cpusPerNode), String(p.memoryMbPerNode), p.maxTimeMinutes === undefined ? 'unlimited' : `${p.maxTimeMinutes} min`,
    ]))}`);
  }
  if (c.applications.length > 0) {
    parts.push(`applications:\n${table(['  NAME', 'VERSION', 'STATE', 'PREFIX', 'REASON'], c.applications.map((a) => [
      `  ${a.name}`, a.version ?? '-', a.state, a.prefix ?? '-', a.stateReason ?? '',
    ]))}`);
  }
  if (c.failures.length > 0) parts.push(`failures:\n${c.failures.map((f) => `  ${failureLine(f)}`).join('\n')}`);
  return parts.join('\n');
}

export function eventTable(events: readonly EventView[]): string {
  if (events.length === 0) return 'no events';
  return table(['SEQ', 'TIME', 'KIND', 'HOST', 'TASK', 'MESSAGE'], events.map((e) => [
    String(e.seq), isoTime(e.time), e.kind, e.host ?? '-', e.task ?? '-', e.message,
  ]));
}

export function jobTable(jobs: readonly JobView[]): string {
  if (jobs.length === 0) return 'no jobs';
  return table(['ID', 'NAME', 'STATE', 'EXIT', 'CREATED'], jobs.map((j) => [
    j.jobId, j.jobName ?? '-', j.state, j.exitCode === undefined ? '-' : String(j.exitCode), isoTime(j.createdAt),
  ]));
}

export function jobDetails(j: JobView): string {
  const parts = [fields([
    ['job', j.jobId],
    ['name', j.jobName],
    ['state', j.state],
    ['exit code', j.exitCode === undefined ? undefined : String(j.exitCode)],
    ['description', j.description],
    ['task', j.taskId],
    ['process', j.processId],
    ['working dir', j.workingDir],
    ['created', isoTime(j.createdAt)],
  ])];
  parts.push(`history:\n${table(['  TIME', 'STATE', 'REASON'], j.statuses.map((s) => [
    `  ${isoTime(s.time)}`, s.state, s.reason ?? '',
  ]))}`);
  if (j.stdOut !== undefined || j.stdErr !== undefined) parts.push('output: see `airavata-ms jobs logs` (--stderr)');
  return parts.join('\n');
}

export function allocationTable(allocations: readonly AllocationView[]): string {
  if (allocations.length === 0) return 'no allocations';
  return table(['ID', 'PROVIDER', 'STATE', 'NODES', 'ENDS'], allocations.map((a) => [
    a.allocationId, a.provider, a.state, String(a.nodes.length), a.endTime === undefined ? '-' : isoTime(a.endTime),
  ]));
}

export function allocationDetails(a: AllocationView): string {
  return [
    fields([
      ['allocation', a.allocationId], ['provider', a.provider], ['state', a.state], ['reason', a.stateReason],
      ['HPC system', a.clusterId], ['Slurm job', a.nativeJobId], ['partition', a.partition],
      ['wall time', a.wallTimeMinutes === undefined ? undefined : `${a.wallTimeMinutes} min`],
      ['started', a.startTime === undefined ? undefined : isoTime(a.startTime)], ['ends', a.endTime === undefined ? undefined : isoTime(a.endTime)],
    ]),
    a.nodes.length > 0 ? `nodes:\n${nodeTable(a.nodes)}` : 'nodes: none',
  ].join('\n');
}
