// The Slurm playbooks' inventory: group slurm_controller (exactly one host) and slurm_workers.
import type { AnsibleHost, AnsibleInventory } from '../../ansible/runner';
import type { Cluster, ClusterNode } from '../../domain/types';
import { controllerOf } from '../../domain/workerPool';
import { slurmNodeName } from './nodeName';

/**
 * The controller is always in the inventory; every active (not RELEASED) node with "worker" runs
 * jobs. Hosts reached over ssh are Slurm nodes named by slurmNodeName at their own address; the
 * controller's address for the other hosts is the clusterOptions slurm_controller_addr when given.
 */
export function slurmInventory(cluster: Cluster): AnsibleInventory {
  const controller = controllerOf(cluster.nodes);
  const members = cluster.nodes.filter((n) => n === controller || n.state !== 'RELEASED');
  return {
    hosts: members.map((node) => inventoryHost(cluster, node, node === controller)),
    groups: {
      slurm_controller: controller ? [controller.address] : [],
      slurm_workers: members.filter((n) => n.roles.includes('worker') && n.state !== 'RELEASED').map((n) => n.address),
    },
  };
}

/** Leaving workers only: the teardown stops their slurmd and touches nothing other hosts use. */
export function leavingInventory(cluster: Cluster, leaving: readonly ClusterNode[]): AnsibleInventory {
  const addresses = leaving.map((n) => n.address);
  return {
    hosts: slurmInventory(cluster).hosts.filter((h) => addresses.includes(h.name)),
    groups: { slurm_controller: [], slurm_workers: addresses },
  };
}

function inventoryHost(cluster: Cluster, node: ClusterNode, isController: boolean): AnsibleHost {
  const spec = cluster.spec.hosts?.find((h) => h.address === node.address);
  const local = node.address === 'localhost';
  const vars: Record<string, string> = { slurm_node_name: slurmNodeName(node) };
  if (!local) vars.slurm_node_addr = node.address;
  const controllerAddr = cluster.spec.clusterOptions?.slurm_controller_addr;
  if (isController && controllerAddr) vars.slurm_node_addr = controllerAddr;
  return {
    name: node.address,
    connection: local ? 'local' : 'ssh',
    ...(local ? {} : { address: node.address, sshUser: node.sshUser ?? spec?.sshUser ?? 'root', sshPort: node.sshPort ?? spec?.sshPort ?? 22 }),
    vars,
  };
}
