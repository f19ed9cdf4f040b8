// Runs a fixed statement as a named (prepared) statement on a pooled connection. Postgres parses
// and plans a named statement once per connection and only binds values after that, which on the
// hot paths (submitJob, getJob) is a large part of a short statement's cost. knex has no way to
// name a statement, so these borrow a connection from knex's pool and use pg's own query config.
import type { Db } from './db';

/** A statement whose text never changes: the name stands for the text on every connection. */
export interface NamedStatement {
  name: string;
  text: string;
}

/** What a pooled pg connection offers here. */
interface PgConnection {
  query<R>(config: { name: string; text: string; values: readonly unknown[] }): Promise<{ rows: R[] }>;
}

/** What knex's client offers for borrowing a pooled connection (not in its public types). */
interface PoolClient {
  acquireConnection(): Promise<PgConnection>;
  releaseConnection(connection: PgConnection): Promise<void>;
}

export async function queryNamed<R>(db: Db, statement: NamedStatement, values: readonly unknown[]): Promise<R[]> {
  const pool = db.client as unknown as PoolClient;
  const connection = await pool.acquireConnection();
  try {
    const result = await connection.query<R>({ name: statement.name, text: statement.text, values });
    return result.rows;
  } finally {
    await pool.releaseConnection(connection);
  }
}
