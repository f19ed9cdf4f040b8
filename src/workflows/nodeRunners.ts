// Where a command for a cluster's node runs: here for "localhost" (this machine, which only the
// gateways the operator named may use), over SSH for every other host, as the user and port the
// cluster's spec gives it (root and 22 by default), with the gateway's key.
import type { CommandRunner } from '../exec/commandRunner';
import type { SshRunnerPool } from '../exec/sshRunnerPool';
import type { NodeRunners } from './clusterAccess';

export function nodeRunners(local: CommandRunner, ssh: SshRunnerPool): NodeRunners {
  return (cluster, node) => {
    if (node.address === 'localhost') return local;
    const host = cluster.spec.hosts?.find((h) => h.address === node.address);
    return ssh.runnerFor({ gatewayId: cluster.gatewayId, host: node.address, port: host?.sshPort ?? 22, user: host?.sshUser ?? 'root' });
  };
}
