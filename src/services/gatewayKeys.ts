// SSH identities the service signs in with: each gateway's (getGatewaySSHPublicKey), and each cloud
// cluster's own pair, whose public half the provider gives its new nodes. A pair is made on first
// use; its private half is kept sealed under the secrets key.
import type { SecretBox } from '../secrets/secretBox';
import { generateRsaSshKeyPair, generateSshKeyPair, type SshKeyPair } from '../secrets/sshKeys';
import type { Db, Queryable } from '../store/db';
import type { ClusterKeyStore, GatewayKeyStore, StoredGatewayKey } from '../store/gatewayKeyStore';

interface KeyPairStore {
  get(db: Queryable, ownerId: string): Promise<StoredGatewayKey | undefined>;
  insertIfAbsent(db: Queryable, ownerId: string, key: StoredGatewayKey, now: number): Promise<void>;
}

class SshKeyPairs {
  constructor(
    protected readonly deps: { db: Db; keys: KeyPairStore; box: SecretBox },
    private readonly comment: (ownerId: string) => string,
    private readonly generate: (comment: string) => SshKeyPair | Promise<SshKeyPair> = generateSshKeyPair,
  ) {}

  async publicKey(ownerId: string): Promise<string> {
    return (await this.ensure(ownerId)).publicKey;
  }

  async privateKey(ownerId: string): Promise<string> {
    return this.deps.box.open((await this.ensure(ownerId)).privateKeySealed);
  }

  private async ensure(ownerId: string): Promise<StoredGatewayKey> {
    const { db, keys, box } = this.deps;
    const existing = await keys.get(db, ownerId);
    if (existing) return existing;
    const pair = await this.generate(this.comment(ownerId));
    await keys.insertIfAbsent(db, ownerId, { publicKey: pair.publicKey, privateKeySealed: box.seal(pair.privateKeyPem) }, Date.now());
    const stored = await keys.get(db, ownerId);
    if (!stored) throw new Error(`SSH key of ${ownerId} vanished after insert`);
    return stored;
  }
}

export class GatewayKeys extends SshKeyPairs {
  constructor(deps: { db: Db; keys: GatewayKeyStore; box: SecretBox }) {
    super(deps, (gatewayId) => `airavata-metascheduler@${gatewayId}`);
  }
}

export class ClusterKeys extends SshKeyPairs {
  constructor(private readonly store: { db: Db; keys: ClusterKeyStore; box: SecretBox }) {
    // RSA: the key kind every cloud imports (EC2 takes RSA and Ed25519, not ECDSA).
    super(store, (clusterId) => `airavata-metascheduler-cluster-${clusterId}`, generateRsaSshKeyPair);
  }

  /** The cluster is gone: its private key need not be kept any longer. */
  async forget(clusterId: string): Promise<void> {
    await this.store.keys.delete(this.store.db, clusterId);
  }
}

/** The SSH key owner prefix of a cluster's own pair (SshTarget.keyOwner). */
export const CLUSTER_KEY_OWNER = 'cluster:';
