// Every few seconds, one sample of everything a soak bounds: the service process (RSS, anonymous
// RSS, threads, open fds by kind, from /proc), the database (rows and bytes per table, outbox
// depth), the service's Ansible run dirs, the load's own counters, and this test process's heap
// (the service's heap cannot be read from outside; this one includes the service's log, which
// startServiceProcess keeps in memory). Each sample is printed as a table line as it is taken.
import type { Db } from '../../../src/store/db';
import { dbStats, type DbStats } from './dbStats';
import { runDirsUsage, type RunDirsUsage } from './dirUsage';
import { processStats, type ProcessStats } from './processStats';

export type Phase = 'build' | 'load' | 'drain';

export interface LoadCounters {
  submitted: number;
  ended: number;
  canceled: number;
  polls: number;
  events: number;
  scales: number;
  clusterState: string;
}

export interface SoakSample {
  /** Seconds since the sampler started. */
  t: number;
  phase: Phase;
  proc: ProcessStats | undefined;
  db: DbStats;
  artifacts: RunDirsUsage;
  load: LoadCounters;
  testHeapBytes: number;
}

const MB = 1024 * 1024;

/** The tables shown on each line (all of them are in the final per-table summary). */
export const MAIN_TABLES = ['jobs', 'job_statuses', 'job_event_outbox', 'cluster_events', 'graphile_worker._private_jobs'] as const;

export function rows(sample: SoakSample, table: string): number {
  return sample.db.tables[table]?.rows ?? 0;
}

export function bytes(sample: SoakSample, table: string): number {
  return sample.db.tables[table]?.bytes ?? 0;
}

const COLUMNS: [string, number, (s: SoakSample) => string][] = [
  ['t_s', 5, (s) => s.t.toFixed(0)],
  ['phase', 5, (s) => s.phase],
  ['rss_mb', 6, (s) => (s.proc ? (s.proc.rssKb / 1024).toFixed(1) : 'gone')],
  ['anon_mb', 7, (s) => (s.proc ? (s.proc.rssAnonKb / 1024).toFixed(1) : '-')],
  ['thr', 3, (s) => String(s.proc?.threads ?? '-')],
  ['fds', 4, (s) => String(s.proc?.fds ?? '-')],
  ['sock', 4, (s) => String(s.proc?.sockets ?? '-')],
  ['pipe', 4, (s) => String(s.proc?.pipes ?? '-')],
  ['jobs', 5, (s) => String(rows(s, 'jobs'))],
  ['stat', 5, (s) => String(rows(s, 'job_statuses'))],
  ['outbox', 6, (s) => String(rows(s, 'job_event_outbox'))],
  ['depth', 5, (s) => String(s.db.outboxDepth)],
  ['c_evt', 5, (s) => String(rows(s, 'cluster_events'))],
  ['gw_q', 4, (s) => String(rows(s, 'graphile_worker._private_jobs'))],
  ['db_mb', 6, (s) => (s.db.databaseBytes / MB).toFixed(1)],
  ['art_mb', 6, (s) => (s.artifacts.bytes / MB).toFixed(2)],
  ['runs', 4, (s) => String(s.artifacts.runs)],
  ['sub', 4, (s) => String(s.load.submitted)],
  ['end', 4, (s) => String(s.load.ended)],
  ['cxl', 4, (s) => String(s.load.canceled)],
  ['polls', 5, (s) => String(s.load.polls)],
  ['evts', 5, (s) => String(s.load.events)],
  ['scl', 3, (s) => String(s.load.scales)],
  ['heap_mb', 7, (s) => (s.testHeapBytes / MB).toFixed(1)],
  ['cluster', 7, (s) => s.load.clusterState],
];

export function sampleHeader(): string {
  return `soak| ${COLUMNS.map(([name, width]) => name.padStart(width)).join(' ')}`;
}

export function sampleLine(sample: SoakSample): string {
  return `soak| ${COLUMNS.map(([, width, value]) => value(sample).padStart(width)).join(' ')}`;
}

export interface SamplerOptions {
  pid: number;
  db: Db;
  /** `<DATA_DIR>/ansible`. */
  runsRoot: string;
  load: () => LoadCounters;
  print: (line: string) => void;
}

export class SoakSampler {
  readonly samples: SoakSample[] = [];
  phase: Phase = 'build';
  private readonly started = Date.now();
  private timer: NodeJS.Timeout | undefined;
  /** Samples are taken one after the other, in time order, whoever asks. */
  private chain: Promise<unknown> = Promise.resolve();
  private inFlight = 0;
  /** A sample that failed (the database unreachable): kept for the test to report. */
  readonly errors: string[] = [];

  constructor(private readonly options: SamplerOptions) {}

  /** Seconds since the sampler was made (the times of its samples). */
  now(): number {
    return (Date.now() - this.started) / 1000;
  }

  start(everyMs: number): void {
    this.options.print(sampleHeader());
    void this.sample();
    this.timer = setInterval(() => {
      // A slow database makes a timed sample late, never two queued at once.
      if (this.inFlight === 0) void this.sample();
    }, everyMs);
  }

  /** Takes a sample now (after any in progress); undefined when it failed (see errors). */
  async sample(): Promise<SoakSample | undefined> {
    this.inFlight += 1;
    const next = this.chain.then(() => this.take());
    this.chain = next.catch(() => undefined);
    try {
      return await next;
    } catch (error) {
      this.errors.push(`sample at ${this.now().toFixed(0)} s: ${(error as Error).message}`);
      return undefined;
    } finally {
      this.inFlight -= 1;
    }
  }

  private async take(): Promise<SoakSample> {
    const t = this.now();
    let proc: ProcessStats | undefined;
    try {
      proc = processStats(this.options.pid);
    } catch {
      proc = undefined; // the service is gone: the line says so and the test fails on it
    }
    const sample: SoakSample = {
      t, phase: this.phase, proc,
      db: await dbStats(this.options.db),
      artifacts: runDirsUsage(this.options.runsRoot),
      load: this.options.load(),
      testHeapBytes: process.memoryUsage().heapUsed,
    };
    this.samples.push(sample);
    this.options.print(sampleLine(sample));
    return sample;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.chain;
  }
}
