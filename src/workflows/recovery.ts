// At start: make sure every piece of unfinished work has a queue job. Queue jobs are rows in
// Postgres and survive a crash, so this mostly finds them already there; it covers work whose job
// was completed or lost while its state still says otherwise. Every replica runs it as it starts,
// usually while others are working on those very keys, so it adds only where no job is running or
// due (QueueStore.enqueueIfAbsent): it never queues a second run behind a running one nor touches a
// job another replica holds.
import type { Logger } from '../log';
import type { AllocationStore } from '../store/allocationStore';
import type { ClusterStore } from '../store/clusterStore';
import type { Db } from '../store/db';
import type { JobStore } from '../store/jobStore';
import type { QueueStore } from '../store/queueStore';
import { workflowQueue } from '../services/clusterService';

export interface RecoveryDeps {
  db: Db;
  clusters: ClusterStore;
  jobs: JobStore;
  queue: QueueStore;
  log: Logger;
  /** Pilots still live are watched again. */
  allocations?: AllocationStore;
}

export async function recoverWork(deps: RecoveryDeps): Promise<void> {
  const { db, clusters, jobs, queue, log, allocations } = deps;
  for (const allocationId of (await allocations?.liveIds(db)) ?? []) {
    await queue.enqueueIfAbsent(db, 'pilot_work', { allocationId }, { jobKey: `pilot:${allocationId}` });
  }
  const building = await clusters.inProgress(db);
  for (const cluster of building) {
    if (cluster.state === 'SCALING') {
      const workerCount = await clusters.targetWorkers(db, cluster.clusterId);
      await queue.enqueueIfAbsent(db, 'cluster_workflow', { clusterId: cluster.clusterId, action: 'scale', workerCount }, {
        queueName: workflowQueue(cluster.clusterId).queueName, jobKey: `scale:${cluster.clusterId}`,
      });
      continue;
    }
    if (cluster.state === 'FAILED' || cluster.state === 'DEGRADED') {
      const action = cluster.state === 'FAILED' ? 'rollback' : 'repair';
      await queue.enqueueIfAbsent(db, 'cluster_workflow', { clusterId: cluster.clusterId, action }, {
        queueName: workflowQueue(cluster.clusterId).queueName, jobKey: `${action}:${cluster.clusterId}`,
      });
      continue;
    }
    const action = cluster.state === 'TEARING_DOWN' ? 'delete' : 'create';
    await queue.enqueueIfAbsent(db, 'cluster_workflow', { clusterId: cluster.clusterId, action }, workflowQueue(cluster.clusterId));
  }
  const watched = await clusters.monitoredIds(db);
  let undispatched = 0;
  let added = 0;
  for (const clusterId of watched) {
    if (await queue.enqueueIfAbsent(db, 'cluster_monitor', { clusterId }, { jobKey: `monitor:${clusterId}` })) added += 1;
    for (const jobId of await jobs.undispatched(db, clusterId)) {
      undispatched += 1;
      if (await queue.enqueueIfAbsent(db, 'job_dispatch', { jobId }, { jobKey: `dispatch:${jobId}` })) added += 1;
    }
  }
  if (building.length + watched.length > 0) {
    log.info({ building: building.length, watched: watched.length, undispatched, added }, 'resumed unfinished work');
  }
}
