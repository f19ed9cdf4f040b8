// Every gateway's jobs run as a Unix account of its own on the cluster's nodes, never as root and
// never as another gateway. The account is derived from the gateway id alone, so it is the same on
// every node, every cluster and every replica without any shared state: the name carries a readable
// slug and a hash, the uid a hash in a range far above ordinary users. Two gateway ids that hashed to
// one uid would meet a playbook that refuses to reuse a uid held by another name (the cluster fails
// naming it) rather than share an account.
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import type { FieldError } from './errors';

/** First uid of gateway accounts; above Debian's dynamic ranges and typical subuid maps. */
export const GATEWAY_UID_BASE = 2_000_000;
export const GATEWAY_UID_SPAN = 100_000_000;

export interface GatewayAccount {
  /** Unix user and group name, at most 32 characters: ms-<slug>-<hash>. */
  name: string;
  /** uid and gid (one group per account). */
  uid: number;
}

export function gatewayAccount(gatewayId: string): GatewayAccount {
  const digest = createHash('sha256').update(gatewayId, 'utf8').digest();
  const slug = gatewayId.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 16) || 'gw';
  return {
    name: `ms-${slug}-${digest.subarray(0, 4).toString('hex')}`,
    uid: GATEWAY_UID_BASE + (digest.readUInt32BE(4) % GATEWAY_UID_SPAN),
  };
}

/** The directory a gateway's jobs live under on every node: <jobRoot>/<account>, owned by it, 0700. */
export function gatewayRoot(jobRoot: string, gatewayId: string): string {
  return path.posix.join(jobRoot, gatewayAccount(gatewayId).name);
}

/**
 * Where a job runs: its own directory under the gateway's root, or the workingDir it asked for,
 * which must stay inside that root (relative paths are taken from the root). Lexical only: the
 * account that creates the directory cannot write outside its root anyway, so a symlink a job
 * planted leads nowhere it could not already reach.
 */
export function resolveWorkingDir(
  root: string, jobId: string, requested: string | undefined, field = 'spec.workingDir',
): { dir: string } | { error: FieldError } {
  if (requested === undefined) return { dir: path.posix.join(root, jobId) };
  const dir = path.posix.resolve(root, requested);
  if (dir === root || !dir.startsWith(`${root}/`)) {
    return { error: { field, message: `must be inside the gateway's job root ${root} (a relative path is taken from there)` } };
  }
  return { dir };
}
