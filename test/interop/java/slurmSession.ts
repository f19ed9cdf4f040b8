// What the job-scenario interop tests (Java, Python) share: the service as a process with job-status
// events on, a STATIC `localhost` Slurm cluster built through the API and waited READY, an MPI test
// program, and a teardown that deletes the cluster (TERMINATED) and stops the service, also after a
// failure half-way. This machine has one Slurm: open() first waits until no slurmctld/slurmd runs
// (someone else's test may be using it) and never touches a Slurm it did not build.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { buildMpiProgram } from '../../support/mpiProgram';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { mintHs256Token } from '../../../src/auth/mintToken';
import { connectClients } from '../../../src/client/connect';
import { base, ms } from '../../../src/rpc/wire';
import { createTestDatabase, type TestDatabase } from '../../support/database';
import { startServiceProcess, type ServiceProcess } from '../../support/serviceProcess';
import { TEST_SECRET } from '../../support/tokens';
import { slurmDaemonsHere } from '../../support/slurmDaemons';

export const AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';
const SLURM_FREE_TIMEOUT_MS = 15 * 60_000;
const SLURM_FREE_POLL_MS = 10_000;
const CLUSTER_TIMEOUT_MS = 5 * 60_000;

const sleep = (ms_: number) => new Promise((resolve) => setTimeout(resolve, ms_));

export function slurmDaemons(): string[] {
  return slurmDaemonsHere();
}

/** Waits (polling every 10 s, up to 15 min) until no Slurm daemon runs on this machine. */
export async function waitForFreeSlurm(log: (line: string) => void = () => undefined): Promise<void> {
  const deadline = Date.now() + SLURM_FREE_TIMEOUT_MS;
  for (let busy = slurmDaemons(); busy.length > 0; busy = slurmDaemons()) {
    if (Date.now() > deadline) {
      throw new Error(`Slurm daemons (${busy.join(', ')}) still run after ${SLURM_FREE_TIMEOUT_MS / 60_000} min: another test holds this machine's Slurm`);
    }
    log(`waiting for this machine's Slurm to be free (${busy.join(', ')} running)`);
    await sleep(SLURM_FREE_POLL_MS);
  }
}

export interface RunResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a program without blocking the event loop (the service's output pipes keep draining). */
export function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs: number }): Promise<RunResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.once('error', (error) => { clearTimeout(timer); reject(error); });
    child.once('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

export class SlurmSession {
  readonly gatewayId: string;
  readonly userName: string;
  accessToken = '';
  token!: base.AuthzToken;
  dataDir = '';
  mpiProgram = '';
  clusterId = '';
  service?: ServiceProcess;
  private database?: TestDatabase;
  private readonly log: (line: string) => void;

  constructor(label: string, log: (line: string) => void = (line) => process.stderr.write(`[${label}] ${line}\n`)) {
    this.gatewayId = `${label}-gw-${randomBytes(3).toString('hex')}`;
    this.userName = `${label}-orchestrator`;
    this.log = log;
  }

  get port(): number {
    if (!this.service) throw new Error('the service is not started');
    return this.service.port;
  }

  /** Waits for a free Slurm, starts the service and builds the cluster to READY. */
  async open(): Promise<void> {
    this.accessToken = await mintHs256Token({ secret: TEST_SECRET, gatewayId: this.gatewayId, userName: this.userName, ttlSeconds: 3 * 3600 });
    this.token = new base.AuthzToken({
      accessToken: this.accessToken, claimsMap: new Map([['gatewayID', this.gatewayId], ['userName', this.userName]]),
    });
    this.dataDir = mkdtempSync(path.join(tmpdir(), 'ms-interop-jobs-'));
    this.mpiProgram = buildMpiProgram();
    this.database = await createTestDatabase({ migrate: false });
    this.service = await startServiceProcess({
      DATABASE_URL: this.database.url, DATA_DIR: this.dataDir, THRIFT_PORT: '0', AUTH_HS256_SECRET: TEST_SECRET,
      LOCAL_CLUSTER_GATEWAYS: this.gatewayId,
      AMQP_URL, MONITOR_INTERVAL_MS: '500',
    });

    await waitForFreeSlurm(this.log);
    const started = Date.now();
    const clients = await connectClients({ host: '127.0.0.1', port: this.port });
    try {
      this.clusterId = await clients.cluster.createCluster(this.token, new ms.ClusterSpec({
        name: 'interop-local', kind: ms.ClusterKind.SLURM, provider: ms.ProviderType.STATIC,
        clientToken: `interop-${this.gatewayId}`, hosts: [new ms.HostSpec({ address: 'localhost' })],
      }));
      const ready = await this.clusterIn(clients, [ms.ClusterState.READY, ms.ClusterState.FAILED]);
      if (ready.state !== ms.ClusterState.READY) throw new Error(`cluster ${this.clusterId} FAILED: ${ready.stateReason}`);
      this.log(`cluster ${this.clusterId} READY in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    } finally {
      clients.close();
    }
  }

  /** Deletes what this session built (waiting for TERMINATED), stops the service, drops the database. */
  async close(): Promise<void> {
    try {
      await this.teardown();
    } finally {
      await this.database?.drop();
    }
  }

  private async teardown(): Promise<void> {
    const service = this.service;
    if (service && service.child.exitCode === null && service.child.signalCode === null) {
      try {
        const clients = await connectClients({ host: '127.0.0.1', port: service.port });
        try {
          const started = Date.now();
          // Only our gateway's clusters, in our own database: never anyone else's Slurm.
          const live = (await clients.cluster.listClusters(this.token)).filter((c) => c.state !== ms.ClusterState.TERMINATED);
          for (const c of live) await clients.cluster.deleteCluster(this.token, c.clusterId);
          for (const c of live) {
            const end = await this.clusterIn(clients, [ms.ClusterState.TERMINATED, ms.ClusterState.FAILED], c.clusterId);
            if (end.state !== ms.ClusterState.TERMINATED) throw new Error(`cluster ${c.clusterId} ended ${ms.ClusterState[end.state]} on delete: ${end.stateReason}`);
          }
          if (live.length > 0) this.log(`cluster deleted, TERMINATED in ${((Date.now() - started) / 1000).toFixed(1)} s`);
        } finally {
          clients.close();
        }
      } finally {
        service.child.kill('SIGTERM');
        const code = await service.exited;
        if (code !== 0) throw new Error(`service exited ${code} on SIGTERM:\n${service.output().slice(-4000)}`);
      }
    }
  }

  private async clusterIn(clients: Awaited<ReturnType<typeof connectClients>>, states: ms.ClusterState[], clusterId = this.clusterId): Promise<ms.Cluster> {
    const deadline = Date.now() + CLUSTER_TIMEOUT_MS;
    for (;;) {
      const cluster = await clients.cluster.getCluster(this.token, clusterId);
      if (states.includes(cluster.state)) return cluster;
      if (Date.now() > deadline) {
        throw new Error(`cluster ${clusterId} is ${ms.ClusterState[cluster.state]} after ${CLUSTER_TIMEOUT_MS / 1000} s, waiting for ${states.map((s) => ms.ClusterState[s]).join('/')}`);
      }
      await sleep(500);
    }
  }
}

