// The Mesos playbooks' inventory: groups zookeeper and mesos_masters (every active host with the
// controller role: one, three or five, a ZooKeeper ensemble beside each master) and mesos_agents
// (every active host with the worker role). Marathon and Metronome run on every master.
import type { AnsibleHost, AnsibleInventory } from '../../ansible/runner';
import type { Cluster, ClusterNode } from '../../domain/types';
import { controllerOf } from '../../domain/workerPool';

/** The masters: active controller-role nodes, the cluster's controller first. */
export function mastersOf(cluster: Pick<Cluster, 'nodes'>): ClusterNode[] {
  const first = controllerOf(cluster.nodes);
  const others = cluster.nodes.filter((n) => n !== first && n.roles.includes('controller') && n.state !== 'RELEASED');
  return first ? [first, ...others] : others;
}

export function mesosInventory(cluster: Cluster): AnsibleInventory {
  const masters = mastersOf(cluster);
  const agents = cluster.nodes.filter((n) => n.roles.includes('worker') && n.state !== 'RELEASED');
  const members = [...new Set([...masters, ...agents])];
  return {
    hosts: members.map((node) => inventoryHost(cluster, node)),
    groups: {
      zookeeper: masters.map((n) => n.address),
      mesos_masters: masters.map((n) => n.address),
      mesos_agents: agents.map((n) => n.address),
    },
  };
}

/** Leaving agents only: their teardown stops the agent and touches nothing the others use. */
export function mesosLeavingInventory(cluster: Cluster, leaving: readonly ClusterNode[]): AnsibleInventory {
  const addresses = leaving.map((n) => n.address);
  return {
    hosts: leaving.map((node) => inventoryHost(cluster, node)),
    groups: { zookeeper: [], mesos_masters: [], mesos_agents: addresses },
  };
}

function inventoryHost(cluster: Cluster, node: ClusterNode): AnsibleHost {
  const spec = cluster.spec.hosts?.find((h) => h.address === node.address);
  const local = node.address === 'localhost';
  return {
    name: node.address,
    connection: local ? 'local' : 'ssh',
    ...(local ? {} : { address: node.address, sshUser: node.sshUser ?? spec?.sshUser ?? 'root', sshPort: node.sshPort ?? spec?.sshPort ?? 22 }),
    vars: { ms_node_addr: local ? '127.0.0.1' : node.address },
  };
}
