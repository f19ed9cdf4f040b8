// A throw-away database for one run on the server DATABASE_URL names: created before, dropped after.
import { Client } from 'pg';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

export interface BenchDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** Throws unless the URL points at this machine: the benchmark talks to loopback only. */
export function assertLoopback(adminUrl: string): void {
  const host = new URL(adminUrl).hostname;
  if (!LOOPBACK.has(host)) {
    throw new Error(`DATABASE_URL points at ${host}; this benchmark only talks to 127.0.0.1`);
  }
}

async function withAdmin<T>(adminUrl: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: adminUrl, application_name: 'bench-rpc-admin' });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export async function createBenchDatabase(adminUrl: string): Promise<BenchDatabase> {
  assertLoopback(adminUrl);
  const name = `bench_${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}_${process.pid}`;
  await withAdmin(adminUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => withAdmin(adminUrl, async (client) => {
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } catch {
        await client.query(`DROP DATABASE IF EXISTS ${name}`); // servers before Postgres 13
      }
    }),
  };
}

export async function serverVersion(url: string): Promise<string> {
  return withAdmin(url, async (client) => {
    const result = await client.query<{ server_version: string }>('SHOW server_version');
    return result.rows[0]?.server_version ?? 'unknown';
  });
}
