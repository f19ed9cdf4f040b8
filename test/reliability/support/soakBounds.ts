// Bounds over a soak's samples, as findings (sentences naming the numbers) rather than booleans, so
// a failed bound says what grew and by how much. Bounds compare the load's own thirds: the first
// third is the service warmed up under the same load, the last third is where a leak would show.

export function thirds<T>(values: readonly T[]): [T[], T[], T[]] {
  const n = values.length;
  const a = Math.floor(n / 3);
  const b = Math.floor((2 * n) / 3);
  return [values.slice(0, a), values.slice(a, b), values.slice(b)];
}

function max(values: readonly number[]): number {
  return values.reduce((m, v) => Math.max(m, v), Number.NEGATIVE_INFINITY);
}

function min(values: readonly number[]): number {
  return values.reduce((m, v) => Math.min(m, v), Number.POSITIVE_INFINITY);
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * The last third's peak may exceed the first third's peak by `ratio` of it plus `slack` at most.
 * Needs at least 3 samples (one per third).
 */
export function peakGrowth(name: string, values: readonly number[], bound: { ratio: number; slack: number }): string | undefined {
  if (values.length < 3) return `${name}: only ${values.length} sample(s), a soak needs at least 3`;
  const [first, , last] = thirds(values);
  const limit = max(first) * (1 + bound.ratio) + bound.slack;
  if (max(last) > limit) {
    return `${name}: last third peaked at ${max(last)}, over ${limit.toFixed(1)} (first third's peak ${max(first)} + ${bound.ratio * 100}% + ${bound.slack}); `
      + `thirds' medians ${thirds(values).map(median).join(' -> ')}`;
  }
  return undefined;
}

/**
 * A steady climb: every third's median above the one before, and the last third's floor above the
 * first third's peak by more than `slack`. Spikes (a playbook's pipes) do not count; a level that
 * keeps rising does.
 */
export function steadyClimb(name: string, values: readonly number[], slack: number): string | undefined {
  if (values.length < 3) return `${name}: only ${values.length} sample(s), a soak needs at least 3`;
  const parts = thirds(values);
  const medians = parts.map(median);
  const [first, , last] = parts;
  if (medians[0] < medians[1] && medians[1] < medians[2] && min(last) > max(first) + slack) {
    return `${name}: climbs steadily: thirds' medians ${medians.join(' -> ')}, the last third's lowest ${min(last)} `
      + `is over the first third's highest ${max(first)} + ${slack}`;
  }
  return undefined;
}

/** At most `limit`; the finding names the value and what the limit stands for. */
export function atMost(name: string, value: number, limit: number, why: string): string | undefined {
  return value <= limit ? undefined : `${name}: ${value} over ${Number.isInteger(limit) ? limit : limit.toFixed(1)} (${why})`;
}

export function findings(...results: (string | undefined)[]): string[] {
  return results.filter((r): r is string => r !== undefined);
}
