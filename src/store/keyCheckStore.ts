// The sealed proof of the secrets key (migration 015), and a sealed secret to test a key against.
import type { Queryable } from './db';

export class KeyCheckStore {
  async sealedCheck(db: Queryable): Promise<string | undefined> {
    const row = await db('secrets_key_check').select('sealed').first<{ sealed: string } | undefined>();
    return row?.sealed;
  }

  /** Stores the proof unless one is there already (two first starts race: one wins). */
  async insertIfAbsent(db: Queryable, sealed: string, now: number): Promise<void> {
    await db('secrets_key_check').insert({ singleton: true, sealed, created_at: now }).onConflict('singleton').ignore();
  }

  /** Any secret sealed before the proof existed (a database older than migration 015). */
  async anySealedSecret(db: Queryable): Promise<string | undefined> {
    const row = await db('gateway_keys').select('private_key_sealed').orderBy('created_at').first<{ private_key_sealed: string } | undefined>();
    return row?.private_key_sealed;
  }
}
