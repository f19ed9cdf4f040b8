// Cloud clusters' own SSH key pairs (private halves sealed by the caller).
import type { Queryable } from './db';
import type { StoredGatewayKey } from './gatewayKeyStore';

export type StoredClusterKey = StoredGatewayKey;

export class ClusterKeyStore {
  async get(db: Queryable, clusterId: string): Promise<StoredClusterKey | undefined> {
    const row = await db('cluster_keys').select('public_key', 'private_key_sealed').where({ cluster_id: clusterId })
      .first<{ public_key: string; private_key_sealed: string } | undefined>();
    return row ? { publicKey: row.public_key, privateKeySealed: row.private_key_sealed } : undefined;
  }

  /** Stores the pair unless the cluster has one already (two runs race: one pair wins). */
  async insertIfAbsent(db: Queryable, clusterId: string, key: StoredClusterKey, now: number): Promise<void> {
    await db('cluster_keys').insert({
      cluster_id: clusterId, public_key: key.publicKey, private_key_sealed: key.privateKeySealed, created_at: now,
    }).onConflict('cluster_id').ignore();
  }

  async delete(db: Queryable, clusterId: string): Promise<void> {
    await db('cluster_keys').where({ cluster_id: clusterId }).delete();
  }
}
