// SSH key pairs the service keeps (private halves sealed by the caller): one table per owner kind,
// the same shape and rules in each. Gateways' pairs in gateway_keys, cloud clusters' in cluster_keys.
import type { Queryable } from './db';

export interface StoredGatewayKey {
  publicKey: string;
  privateKeySealed: string;
}

class SealedKeyPairStore {
  constructor(private readonly table: string, private readonly ownerColumn: string) {}

  async get(db: Queryable, ownerId: string): Promise<StoredGatewayKey | undefined> {
    const row = await db(this.table).select('public_key', 'private_key_sealed').where({ [this.ownerColumn]: ownerId })
      .first<{ public_key: string; private_key_sealed: string } | undefined>();
    return row ? { publicKey: row.public_key, privateKeySealed: row.private_key_sealed } : undefined;
  }

  /** Stores the pair unless the owner has one already (two first calls race: one pair wins). */
  async insertIfAbsent(db: Queryable, ownerId: string, key: StoredGatewayKey, now: number): Promise<void> {
    await db(this.table).insert({
      [this.ownerColumn]: ownerId, public_key: key.publicKey, private_key_sealed: key.privateKeySealed, created_at: now,
    }).onConflict(this.ownerColumn).ignore();
  }

  async delete(db: Queryable, ownerId: string): Promise<void> {
    await db(this.table).where({ [this.ownerColumn]: ownerId }).delete();
  }
}

export class GatewayKeyStore extends SealedKeyPairStore {
  constructor() {
    super('gateway_keys', 'gateway_id');
  }
}

/** Cloud clusters' own pairs (migration 016), forgotten with the cluster. */
export class ClusterKeyStore extends SealedKeyPairStore {
  constructor() {
    super('cluster_keys', 'cluster_id');
  }
}
