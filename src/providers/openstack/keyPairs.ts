// The cluster's own Nova key pair: its public half goes into the nodes' authorized_keys. Only the
// public key is sent; the private one stays with the service. Nova key pairs belong to the user
// and carry no metadata, so ours are known by their name (metascheduler-<cluster id>).
import { keyMaterial, keyPairName } from '../naming';
import { OpenStackError, type NovaClient } from './client/index';
import { guarded, type CallContext } from './servers';

/** Imports the cluster's pair unless it is there with the same key; replaces one with another key. */
export async function ensureKeyPair(nova: NovaClient, clusterId: string, publicKey: string, context: CallContext = {}): Promise<string> {
  const name = keyPairName(clusterId);
  const existing = await guarded(() => nova.getKeyPair(name));
  if (existing !== undefined && keyMaterial(existing.public_key) === keyMaterial(publicKey)) return name;
  if (existing !== undefined) {
    await context.note?.(`key pair ${name} exists with another key: replacing it`);
    await guarded(() => nova.deleteKeyPair(name));
  }
  try {
    await nova.createKeyPair({ name, publicKey: keyMaterial(publicKey) });
  } catch (error) {
    // Made meanwhile by a rerun of this very step: fine when it holds our key.
    const again = error instanceof OpenStackError && error.status === 409 ? await guarded(() => nova.getKeyPair(name)) : undefined;
    if (again === undefined || keyMaterial(again.public_key) !== keyMaterial(publicKey)) return guarded(() => Promise.reject(error));
  }
  return name;
}

/** True when the pair was there and is deleted now. */
export function deleteKeyPair(nova: NovaClient, name: string): Promise<boolean> {
  return guarded(() => nova.deleteKeyPair(name));
}

/** cloud-config that puts the cluster's key into the default user's authorized_keys (also with keyName). */
export function sshUserData(publicKey: string): string {
  return `#cloud-config\nssh_authorized_keys:\n  - ${JSON.stringify(keyMaterial(publicKey))}\n`;
}
