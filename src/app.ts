// Builds the running service from its configuration: database, stores, services, Thrift server.
// The one place that calls `new` on a store or a service (one composition root).
import { chmodSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { AnsibleRunnerBridge } from './ansible/bridge';
import { JobEventPublisher } from './events/publisher';
import { TokenVerifier } from './auth/tokenVerifier';
import type { Config } from './config';
import type { Cluster } from './domain/types';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './db/embeddedPostgres';
import { maskUrl, type Logger } from './log';
import { startRpcServer, type RpcServer } from './rpc/server';
import { ClusterService } from './services/clusterService';
import { JobService } from './services/jobService';
import { AllocationStore } from './store/allocationStore';
import { ClusterStore } from './store/clusterStore';
import { migrateLatest, openDb, type Db } from './store/db';
import { IdempotencyStore } from './store/idempotencyStore';
import { JobStore } from './store/jobStore';
import { QueueStore } from './store/queueStore';
import { ApplicationStore } from './store/applicationStore';
import { ClusterKeyStore, GatewayKeyStore } from './store/gatewayKeyStore';
import { checkSecretsKey } from './secrets/keyCheck';
import { SecretBox } from './secrets/secretBox';
import { KeyCheckStore } from './store/keyCheckStore';
import { CLUSTER_KEY_OWNER, ClusterKeys, GatewayKeys } from './services/gatewayKeys';
import { LocalCommandRunner } from './exec/commandRunner';
import { HostKeyPins } from './exec/hostKeys';
import { SshRunnerPool } from './exec/sshRunnerPool';
import { HostKeyStore } from './store/hostKeyStore';
import { nodeRunners } from './workflows/nodeRunners';
import { defaultKinds } from './kinds/registry';
import { defaultProviders } from './providers/registry';
import { DriverAccess } from './workflows/clusterAccess';
import { PilotWork } from './workflows/pilotWork';
import { ProvisioningService } from './services/provisioningService';
import { ClusterWorkflow, type ClusterWorkflowPayload } from './workflows/clusterWorkflow';
import { JobWorkflows } from './workflows/jobWork';
import { NodeHealthWatch } from './workflows/nodeHealth';
import { OrphanSweeper } from './workflows/orphanSweep';
import { recoverWork } from './workflows/recovery';
import { WORKER_STALE_AFTER_MS, WorkQueue } from './workflows/workQueue';

/** Where our playbooks live (the repository's playbooks/, next to src/ and dist/). */
export const PLAYBOOK_DIR = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? '../../playbooks' : '../playbooks');

function payloadField(payload: unknown, field: string): string {
  const value = (payload as Record<string, unknown> | null)?.[field];
  if (typeof value !== 'string') throw new Error(`queue payload without ${field}`);
  return value;
}

export interface App {
  rpc: RpcServer;
  db: Db;
  /** Drains calls in flight, then releases the server, the pool and an embedded database. */
  stop(): Promise<void>;
}

export async function startApp(config: Config, log: Logger): Promise<App> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  // Keys, run dirs and the embedded database live here: closed to every other account, the
  // gateways' job accounts above all (an embedded Postgres later adds traversal for its own user).
  chmodSync(config.dataDir, 0o700);
  // Read the keys first: a bad auth setting must stop the start before anything is opened.
  const verifier = TokenVerifier.fromConfig(config.auth);

  let embedded: EmbeddedDatabase | undefined;
  let databaseUrl = config.databaseUrl;
  if (databaseUrl === undefined) {
    embedded = await startEmbeddedPostgres(config.dataDir, log);
    databaseUrl = embedded.url;
  }
  const db = openDb(databaseUrl, config.dbPoolSize);
  try {
    const applied = await migrateLatest(db);
    log.info({ database: maskUrl(databaseUrl), applied }, 'database ready');

    const box = SecretBox.open(config.secretsKeyFile, config.dataDir);
    await checkSecretsKey(db, box, new KeyCheckStore());
    const gatewayKeys = new GatewayKeys({ db, keys: new GatewayKeyStore(), box });
    const clusterKeys = new ClusterKeys({ db, keys: new ClusterKeyStore(), box });
    const applications = new ApplicationStore();
    const clusters = new ClusterStore(applications);
    const jobs = new JobStore({ outbox: config.amqpUrl !== undefined });
    const queue = new QueueStore();
    const commands = new LocalCommandRunner();
    const providers = defaultProviders({
      awsRegion: config.awsRegion, ec2PollIntervalMs: config.ec2PollIntervalMs, openstackCloud: config.openstackCloud,
      openstackPollIntervalMs: config.openstackPollIntervalMs, openstackAddressMetadataKey: config.openstackAddressMetadataKey,
      hpc: { log: log.child({ component: 'hpc' }), missingGraceMs: config.hpcMissingGraceMs },
    });
    const kinds = defaultKinds({ slurm: { log: log.child({ component: 'slurm' }) }, mesos: { log: log.child({ component: 'mesos' }) } });
    // One SSH connection per host, with the gateway's key; host keys pinned at first contact.
    const pins = new HostKeyPins({ db, store: new HostKeyStore() });
    // Nodes a cloud provider bought take the cluster's own key; every other host the gateway's.
    const keyOwnerOf = (cluster: Cluster): string | undefined =>
      (providers.has(cluster.provider) && providers.get(cluster.provider).buysNodes ? `${CLUSTER_KEY_OWNER}${cluster.clusterId}` : undefined);
    const privateKeyOf = (owner: string): Promise<string> => (owner.startsWith(CLUSTER_KEY_OWNER)
      ? clusterKeys.privateKey(owner.slice(CLUSTER_KEY_OWNER.length)) : gatewayKeys.privateKey(owner));
    const ssh = new SshRunnerPool({ privateKey: privateKeyOf, pins });
    const access = new DriverAccess({
      kinds,
      providers,
      runners: nodeRunners(commands, ssh, keyOwnerOf),
      sshPrivateKey: (cluster) => privateKeyOf(keyOwnerOf(cluster) ?? cluster.gatewayId),
      knownHostsLine: (target) => pins.knownHostsLine(target),
      forgetPin: (target) => pins.forget(target),
    });
    const workQueue = new WorkQueue({ connectionString: databaseUrl, db, queue, log, concurrency: config.workerConcurrency });
    await workQueue.migrate();
    const shutdown = new AbortController();
    const clusterWorkflow = new ClusterWorkflow({
      db, clusters, jobs, queue, access, log, applications, shutdown: shutdown.signal, kinds, providers,
      ansible: new AnsibleRunnerBridge({ dataDir: config.dataDir, playbookDir: PLAYBOOK_DIR, log: log.child({ component: 'ansible' }) }),
      playbookTimeoutMs: config.playbookTimeoutMs,
      localClusterGateways: config.localClusterGateways,
      jobRoot: config.jobRoot,
      clusterKeys,
      reachTimeoutMs: config.nodeReachTimeoutMs,
    });
    const sweeper = new OrphanSweeper({
      db, clusters, queue, providers, log: log.child({ component: 'sweeper' }),
      intervalMs: config.sweepIntervalMs, dryRun: config.sweepDryRun, defaultScopes: { EC2: config.sweepRegions, OPENSTACK: config.sweepClouds },
    });
    const jobWork = new JobWorkflows({
      db, jobs, clusters, queue, access, log, applications,
      jobRoot: config.jobRoot,
      monitorIntervalMs: config.monitorIntervalMs,
      staleAfterMs: WORKER_STALE_AFTER_MS,
      missingGraceMs: config.jobMissingGraceMs,
      liveOutput: { intervalMs: config.liveOutputIntervalMs, maxJobsPerTick: config.liveOutputJobsPerTick },
      nodeHealth: new NodeHealthWatch({
        db, clusters, queue, log: log.child({ component: 'nodeHealth' }), intervalMs: config.nodeHealthIntervalMs,
        controller: (cluster) => access.controllerRunner(cluster),
      }),
    });
    const events = config.amqpUrl === undefined ? undefined : new JobEventPublisher({
      db, amqpUrl: config.amqpUrl, log: log.child({ component: 'events' }),
      kafkaRestUrl: config.kafkaRestUrl, kafkaTopic: config.kafkaTopic,
    });
    const allocations = new AllocationStore();
    const pilotWork = new PilotWork({
      db, allocations, clusters, jobs, queue, access, log: log.child({ component: 'pilots' }), intervalMs: config.monitorIntervalMs,
    });
    const idempotency = new IdempotencyStore();
    const deps = {
      verifier,
      gatewayKeys,
      db,
      provisioning: new ProvisioningService({ db, allocations, clusters, idempotency, queue }),
      clusters: new ClusterService({
        db, clusters, applications, idempotency, queue, localClusterGateways: config.localClusterGateways,
        providers, kinds,
      }),
      jobs: new JobService({ db, jobs, clusters, access, applications, jobRoot: config.jobRoot }),
    };
    const rpc = await startRpcServer(deps, {
      host: config.thriftHost, port: config.thriftPort, transport: config.thriftTransport, log,
      idleTimeoutMs: config.thriftIdleTimeoutMs, maxConnections: config.thriftMaxConnections,
      maxMessageBytes: config.thriftMaxMessageBytes,
    });
    if (config.backgroundWorkers) await workQueue.start({
      cluster_workflow: (payload) => clusterWorkflow.run(payload as ClusterWorkflowPayload),
      job_dispatch: (payload) => jobWork.dispatch(payloadField(payload, 'jobId')),
      cluster_monitor: (payload) => jobWork.monitor(payloadField(payload, 'clusterId')),
      place_waiting: (payload) => jobWork.placeWaiting(payloadField(payload, 'gatewayId')),
      orphan_sweep: async () => { await sweeper.run(); },
      pilot_work: (payload) => pilotWork.run(payloadField(payload, 'allocationId')),
    }, async (task, payload, error) => {
      if (task === 'cluster_workflow') await clusterWorkflow.giveUp(payload as ClusterWorkflowPayload, error);
      else if (task === 'job_dispatch') await jobWork.giveUpDispatch(payloadField(payload, 'jobId'), error);
      // Monitor ticks and placement re-queue themselves: nothing is left stranded by one given up.
      else if (task === 'orphan_sweep') await sweeper.schedule();
    });
    if (config.backgroundWorkers) {
      await recoverWork({ db, clusters, jobs, queue, log, allocations });
      await sweeper.schedule(true);
    }
    // Every replica publishes; the outbox's drain lease lets one at a time.
    events?.start();
    log.info(`listening on ${config.thriftHost}:${rpc.port}`);

    return {
      rpc,
      db,
      async stop() {
        const { drained } = await rpc.close(config.shutdownGraceMs);
        shutdown.abort();
        // Each step runs whatever the one before did, so nothing is left running; the first
        // failure is reported once all have been tried.
        const failures: unknown[] = [];
        for (const [name, step] of [
          ['background workers', () => workQueue.stop()],
          ['event publisher', async () => events?.stop()],
          ['ssh connections', () => ssh.close()],
          ['database pool', () => db.destroy()],
          ['embedded Postgres', async () => embedded?.stop()],
        ] as const) {
          try {
            await step();
          } catch (error) {
            log.error({ err: error, step: name }, 'shutdown step failed');
            failures.push(error);
          }
        }
        log.info({ drained }, 'stopped');
        if (failures.length > 0) throw failures[0];
      },
    };
  } catch (error) {
    await db.destroy();
    await embedded?.stop();
    throw error;
  }
}
