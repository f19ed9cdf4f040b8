// Clusters, their nodes, failures and the ordered event log that getClusterEvents pages through.
import type {
  Cluster, ClusterEvent, ClusterFailure, ClusterKind, ClusterNode, ClusterSpec, ClusterState, NodeState, ProviderType,
} from '../domain/types';
import { canClusterMove, IllegalTransitionError } from '../domain/stateMachines';
import type { Queryable } from './db';

interface ClusterRow {
  id: string;
  gateway_id: string;
  name: string;
  kind: ClusterKind;
  provider: ProviderType;
  state: ClusterState;
  state_reason: string | null;
  spec: ClusterSpec;
  created_at: number;
  updated_at: number;
}

interface NodeRow {
  id: string;
  cluster_id: string | null;
  address: string;
  state: NodeState;
  roles: string[];
  provider_resource_id: string | null;
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
    if (cluster.nodes.length > 0) {
      await tx('nodes').insert(cluster.nodes.map((node, position) => ({
        position,
        id: node.nodeId,
        cluster_id: cluster.clusterId,
        address: node.address,
        state: node.state,
        roles: node.roles,
        ssh_user: node.sshUser ?? null,
        ssh_port: node.sshPort ?? null,
        provider_resource_id: node.providerResourceId ?? null,
        created_at: cluster.now,
        updated_at: cluster.now,
      })));
    }
    await this.appendEvent(tx, cluster.clusterId, {
      kind: 'state', message: 'REQUESTED: cluster recorded', time: cluster.now,
    });
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
    const [nodes, failures] = await Promise.all([
      db('nodes').whereIn('cluster_id', ids).orderBy(['created_at', 'position', 'id']) as Promise<NodeRow[]>,
      db('cluster_failures').whereIn('cluster_id', ids).orderBy('id') as Promise<FailureRow[]>,
    ]);
    return rows.map((row) => ({
      clusterId: row.id,
      gatewayId: row.gateway_id,
      name: row.name,
      kind: row.kind,
      provider: row.provider,
      state: row.state,
      ...(row.state_reason === null ? {} : { stateReason: row.state_reason }),
      spec: row.spec,
      nodes: nodes.filter((n) => n.cluster_id === row.id).map(toNode),
      failures: failures.filter((f) => f.cluster_id === row.id).map(toFailure),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    }));
  }
}
