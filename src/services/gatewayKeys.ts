// The SSH identity the service uses on a gateway's behalf (getGatewaySSHPublicKey).
import type { SecretBox } from '../secrets/secretBox';
import { generateSshKeyPair } from '../secrets/sshKeys';
import type { Db } from '../store/db';
import type { GatewayKeyStore } from '../store/gatewayKeyStore';

export class GatewayKeys {
  constructor(private readonly deps: { db: Db; keys: GatewayKeyStore; box: SecretBox }) {}

  async publicKey(gatewayId: string): Promise<string> {
    return (await this.ensure(gatewayId)).publicKey;
  }

  async privateKey(gatewayId: string): Promise<string> {
    return this.deps.box.open((await this.ensure(gatewayId)).privateKeySealed);
  }

  private async ensure(gatewayId: string): Promise<{ publicKey: string; privateKeySealed: string }> {
    const { db, keys, box } = this.deps;
    const existing = await keys.get(db, gatewayId);
    if (existing) return existing;
    const pair = generateSshKeyPair(`airavata-metascheduler@${gatewayId}`);
    await keys.insertIfAbsent(db, gatewayId, { publicKey: pair.publicKey, privateKeySealed: box.seal(pair.privateKeyPem) }, Date.now());
    const stored = await keys.get(db, gatewayId);
    if (!stored) throw new Error(`gateway key for ${gatewayId} vanished after insert`);
    return stored;
  }
}
