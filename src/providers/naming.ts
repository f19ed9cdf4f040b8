// Names every provider that buys nodes gives what it makes, derived from cluster and node ids
// (never from time), so a step run twice asks for the same thing twice and a sweep recognizes it.

/** The first block of a UUID: enough to tell a cluster's nodes apart in a console. */
export function shortId(id: string): string {
  return id.split('-')[0].slice(0, 12);
}

/** The cluster's own key pair: one per cluster, so releasing it locks out no other cluster. */
export function keyPairName(clusterId: string): string {
  return `${KEY_PAIR_PREFIX}${clusterId}`;
}

export const KEY_PAIR_PREFIX = 'metascheduler-';

/** The cluster id a key pair of ours was named after; undefined for anyone else's. */
export function clusterOfKeyPair(name: string): string | undefined {
  return name.startsWith(KEY_PAIR_PREFIX) && name.length > KEY_PAIR_PREFIX.length ? name.slice(KEY_PAIR_PREFIX.length) : undefined;
}

/** 'ssh-ed25519 AAAA... comment' -> 'ssh-ed25519 AAAA...': the key itself, without its comment. */
export function keyMaterial(publicKey: string): string {
  return publicKey.trim().split(/\s+/).slice(0, 2).join(' ');
}
