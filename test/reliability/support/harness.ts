// Running fuzz cases: each case gets its own random stream, its inputs noted for the failure
// message, and every call timed. The one time limit asserted is a hang (a call over FUZZ_HANG_MS,
// seconds, not a performance budget); timings are otherwise only printed.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { preview, Rng, type FuzzSettings } from './generators';

class TargetStats {
  cases = 0;
  calls = 0;
  totalMs = 0;
  maxMs = 0;
  slowestCase = -1;

  add(ms: number, index: number): void {
    this.calls += 1;
    this.totalMs += ms;
    if (ms > this.maxMs) {
      this.maxMs = ms;
      this.slowestCase = index;
    }
  }
}

export class Case {
  /** Inputs, formatted only if the case fails (formatting MBs for every case would be most of the run). */
  private readonly notes: [string, unknown][] = [];

  constructor(readonly target: string, readonly rng: Rng, readonly index: number, private readonly hangMs: number, private readonly stats: TargetStats) {}

  /** Remembers an input, shown only if the case fails. */
  note(label: string, value: unknown): void {
    this.notes.push([label, value]);
  }

  /** Calls fn and times it, whether it returns or throws; a call past the hang limit fails the case. */
  call<T>(fn: () => T): T {
    const started = performance.now();
    try {
      return fn();
    } finally {
      this.timed(performance.now() - started);
    }
  }

  async callAsync<T>(fn: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await fn();
    } finally {
      this.timed(performance.now() - started);
    }
  }

  /** Fails the case unless condition holds (a plain check: callbacks cannot declare assertions). */
  check(condition: boolean, message: string | (() => string)): void {
    if (!condition) throw new Error(typeof message === 'string' ? message : message());
  }

  get described(): string {
    return this.notes.map(([label, value]) => `${label}: ${preview(value)}`).join('\n    ');
  }

  private timed(ms: number): void {
    this.stats.add(ms, this.index);
    if (ms > this.hangMs) throw new Error(`one call took ${Math.round(ms)} ms, over the ${this.hangMs} ms that count as a hang`);
  }
}

export class Fuzzer {
  private readonly stats = new Map<string, TargetStats>();
  private readonly lines: string[] = [];

  constructor(readonly settings: FuzzSettings, private readonly file: string) {}

  /** Cases 0..iterations-1 of a target (only FUZZ_CASE when that is set). */
  run(target: string, iterations: number, body: (c: Case) => void): void {
    for (const index of this.indexes(iterations)) {
      const c = this.newCase(target, index);
      try {
        body(c);
      } catch (error) {
        throw this.failure(target, c, error);
      }
    }
  }

  async runAsync(target: string, iterations: number, body: (c: Case) => Promise<void>): Promise<void> {
    for (const index of this.indexes(iterations)) {
      const c = this.newCase(target, index);
      try {
        await body(c);
      } catch (error) {
        throw this.failure(target, c, error);
      }
    }
  }

  /**
   * Inputs of doubling size through fn: a superlinear parse shows up as a hang at a size where it
   * still ends (cubic: each doubling costs 8x), instead of running for hours on the largest.
   */
  growth(target: string, sizes: readonly number[], make: (size: number) => string, fn: (input: string) => void): void {
    const seen: string[] = [];
    const stats = this.statsOf(target);
    for (const size of sizes) {
      const input = make(size);
      const started = performance.now();
      fn(input);
      const ms = performance.now() - started;
      stats.add(ms, size);
      seen.push(`${input.length}:${ms.toFixed(1)}ms`);
      if (ms > this.settings.hangMs) {
        throw new Error(`[${target}] ${input.length} characters took ${Math.round(ms)} ms, over the ${this.settings.hangMs} ms that count as a hang `
          + `(sizes so far ${seen.join(' ')}); input starts ${preview(input.slice(0, 300))}`);
      }
    }
    this.lines.push(`  ${target}: ${seen.join(' ')}`);
  }

  /** Extra lines for the report (e.g. memory). */
  log(line: string): void {
    this.lines.push(`  ${line}`);
  }

  report(): string {
    const rows = [...this.stats].map(([target, s]) =>
      `  ${target}: ${s.cases || s.calls} cases, ${s.calls} calls, ${s.totalMs.toFixed(0)} ms in calls, slowest ${s.maxMs.toFixed(1)} ms`
      + (s.slowestCase >= 0 && s.cases > 0 ? ` (case ${s.slowestCase})` : ''));
    return [`${this.file} (FUZZ_SEED=${this.settings.seed} FUZZ_ITERATIONS=${this.settings.iterations}):`, ...rows, ...this.lines].join('\n');
  }

  private indexes(iterations: number): number[] {
    const only = process.env.FUZZ_CASE;
    if (only !== undefined && only.trim() !== '') return [Number(only)];
    return Array.from({ length: iterations }, (_, i) => i);
  }

  private statsOf(target: string): TargetStats {
    let stats = this.stats.get(target);
    if (!stats) {
      stats = new TargetStats();
      this.stats.set(target, stats);
    }
    return stats;
  }

  private newCase(target: string, index: number): Case {
    const stats = this.statsOf(target);
    stats.cases += 1;
    return new Case(target, Rng.forCase(this.settings.seed, target, index), index, this.settings.hangMs, stats);
  }

  private failure(target: string, c: Case, error: unknown): Error {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    // jest's -t takes a pattern of the test's full name.
    const testName = (expect.getState() as { currentTestName?: string }).currentTestName ?? target;
    const pattern = testName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/'/g, '.');
    const wrapped = new Error(`[${target}] case ${c.index} failed: ${message}\n    ${c.described}\n`
      + `  rerun it alone: FUZZ_SEED=${this.settings.seed} FUZZ_CASE=${c.index} npx jest ${this.file} -t '${pattern}'`);
    if (error instanceof Error && error.stack) wrapped.stack = `${wrapped.message}\n  caused by ${error.stack}`;
    return wrapped;
  }
}

/** A jest timeout for an asynchronous target: its cases at about msPerCase, never under jest's 60 s. */
export function timeoutFor(cases: number, msPerCase: number): number {
  return Math.max(60_000, Math.ceil(cases * msPerCase * 3));
}

let collect: (() => void) | undefined;

/** A full garbage collection, so heap figures compare live data only. */
export function collectGarbage(): void {
  if (!collect) {
    setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as () => void;
  }
  collect();
}

/** Live heap after a full collection, in MiB. */
export function liveHeapMb(): number {
  collectGarbage();
  return process.memoryUsage().heapUsed / 2 ** 20;
}
