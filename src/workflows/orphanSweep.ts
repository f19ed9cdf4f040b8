// The orphan sweeper: nothing a provider bought for us may be forgotten. Each run lists every
// resource the providers hold for this service (tagged with our cluster tag) and
//   - releases those whose cluster is TERMINATED, FAILED with every node released, or unknown to
//     this database (a create that crashed before it was recorded, a database restored from an
//     older backup), and those a live cluster let go of (a node it RELEASED);
//   - marks nodes whose resource is gone (a spot interruption, an instance terminated by hand)
//     FAILED, and their READY cluster DEGRADED with a repair queued that replaces them.
// Every finding is a log line and, when the cluster is known, a cluster event. In dry-run mode it
// only reports. The run is a durable queue task that queues the next one when it ends.
import type { Cluster, ClusterNode, ProviderType } from '../domain/types';
import type { Logger } from '../log';
import type { OwnedResource, Provider } from '../providers/provider';
import type { ProviderRegistry } from '../providers/registry';
import { workflowQueue } from '../services/clusterService';
import type { ClusterStore } from '../store/clusterStore';
import type { Db } from '../store/db';
import type { QueueStore } from '../store/queueStore';

export interface OrphanSweepDeps {
  db: Db;
  clusters: ClusterStore;
  queue: QueueStore;
  providers: ProviderRegistry;
  log: Logger;
  intervalMs: number;
  /** Report only: nothing is released or marked. */
  dryRun: boolean;
  /** Scopes swept even when no cluster names them (EC2: AWS_REGION and SWEEP_REGIONS). */
  defaultScopes: Partial<Record<ProviderType, readonly string[]>>;
  now?: () => number;
}

export interface SweepFinding {
  provider: ProviderType;
  resource: OwnedResource;
  /** Why it is an orphan, or why the node is marked lost. */
  reason: string;
  action: 'released' | 'would release' | 'marked lost' | 'would mark lost' | 'release failed';
  detail?: string;
}

/** Node states of a node the cluster counts on (a lost one among them makes it DEGRADED). */
const COUNTED_ON: readonly string[] = ['RUNNING', 'REACHABLE', 'CONFIGURED'];

export class OrphanSweeper {
  private readonly now: () => number;

  constructor(private readonly deps: OrphanSweepDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Queues the next run unless one is queued already (at start, after a crash). */
  async schedule(first = false): Promise<void> {
    const runAt = new Date(this.now() + (first ? Math.min(this.deps.intervalMs, 60_000) : this.deps.intervalMs));
    if (first) await this.deps.queue.enqueueIfAbsent(this.deps.db, 'orphan_sweep', {}, { jobKey: 'orphan_sweep', runAt });
    else await this.deps.queue.enqueue(this.deps.db, 'orphan_sweep', {}, { jobKey: 'orphan_sweep', runAt });
  }

  /** One run, then the next one queued (also after a failed run: the queue retries this one). */
  async run(): Promise<SweepFinding[]> {
    const findings = await this.sweep();
    await this.schedule();
    return findings;
  }

  async sweep(): Promise<SweepFinding[]> {
    const findings: SweepFinding[] = [];
    for (const type of this.deps.providers.keys()) {
      const provider = this.deps.providers.get(type);
      if (!provider.buysNodes) continue;
      findings.push(...await this.sweepProvider(type, provider));
    }
    this.deps.log.info({ findings: findings.length, dryRun: this.deps.dryRun }, 'orphan sweep done');
    return findings;
  }

  private async sweepProvider(type: ProviderType, provider: Provider): Promise<SweepFinding[]> {
    const clusters = await this.deps.clusters.listByProvider(this.deps.db, type);
    const scopes = new Set(this.deps.defaultScopes[type] ?? []);
    for (const cluster of clusters) {
      const scope = safeScope(provider, cluster);
      if (scope) scopes.add(scope);
    }
    if (scopes.size === 0) return [];
    const byId = new Map(clusters.map((c) => [c.clusterId, c]));
    const owned = await provider.listOwned([...scopes].sort());
    const findings: SweepFinding[] = [];
    for (const resource of owned) {
      const cluster = resource.clusterId === undefined ? undefined : byId.get(resource.clusterId);
      const reason = orphanReason(resource, cluster);
      if (reason) findings.push(await this.releaseOrphan(type, provider, resource, cluster, reason));
    }
    findings.push(...await this.markLost(type, provider, clusters, owned));
    return findings;
  }

  private async releaseOrphan(
    type: ProviderType, provider: Provider, resource: OwnedResource, cluster: Cluster | undefined, reason: string,
  ): Promise<SweepFinding> {
    const finding: SweepFinding = { provider: type, resource, reason, action: this.deps.dryRun ? 'would release' : 'released' };
    if (!this.deps.dryRun) {
      try {
        if (!provider.releaseOwned) throw new Error(`the ${type} provider cannot release what it lists`);
        finding.detail = await provider.releaseOwned(resource);
      } catch (error) {
        finding.action = 'release failed';
        finding.detail = error instanceof Error ? error.message : String(error);
      }
    }
    await this.report(finding, cluster);
    return finding;
  }

  /**
   * Nodes a READY cluster (or one the node health watch made DEGRADED) counts on whose resource is
   * gone: FAILED, the cluster DEGRADED, a repair queued.
   */
  private async markLost(type: ProviderType, provider: Provider, clusters: readonly Cluster[], owned: readonly OwnedResource[]): Promise<SweepFinding[]> {
    const liveIds = new Set(owned.filter((r) => r.live && r.nodeId !== undefined).map((r) => r.providerResourceId));
    const findings: SweepFinding[] = [];
    for (const cluster of clusters) {
      // Only settled clusters: a workflow under way may be replacing or releasing nodes right now.
      // DEGRADED by the node health watch (no operation) counts: a node Slurm lost may be gone for good.
      const healthDegraded = cluster.state === 'DEGRADED' && cluster.operation === undefined;
      if (cluster.state !== 'READY' && !healthDegraded) continue;
      const lost = cluster.nodes.filter((n): n is ClusterNode & { providerResourceId: string } =>
        COUNTED_ON.includes(n.state) && n.providerResourceId !== undefined && !liveIds.has(n.providerResourceId));
      if (lost.length === 0) continue;
      // listOwned may miss a resource in a scope it was not asked about: the provider's own look decides.
      const described = new Map((await provider.describe(cluster)).map((d) => [d.nodeId, d.state]));
      const gone = lost.filter((n) => described.get(n.nodeId) === 'gone' || !described.has(n.nodeId));
      if (gone.length === 0) continue;
      const action = this.deps.dryRun ? 'would mark lost' : 'marked lost';
      for (const node of gone) {
        const finding: SweepFinding = {
          provider: type, action, reason: `node ${node.address} of a READY cluster: its resource is gone`,
          resource: { providerResourceId: node.providerResourceId, resourceType: 'instance', scope: safeScope(provider, cluster) ?? '', clusterId: cluster.clusterId, nodeId: node.nodeId, live: false, description: node.address },
        };
        findings.push(finding);
        await this.report(finding, cluster);
      }
      if (this.deps.dryRun) continue;
      await this.deps.db.transaction(async (tx) => {
        const now = this.now();
        await this.deps.clusters.setNodeStates(tx, cluster.clusterId, 'FAILED', now, gone.map((n) => n.nodeId));
        const reason = `${gone.length} node(s) lost: ${gone.map((n) => n.address).join(', ')}; being replaced`;
        if (healthDegraded) await this.deps.clusters.setStateReason(tx, cluster.clusterId, reason, now);
        else await this.deps.clusters.transition(tx, cluster.clusterId, 'DEGRADED', reason, now);
        await this.deps.clusters.setOperation(tx, cluster.clusterId, 'repair', now);
        await this.deps.queue.enqueue(tx, 'cluster_workflow', { clusterId: cluster.clusterId, action: 'repair' }, {
          queueName: workflowQueue(cluster.clusterId).queueName, jobKey: `repair:${cluster.clusterId}`,
        });
      });
    }
    return findings;
  }

  private async report(finding: SweepFinding, cluster: Cluster | undefined): Promise<void> {
    const { resource } = finding;
    const message = `orphan sweep: ${finding.action} ${resource.resourceType} ${resource.providerResourceId} in ${resource.scope}: `
      + `${finding.reason}${finding.detail ? ` (${finding.detail})` : ''}`;
    this.deps.log.warn({ provider: finding.provider, clusterId: resource.clusterId, resource: resource.providerResourceId, action: finding.action }, message);
    if (cluster) await this.deps.clusters.appendEvent(this.deps.db, cluster.clusterId, { kind: 'sweep', time: this.now(), message: message.slice(0, 2000) });
  }
}

/** Why a listed resource is to be released, or undefined when its cluster still counts on it. */
export function orphanReason(resource: OwnedResource, cluster: Cluster | undefined): string | undefined {
  if (!resource.live) return undefined;
  if (resource.clusterId === undefined) return 'carries our tag without a cluster id';
  if (!cluster) return `cluster ${resource.clusterId} is unknown to this database`;
  if (cluster.state === 'TERMINATED') return `cluster ${cluster.name} is TERMINATED`;
  const released = cluster.nodes.every((n) => n.state === 'RELEASED');
  if (cluster.state === 'FAILED' && released && cluster.operation === undefined) return `cluster ${cluster.name} FAILED and released everything`;
  // A live cluster's node it gave back but whose instance still runs (a release that was lost).
  if (resource.nodeId !== undefined && cluster.operation === undefined) {
    const node = cluster.nodes.find((n) => n.nodeId === resource.nodeId);
    if (node?.state === 'RELEASED' && node.providerResourceId === resource.providerResourceId) return `node ${node.nodeId} of cluster ${cluster.name} was released`;
  }
  return undefined;
}

function safeScope(provider: Provider, cluster: Cluster): string | undefined {
  try {
    return provider.scopeOf?.(cluster.spec);
  } catch {
    return undefined; // a spec the provider cannot read names no scope; the default scopes still run
  }
}
