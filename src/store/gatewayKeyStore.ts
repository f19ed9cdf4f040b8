// Gateway SSH key pairs (private halves sealed by the caller).
import type { Queryable } from './db';

export interface StoredGatewayKey {
  publicKey: string;
  privateKeySealed: string;
}

export class GatewayKeyStore {
  async get(db: Queryable, gatewayId: string): Promise<StoredGatewayKey | undefined> {
    const row = await db('gateway_keys').select('public_key', 'private_key_sealed').where({ gateway_id: gatewayId })
      .first<{ public_key: string; private_key_sealed: string } | undefined>();
    return row ? { publicKey: row.public_key, privateKeySealed: row.private_key_sealed } : undefined;
  }

  /** Stores the pair unless the gateway has one already (two first calls race: one pair wins). */
  async insertIfAbsent(db: Queryable, gatewayId: string, key: StoredGatewayKey, now: number): Promise<void> {
    await db('gateway_keys').insert({
      gateway_id: gatewayId, public_key: key.publicKey, private_key_sealed: key.privateKeySealed, created_at: now,
    }).onConflict('gateway_id').ignore();
  }
}
