// Replicas started together on an empty database: every one must come up, whichever migrates.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { MIGRATIONS } from '../../migrations';
import { createLogger } from '../../src/log';
import { migrateLatest, openDb, type Db } from '../../src/store/db';
import { QueueStore } from '../../src/store/queueStore';
import { WorkQueue } from '../../src/workflows/workQueue';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { sharedSecretsKeyFile, startServiceProcess } from '../support/serviceProcess';
import { TEST_SECRET } from '../support/tokens';

const REPLICAS = 4;

describe('schema work of replicas started at once', () => {
  let database: TestDatabase;
  let replicas: Db[];
  beforeEach(async () => {
    database = await createTestDatabase({ migrate: false });
    replicas = Array.from({ length: REPLICAS }, () => openDb(database.url, 4));
    // Connected beforehand, so their schema work starts at the same moment, as on a shared start.
    await Promise.all(replicas.map((db) => db.raw('SELECT 1')));
  });
  afterEach(async () => {
    await Promise.all(replicas.map((db) => db.destroy()));
    await database.drop();
  });

  it('applies every migration exactly once, and every replica succeeds', async () => {
    const results = await Promise.allSettled(replicas.map((db) => migrateLatest(db)));
    expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : r.status)))
      .toEqual(Array.from({ length: REPLICAS }, () => 'fulfilled'));
    const applied = results.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
    expect(applied.sort()).toEqual(MIGRATIONS.map((m) => m.name));
  });

  it('installs graphile-worker\'s schema from every replica at once', async () => {
    const queues = replicas.map((db) => new WorkQueue({
      connectionString: database.url, db, queue: new QueueStore(), log: createLogger('silent'),
    }));
    try {
      const results = await Promise.allSettled(queues.map((queue) => queue.migrate()));
      expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : r.status)))
        .toEqual(Array.from({ length: REPLICAS }, () => 'fulfilled'));
    } finally {
      await Promise.all(queues.map((queue) => queue.stop()));
    }
  });

  it('brings up two service processes started together on an empty database', async () => {
    const secretsKeyFile = sharedSecretsKeyFile();
    const start = () => startServiceProcess({
      DATABASE_URL: database.url, THRIFT_PORT: '0', AUTH_HS256_SECRET: TEST_SECRET, DATA_DIR: mkdtempSync(path.join(tmpdir(), 'ms-twin-')),
      SECRETS_KEY_FILE: secretsKeyFile,
    });
    const services = await Promise.allSettled([start(), start()]);
    try {
      expect(services.map((s) => (s.status === 'rejected' ? String(s.reason).slice(0, 2000) : s.status))).toEqual(['fulfilled', 'fulfilled']);
    } finally {
      for (const service of services) {
        if (service.status !== 'fulfilled') continue;
        service.value.child.kill('SIGTERM');
        await service.value.exited;
      }
    }
  });
});
