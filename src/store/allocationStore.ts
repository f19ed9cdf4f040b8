// Bare resource allocations (ProvisioningService) and their nodes.
import type { ProviderType, ResourceAllocation } from '../domain/types';
import type { Queryable } from './db';
import { toNode, type NodeRow } from './clusterStore';

interface AllocationRow {
  id: string;
  provider: ProviderType;
  state: string;
  state_reason: string | null;
}

type AllocationNodeRow = NodeRow & { allocation_id: string };

export class AllocationStore {
  async get(db: Queryable, gatewayId: string, allocationId: string): Promise<ResourceAllocation | undefined> {
    const row = await db('allocations').where({ id: allocationId, gateway_id: gatewayId }).first<AllocationRow | undefined>();
    if (!row) return undefined;
    const [allocation] = await this.assemble(db, [row]);
    return allocation;
  }

  async list(db: Queryable, gatewayId: string): Promise<ResourceAllocation[]> {
    const rows = await db('allocations').where({ gateway_id: gatewayId }).orderBy(['created_at', 'id']) as AllocationRow[];
    return this.assemble(db, rows);
  }

  private async assemble(db: Queryable, rows: AllocationRow[]): Promise<ResourceAllocation[]> {
    if (rows.length === 0) return [];
    const nodes = await db('nodes').whereIn('allocation_id', rows.map((r) => r.id)).orderBy(['created_at', 'position', 'id']) as AllocationNodeRow[];
    return rows.map((row) => ({
      allocationId: row.id,
      provider: row.provider,
      state: row.state,
      ...(row.state_reason === null ? {} : { stateReason: row.state_reason }),
      nodes: nodes.filter((n) => n.allocation_id === row.id).map(toNode),
    }));
  }
}
