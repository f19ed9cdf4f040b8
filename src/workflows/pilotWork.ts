// Pilots on HPC systems: a placeholder job that holds N nodes for a wall time, so jobs placed there
// start at once inside it as job steps. One queue task per pilot (`pilot_work`, serial per key)
// moves it on from the state it finds and queues its next look while it lives:
//   REQUESTED -> QUEUED   the placeholder is submitted (or found again, by its name);
//   QUEUED -> ACTIVE      it runs: its nodes and end time are recorded, waiting jobs are placed;
//   RELEASING             releaseResources: the placeholder is cancelled;
//   -> ENDED              the site no longer lists it: wall time, release, or ended at the site;
//                         jobs still inside end FAILED (wall time, site) or CANCELED (release),
//                         each with the reason; none is left waiting on a pilot that is gone.
//   -> FAILED             the site refused the placeholder.
// Jobs placed in a pilot that ended before they started go to the site's queue instead (dispatch).
import { randomUUID } from 'node:crypto';
import { isTerminalJobState } from '../domain/stateMachines';
import type { Cluster } from '../domain/types';
import type { Logger } from '../log';
import { optionsOf } from '../providers/hpc/siteDriver';
import { PilotRefusedError, SitePilots } from '../providers/hpc/pilots';
import { parseSlurmTime } from '../schedulers/slurm/states';
import type { AllocationStore, StoredAllocation } from '../store/allocationStore';
import type { ClusterStore } from '../store/clusterStore';
import type { Db } from '../store/db';
import type { JobStore } from '../store/jobStore';
import type { QueueStore } from '../store/queueStore';
import type { ClusterAccess } from './clusterAccess';

export interface PilotWorkDeps {
  db: Db;
  allocations: AllocationStore;
  clusters: ClusterStore;
  jobs: JobStore;
  queue: QueueStore;
  access: ClusterAccess;
  log: Logger;
  /** How often a live pilot is looked at. */
  intervalMs: number;
  now?: () => number;
}

/** A pilot that ends within this of its wall time ended because of it. */
const WALL_TIME_SLACK_MS = 90_000;

export function pilotTaskKey(allocationId: string): string {
  return `pilot:${allocationId}`;
}

type Ending = { reason: string; jobState: 'FAILED' | 'CANCELED'; jobReason: string };

export class PilotWork {
  private readonly now: () => number;

  constructor(private readonly deps: PilotWorkDeps) {
    this.now = deps.now ?? Date.now;
  }

  async run(allocationId: string): Promise<void> {
    const { db, allocations, clusters } = this.deps;
    const pilot = await allocations.getById(db, allocationId);
    if (!pilot || pilot.state === 'ENDED' || pilot.state === 'FAILED') return;
    const cluster = pilot.clusterId ? await clusters.getById(db, pilot.clusterId) : undefined;
    let live = true;
    try {
      live = await this.step(pilot, cluster);
    } finally {
      if (live) {
        await this.deps.queue.enqueue(db, 'pilot_work', { allocationId }, {
          jobKey: pilotTaskKey(allocationId), runAt: new Date(this.now() + this.deps.intervalMs),
        });
      }
    }
  }

  /** One look; false once the pilot has ended (nothing more to watch). */
  private async step(pilot: StoredAllocation, cluster: Cluster | undefined): Promise<boolean> {
    if (!cluster || ['TEARING_DOWN', 'TERMINATED', 'FAILED'].includes(cluster.state)) {
      if (cluster && pilot.nativeJobId) await this.site(cluster).cancel(pilot.nativeJobId);
      await this.end(pilot, {
        reason: 'its HPC system was unregistered', jobState: 'CANCELED', jobReason: `pilot ${pilot.allocationId}'s HPC system was unregistered`,
      });
      return false;
    }
    const site = this.site(cluster);
    if (pilot.state === 'REQUESTED') {
      try {
        const { nativeJobId, adopted } = await site.submit({
          allocationId: pilot.allocationId, partition: pilot.partition ?? '', nodes: pilot.nodeCount ?? 1, wallTimeMinutes: pilot.wallTimeMinutes ?? 1,
        });
        const recorded = await this.move(pilot, 'QUEUED', `placeholder Slurm job ${nativeJobId} ${adopted ? 'found again' : 'submitted'}: waiting in partition ${pilot.partition}`, { nativeJobId });
        // Released while it was being submitted: keep its id, so the release cancels it.
        if (!recorded) await this.deps.allocations.update(this.deps.db, pilot.allocationId, { state: 'RELEASING', reason: pilot.stateReason ?? 'release requested', nativeJobId, from: 'RELEASING' }, this.now());
      } catch (error) {
        if (!(error instanceof PilotRefusedError)) throw error;
        await this.move(pilot, 'FAILED', error.message);
        return false;
      }
      return true;
    }
    // Released before its id was recorded: the placeholder, if any, is found by its name.
    const nativeJobId = pilot.nativeJobId ?? (pilot.state === 'RELEASING' ? await site.find(pilot.allocationId) : undefined);
    if (!nativeJobId) {
      if (pilot.state === 'RELEASING') await this.end(pilot, this.ending(pilot, undefined));
      return pilot.state !== 'RELEASING';
    }
    if (pilot.state === 'RELEASING') await site.cancel(nativeJobId);
    const status = await site.status(nativeJobId);
    const gone = !status || !['PENDING', 'CONFIGURING', 'RUNNING', 'SUSPENDED', 'REQUEUED'].includes(status.state);
    if (gone) {
      await this.end(pilot, this.ending(pilot, status?.state));
      return false;
    }
    if (pilot.state === 'QUEUED' && status.state === 'RUNNING') {
      const hosts = await site.hostnames(status.nodeList);
      const now = this.now();
      const start = parseSlurmTime(status.startTime) ?? now;
      const end = parseSlurmTime(status.endTime) ?? start + (pilot.wallTimeMinutes ?? 0) * 60_000;
      await this.deps.db.transaction(async (tx) => {
        await this.deps.allocations.setNodes(tx, pilot.allocationId, hosts.map((address) => ({ nodeId: randomUUID(), address })), now);
        await this.deps.allocations.update(tx, pilot.allocationId, {
          state: 'ACTIVE', startTime: start, endTime: end, from: 'QUEUED',
          reason: `running on ${hosts.join(', ')} until ${new Date(end).toISOString()}; jobs placed here start at once inside it`,
        }, now);
        // Room appeared: jobs waiting for a place may fit in it now.
        await this.deps.queue.enqueue(tx, 'place_waiting', { gatewayId: pilot.gatewayId }, { jobKey: `place:${pilot.gatewayId}` });
      });
      return true;
    }
    if (pilot.state === 'QUEUED' && status.reason !== '' && !(pilot.stateReason ?? '').endsWith(`(${status.reason})`)) {
      await this.move(pilot, 'QUEUED', `placeholder Slurm job ${pilot.nativeJobId} waiting in partition ${pilot.partition} (${status.reason})`);
    }
    return true;
  }

  /** Why the placeholder is gone, for the pilot and for the jobs it still held. */
  private ending(pilot: StoredAllocation, lastState: string | undefined): Ending {
    const id = pilot.allocationId;
    if (pilot.state === 'RELEASING') {
      return { reason: 'released: the placeholder job was cancelled', jobState: 'CANCELED', jobReason: `pilot ${id} was released while the job ran in it` };
    }
    if (pilot.endTime !== undefined && this.now() >= pilot.endTime - WALL_TIME_SLACK_MS) {
      return {
        reason: `reached its wall time (${pilot.wallTimeMinutes} min)`, jobState: 'FAILED',
        jobReason: `pilot ${id} reached its wall time (${pilot.wallTimeMinutes} min) with the job still running in it`,
      };
    }
    const how = lastState ? ` (${lastState})` : '';
    return {
      reason: `ended at the site before its wall time${how}: cancelled there, or its nodes failed`, jobState: 'FAILED',
      jobReason: `pilot ${id} ended at the site before its wall time${how} with the job still running in it`,
    };
  }

  /** ENDED with the reason; its nodes given back; every job still inside it ended with why. */
  private async end(pilot: StoredAllocation, ending: Ending): Promise<void> {
    const now = this.now();
    const { db, allocations, jobs } = this.deps;
    const inside = await jobs.liveInAllocation(db, pilot.allocationId);
    await db.transaction(async (tx) => {
      await allocations.update(tx, pilot.allocationId, { state: 'ENDED', reason: ending.reason }, now);
      await allocations.setNodeStates(tx, pilot.allocationId, 'RELEASED', now);
      for (const jobId of inside) {
        const locked = await jobs.lockWork(tx, jobId);
        if (!locked || isTerminalJobState(locked.state)) continue;
        await jobs.append(tx, jobId, [{ state: ending.jobState, time: now, reason: ending.jobReason }], now, { endedAt: now });
      }
    });
    this.deps.log.info({ allocationId: pilot.allocationId, reason: ending.reason, jobsEnded: inside.length }, 'pilot ended');
  }

  /** From the state the pilot was read in only: a release that came meanwhile is not overwritten. */
  private async move(pilot: StoredAllocation, state: 'QUEUED' | 'FAILED', reason: string, more: { nativeJobId?: string } = {}): Promise<boolean> {
    return this.deps.allocations.update(this.deps.db, pilot.allocationId, { state, reason, from: pilot.state as 'REQUESTED' | 'QUEUED', ...more }, this.now());
  }

  private site(cluster: Cluster): SitePilots {
    if (!this.deps.access.controllerRunner) throw new Error('no runner on HPC login hosts is configured');
    return new SitePilots(this.deps.access.controllerRunner(cluster), optionsOf(cluster));
  }
}
