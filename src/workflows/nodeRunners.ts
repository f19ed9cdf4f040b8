// Where a command for a cluster's node runs: here for "localhost" (this machine, which only the
// gateways the operator named may use), over SSH for every other host, as the user and port the
// node was recorded with (the spec's host entry, or the cloud image's user; root and 22 by
// default), with the gateway's key, or the cluster's own key on nodes a cloud provider bought.
import type { Cluster } from '../domain/types';
import type { CommandRunner } from '../exec/commandRunner';
import type { SshRunnerPool } from '../exec/sshRunnerPool';
import type { NodeRunners } from './clusterAccess';

/** Whose key signs in on a cluster's nodes: undefined for the gateway's, else a key owner id. */
export type KeyOwnerOf = (cluster: Cluster) => string | undefined;

export function nodeRunners(local: CommandRunner, ssh: SshRunnerPool, keyOwnerOf: KeyOwnerOf = () => undefined): NodeRunners {
  return (cluster, node) => {
    if (node.address === 'localhost') return local;
    const host = cluster.spec.hosts?.find((h) => h.address === node.address);
    const keyOwner = keyOwnerOf(cluster);
    return ssh.runnerFor({
      gatewayId: cluster.gatewayId, host: node.address,
      port: node.sshPort ?? host?.sshPort ?? 22, user: node.sshUser ?? host?.sshUser ?? 'root',
      ...(keyOwner === undefined ? {} : { keyOwner }),
    });
  };
}
