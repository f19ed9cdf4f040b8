// A call that meets a Postgres restart is answered with what happened ("the database is
// unavailable ... retry the call"), not "internal error": the errors here are the real ones pg and
// knex throw at a server stopped under an open pool and at one not listening yet. Before the fix
// both were answered as an internal error (found by test/reliability/dependenciesDown.test.ts).
import { createLogger } from '../../src/log';
import { toWireException } from '../../src/rpc/errors';
import { base } from '../../src/rpc/wire';
import { isDatabaseUnavailable } from '../../src/store/databaseUnavailable';
import { openDb, type Db } from '../../src/store/db';
import { startPrivatePostgres, type PrivatePostgres } from '../reliability/support/privatePostgres';

jest.setTimeout(120_000);

describe('database unavailable', () => {
  let pg: PrivatePostgres;
  let db: Db;
  const log = createLogger('silent');

  beforeAll(async () => {
    pg = await startPrivatePostgres();
    // One connection, held open across the stop: the query after it meets the dropped session.
    db = openDb(pg.url, 1);
  });
  afterAll(async () => {
    await db?.destroy();
    await pg?.destroy();
  });

  const failureOf = async (query: () => Promise<unknown>): Promise<unknown> => {
    try {
      await query();
    } catch (error) {
      return error;
    }
    throw new Error('the query did not fail');
  };

  it('says so for a connection dropped by a shutdown and for a server not listening, and retries then work', async () => {
    // A statement our side got wrong stays an internal error.
    const wrong = await failureOf(() => db.raw('SELECT * FROM no_such_table'));
    expect(isDatabaseUnavailable(wrong)).toBe(false);
    expect((toWireException(wrong, 'r0', 'getJob', log) as base.AiravataSystemException).message).toMatch(/^internal error/);

    await pg.stop();
    // The first meets the dropped session; the next ones a server that refuses connections.
    for (let i = 0; i < 3; i += 1) {
      const error = await failureOf(() => db.raw('SELECT 1'));
      const wire = toWireException(error, `r${i + 1}`, 'submitJob', log);
      expect(wire).toBeInstanceOf(base.AiravataSystemException);
      expect({ from: (error as Error).message, to: (wire as base.AiravataSystemException).message })
        .toEqual({ from: (error as Error).message, to: `the database is unavailable (request id r${i + 1}); retry the call` });
    }
    await pg.start();
    expect((await db.raw('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });
});
