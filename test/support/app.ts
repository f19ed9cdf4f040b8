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

export async function startTestApp(transport: ThriftTransport = 'buffered'): Promise<TestApp> {
  const database = await createTestDatabase({ migrate: false });
  const config = loadConfig({
    DATABASE_URL: database.url,
    DATA_DIR: mkdtempSync(path.join(tmpdir(), 'ms-test-data-')),
    THRIFT_PORT: '0',
    THRIFT_TRANSPORT: transport,
    AUTH_HS256_SECRET: TEST_SECRET,
    SHUTDOWN_GRACE_MS: '2000',
  });
  const app = await startApp(config, createLogger('silent'));
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
