// What the cluster calls do. createCluster records the request durably and returns at once; the
// work of building a cluster happens in background workflows.
import { randomUUID } from 'node:crypto';
import { InvalidRequestError, NotFoundError, QuotaExceededError, UnauthorizedError } from '../domain/errors';
import { isThisMachine, mayUseThisMachine, systemProbe, type LocalClusterPolicy, type ThisMachineProbe } from '../net/thisMachine';
import { fingerprint } from '../domain/fingerprint';
import type { ApplicationSpec, Caller, Cluster, ClusterEvent, ClusterSpec } from '../domain/types';
import type { ApplicationStore } from '../store/applicationStore';
import { applicationPrefix } from '../workflows/applications';
import { validateApplicationSpec, validateClusterSpec, validateId, type RawClusterSpec } from '../domain/validation';
import type { ClusterStore } from '../store/clusterStore';
import type { Db } from '../store/db';
import type { IdempotencyStore } from '../store/idempotencyStore';
import type { QueueStore } from '../store/queueStore';
import type { KindRegistry } from '../kinds/registry';
import type { ProviderRegistry } from '../providers/registry';

export interface ClusterServiceDeps {
  db: Db;
  applications: ApplicationStore;
  clusters: ClusterStore;
  idempotency: IdempotencyStore;
  queue: QueueStore;
  providers: ProviderRegistry;
  kinds: KindRegistry;
  /** Which gateways may use this machine as a cluster host (LOCAL_CLUSTER_GATEWAYS). */
  localClusterGateways: LocalClusterPolicy;
  /** How "is this machine" is decided; tests pass their own. */
  thisMachine?: ThisMachineProbe;
  now?: () => number;
}

/** Workflow runs of one cluster go through a queue of their own, so they never overlap. */
export function workflowQueue(clusterId: string): { queueName: string; jobKey: string } {
  return { queueName: `cluster:${clusterId}`, jobKey: `cluster:${clusterId}` };
}

/** Most events one getClusterEvents call returns; the caller pages on with the last seq. */
export const EVENT_PAGE = 1000;

export class ClusterService {
  private readonly now: () => number;

  constructor(private readonly deps: ClusterServiceDeps) {
    this.now = deps.now ?? Date.now;
  }

  async create(caller: Caller, raw: RawClusterSpec): Promise<string> {
    const requested = validateClusterSpec(raw);
    // A provider or kind without a driver here is refused before anything else: nothing recorded.
    const provider = this.deps.providers.get(requested.provider);
    const kind = this.deps.kinds.get(requested.kind);
    const driverErrors = [...provider.validate(requested), ...kind.validate(requested)];
    if (driverErrors.length > 0) throw new InvalidRequestError(driverErrors);
    const spec = provider.settle?.(requested) ?? requested;
    await this.refuseThisMachine(caller, spec);
    const quota = await provider.checkQuota(spec);
    if (quota.invalid !== undefined && quota.invalid.length > 0) throw new InvalidRequestError(quota.invalid);
    if (quota.errors.length > 0) throw new QuotaExceededError(quota.errors);
    const nodes = provider.plan(spec).map((node) => ({ ...node, nodeId: randomUUID() }));
    // The fingerprint is of the request as sent: a retry matches whatever defaults say today.
    const { clientToken, ...request } = requested;
    const digest = fingerprint(request);
    const clusterId = randomUUID();
    const now = this.now();
    return this.deps.db.transaction(async (tx) => {
      if (clientToken !== undefined) {
        const claim = await this.deps.idempotency.claim(
          tx, { gatewayId: caller.gatewayId, operation: 'createCluster', key: clientToken }, clusterId, digest, now);
        if (!claim.claimed) {
          if (claim.fingerprint !== digest) {
            throw InvalidRequestError.of('spec.clientToken', `was already used for a different request (cluster ${claim.resourceId})`);
          }
          return claim.resourceId;
        }
      }
      await this.deps.clusters.insert(tx, {
        clusterId, gatewayId: caller.gatewayId, userName: caller.userName, spec, nodes, now,
      });
      await this.deps.clusters.setOperation(tx, clusterId, 'create', now);
      await this.deps.queue.enqueue(tx, 'cluster_workflow', { clusterId, action: 'create' }, workflowQueue(clusterId));
      return clusterId;
    });
  }

  /** An HPC system runs its site's scheduler: the service changes nothing there. */
  private refuseSite(cluster: Cluster, field: string, what: string): void {
    const provider = this.deps.providers.has(cluster.provider) ? this.deps.providers.get(cluster.provider) : undefined;
    if (provider?.siteDriver?.(cluster.kind) !== undefined) {
      throw InvalidRequestError.of(field, `cluster ${cluster.clusterId} is an HPC system (${cluster.provider}); the service ${what}`);
    }
  }

  /**
   * A host on this machine would be configured by our playbooks as the service's own user: only
   * gateways the operator named may ask for that. Refused before anything is recorded.
   */
  private async refuseThisMachine(caller: Caller, spec: ClusterSpec): Promise<void> {
    if (mayUseThisMachine(this.deps.localClusterGateways, caller.gatewayId)) return;
    const probe = this.deps.thisMachine ?? systemProbe;
    for (const [i, host] of (spec.hosts ?? []).entries()) {
      if (await isThisMachine(host.address, probe)) {
        throw new UnauthorizedError('forbidden', `spec.hosts[${i}].address: ${JSON.stringify(host.address)} is the service's own machine, `
          + `which gateway ${caller.gatewayId} may not use as a cluster host (the operator allows it with LOCAL_CLUSTER_GATEWAYS)`);
      }
    }
  }

  async get(caller: Caller, clusterId: string): Promise<Cluster> {
    validateId('clusterId', clusterId);
    const cluster = await this.deps.clusters.get(this.deps.db, caller.gatewayId, clusterId);
    if (!cluster) throw new NotFoundError('cluster', clusterId);
    return cluster;
  }

  async list(caller: Caller): Promise<Cluster[]> {
    return this.deps.clusters.list(this.deps.db, caller.gatewayId);
  }

  async events(caller: Caller, clusterId: string, afterSeq: number): Promise<ClusterEvent[]> {
    validateId('clusterId', clusterId);
    if (!Number.isSafeInteger(afterSeq)) throw InvalidRequestError.of('afterSeq', 'must be a whole number');
    if (!(await this.deps.clusters.exists(this.deps.db, caller.gatewayId, clusterId))) {
      throw new NotFoundError('cluster', clusterId);
    }
    return this.deps.clusters.events(this.deps.db, clusterId, afterSeq, EVENT_PAGE);
  }

  /**
   * Deletes a cluster: it goes TEARING_DOWN at once and its workflow (after any run in progress)
   * cancels its jobs, undoes what the playbook installed and ends it TERMINATED.
   */
  async delete(caller: Caller, clusterId: string): Promise<void> {
    const cluster = await this.get(caller, clusterId);
    if (cluster.state === 'TERMINATED' || cluster.state === 'TEARING_DOWN') return;
    await this.deps.db.transaction(async (tx) => {
      const now = this.now();
      await this.deps.clusters.transition(tx, clusterId, 'TEARING_DOWN', `delete requested by ${caller.userName}`, now);
      await this.deps.clusters.setOperation(tx, clusterId, 'delete', now);
      await this.deps.queue.enqueue(tx, 'cluster_workflow', { clusterId, action: 'delete' }, workflowQueue(clusterId));
    });
  }

  /**
   * Records an application for a READY cluster and queues its installation on every node (the
   * app role through the Ansible bridge). Returns the application id; its state shows in the
   * cluster's applications and events.
   */
  async installApplication(caller: Caller, clusterId: string, raw: ApplicationSpec): Promise<string> {
    const spec = validateApplicationSpec(raw);
    const cluster = await this.get(caller, clusterId);
    this.refuseSite(cluster, 'clusterId', 'installs no applications there: use the site\'s modules (providerOptions modules)');
    if (cluster.state !== 'READY') {
      throw InvalidRequestError.of('clusterId', `cluster ${clusterId} is ${cluster.state}; applications install on READY clusters`);
    }
    const applicationId = randomUUID();
    const prefix = applicationPrefix(spec);
    const now = this.now();
    await this.deps.db.transaction(async (tx) => {
      // One live application per directory: a second one would find the first one's files and
      // report an install it never did. (A unique index backs this against a concurrent call.)
      const holder = await this.deps.applications.liveAt(tx, clusterId, prefix);
      if (holder) {
        throw InvalidRequestError.of(spec.version ? 'app.version' : 'app.name',
          `${prefix} on cluster ${clusterId} already holds application ${holder.applicationId} (${holder.state}); install another version or name`);
      }
      await this.deps.applications.insert(tx, {
        applicationId, clusterId, gatewayId: caller.gatewayId, spec, state: 'REQUESTED', prefix,
      }, now);
      await this.deps.clusters.appendEvent(tx, clusterId, {
        kind: 'application', time: now, message: `install of ${spec.name} ${spec.version ?? ''} requested by ${caller.userName}`.trim(),
      });
      await this.deps.queue.enqueue(tx, 'cluster_workflow', { clusterId, action: 'install', applicationId }, {
        queueName: workflowQueue(clusterId).queueName, jobKey: `install:${applicationId}`,
      });
    });
    return applicationId;
  }

  /**
   * Sets how many of the cluster's worker hosts (the first N with the worker role, in the order
   * createCluster listed them) serve. The cluster goes SCALING at once; its workflow drains and
   * removes leaving workers, configures joining ones and ends READY (or FAILED).
   */
  async scale(caller: Caller, clusterId: string, workerCount: number): Promise<void> {
    if (!Number.isInteger(workerCount) || workerCount < 1) {
      throw InvalidRequestError.of('workerCount', `must be at least 1 (got ${workerCount})`);
    }
    const cluster = await this.get(caller, clusterId);
    this.refuseSite(cluster, 'clusterId', 'does not scale it: its nodes are the site\'s (request a pilot for nodes of your own)');
    const provider = this.deps.providers.get(cluster.provider);
    const pool = cluster.nodes.filter((n) => n.roles.includes('worker')).length;
    // A provider that buys nodes grows the pool; one with given hosts cannot.
    const growable = provider.buysNodes && provider.planWorker !== undefined;
    if (workerCount > pool && !growable) {
      throw InvalidRequestError.of('workerCount', `must be at most ${pool}, the hosts of cluster ${clusterId} with the worker role (got ${workerCount})`);
    }
    if (cluster.state !== 'READY') {
      throw InvalidRequestError.of('clusterId', `cluster ${clusterId} is ${cluster.state}; only READY clusters scale`);
    }
    const extra = Math.max(0, workerCount - pool);
    const serving = cluster.nodes.filter((n) => n.roles.includes('worker') && n.state !== 'RELEASED').length;
    if (workerCount > serving) {
      const quota = await provider.checkQuota(cluster.spec, workerCount - serving);
      if (quota.invalid !== undefined && quota.invalid.length > 0) throw new InvalidRequestError(quota.invalid);
      if (quota.errors.length > 0) throw new QuotaExceededError(quota.errors.map((e) => ({ ...e, field: e.field === 'spec.workerCount' ? 'workerCount' : e.field })));
    }
    const added = Array.from({ length: extra }, () => ({ ...(provider.planWorker?.(cluster.spec) ?? { address: '', roles: ['worker'], state: 'REQUESTED' as const }), nodeId: randomUUID() }));
    await this.deps.db.transaction(async (tx) => {
      const now = this.now();
      await this.deps.clusters.insertNodes(tx, clusterId, added, cluster.nodes.length, now);
      await this.deps.clusters.transition(tx, clusterId, 'SCALING', `scale to ${workerCount} worker(s) requested by ${caller.userName}`, now);
      await this.deps.clusters.setOperation(tx, clusterId, 'scale', now);
      await this.deps.clusters.setTargetWorkers(tx, clusterId, workerCount, now);
      await this.deps.queue.enqueue(tx, 'cluster_workflow', { clusterId, action: 'scale', workerCount }, {
        queueName: workflowQueue(clusterId).queueName, jobKey: `scale:${clusterId}`,
      });
    });
  }
}

