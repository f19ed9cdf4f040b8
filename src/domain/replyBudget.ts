// How much one reply carrying jobs may hold. A job can be large (its spec, its output tails, its
// status history), and a reply is built whole in memory, then serialized whole: without a bound,
// a call naming enough large jobs exhausts the heap and kills the service for every gateway.

/** Bytes of job data one getJobs or listJobs reply may carry, by the stores' estimate. */
export const REPLY_BYTE_BUDGET = 8 * 1024 * 1024;

/** The ids in the order first given, each once: asking twice for a job returns it once. */
export function distinctIds(ids: readonly string[]): string[] {
  return [...new Set(ids)];
}

/**
 * How many of the leading sizes fit in budget together. The first always counts: a single job is
 * what getJob returns anyway, so refusing it here would only push the caller to that call.
 */
export function countWithinBudget(sizes: readonly number[], budget: number): number {
  let total = 0;
  for (const [i, size] of sizes.entries()) {
    total += size;
    if (total > budget) return Math.max(i, 1);
  }
  return sizes.length;
}

export function mebibytes(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}
