// How the service reaches a built cluster: its scheduler and its proof, both through the cluster's
// kind and a command runner on its controller, and the key Ansible uses for its ssh hosts.
import type { Cluster, ClusterNode } from '../domain/types';
import { controllerOf } from '../domain/workerPool';
import type { CommandRunner } from '../exec/commandRunner';
import type { ClusterKindDriver, VerifyResult } from '../kinds/kind';
import type { KindRegistry } from '../kinds/registry';
import type { ProviderRegistry } from '../providers/registry';
import type { Scheduler } from '../schedulers/scheduler';

export type { NodeCapacityFact, VerifyResult } from '../kinds/kind';

export interface ClusterAccess {
  scheduler(cluster: Cluster): Scheduler;
  /** A command runner on the cluster's controller (an HPC system's login host). */
  controllerRunner?(cluster: Cluster): CommandRunner;
  verify(cluster: Cluster): Promise<VerifyResult>;
  sshPrivateKey(cluster: Cluster): Promise<string | undefined>;
  /**
   * Connects to each of these nodes reached over ssh (pinning its host key at first contact,
   * refusing a changed one) and returns their pinned keys as known_hosts lines for Ansible;
   * undefined when none is reached over ssh.
   */
  knownHosts?(cluster: Cluster, nodes: readonly ClusterNode[]): Promise<string[] | undefined>;
  /** Forgets the pinned host keys of nodes given back for good (their address goes to another machine). */
  forgetHostKeys?(cluster: Cluster, nodes: readonly ClusterNode[]): Promise<void>;
}

/**
 * The driver that proves a cluster and runs its jobs: the site's own (an HPC system's Slurm, used as
 * it is) when its provider supplies one, else its kind's.
 */
export function driverFor(kinds: KindRegistry, providers: ProviderRegistry | undefined, cluster: Pick<Cluster, 'kind' | 'provider'>): ClusterKindDriver {
  const provider = providers?.has(cluster.provider) ? providers.get(cluster.provider) : undefined;
  return provider?.siteDriver?.(cluster.kind) ?? kinds.get(cluster.kind);
}

/** A command runner on one node of a cluster: local for this machine, else over SSH. */
export type NodeRunners = (cluster: Cluster, node: ClusterNode) => CommandRunner;

export interface DriverAccessOptions {
  kinds: KindRegistry;
  /** For providers whose site runs its own scheduler (Provider.siteDriver). */
  providers?: ProviderRegistry;
  runners: NodeRunners;
  /** The private key Ansible signs in with on this cluster's nodes (the gateway's or the cluster's own). */
  sshPrivateKey?: (cluster: Cluster) => Promise<string | undefined>;
  /** The gateway's pin of a host as a known_hosts line (HostKeyPins.knownHostsLine). */
  knownHostsLine?: (target: { gatewayId: string; host: string; port: number }) => Promise<string | undefined>;
  /** Drops the gateway's pin of a host (HostKeyPins.forget). */
  forgetPin?: (target: { gatewayId: string; host: string; port: number }) => Promise<void>;
}

export class DriverAccess implements ClusterAccess {
  // One scheduler per cluster: it keeps what it read of the cluster's job log between polls.
  private readonly schedulers = new Map<string, Scheduler>();

  constructor(private readonly options: DriverAccessOptions) {}

  scheduler(cluster: Cluster): Scheduler {
    let scheduler = this.schedulers.get(cluster.clusterId);
    if (!scheduler) {
      scheduler = this.driver(cluster).scheduler(cluster, this.controller(cluster));
      this.schedulers.set(cluster.clusterId, scheduler);
    }
    return scheduler;
  }

  verify(cluster: Cluster): Promise<VerifyResult> {
    return this.driver(cluster).verify(cluster, this.controller(cluster));
  }

  private driver(cluster: Cluster): ClusterKindDriver {
    return driverFor(this.options.kinds, this.options.providers, cluster);
  }

  /** The signing key, only for clusters with hosts reached over ssh. */
  async sshPrivateKey(cluster: Cluster): Promise<string | undefined> {
    if (cluster.nodes.every((node) => node.address === 'localhost')) return undefined;
    return this.options.sshPrivateKey?.(cluster);
  }

  async knownHosts(cluster: Cluster, nodes: readonly ClusterNode[]): Promise<string[] | undefined> {
    const remote = nodes.filter((node) => node.address !== 'localhost');
    if (remote.length === 0 || !this.options.knownHostsLine) return undefined;
    const lines: string[] = [];
    for (const node of remote) {
      // One harmless command over the service's own connection: it pins or checks the host key.
      await this.options.runners(cluster, node).run(['true'], { timeoutMs: 30_000 });
      const port = node.sshPort ?? cluster.spec.hosts?.find((h) => h.address === node.address)?.sshPort ?? 22;
      const line = await this.options.knownHostsLine({ gatewayId: cluster.gatewayId, host: node.address, port });
      if (!line) throw new Error(`no pinned key is kept for ${node.address}:${port}; delete its host_keys row to pin it again`);
      lines.push(line);
    }
    return lines;
  }

  async forgetHostKeys(cluster: Cluster, nodes: readonly ClusterNode[]): Promise<void> {
    for (const node of nodes) {
      if (node.address === '' || node.address === 'localhost') continue;
      await this.options.forgetPin?.({ gatewayId: cluster.gatewayId, host: node.address, port: node.sshPort ?? 22 });
    }
  }

  controllerRunner(cluster: Cluster): CommandRunner {
    return this.controller(cluster);
  }

  private controller(cluster: Cluster): CommandRunner {
    const controller = controllerOf(cluster.nodes);
    if (!controller) throw new Error(`cluster ${cluster.clusterId} has no nodes`);
    return this.options.runners(cluster, controller);
  }
}
