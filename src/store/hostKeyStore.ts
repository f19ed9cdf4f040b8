// SSH host keys pinned at first contact, per (gateway, host, port).
import type { Queryable } from './db';

export interface HostKeyPinTarget {
  gatewayId: string;
  host: string;
  port: number;
}

export interface PinnedHostKey {
  keyType: string;
  fingerprint: string;
}

interface HostKeyRow {
  key_type: string;
  fingerprint: string;
}

export class HostKeyStore {
  /** The pinned key as an OpenSSH known_hosts line ("[host]:port" when not 22), if we have it. */
  async knownHostsLine(db: Queryable, target: HostKeyPinTarget): Promise<string | undefined> {
    const row = await db('host_keys').select('key_type', 'public_key')
      .where({ gateway_id: target.gatewayId, host: target.host, port: target.port })
      .first<{ key_type: string; public_key: string | null } | undefined>();
    if (!row?.public_key) return undefined;
    const name = target.port === 22 ? target.host : `[${target.host}]:${target.port}`;
    return `${name} ${row.key_type} ${row.public_key}`;
  }

  async get(db: Queryable, target: HostKeyPinTarget): Promise<PinnedHostKey | undefined> {
    const row = await db('host_keys').select('key_type', 'fingerprint')
      .where({ gateway_id: target.gatewayId, host: target.host, port: target.port })
      .first<HostKeyRow | undefined>();
    return row ? { keyType: row.key_type, fingerprint: row.fingerprint } : undefined;
  }

  /**
   * Pins the key unless the target has one already, and returns the pin that holds afterwards.
   * Two first contacts racing (two replicas, two runners) both insert; one row wins, and the loser
   * sees the winner's key here and must compare against it.
   */
  async pinIfAbsent(db: Queryable, target: HostKeyPinTarget, key: PinnedHostKey, now: number, publicKey?: string): Promise<PinnedHostKey> {
    await db('host_keys').insert({
      gateway_id: target.gatewayId, host: target.host, port: target.port,
      key_type: key.keyType, fingerprint: key.fingerprint, pinned_at: now, public_key: publicKey ?? null,
    }).onConflict(['gateway_id', 'host', 'port']).ignore();
    const pinned = await this.get(db, target);
    if (!pinned) throw new Error(`host key pin for ${target.host}:${target.port} vanished after insert`);
    return pinned;
  }

  async delete(db: Queryable, target: HostKeyPinTarget): Promise<void> {
    await db('host_keys').where({ gateway_id: target.gatewayId, host: target.host, port: target.port }).delete();
  }
}
