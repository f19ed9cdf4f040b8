// Bare resource allocations (ProvisioningService): pilots on HPC systems, with their nodes.
import type { AllocationState, ClusterNode, ProviderType, ResourceAllocation } from '../domain/types';
import type { Queryable } from './db';
import { toNode, type NodeRow } from './clusterStore';

interface AllocationRow {
  id: string;
  gateway_id: string;
  user_name: string;
  provider: ProviderType;
  state: string;
  state_reason: string | null;
  cluster_id: string | null;
  native_job_id: string | null;
  partition: string | null;
  node_count: number | null;
  wall_time_minutes: number | null;
  cpus_per_node: number | null;
  start_time: string | number | null;
  end_time: string | number | null;
  created_at: string | number;
}

type AllocationNodeRow = NodeRow & { allocation_id: string };

/** What a pilot's record holds, besides its nodes: the owner too, for background work. */
export type StoredAllocation = ResourceAllocation & { gatewayId: string; userName: string };

export interface NewPilot {
  allocationId: string;
  gatewayId: string;
  userName: string;
  clusterId: string;
  partition: string;
  nodeCount: number;
  wallTimeMinutes: number;
  cpusPerNode: number;
  request: object;
  now: number;
}

/** States in which a pilot still needs watching. */
export const LIVE_ALLOCATION_STATES: readonly AllocationState[] = ['REQUESTED', 'QUEUED', 'ACTIVE', 'RELEASING'];

export class AllocationStore {
  async get(db: Queryable, gatewayId: string, allocationId: string): Promise<StoredAllocation | undefined> {
    const row = await db('allocations').where({ id: allocationId, gateway_id: gatewayId }).first<AllocationRow | undefined>();
    if (!row) return undefined;
    const [allocation] = await this.assemble(db, [row]);
    return allocation;
  }

  /** By id alone, for background work acting on the owner's behalf. */
  async getById(db: Queryable, allocationId: string): Promise<StoredAllocation | undefined> {
    const row = await db('allocations').where({ id: allocationId }).first<AllocationRow | undefined>();
    if (!row) return undefined;
    const [allocation] = await this.assemble(db, [row]);
    return allocation;
  }

  async list(db: Queryable, gatewayId: string): Promise<StoredAllocation[]> {
    const rows = await db('allocations').where({ gateway_id: gatewayId }).orderBy(['created_at', 'id']) as AllocationRow[];
    return this.assemble(db, rows);
  }

  /** Ids of pilots not yet ended (to resume their watch after a restart). */
  async liveIds(db: Queryable): Promise<string[]> {
    const rows = await db('allocations').select('id').whereIn('state', [...LIVE_ALLOCATION_STATES]) as { id: string }[];
    return rows.map((row) => row.id);
  }

  async insertPilot(db: Queryable, pilot: NewPilot): Promise<void> {
    await db('allocations').insert({
      id: pilot.allocationId, gateway_id: pilot.gatewayId, user_name: pilot.userName, provider: 'HPC_PILOT', state: 'REQUESTED',
      state_reason: `pilot of ${pilot.nodeCount} node(s) for ${pilot.wallTimeMinutes} min requested`, request: JSON.stringify(pilot.request),
      cluster_id: pilot.clusterId, partition: pilot.partition, node_count: pilot.nodeCount, wall_time_minutes: pilot.wallTimeMinutes,
      cpus_per_node: pilot.cpusPerNode, created_at: pilot.now, updated_at: pilot.now,
    });
  }

  /** Moves a pilot on, with what was learnt (its Slurm id, times); false when it had ended already. */
  async update(db: Queryable, allocationId: string, change: {
    state: AllocationState; reason: string; nativeJobId?: string; startTime?: number; endTime?: number;
    /** Only from this state (a release that came meanwhile wins). */
    from?: AllocationState;
  }, now: number): Promise<boolean> {
    const updated = await db('allocations').update({
      state: change.state, state_reason: change.reason.slice(0, 2000), updated_at: now,
      ...(change.nativeJobId === undefined ? {} : { native_job_id: change.nativeJobId }),
      ...(change.startTime === undefined ? {} : { start_time: change.startTime }),
      ...(change.endTime === undefined ? {} : { end_time: change.endTime }),
    }).where({ id: allocationId }).whereIn('state', change.from ? [change.from] : [...LIVE_ALLOCATION_STATES]);
    return updated === 1;
  }

  /** The hosts a running pilot holds, once. */
  async setNodes(db: Queryable, allocationId: string, hosts: readonly { nodeId: string; address: string }[], now: number): Promise<void> {
    const existing = await db('nodes').where({ allocation_id: allocationId }).count<{ count: string }[]>('id as count');
    if (Number(existing[0]?.count ?? 0) > 0) return;
    if (hosts.length === 0) return;
    await db('nodes').insert(hosts.map((host, position) => ({
      id: host.nodeId, allocation_id: allocationId, address: host.address, state: 'RUNNING', roles: ['worker'], position, created_at: now, updated_at: now,
    })));
  }

  async setNodeStates(db: Queryable, allocationId: string, state: ClusterNode['state'], now: number): Promise<void> {
    await db('nodes').update({ state, updated_at: now }).where({ allocation_id: allocationId });
  }

  private async assemble(db: Queryable, rows: AllocationRow[]): Promise<StoredAllocation[]> {
    if (rows.length === 0) return [];
    const nodes = await db('nodes').whereIn('allocation_id', rows.map((r) => r.id)).orderBy(['created_at', 'position', 'id']) as AllocationNodeRow[];
    const num = (value: string | number | null): number | undefined => (value === null ? undefined : Number(value));
    return rows.map((row) => {
      const optional = {
        clusterId: row.cluster_id ?? undefined, nativeJobId: row.native_job_id ?? undefined, partition: row.partition ?? undefined,
        nodeCount: row.node_count ?? undefined, wallTimeMinutes: row.wall_time_minutes ?? undefined, cpusPerNode: row.cpus_per_node ?? undefined,
        startTime: num(row.start_time), endTime: num(row.end_time),
      };
      const defined = Object.fromEntries(Object.entries(optional).filter(([, value]) => value !== undefined));
      return {
        allocationId: row.id,
        gatewayId: row.gateway_id,
        userName: row.user_name,
        provider: row.provider,
        state: row.state,
        ...(row.state_reason === null ? {} : { stateReason: row.state_reason }),
        ...defined,
        createdAt: Number(row.created_at),
        nodes: nodes.filter((n) => n.allocation_id === row.id).map(toNode),
      };
    });
  }
}
