// ProvisioningService calls: pilots on HPC systems. provisionResources(HPC_PILOT, count, options)
// records a pilot holding `count` nodes of a registered HPC system for a wall time and queues its
// work (src/workflows/pilotWork.ts); releaseResources cancels it. Every bad field is named before
// anything is recorded; a retry with the same clientToken returns the first call's pilot.
import { randomUUID } from 'node:crypto';
import { InvalidRequestError, NotFoundError, UnsupportedError, type FieldError } from '../domain/errors';
import { fingerprint } from '../domain/fingerprint';
import { PROVIDER_TYPES, type Caller, type ResourceAllocation } from '../domain/types';
import type { AllocationStore, StoredAllocation } from '../store/allocationStore';
import type { ClusterStore } from '../store/clusterStore';
import type { Db } from '../store/db';
import type { IdempotencyStore } from '../store/idempotencyStore';
import type { QueueStore } from '../store/queueStore';
import { pilotTaskKey } from '../workflows/pilotWork';

export interface PilotRequest {
  provider: string;
  count: number;
  providerOptions?: Record<string, string>;
  clientToken?: string;
}

export interface ProvisioningServiceDeps {
  db: Db;
  allocations: AllocationStore;
  clusters: ClusterStore;
  idempotency: IdempotencyStore;
  queue: QueueStore;
  now?: () => number;
}

export const PILOT_OPTION_KEYS = ['clusterId', 'partition', 'wallTimeMinutes'] as const;
const MAX_PILOT_NODES = 4096;

export class ProvisioningService {
  private readonly now: () => number;

  constructor(private readonly deps: ProvisioningServiceDeps) {
    this.now = deps.now ?? Date.now;
  }

  async provision(caller: Caller, request: PilotRequest): Promise<string> {
    const errors: FieldError[] = [];
    const field = (key: string): string => `request.providerOptions[${JSON.stringify(key.slice(0, 40))}]`;
    if (!(PROVIDER_TYPES as readonly string[]).includes(request.provider)) {
      throw InvalidRequestError.of('request.provider', `unknown value ${JSON.stringify(String(request.provider).slice(0, 40))}`);
    }
    if (!Number.isInteger(request.count) || request.count < 1 || request.count > MAX_PILOT_NODES) {
      errors.push({ field: 'request.count', message: `must be between 1 and ${MAX_PILOT_NODES} nodes (got ${request.count})` });
    }
    if (request.provider !== 'HPC_PILOT') {
      if (errors.length > 0) throw new InvalidRequestError(errors);
      throw new UnsupportedError('provisionResources', `bare ${request.provider} resources are not offered; create a cluster, or ask HPC_PILOT for a pilot`);
    }
    const options = request.providerOptions ?? {};
    for (const key of Object.keys(options)) {
      if (!(PILOT_OPTION_KEYS as readonly string[]).includes(key)) errors.push({ field: field(key), message: `unknown option; HPC_PILOT takes ${PILOT_OPTION_KEYS.join(', ')}` });
    }
    const wall = /^\d{1,7}$/.test(options.wallTimeMinutes ?? '') ? Number(options.wallTimeMinutes) : undefined;
    if (wall === undefined || wall < 1) errors.push({ field: field('wallTimeMinutes'), message: 'the pilot\'s wall time in minutes (a positive integer) is required' });
    const clusterId = options.clusterId ?? '';
    const cluster = clusterId === '' ? undefined : await this.deps.clusters.get(this.deps.db, caller.gatewayId, clusterId);
    if (clusterId === '') errors.push({ field: field('clusterId'), message: 'name the registered HPC system (its cluster id) the pilot holds nodes of' });
    else if (!cluster) errors.push({ field: field('clusterId'), message: `no cluster ${JSON.stringify(clusterId.slice(0, 60))} of this gateway` });
    else if (cluster.provider !== 'HPC_PILOT' || !cluster.site) {
      errors.push({ field: field('clusterId'), message: `cluster ${clusterId} is ${cluster.provider === 'HPC_PILOT' ? `not READY (${cluster.state})` : `a ${cluster.provider} cluster, not an HPC system`}` });
    } else if (cluster.state !== 'READY') {
      errors.push({ field: field('clusterId'), message: `HPC system ${clusterId} is ${cluster.state}; pilots start on READY systems` });
    }
    const partitions = cluster?.site?.partitions ?? [];
    const partition = partitions.find((p) => p.name === (options.partition ?? partitions[0]?.name));
    if (cluster?.site && !partition) {
      errors.push({ field: field('partition'), message: `HPC system ${clusterId} has no proven partition ${JSON.stringify(options.partition)}; it has ${partitions.map((p) => p.name).join(', ')}` });
    }
    if (partition && Number.isInteger(request.count) && request.count > partition.nodes) {
      errors.push({ field: 'request.count', message: `${request.count} nodes asked; partition ${partition.name} has ${partition.nodes}` });
    }
    if (partition && wall !== undefined && partition.maxTimeMinutes !== undefined && wall > partition.maxTimeMinutes) {
      errors.push({ field: field('wallTimeMinutes'), message: `${wall} minutes asked; partition ${partition.name} has MaxTime ${partition.maxTimeMinutes} minutes` });
    }
    if (errors.length > 0 || !partition || wall === undefined || !cluster) throw new InvalidRequestError(errors);

    const allocationId = randomUUID();
    const now = this.now();
    const { clientToken, ...asked } = request;
    const digest = fingerprint(asked);
    return this.deps.db.transaction(async (tx) => {
      if (clientToken !== undefined) {
        const claim = await this.deps.idempotency.claim(tx, { gatewayId: caller.gatewayId, operation: 'provisionResources', key: clientToken }, allocationId, digest, now);
        if (!claim.claimed) {
          if (claim.fingerprint !== digest) throw InvalidRequestError.of('request.clientToken', `was already used for a different request (allocation ${claim.resourceId})`);
          return claim.resourceId;
        }
      }
      await this.deps.allocations.insertPilot(tx, {
        allocationId, gatewayId: caller.gatewayId, userName: caller.userName, clusterId: cluster.clusterId, partition: partition.name,
        nodeCount: request.count, wallTimeMinutes: wall, cpusPerNode: partition.cpusPerNode, request: asked, now,
      });
      await this.deps.queue.enqueue(tx, 'pilot_work', { allocationId }, { jobKey: pilotTaskKey(allocationId) });
      return allocationId;
    });
  }

  async get(caller: Caller, allocationId: string): Promise<ResourceAllocation> {
    const allocation = await this.deps.allocations.get(this.deps.db, caller.gatewayId, allocationId);
    if (!allocation) throw new NotFoundError('allocation', allocationId);
    return allocation;
  }

  async list(caller: Caller): Promise<StoredAllocation[]> {
    return this.deps.allocations.list(this.deps.db, caller.gatewayId);
  }

  /** Cancels the pilot's placeholder (its work does it at once); jobs still inside end CANCELED. */
  async release(caller: Caller, allocationId: string): Promise<void> {
    const allocation = await this.get(caller, allocationId);
    if (allocation.state === 'ENDED' || allocation.state === 'FAILED' || allocation.state === 'RELEASING') return;
    await this.deps.db.transaction(async (tx) => {
      const moved = await this.deps.allocations.update(tx, allocationId, { state: 'RELEASING', reason: `release requested by ${caller.userName}` }, this.now());
      if (moved) await this.deps.queue.enqueue(tx, 'pilot_work', { allocationId }, { jobKey: pilotTaskKey(allocationId) });
    });
  }
}
