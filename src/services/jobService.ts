// What the job calls do, in the service's own terms. Dispatch to a scheduler is not here: a job
// recorded by submit stays SUBMITTED until a dispatcher takes it.
import { randomUUID } from 'node:crypto';
import { InvalidRequestError, NotFoundError } from '../domain/errors';
import { idempotencyConflict, requestFingerprint } from '../domain/idempotency';
import { choosePilot, kindMisfitsOf, misfits, needsOf, place } from '../domain/placement';
import { countWithinBudget, distinctIds, mebibytes, REPLY_BYTE_BUDGET } from '../domain/replyBudget';
import { gatewayRoot, resolveWorkingDir } from '../domain/gatewayAccount';
import { isLiveClusterState } from '../domain/stateMachines';
import type { Caller, Job, JobHandle, JobSpec } from '../domain/types';
import { validateId, validateIds, validateJobSpec, type RawJobSpec } from '../domain/validation';
import type { ClusterStore } from '../store/clusterStore';
import type { Db } from '../store/db';
import { Batcher, type BatcherOptions } from '../store/batcher';
import type { JobStore, NewJob } from '../store/jobStore';
import type { ClusterCapacity } from '../domain/placement';
import type { ClusterAccess } from '../workflows/clusterAccess';
import type { ApplicationStore } from '../store/applicationStore';
import { JobCancel } from './jobCancel';

export interface JobServiceDeps {
  db: Db;
  jobs: JobStore;
  clusters: ClusterStore;
  /** Reaches a cluster's scheduler to cancel a dispatched job. */
  access: ClusterAccess;
  applications: ApplicationStore;
  /** On cluster nodes, where every gateway's job root is (JOB_ROOT). */
  jobRoot: string;
  now?: () => number;
}

/**
 * How concurrent calls share round trips: up to this many in one statement, this many statements
 * of a kind at once (a few, so that under load batches grow rather than pool connections run out).
 */
const SHARED_ROUND_TRIPS: BatcherOptions = { maxItems: 256, maxInFlight: 4 };

export class JobService {
  private readonly now: () => number;
  /** Concurrent submits: one multi-row insert and one commit; each is durable before it answers. */
  private readonly inserts: Batcher<NewJob, boolean>;
  /** Concurrent getJob calls: one read. */
  private readonly reads: Batcher<string, Job | undefined>;
  /** Concurrent placements: one read of the READY clusters of every gateway asking. */
  private readonly capacities: Batcher<string, ClusterCapacity[]>;
  private readonly cancels: JobCancel;

  constructor(private readonly deps: JobServiceDeps) {
    this.now = deps.now ?? Date.now;
    const { db, jobs, clusters } = deps;
    this.cancels = new JobCancel({ ...deps, now: this.now });
    this.inserts = new Batcher(async (batch) => {
      const created = await jobs.insertSubmittedMany(db, batch);
      return batch.map((job) => created.has(job.jobId));
    }, SHARED_ROUND_TRIPS);
    this.reads = new Batcher(async (ids) => {
      const found = await jobs.getByIds(db, ids);
      return ids.map((id) => found.get(id));
    }, SHARED_ROUND_TRIPS);
    this.capacities = new Batcher(async (gatewayIds) => {
      const byGateway = await clusters.readyCapacityOf(db, gatewayIds);
      return gatewayIds.map((gatewayId) => byGateway.get(gatewayId) ?? []);
    }, SHARED_ROUND_TRIPS);
  }

  async submit(caller: Caller, raw: RawJobSpec): Promise<JobHandle> {
    const spec = this.withWorkingDir(caller, await this.withApplication(caller, validateJobSpec(raw)));
    const { db, jobs } = this.deps;
    const { clusterId, reason, allocationId } = spec.clusterId !== undefined
      ? await this.requireLiveCluster(caller, spec)
      : await this.choose(caller, spec);
    // The client token is the key, not part of the request it guards.
    const digest = requestFingerprint(spec);
    const jobId = randomUUID();
    const created = await this.inserts.run({
      jobId, gatewayId: caller.gatewayId, userName: caller.userName, spec, fingerprint: digest, now: this.now(), reason, clusterId,
      ...(allocationId === undefined ? {} : { allocationId }),
    });
    if (created) return { jobId, clusterId, state: 'SUBMITTED' };

    const existing = await jobs.findByIdempotencyKey(db, caller.gatewayId, spec);
    if (!existing) throw new Error(`job insert for ${jobId} conflicted, but no job holds its keys`);
    // Either key (client token, or Airavata's process/task/job name) answers only the same request.
    const conflict = idempotencyConflict(spec, digest, { jobId: existing.job.jobId, spec: existing.job.spec, fingerprint: existing.fingerprint });
    if (conflict) throw new InvalidRequestError([conflict]);
    return toHandle(existing.job);
  }

  async get(caller: Caller, jobId: string): Promise<Job> {
    validateId('jobId', jobId);
    const job = await this.reads.run(jobId);
    // Another gateway's job is not found, exactly like one that does not exist.
    if (!job || job.gatewayId !== caller.gatewayId) throw new NotFoundError('job', jobId);
    return job;
  }

  /**
   * The caller's jobs among jobIds, each once, in the order first asked; unknown ids are left out.
   * Jobs are sized before any is read: when together they exceed REPLY_BYTE_BUDGET the call is
   * refused, saying how many of the ids fit, rather than answered with a silent subset.
   */
  async getMany(caller: Caller, jobIds: string[]): Promise<Job[]> {
    validateIds('jobIds', jobIds);
    const { db, jobs } = this.deps;
    const ids = distinctIds(jobIds);
    const sizes = await jobs.replySizes(db, caller.gatewayId, ids);
    const found = ids.filter((id) => sizes.has(id));
    const foundSizes = found.map((id) => sizes.get(id) ?? 0);
    const fitting = countWithinBudget(foundSizes, REPLY_BYTE_BUDGET);
    if (fitting < found.length) {
      const total = foundSizes.reduce((sum, size) => sum + size, 0);
      const asked = ids.indexOf(found[fitting]);
      throw InvalidRequestError.of('jobIds', `these ${found.length} jobs come to about ${mebibytes(total)}, over the `
        + `${mebibytes(REPLY_BYTE_BUDGET)} one reply may carry; the first ${asked} ids (each counted once) fit: ask for the rest in further calls`);
    }
    return jobs.getMany(db, caller.gatewayId, found);
  }

  /**
   * The caller's newest jobs, at most limit (default 100, at most 1000) and fewer when they would
   * come to more than REPLY_BYTE_BUDGET: a short list does not mean there are no older jobs.
   */
  async list(caller: Caller, clusterId: string | undefined, limit: number | undefined): Promise<Job[]> {
    if (clusterId !== undefined) validateId('clusterId', clusterId);
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 1000)) {
      throw InvalidRequestError.of('limit', 'must be a whole number from 1 to 1000');
    }
    return this.deps.jobs.list(this.deps.db, caller.gatewayId, clusterId, limit ?? 100, REPLY_BYTE_BUDGET);
  }

  /** Cancels a job. Canceling an already-canceled job is a no-op, so a retried cancel succeeds. */
  async cancel(caller: Caller, jobId: string): Promise<void> {
    validateId('jobId', jobId);
    await this.cancels.cancel(caller, jobId);
  }

  /**
   * A workingDir is the gateway's own: relative ones are taken from its job root, and none may
   * leave it. Stored resolved, so a retry with the same directory spelled either way is the same
   * request. (No workingDir: dispatch gives the job <root>/<jobId>.)
   */
  private withWorkingDir(caller: Caller, spec: JobSpec): JobSpec {
    if (spec.workingDir === undefined) return spec;
    const resolved = resolveWorkingDir(gatewayRoot(this.deps.jobRoot, caller.gatewayId), '', spec.workingDir);
    if ('error' in resolved) throw new InvalidRequestError([resolved.error]);
    return { ...spec, workingDir: resolved.dir };
  }

  /** A job naming an application runs on the cluster the application is installed on. */
  private async withApplication(caller: Caller, spec: JobSpec): Promise<JobSpec> {
    if (spec.applicationId === undefined) return spec;
    const app = await this.deps.applications.get(this.deps.db, spec.applicationId);
    if (!app || app.gatewayId !== caller.gatewayId) throw new NotFoundError('application', spec.applicationId);
    if (app.state !== 'INSTALLED') {
      throw InvalidRequestError.of('spec.applicationId', `application ${app.spec.name} is ${app.state}, not INSTALLED`);
    }
    if (spec.clusterId !== undefined && spec.clusterId !== app.clusterId) {
      throw InvalidRequestError.of('spec.applicationId', `application ${app.spec.name} is installed on cluster ${app.clusterId}, not ${spec.clusterId}`);
    }
    return { ...spec, clusterId: app.clusterId };
  }

  /** A job sent to a named cluster: it must be the caller's, alive, and able to run the job. */
  private async requireLiveCluster(caller: Caller, spec: JobSpec): Promise<{ clusterId: string; reason: string; allocationId?: string }> {
    const clusterId = spec.clusterId as string;
    const cluster = await this.deps.clusters.get(this.deps.db, caller.gatewayId, clusterId);
    if (!cluster) throw new NotFoundError('cluster', clusterId);
    // What the kind can never run is said first, whatever state the cluster is in: an MPI job
    // sent to a Mesos cluster, a service sent to a Slurm one.
    const kindErrors = kindMisfitsOf({ kind: cluster.kind, name: cluster.name, partitions: cluster.site?.partitions }, needsOf(spec));
    if (kindErrors.length > 0) throw new InvalidRequestError(kindErrors);
    if (!isLiveClusterState(cluster.state) || cluster.state === 'TEARING_DOWN') {
      throw InvalidRequestError.of('spec.clusterId', `cluster ${clusterId} is ${cluster.state} and takes no jobs`);
    }
    if (cluster.state === 'READY') {
      const [capacity] = (await this.capacities.run(caller.gatewayId)).filter((c) => c.clusterId === clusterId);
      const needs = needsOf(spec);
      const errors = capacity ? misfits(capacity, needs) : [];
      if (errors.length > 0) throw new InvalidRequestError(errors);
      // On an HPC system, a live pilot with room starts the job at once, without the site's queue.
      const pilot = capacity ? choosePilot(capacity, needs, this.now()) : undefined;
      if (pilot) {
        return {
          clusterId, allocationId: pilot.allocationId,
          reason: `accepted for cluster ${cluster.name}: starts at once inside its live pilot ${pilot.allocationId} (no queue wait)`,
        };
      }
    }
    return { clusterId, reason: `accepted for cluster ${cluster.name} (${cluster.state})` };
  }

  /** The meta-scheduler's choice among the gateway's READY clusters (see domain/placement). */
  private async choose(caller: Caller, spec: JobSpec): Promise<{ clusterId?: string; reason: string; allocationId?: string }> {
    const placement = place(await this.capacities.run(caller.gatewayId), needsOf(spec), this.now());
    if (placement.kind === 'never') throw new InvalidRequestError(placement.errors);
    if (placement.kind === 'wait') return { reason: `accepted; ${placement.reason}` };
    return { clusterId: placement.clusterId, reason: placement.reason, ...(placement.allocationId ? { allocationId: placement.allocationId } : {}) };
  }
}

export function toHandle(job: Job): JobHandle {
  return { jobId: job.jobId, clusterId: job.clusterId ?? job.spec.clusterId, nativeJobId: job.nativeJobId, state: job.state };
}

export type { JobSpec };
