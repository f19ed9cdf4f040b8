// Host keys of the machines we reach over SSH: pinned at the first successful connection (trust on
// first use, per gateway), compared on every later one. Nothing here ever re-pins a changed key:
// a reinstalled host is re-trusted by an operator deleting its row, not by the service.
import { createHash } from 'node:crypto';
import type { ServerHostKeyAlgorithm } from 'ssh2';
import type { Db } from '../store/db';
import type { HostKeyPinTarget, HostKeyStore, PinnedHostKey } from '../store/hostKeyStore';

export type { HostKeyPinTarget, PinnedHostKey } from '../store/hostKeyStore';

/**
 * The key type and OpenSSH-style fingerprint ("SHA256:" + unpadded base64 of the SHA-256 of the
 * key blob: what `ssh-keygen -l` and ssh's own prompts print) of a host key in SSH wire format.
 */
export function fingerprintHostKey(blob: Buffer): PinnedHostKey {
  // The blob starts with the key type as an SSH string: uint32 length, then that many bytes.
  if (blob.length < 4) throw new Error('host key blob too short');
  const length = blob.readUInt32BE(0);
  if (length === 0 || 4 + length > blob.length) throw new Error('host key blob has a bad key type length');
  const keyType = blob.subarray(4, 4 + length).toString('latin1');
  if (!/^[\x21-\x7e]+$/.test(keyType)) throw new Error('host key blob has a bad key type');
  const fingerprint = `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
  return { keyType, fingerprint };
}

/** Host names compare case-insensitively; the pin and the pool both key on this form. */
export function normalizeHost(host: string): string {
  return host.trim().toLowerCase();
}

const ALGORITHMS_BY_KEY_TYPE: Readonly<Record<string, readonly ServerHostKeyAlgorithm[]>> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};

/**
 * The host key algorithms to ask for first when a key of this type is pinned. A server with keys
 * of several types shows the one the client prefers; without this, a server that gains a key of a
 * type the client prefers (or a client whose preference changes) would present a different key
 * and be refused although its pinned key is still there. Empty for a type we cannot ask for.
 */
export function preferredHostKeyAlgorithms(keyType: string): readonly ServerHostKeyAlgorithm[] {
  return ALGORITHMS_BY_KEY_TYPE[keyType] ?? [];
}

/** Reads and writes pins; the comparison itself is the connection's (sshConnection.ts). */
export class HostKeyPins {
  private readonly now: () => number;

  constructor(private readonly deps: { db: Db; store: HostKeyStore; now?: () => number }) {
    this.now = deps.now ?? Date.now;
  }

  pinned(target: HostKeyPinTarget): Promise<PinnedHostKey | undefined> {
    return this.deps.store.get(this.deps.db, normalizeTarget(target));
  }

  /** Pins `key` (whose wire form is `blob`) if nothing is pinned yet; returns the pin that holds now (maybe a racer's). */
  pin(target: HostKeyPinTarget, key: PinnedHostKey, blob?: Buffer): Promise<PinnedHostKey> {
    return this.deps.store.pinIfAbsent(this.deps.db, normalizeTarget(target), key, this.now(), blob?.toString('base64'));
  }

  /**
   * Drops the pin: the machine at that address is gone for good (a cloud node we released), and
   * the next one to get the address is a new machine with its own key.
   */
  forget(target: HostKeyPinTarget): Promise<void> {
    return this.deps.store.delete(this.deps.db, normalizeTarget(target));
  }

  /** The pinned key as a known_hosts line for OpenSSH (Ansible), when the whole key was kept. */
  knownHostsLine(target: HostKeyPinTarget): Promise<string | undefined> {
    return this.deps.store.knownHostsLine(this.deps.db, normalizeTarget(target));
  }
}

function normalizeTarget(target: HostKeyPinTarget): HostKeyPinTarget {
  return { gatewayId: target.gatewayId, host: normalizeHost(target.host), port: target.port };
}
