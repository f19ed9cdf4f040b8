// The node health watch of Slurm clusters we built (STATIC hosts and bought nodes alike). Every
// NODE_HEALTH_INTERVAL_MS a cluster's monitor tick asks its controller how Slurm sees each node
// (sinfo, argv only) and:
//   - marks a configured worker Slurm reports lost (not responding, DOWN, DRAINED/DRAINING, FAIL,
//     not listed) with Slurm's reason, and a READY cluster DEGRADED with a reason naming the nodes;
//   - clears the mark of a node that answers again, and when none is left lost, returns the
//     cluster it degraded to READY.
// Health-lost is not provider-lost: the node stays CONFIGURED (its machine is ours, configured,
// only not answering) and the cluster has no operation, so no repair is queued and nothing is given
// back or bought; Slurm returns the node to service when its slurmd registers again
// (ReturnToService=2 in our slurm.conf) and the watch sees it. A node whose machine the provider
// says is gone is the orphan sweep's: FAILED, with a repair that replaces it (orphanSweep.ts).
// A DEGRADED cluster with an operation (a repair under way) is left to that operation.
import type { Cluster, ClusterNode } from '../domain/types';
import { activeNodes } from '../domain/workerPool';
import type { CommandRunner } from '../exec/commandRunner';
import { slurmNodeName } from '../kinds/slurm/nodeName';
import type { Logger } from '../log';
import { judgeNode, parseSinfoNodes, sinfoNodesArgv } from '../schedulers/slurm/nodeStates';
import type { ClusterStore } from '../store/clusterStore';
import type { Db } from '../store/db';
import type { QueueStore } from '../store/queueStore';

export interface NodeHealthDeps {
  db: Db;
  clusters: ClusterStore;
  queue: QueueStore;
  log: Logger;
  /** A command runner on the cluster's controller. */
  controller(cluster: Cluster): CommandRunner;
  /** How often a cluster's node states are read (0: never). */
  intervalMs: number;
  now?: () => number;
}

/** One node's reading: lost with Slurm's reason, or answering. */
export interface NodeReading {
  node: ClusterNode;
  slurmName: string;
  state: string;
  lostReason?: string;
}

/** What one check changed, for logs and tests. */
export interface HealthChange {
  lost: NodeReading[];
  back: NodeReading[];
  cluster?: 'DEGRADED' | 'READY';
}

/** Our clusters whose Slurm we configured: not an HPC site (its nodes are the site's), not Mesos. */
export function watchesNodes(cluster: Pick<Cluster, 'kind' | 'provider' | 'site'>): boolean {
  return cluster.kind === 'SLURM' && cluster.provider !== 'HPC_PILOT' && cluster.site === undefined;
}

/** The nodes the watch reads: configured workers taking part in the cluster (only workers run slurmd). */
export function watchedNodes(cluster: Pick<Cluster, 'nodes'>): ClusterNode[] {
  return activeNodes(cluster.nodes).filter((n) => n.state === 'CONFIGURED' && n.roles.includes('worker'));
}

/** Each watched node's reading from sinfo's output. */
export function readNodes(cluster: Pick<Cluster, 'nodes'>, sinfoStdout: string): NodeReading[] {
  const listed = parseSinfoNodes(sinfoStdout);
  return watchedNodes(cluster).map((node) => {
    const slurmName = slurmNodeName(node);
    const verdict = judgeNode(listed.get(slurmName.toLowerCase()));
    return { node, slurmName, state: verdict.state, ...(verdict.lost ? { lostReason: verdict.reason } : {}) };
  });
}

/** The DEGRADED reason: every lost node with what Slurm said of it. */
export function degradedReason(lost: readonly NodeReading[]): string {
  const named = lost.slice(0, 10).map((r) => `${r.node.address} (Slurm node ${r.slurmName}): ${r.lostReason ?? ''}`);
  const more = lost.length > named.length ? `; and ${lost.length - named.length} more` : '';
  return `${lost.length} node(s) lost in Slurm: ${named.join('; ')}${more}; jobs there end as Slurm decides (requeued or NODE_FAIL)`.slice(0, 2000);
}

export class NodeHealthWatch {
  private readonly now: () => number;

  /** When each cluster's nodes were last read here. */
  private readonly lastRead = new Map<string, number>();

  constructor(private readonly deps: NodeHealthDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Whether the cluster's nodes are due to be read (a monitor tick asks every time). */
  due(cluster: Cluster): boolean {
    if (this.deps.intervalMs <= 0 || !watchesNodes(cluster) || !this.settled(cluster)) return false;
    const last = this.lastRead.get(cluster.clusterId);
    return last === undefined || this.now() - last >= this.deps.intervalMs;
  }

  /** The cluster is no longer watched here. */
  forget(clusterId: string): void {
    this.lastRead.delete(clusterId);
  }

  /**
   * Reads the cluster's node states and records what changed. A controller that does not answer
   * says nothing about the nodes (the monitor's poll fails the same way): nothing is changed.
   */
  async check(cluster: Cluster): Promise<HealthChange | undefined> {
    this.lastRead.set(cluster.clusterId, this.now());
    if (watchedNodes(cluster).length === 0) return undefined;
    const result = await this.deps.controller(cluster).run(sinfoNodesArgv(), { timeoutMs: 30_000 });
    if (result.exitCode !== 0) {
      this.deps.log.warn({ clusterId: cluster.clusterId, exitCode: result.exitCode, stderr: result.stderr.trim().slice(0, 500) },
        'node health: sinfo failed on the controller; node states left as they were');
      return undefined;
    }
    return this.record(cluster, readNodes(cluster, result.stdout));
  }

  /** Writes the marks and the cluster's move, under the cluster's row lock. */
  private async record(cluster: Cluster, readings: readonly NodeReading[]): Promise<HealthChange> {
    const { db, clusters, queue } = this.deps;
    const lostNow = readings.filter((r) => r.lostReason !== undefined);
    const newlyLost = lostNow.filter((r) => r.node.lostReason === undefined);
    // Lost still, with another word from Slurm (NOT_RESPONDING first, DOWN after SlurmdTimeout).
    const reworded = lostNow.filter((r) => r.node.lostReason !== undefined && r.node.lostReason !== r.lostReason);
    const back = readings.filter((r) => r.lostReason === undefined && r.node.lostReason !== undefined);
    // Marks left on nodes the watch no longer reads (released, replaced, being rebuilt) are stale.
    const watched = new Set(readings.map((r) => r.node.nodeId));
    const stale = cluster.nodes.filter((n) => n.lostReason !== undefined && !watched.has(n.nodeId)).map((n) => n.nodeId);
    const change: HealthChange = { lost: newlyLost, back };
    const now = this.now();
    const reason = degradedReason(lostNow);
    const degrade = lostNow.length > 0 && cluster.state === 'READY';
    const restore = lostNow.length === 0 && cluster.state === 'DEGRADED' && cluster.operation === undefined;
    const reword = lostNow.length > 0 && cluster.state === 'DEGRADED' && cluster.operation === undefined && cluster.stateReason !== reason;
    if (newlyLost.length + reworded.length + back.length + stale.length === 0 && !degrade && !restore && !reword) return change;
    await db.transaction(async (tx) => {
      // The state read before sinfo ran may be old: a workflow may have taken the cluster meanwhile.
      const current = await tx('clusters').select('state', 'operation').where({ id: cluster.clusterId }).forUpdate()
        .first<{ state: string; operation: string | null } | undefined>();
      if (!current || current.state !== cluster.state || (current.operation ?? undefined) !== cluster.operation) return;
      for (const r of newlyLost) {
        await clusters.setNodeLost(tx, cluster.clusterId, [r.node.nodeId], r.lostReason ?? null, now);
        await clusters.appendEvent(tx, cluster.clusterId, {
          kind: 'health', time: now, host: r.node.address, message: `node ${r.node.address} lost: ${r.lostReason ?? ''}`.slice(0, 2000),
        });
      }
      for (const r of reworded) {
        await clusters.setNodeLost(tx, cluster.clusterId, [r.node.nodeId], r.lostReason ?? null, now);
        await clusters.appendEvent(tx, cluster.clusterId, {
          kind: 'health', time: now, host: r.node.address, message: `node ${r.node.address} still lost: ${r.lostReason ?? ''}`.slice(0, 2000),
        });
      }
      for (const r of back) {
        await clusters.setNodeLost(tx, cluster.clusterId, [r.node.nodeId], null, now);
        await clusters.appendEvent(tx, cluster.clusterId, {
          kind: 'health', time: now, host: r.node.address, message: `node ${r.node.address} answers again: Slurm says ${r.state}`,
        });
      }
      await clusters.setNodeLost(tx, cluster.clusterId, stale, null, now);
      if (degrade) {
        await clusters.transition(tx, cluster.clusterId, 'DEGRADED', reason, now);
        change.cluster = 'DEGRADED';
      } else if (restore) {
        const names = back.map((r) => r.node.address).join(', ');
        await clusters.transition(tx, cluster.clusterId, 'READY',
          `every node answers Slurm again${names === '' ? '' : ` (${names} back)`}`, now);
        // Room is back: jobs waiting for a cluster may fit.
        await queue.enqueue(tx, 'place_waiting', { gatewayId: cluster.gatewayId }, { jobKey: `place:${cluster.gatewayId}` });
        change.cluster = 'READY';
      } else if (reword) {
        await clusters.setStateReason(tx, cluster.clusterId, reason, now);
      }
    });
    if (change.cluster || newlyLost.length + back.length > 0) {
      this.deps.log.warn({
        clusterId: cluster.clusterId, lost: newlyLost.map((r) => r.node.address), back: back.map((r) => r.node.address), cluster: change.cluster,
      }, change.cluster === 'DEGRADED' ? reason : 'node health changed');
    }
    return change;
  }

  /** READY, or DEGRADED by this watch (no operation under way); never while a workflow works on it. */
  private settled(cluster: Cluster): boolean {
    return cluster.state === 'READY' || (cluster.state === 'DEGRADED' && cluster.operation === undefined);
  }
}
