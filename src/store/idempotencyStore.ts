// Client tokens of creating calls other than submitJob (jobs carry their keys on their own row).
import type { Queryable } from './db';

export interface IdempotencyKey {
  gatewayId: string;
  operation: string;
  key: string;
}

export interface ClaimResult {
  /** True when this call claimed the key; false when an earlier call holds it. */
  claimed: boolean;
  resourceId: string;
  fingerprint: string;
}

export class IdempotencyStore {
  /**
   * Claims the key for resourceId, or returns the earlier claim. Run in the same transaction as the
   * creation it guards, so a claim without its resource can never be committed.
   */
  async claim(tx: Queryable, key: IdempotencyKey, resourceId: string, fingerprint: string, now: number): Promise<ClaimResult> {
    const inserted = await tx('idempotency_keys')
      .insert({ gateway_id: key.gatewayId, operation: key.operation, key: key.key, resource_id: resourceId, fingerprint, created_at: now })
      .onConflict(['gateway_id', 'operation', 'key']).ignore()
      .returning('resource_id') as { resource_id: string }[];
    if (inserted.length === 1) return { claimed: true, resourceId, fingerprint };
    const existing = await tx('idempotency_keys').select('resource_id', 'fingerprint')
      .where({ gateway_id: key.gatewayId, operation: key.operation, key: key.key })
      .first<{ resource_id: string; fingerprint: string }>();
    return { claimed: false, resourceId: existing.resource_id, fingerprint: existing.fingerprint };
  }
}
