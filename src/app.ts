// Builds the running service from its configuration: database, stores, services, Thrift server.
// The one place that calls `new` on a store or a service (STYLE.md: one composition root).
import { mkdirSync } from 'node:fs';
import { TokenVerifier } from './auth/tokenVerifier';
import type { Config } from './config';
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

export interface App {
  rpc: RpcServer;
  db: Db;
  /** Drains calls in flight, then releases the server, the pool and an embedded database. */
  stop(): Promise<void>;
}

export async function startApp(config: Config, log: Logger): Promise<App> {
  mkdirSync(config.dataDir, { recursive: true });
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

    const clusters = new ClusterStore();
    const jobs = new JobStore();
    const deps = {
      verifier,
      db,
      allocations: new AllocationStore(),
      clusters: new ClusterService({ db, clusters, idempotency: new IdempotencyStore() }),
      jobs: new JobService({ db, jobs, clusters }),
    };
    const rpc = await startRpcServer(deps, {
      host: config.thriftHost, port: config.thriftPort, transport: config.thriftTransport, log,
    });
    log.info(`listening on ${config.thriftHost}:${rpc.port}`);

    return {
      rpc,
      db,
      async stop() {
        const { drained } = await rpc.close(config.shutdownGraceMs);
        await db.destroy();
        await embedded?.stop();
        log.info({ drained }, 'stopped');
      },
    };
  } catch (error) {
    await db.destroy();
    await embedded?.stop();
    throw error;
  }
}
