// One Postgres for the whole run: DATABASE_URL when set, else a real embedded Postgres under a
// temporary DATA_DIR. Test files reach it through TEST_ADMIN_DATABASE_URL.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { startEmbeddedPostgres } from '../../src/db/embeddedPostgres';
import { createLogger } from '../../src/log';

declare global {
  var __msEmbeddedStop: (() => Promise<void>) | undefined;
}

export default async function globalSetup(): Promise<void> {
  if (process.env.DATABASE_URL) {
    process.env.TEST_ADMIN_DATABASE_URL = process.env.DATABASE_URL;
    return;
  }
  const dataDir = mkdtempSync(path.join(tmpdir(), 'ms-test-pg-'));
  const embedded = await startEmbeddedPostgres(dataDir, createLogger('warn'));
  process.env.TEST_ADMIN_DATABASE_URL = embedded.url;
  // Its data goes with it: some 70 MB a jest run, five runs a `npm test`, on a machine that runs
  // the suite again and again.
  globalThis.__msEmbeddedStop = async () => {
    try {
      await embedded.stop();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  };
}
