// The cluster's own EC2 key pair: its public half is what new instances put in the ssh user's
// authorized_keys. Only the public key is ever sent; the private one stays with the service.
import {
  DeleteKeyPairCommand, DescribeKeyPairsCommand, ImportKeyPairCommand, type EC2Client, type Filter, type KeyPairInfo,
} from '@aws-sdk/client-ec2';
import type { Cluster } from '../../domain/types';
import { asProviderError, withBackoff } from './errors';
import type { CallContext } from './instances';
import { keyMaterial } from '../naming';
import { keyPairName, resourceTags, TAG_CLUSTER } from './tags';


/**
 * Imports the key pair unless it is there with the same key. A pair of the same name with another
 * key (or one EC2 will not show) is replaced: instances already running keep the key they booted with.
 */
export async function ensureKeyPair(ec2: EC2Client, cluster: Cluster, publicKey: string, context: CallContext = {}): Promise<void> {
  const keyName = keyPairName(cluster.clusterId);
  if (await importKeyPair(ec2, cluster, publicKey, context)) return;
  const existing = await describeKeyPair(ec2, keyName, context);
  if (existing?.PublicKey !== undefined && keyMaterial(existing.PublicKey) === keyMaterial(publicKey)) return;
  await context.note?.(`key pair ${keyName} exists with ${existing?.PublicKey === undefined ? 'a key EC2 does not show' : 'another key'}: replacing it`);
  await deleteKeyPair(ec2, keyName, context);
  if (!await importKeyPair(ec2, cluster, publicKey, context)) {
    throw new Error(`key pair ${keyName} reappeared while it was being replaced`);
  }
}

/** True if imported; false if a pair of that name exists. */
async function importKeyPair(ec2: EC2Client, cluster: Cluster, publicKey: string, context: CallContext): Promise<boolean> {
  try {
    await withBackoff('ImportKeyPair', () => ec2.send(new ImportKeyPairCommand({
      KeyName: keyPairName(cluster.clusterId),
      PublicKeyMaterial: Buffer.from(keyMaterial(publicKey)),
      TagSpecifications: [{ ResourceType: 'key-pair', Tags: resourceTags(cluster) }],
    }), { abortSignal: context.signal }), context);
    return true;
  } catch (error) {
    if (asProviderError(error).code === 'InvalidKeyPair.Duplicate') return false;
    throw error;
  }
}

async function describeKeyPair(ec2: EC2Client, keyName: string, context: CallContext): Promise<KeyPairInfo | undefined> {
  const pairs = await describeKeyPairs(ec2, [{ Name: 'key-name', Values: [keyName] }], context);
  return pairs.find((pair) => pair.KeyName === keyName);
}

export async function describeKeyPairs(ec2: EC2Client, filters: Filter[], context: CallContext = {}): Promise<KeyPairInfo[]> {
  const out = await withBackoff('DescribeKeyPairs',
    () => ec2.send(new DescribeKeyPairsCommand({ Filters: filters, IncludePublicKey: true }), { abortSignal: context.signal }), context);
  return out.KeyPairs ?? [];
}

/** Key pairs tagged as ours, whatever cluster they were for. */
export function ourKeyPairs(ec2: EC2Client, context: CallContext = {}): Promise<KeyPairInfo[]> {
  return describeKeyPairs(ec2, [{ Name: 'tag-key', Values: [TAG_CLUSTER] }], context);
}

/** Deletes the pair; true if it was there. Idempotent. */
export async function deleteKeyPair(ec2: EC2Client, keyName: string, context: CallContext = {}): Promise<boolean> {
  const existing = await describeKeyPair(ec2, keyName, context);
  if (existing === undefined) return false;
  try {
    await withBackoff('DeleteKeyPair', () => ec2.send(new DeleteKeyPairCommand({ KeyName: keyName }), { abortSignal: context.signal }), context);
  } catch (error) {
    if (asProviderError(error).code !== 'InvalidKeyPair.NotFound') throw error;
  }
  return true;
}
