// Replicas must share one secrets key: a process started on the same database with another key
// refuses to start, naming SECRETS_KEY_FILE, instead of failing later on every secret it cannot
// open; one given the first key's file starts and reads what the first stored.
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { startApp, type App } from '../../src/app';
import { connectClients } from '../../src/client/connect';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/log';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { authz, TEST_SECRET } from '../support/tokens';

let database: TestDatabase;
const apps: App[] = [];

beforeAll(async () => {
  database = await createTestDatabase({ migrate: false });
});
afterAll(async () => {
  for (const app of apps) await app.stop();
  await database.drop();
});

async function start(dataDir: string, keyFile?: string): Promise<App> {
  const config = loadConfig({
    DATABASE_URL: database.url, DATA_DIR: dataDir, THRIFT_PORT: '0', AUTH_HS256_SECRET: TEST_SECRET, BACKGROUND_WORKERS: 'off',
    ...(keyFile ? { SECRETS_KEY_FILE: keyFile } : {}),
  });
  const app = await startApp(config, createLogger('silent'));
  apps.push(app);
  return app;
}

async function gatewayPublicKey(app: App): Promise<string> {
  const clients = await connectClients({ host: '127.0.0.1', port: app.rpc.port });
  try {
    return await clients.cluster.getGatewaySSHPublicKey(await authz('gw-keys'));
  } finally {
    clients.close();
  }
}

describe('secrets key shared by replicas', () => {
  it('refuses a replica with its own key, and serves one given the first key', async () => {
    const firstDir = mkdtempSync(path.join(tmpdir(), 'ms-key-a-'));
    const first = await start(firstDir);
    const publicKey = await gatewayPublicKey(first); // seals the gateway's private key

    await expect(start(mkdtempSync(path.join(tmpdir(), 'ms-key-b-')))).rejects.toThrow(/SECRETS_KEY_FILE: this key is not the one/);

    const shared = path.join(mkdtempSync(path.join(tmpdir(), 'ms-key-c-')), 'shared.key');
    copyFileSync(path.join(firstDir, 'secrets.key'), shared);
    const second = await start(mkdtempSync(path.join(tmpdir(), 'ms-key-d-')), shared);
    expect(await gatewayPublicKey(second)).toBe(publicKey);
  });

  it('checks a database from before the proof against its stored secrets', async () => {
    // As if the proof had never been written: the sealed gateway key is what the key must open.
    await database.db('secrets_key_check').delete();
    await expect(start(mkdtempSync(path.join(tmpdir(), 'ms-key-e-')))).rejects.toThrow(/cannot open the stored gateway keys/);
    expect(await database.db('secrets_key_check').count<{ count: number }[]>('* as count')).toEqual([{ count: 0 }]);
  });
});
