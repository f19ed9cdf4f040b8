// Clusters, their nodes, failures and the ordered event log that getClusterEvents pages through.
import type {
  Cluster, ClusterEvent, ClusterFailure, ClusterKind, ClusterNode, ClusterSpec, ClusterState, NodeState, ProviderType, SiteFacts,
} from '../domain/types';
import type { ClusterCapacity, NodeCapacity, PilotCapacity } from '../domain/placement';
import { canClusterMove, IllegalTransitionError } from '../domain/stateMachines';
import { ApplicationStore } from './applicationStore';
import type { Db, Queryable } from './db';
import { queryNamed, type NamedStatement } from './namedQuery';

interface ClusterRow {
  id: string;
  gateway_id: string;
  name: string;
  kind: ClusterKind;
  provider: ProviderType;
  state: ClusterState;
  state_reason: string | null;
  operation: string | null;
  spec: ClusterSpec;
  site: SiteFacts | null;
  created_at: number;
  updated_at: number;
}

export interface NodeRow {
  id: string;
  cluster_id: string | null;
  address: string;
  state: NodeState;
  roles: string[];
  provider_resource_id: string | null;
  ssh_user: string | null;
  ssh_port: number | null;
  lost_reason?: string | null;
  lost_since?: number | string | null;
}

interface FailureRow {
  cluster_id: string;
  step: string;
  host: string | null;
  task: string | null;
  message: string;
  time: number;
}

interface EventRow {
  seq: number;
  time: number;
  kind: string;
  host: string | null;
  task: string | null;
  message: string;
}

export interface NewCluster {
  clusterId: string;
  gatewayId: string;
  userName: string;
  spec: ClusterSpec;
  nodes: (ClusterNode & { sshUser?: string; sshPort?: number })[];
  now: number;
}

export interface NewEvent {
  kind: string;
  host?: string;
  task?: string;
  message: string;
  time: number;
}

export function toNode(row: NodeRow): ClusterNode {
  return {
    nodeId: row.id,
    address: row.address,
    state: row.state,
    roles: row.roles,
    ...(row.provider_resource_id === null ? {} : { providerResourceId: row.provider_resource_id }),
    ...(row.ssh_user === null ? {} : { sshUser: row.ssh_user }),
    ...(row.ssh_port === null ? {} : { sshPort: row.ssh_port }),
    ...(row.lost_reason === null || row.lost_reason === undefined ? {} : { lostReason: row.lost_reason }),
    ...(row.lost_since === null || row.lost_since === undefined ? {} : { lostSince: Number(row.lost_since) }),
  };
}

function toFailure(row: FailureRow): ClusterFailure {
  return {
    step: row.step,
    message: row.message,
    time: row.time,
    ...(row.host === null ? {} : { host: row.host }),
    ...(row.task === null ? {} : { task: row.task }),
  };
}

export class ClusterStore {
  constructor(private readonly applications = new ApplicationStore()) {}

  /** Inserts the cluster in REQUESTED, its nodes and its first event. Run inside a transaction. */
  async insert(tx: Queryable, cluster: NewCluster): Promise<void> {
    await tx('clusters').insert({
      id: cluster.clusterId,
      gateway_id: cluster.gatewayId,
      user_name: cluster.userName,
      name: cluster.spec.name,
      kind: cluster.spec.kind,
      provider: cluster.spec.provider,
      state: 'REQUESTED',
      spec: JSON.stringify(cluster.spec),
      created_at: cluster.now,
      updated_at: cluster.now,
    });
    await this.insertNodes(tx, cluster.clusterId, cluster.nodes, 0, cluster.now);
    await this.appendEvent(tx, cluster.clusterId, {
      kind: 'state', message: 'REQUESTED: cluster recorded', time: cluster.now,
    });
  }

  /** Nodes of a cluster, listed after the first `position` it has (a scale beyond its pool adds some). */
  async insertNodes(tx: Queryable, clusterId: string, nodes: NewCluster['nodes'], position: number, now: number): Promise<void> {
    if (nodes.length === 0) return;
    await tx('nodes').insert(nodes.map((node, i) => ({
      position: position + i,
      id: node.nodeId,
      cluster_id: clusterId,
      address: node.address,
      state: node.state,
      roles: node.roles,
      ssh_user: node.sshUser ?? null,
      ssh_port: node.sshPort ?? null,
      provider_resource_id: node.providerResourceId ?? null,
      created_at: now,
      updated_at: now,
    })));
  }

  async get(db: Queryable, gatewayId: string, clusterId: string): Promise<Cluster | undefined> {
    const row = await db('clusters').where({ id: clusterId, gateway_id: gatewayId }).first<ClusterRow | undefined>();
    if (!row) return undefined;
    const [assembled] = await this.assemble(db, [row]);
    return assembled;
  }

  async list(db: Queryable, gatewayId: string): Promise<Cluster[]> {
    const rows = await db('clusters').where({ gateway_id: gatewayId }).orderBy([
      { column: 'created_at', order: 'asc' }, { column: 'id', order: 'asc' },
    ]) as ClusterRow[];
    return this.assemble(db, rows);
  }

  /** Whether the cluster exists for this gateway (events are read only after this check). */
  async exists(db: Queryable, gatewayId: string, clusterId: string): Promise<boolean> {
    const row = await db('clusters').select('id').where({ id: clusterId, gateway_id: gatewayId }).first();
    return row !== undefined;
  }

  async events(db: Queryable, clusterId: string, afterSeq: number, limit: number): Promise<ClusterEvent[]> {
    const rows = await db('cluster_events').where('cluster_id', clusterId).andWhere('seq', '>', afterSeq)
      .orderBy('seq', 'asc').limit(limit) as EventRow[];
    return rows.map((row) => ({
      seq: row.seq,
      time: row.time,
      kind: row.kind,
      message: row.message,
      ...(row.host === null ? {} : { host: row.host }),
      ...(row.task === null ? {} : { task: row.task }),
    }));
  }

  /** Whether the cluster ever logged an event of this kind (e.g. an Ansible task ran on it). */
  async hasEvent(db: Queryable, clusterId: string, kind: string): Promise<boolean> {
    return (await db('cluster_events').select('seq').where({ cluster_id: clusterId, kind }).first()) !== undefined;
  }

  async appendEvent(db: Queryable, clusterId: string, event: NewEvent): Promise<void> {
    await db('cluster_events').insert({
      cluster_id: clusterId, time: event.time, kind: event.kind, host: event.host ?? null,
      task: event.task ?? null, message: event.message,
    });
  }

  async addFailure(db: Queryable, clusterId: string, failure: ClusterFailure): Promise<void> {
    await db('cluster_failures').insert({
      cluster_id: clusterId, step: failure.step, host: failure.host ?? null, task: failure.task ?? null,
      message: failure.message, time: failure.time,
    });
  }

  /**
   * Moves a cluster to a new state with an event, under a row lock. Run inside a transaction.
   * Throws IllegalTransitionError for a move the state machine forbids.
   */
  async transition(
    tx: Queryable, clusterId: string, to: ClusterState, reason: string, now: number,
  ): Promise<ClusterState | undefined> {
    const row = await tx('clusters').select('state').where({ id: clusterId }).forUpdate()
      .first<{ state: ClusterState } | undefined>();
    if (!row) return undefined;
    if (!canClusterMove(row.state, to)) throw new IllegalTransitionError('cluster', clusterId, row.state, to);
    await tx('clusters').update({ state: to, state_reason: reason, updated_at: now }).where({ id: clusterId });
    await this.appendEvent(tx, clusterId, { kind: 'state', message: `${to}: ${reason}`, time: now });
    return row.state;
  }

  private async assemble(db: Queryable, rows: ClusterRow[]): Promise<Cluster[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((row) => row.id);
    const [nodes, failures, applications] = await Promise.all([
      db('nodes').whereIn('cluster_id', ids).orderBy(['created_at', 'position', 'id']) as Promise<NodeRow[]>,
      db('cluster_failures').whereIn('cluster_id', ids).orderBy('id') as Promise<FailureRow[]>,
      this.applications.ofClusters(db, ids),
    ]);
    return rows.map((row) => ({
      clusterId: row.id,
      gatewayId: row.gateway_id,
      name: row.name,
      kind: row.kind,
      provider: row.provider,
      state: row.state,
      ...(row.state_reason === null ? {} : { stateReason: row.state_reason }),
      ...(row.operation === null ? {} : { operation: row.operation }),
      ...(row.site === null || row.site === undefined ? {} : { site: row.site }),
      spec: row.spec,
      nodes: nodes.filter((n) => n.cluster_id === row.id).map(toNode),
      failures: failures.filter((f) => f.cluster_id === row.id).map(toFailure),
      applications: applications.filter((a) => a.clusterId === row.id),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    }));
  }

  /** Every cluster of a provider, of every gateway, in any state (the orphan sweeper's view). */
  async listByProvider(db: Queryable, provider: ProviderType): Promise<Cluster[]> {
    const rows = await db('clusters').where({ provider }).orderBy('created_at') as ClusterRow[];
    return this.assemble(db, rows);
  }

  /** A cluster by id alone, for background work acting on every gateway's behalf. */
  async getById(db: Queryable, clusterId: string): Promise<Cluster | undefined> {
    const row = await db('clusters').where({ id: clusterId }).first<ClusterRow | undefined>();
    if (!row) return undefined;
    const [assembled] = await this.assemble(db, [row]);
    return assembled;
  }

  async setNodeStates(db: Queryable, clusterId: string, state: NodeState, now: number, nodeIds?: readonly string[]): Promise<void> {
    const query = db('nodes').update({ state, updated_at: now }).where({ cluster_id: clusterId });
    if (nodeIds) query.whereIn('id', [...nodeIds]);
    await query;
  }

  /**
   * Marks nodes lost in their scheduler (reason and since when) or, with reason null, answering
   * again; a node already marked keeps its first lostSince. See src/workflows/nodeHealth.ts.
   */
  async setNodeLost(db: Queryable, clusterId: string, nodeIds: readonly string[], reason: string | null, now: number): Promise<void> {
    if (nodeIds.length === 0) return;
    await db('nodes').update({
      lost_reason: reason,
      lost_since: reason === null ? null : db.raw('coalesce(lost_since, ?)', [now]),
      updated_at: now,
    }).where({ cluster_id: clusterId }).whereIn('id', [...nodeIds]);
  }

  /** Where the provider put a node (and its own id for it). */
  async setNodeAddress(db: Queryable, nodeId: string, address: string, providerResourceId: string | undefined, now: number): Promise<void> {
    await db('nodes').update({ address, provider_resource_id: providerResourceId ?? null, updated_at: now }).where({ id: nodeId });
  }

  async setNodeCapacity(db: Queryable, nodeId: string, capacity: { cpus: number; memoryMb: number; nativeName: string }, now: number): Promise<void> {
    await db('nodes').update({
      cpus: capacity.cpus, memory_mb: capacity.memoryMb, native_name: capacity.nativeName, updated_at: now,
    }).where({ id: nodeId });
  }

  /** What an HPC system's proof learnt (partitions, accounting). */
  async setSite(db: Queryable, clusterId: string, site: SiteFacts, now: number): Promise<void> {
    await db('clusters').update({ site: JSON.stringify(site), updated_at: now }).where({ id: clusterId });
  }

  /** A new reason for the state the cluster is in (what a rollback released, say). */
  async setStateReason(db: Queryable, clusterId: string, reason: string, now: number): Promise<void> {
    await db('clusters').update({ state_reason: reason, updated_at: now }).where({ id: clusterId });
  }

  async setOperation(db: Queryable, clusterId: string, operation: string | null, now: number): Promise<void> {
    await db('clusters').update({ operation, updated_at: now }).where({ id: clusterId });
  }

  /** The worker count a scale asked for (kept while the cluster is SCALING, to resume the run). */
  async setTargetWorkers(db: Queryable, clusterId: string, workers: number | null, now: number): Promise<void> {
    await db('clusters').update({ target_workers: workers, updated_at: now }).where({ id: clusterId });
  }

  async targetWorkers(db: Queryable, clusterId: string): Promise<number | undefined> {
    const row = await db('clusters').select('target_workers').where({ id: clusterId })
      .first<{ target_workers: number | null } | undefined>();
    return row?.target_workers ?? undefined;
  }

  /** The gateway's READY clusters with each configured node's capacity and the cpus our live jobs hold. */
  async readyCapacity(db: Db, gatewayId: string): Promise<ClusterCapacity[]> {
    return (await this.readyCapacityOf(db, [gatewayId])).get(gatewayId) ?? [];
  }

  /**
   * The READY clusters of each of these gateways with their configured nodes and busy CPUs (kept
   * by the database as jobs change: migration 013), by gateway; one prepared statement for all.
   */
  async readyCapacityOf(db: Db, gatewayIds: readonly string[]): Promise<Map<string, ClusterCapacity[]>> {
    const byGateway = new Map<string, ClusterCapacity[]>();
    if (gatewayIds.length === 0) return byGateway;
    const rows = await queryNamed<{
      id: string; gateway_id: string; name: string; kind: ClusterKind; nodes: NodeCapacity[] | null; busy_cpus: number;
      site: SiteFacts | null; pilots: Omit<PilotCapacity, 'memoryMbPerNode'>[] | null;
    }>(db, READY_CAPACITY, [[...new Set(gatewayIds)]]);
    for (const row of rows) {
      const list = byGateway.get(row.gateway_id) ?? [];
      const partitions = row.site?.partitions;
      list.push({
        clusterId: row.id, name: row.name, kind: row.kind, nodes: row.nodes ?? [], busyCpus: row.busy_cpus,
        ...(partitions ? { partitions } : {}),
        ...(row.pilots ? {
          pilots: row.pilots.map((pilot) => ({
            ...pilot, memoryMbPerNode: partitions?.find((p) => p.name === pilot.partition)?.memoryMbPerNode ?? 0,
          })),
        } : {}),
      });
      byGateway.set(row.gateway_id, list);
    }
    return byGateway;
  }

  /** Ids of clusters whose jobs are watched (READY or changing size). */
  async monitoredIds(db: Queryable): Promise<string[]> {
    const rows = await db('clusters').select('id').whereIn('state', ['READY', 'SCALING', 'DEGRADED']) as { id: string }[];
    return rows.map((row) => row.id);
  }

  /** Clusters with a workflow under way (to re-queue after a crash), a rollback or repair among them. */
  async inProgress(db: Queryable): Promise<{ clusterId: string; operation: string | null; state: ClusterState }[]> {
    const rows = await db('clusters').select('id', 'operation', 'state')
      .whereIn('state', ['REQUESTED', 'PROVISIONING', 'CONFIGURING', 'SCALING', 'TEARING_DOWN'])
      .orWhere((q) => q.where({ state: 'FAILED', operation: 'rollback' }))
      .orWhere((q) => q.where({ state: 'DEGRADED', operation: 'repair' })) as
      { id: string; operation: string | null; state: ClusterState }[];
    return rows.map((row) => ({ clusterId: row.id, operation: row.operation, state: row.state }));
  }
}

const READY_CAPACITY: NamedStatement = {
  name: 'clusters_ready_capacity',
  text: `SELECT c.id, c.gateway_id, c.name, c.kind, c.busy_cpus, c.site,
                (SELECT json_agg(json_build_object('cpus', coalesce(n.cpus, 0), 'memoryMb', coalesce(n.memory_mb, 0)))
                   FROM nodes n WHERE n.cluster_id = c.id AND n.state = 'CONFIGURED'
                    AND (c.site IS NULL)) AS nodes,
                (SELECT json_agg(json_build_object('allocationId', a.id, 'partition', a.partition, 'nodes', a.node_count,
                                                   'cpusPerNode', a.cpus_per_node, 'endsAt', a.end_time,
                                                   'busyCpus', (SELECT coalesce(sum(coalesce((j.spec->>'totalCPUCount')::int, 1)), 0)::int
                                                                  FROM jobs j WHERE j.allocation_id = a.id
                                                                   AND j.state IN ('SUBMITTED', 'QUEUED', 'ACTIVE', 'SUSPENDED', 'UNKNOWN'))))
                   FROM allocations a WHERE a.cluster_id = c.id AND a.state = 'ACTIVE' AND a.end_time IS NOT NULL) AS pilots
           FROM clusters c WHERE c.gateway_id = ANY($1::text[]) AND c.state = 'READY'
          ORDER BY c.id`,
};
