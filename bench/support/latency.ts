// Per-call latencies of one measured run, in milliseconds, kept in a preallocated Float64Array so
// recording a call allocates nothing; percentiles are exact (nearest rank over the sorted samples).

export class LatencyRecorder {
  private readonly samples: Float64Array;
  private count = 0;
  /** Calls that completed after the array was full: counted, but not in the percentiles. */
  private dropped = 0;

  constructor(capacity: number) {
    this.samples = new Float64Array(capacity);
  }

  reset(): void {
    this.count = 0;
    this.dropped = 0;
  }

  record(ms: number): void {
    if (this.count < this.samples.length) this.samples[this.count++] = ms;
    else this.dropped += 1;
  }

  get recorded(): number {
    return this.count;
  }

  get overflow(): number {
    return this.dropped;
  }

  /** Sorts the recorded samples in place; call once after the run, before percentile(). */
  sorted(): Float64Array {
    // A typed array sorts numerically (not as strings, unlike Array.prototype.sort without a comparator).
    return this.samples.subarray(0, this.count).sort();
  }
}

/** Nearest-rank percentile (p in (0, 100]) of ascending samples; NaN when there are none. */
export function percentile(sortedAscending: Float64Array, p: number): number {
  const n = sortedAscending.length;
  if (n === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * n);
  return sortedAscending[Math.min(n, Math.max(1, rank)) - 1];
}
