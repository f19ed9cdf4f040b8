// Many nodes at once, but not all at once: a hundred RunInstances in one burst only buys throttling.

/**
 * Runs fn over items with at most `limit` calls in flight; every call runs to its end (bought
 * instances are not abandoned half-way) and the results come back in the items' order.
 */
export async function mapSettledBounded<T, R>(
  items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>,
): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      try {
        results[index] = { status: 'fulfilled', value: await fn(items[index], index) };
      } catch (reason) {
        results[index] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  return results;
}

/** The values, or the first failure, preferring one that no retry will cure (it explains the most). */
export function valuesOrThrow<R>(results: readonly PromiseSettledResult<R>[], permanent: (error: unknown) => boolean): R[] {
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
  if (failures.length > 0) throw failures.find(permanent) ?? failures[0];
  return results.map((r) => (r as PromiseFulfilledResult<R>).value);
}

/** Splits a list into pieces of at most `size` (API calls that take a bounded number of ids). */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
