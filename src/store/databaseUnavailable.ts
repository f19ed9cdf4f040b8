// Whether an error means Postgres could not be reached or dropped the connection (a restart, a
// failover, the network), rather than that a statement was wrong: the same call, retried once the
// database is back, can succeed. Read from what pg and knex throw; errors of our other links (SSH,
// HTTP) are typed classes of their own, so a plain network code counts only on the error itself.

/** SQLSTATEs of a server going or not taking connections (class 08 is matched as a class). */
const UNAVAILABLE_STATES = new Set([
  '57P01', // admin_shutdown: "terminating connection due to administrator command"
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: starting up or shutting down
  '53300', // too_many_connections
]);

/** What node's net layer says when pg cannot reach the server. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH']);

/** pg's own words when a connection ends under a query, or a client that lost one is reused. */
const LOST_CONNECTION = /\b(Connection terminated|Client has encountered a connection error and is not queryable|Client was closed and is not queryable)/;

export function isDatabaseUnavailable(error: unknown): boolean {
  // Duck-typed, not instanceof Error: node's net errors may come from another realm (a vm context).
  for (let current: unknown = error, depth = 0; typeof current === 'object' && current !== null && depth < 5;
    current = (current as { cause?: unknown }).cause, depth += 1) {
    const { code, name, message } = current as { code?: unknown; name?: unknown; message?: unknown };
    if (typeof code === 'string' && (code.startsWith('08') || UNAVAILABLE_STATES.has(code))) return true;
    // Only as the error itself: a typed error of another link (SSH) may carry one as its cause.
    if (typeof code === 'string' && NETWORK_CODES.has(code) && depth === 0) return true;
    // knex, when no connection could be had from the pool in time (none could be opened).
    if (name === 'KnexTimeoutError') return true;
    if (typeof message === 'string' && LOST_CONNECTION.test(message)) return true;
  }
  return false;
}
