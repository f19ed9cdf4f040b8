// The whole service in-process on its own database, and a client connected to it over a socket.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { startApp, type App } from '../../src/app';
import { connectClients, type ServiceClients } from '../../src/client/connect';
import { loadConfig, type ThriftTransport } from '../../src/config';
import { createLogger } from '../../src/log';
import { createTestDatabase, type TestDatabase } from './database';
import { TEST_SECRET } from './tokens';

export interface TestApp {
  app: App;
  database: TestDatabase;
  clients: ServiceClients;
  port: number;
  close(): Promise<void>;
}

export interface TestAppOptions {
  /** Run background work too (cluster workflows touch the machine: off unless a test needs it). */
  backgroundWorkers?: boolean;
  /** Receives the service's log lines (JSON), e.g. to check what reaches the log. */
  logLines?: string[];
  /** More settings, by their environment names (e.g. LOCAL_CLUSTER_GATEWAYS). */
  env?: Record<string, string>;
}

export async function startTestApp(transport: ThriftTransport = 'buffered', options: TestAppOptions = {}): Promise<TestApp> {
  const database = await createTestDatabase({ migrate: false });
  const config = loadConfig({
    DATABASE_URL: database.url,
    DATA_DIR: mkdtempSync(path.join(tmpdir(), 'ms-test-data-')),
    THRIFT_PORT: '0',
    THRIFT_TRANSPORT: transport,
    AUTH_HS256_SECRET: TEST_SECRET,
    SHUTDOWN_GRACE_MS: '2000',
    BACKGROUND_WORKERS: options.backgroundWorkers ? 'on' : 'off',
    ...options.env,
  });
  const { logLines } = options;
  const log = logLines
    ? createLogger('debug', { write: (line: string) => void logLines.push(line) })
    : createLogger('silent');
  const app = await startApp(config, log);
  const clients = await connectClients({ host: '127.0.0.1', port: app.rpc.port, transport });
  return {
    app,
    database,
    clients,
    port: app.rpc.port,
    async close() {
      clients.close();
      await app.stop();
      await database.drop();
    },
  };
}
