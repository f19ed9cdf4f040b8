// The scheduler of a Mesos cluster: run-to-completion (BATCH) jobs go to Metronome, services
// (SERVICE) to Marathon, both frameworks running on the cluster's masters. New jobs are routed by
// their spec's jobType; jobs already out there by their native id's prefix ("metronome:" or
// "marathon:"). Either side being unreachable leaves the other one working: a poll reports the
// jobs of the side that answered (the others are left out, which concludes nothing about them).
import type { Logger } from '../../log';
import type { BatchJob, JobOutput, NativeJobStatus, Scheduler, SubmitOutcome, TrackedJob } from '../scheduler';
import { MarathonClient } from '../marathon/client';
import { MARATHON_PREFIX, MarathonScheduler } from '../marathon/marathonScheduler';
import { MetronomeClient } from '../metronome/client';
import { METRONOME_PREFIX, MetronomeScheduler } from '../metronome/metronomeScheduler';
import { MesosHttpClient, type BasicCredentials, type MesosHttpOptions } from './httpJson';
import { errorText, type TaskResources } from './task';

export interface MesosSchedulersOptions {
  /** Marathon's base URLs on the masters (http://host:8080), the usual leader first. */
  marathon: readonly string[];
  /** Metronome's base URLs on the masters (http://host:9000). */
  metronome: readonly string[];
  /** Per HTTP request (10 s). */
  timeoutMs?: number;
  /** HTTP basic credentials of both APIs, when they ask for them. */
  credentials?: BasicCredentials;
  log: Logger;
  /** Rounds over the masters after the first, for requests that may be sent again (2). */
  maxRetries?: number;
  /** Resources of a job that names none (1 CPU, 128 MB, no disk). */
  resources?: Partial<TaskResources>;
  /** How long submit and cancel follow a Marathon deployment (30 s; 0: not at all). */
  deploymentTimeoutMs?: number;
  /** Seconds a Metronome run may wait to be launched before Metronome fails it (3600). */
  maxLaunchDelaySeconds?: number;
  /** Different failed tasks within the window that make a service FAILED (3; 0: never). */
  maxTaskFailures?: number;
  /** Between two looks at Marathon's deployments (1 s). */
  deploymentPollMs?: number;
  /** Tuning and test hooks of both HTTP clients. */
  http?: Pick<MesosHttpOptions, 'baseDelayMs' | 'maxDelayMs' | 'maxRedirects' | 'sleep' | 'fetch'>;
}

export class MesosSchedulers implements Scheduler {
  readonly name = 'Mesos';
  readonly marathon: MarathonScheduler;
  readonly metronome: MetronomeScheduler;
  private readonly log: Logger;

  constructor(options: MesosSchedulersOptions) {
    this.log = options.log;
    const http = (service: 'Marathon' | 'Metronome', endpoints: readonly string[]) => new MesosHttpClient({
      ...options.http,
      service,
      endpoints,
      timeoutMs: options.timeoutMs,
      maxRetries: options.maxRetries,
      credentials: options.credentials,
      log: options.log,
    });
    this.marathon = new MarathonScheduler({
      client: new MarathonClient(http('Marathon', options.marathon), { deploymentPollMs: options.deploymentPollMs }),
      log: options.log,
      resources: options.resources,
      deploymentTimeoutMs: options.deploymentTimeoutMs,
      maxTaskFailures: options.maxTaskFailures,
    });
    this.metronome = new MetronomeScheduler({
      client: new MetronomeClient(http('Metronome', options.metronome)),
      log: options.log,
      resources: options.resources,
      maxLaunchDelaySeconds: options.maxLaunchDelaySeconds,
    });
  }

  /** Where a new job goes: SERVICE to Marathon, anything else (BATCH, the default) to Metronome. */
  routeOf(job: BatchJob): MarathonScheduler | MetronomeScheduler {
    return job.spec.jobType === 'SERVICE' ? this.marathon : this.metronome;
  }

  /** Where a job out there lives, by its native id; undefined for an id neither made. */
  routeOfNative(nativeJobId: string): MarathonScheduler | MetronomeScheduler | undefined {
    if (nativeJobId.startsWith(MARATHON_PREFIX)) return this.marathon;
    if (nativeJobId.startsWith(METRONOME_PREFIX)) return this.metronome;
    return undefined;
  }

  submit(job: BatchJob): Promise<string> {
    return this.routeOf(job).submit(job);
  }

  async submitMany(jobs: readonly BatchJob[]): Promise<SubmitOutcome[]> {
    const services = jobs.filter((job) => this.routeOf(job) === this.marathon);
    const batch = jobs.filter((job) => this.routeOf(job) === this.metronome);
    const [fromMarathon, fromMetronome] = await Promise.all([
      services.length > 0 ? this.marathon.submitMany(services) : [],
      batch.length > 0 ? this.metronome.submitMany(batch) : [],
    ]);
    const outcomes = new Map<string, SubmitOutcome>();
    for (const outcome of [...fromMarathon, ...fromMetronome]) if (!outcomes.has(outcome.jobId)) outcomes.set(outcome.jobId, outcome);
    return jobs.map((job) => outcomes.get(job.jobId) ?? { kind: 'failed', jobId: job.jobId, error: new Error(`job ${job.jobId} got no outcome`) });
  }

  /**
   * Asks both sides. One side unreachable: what the other found is returned (a job not found is
   * submitted again, and submit adopts the app or job it finds already there); both: the error.
   */
  async findByJobIds(jobIds: readonly string[]): Promise<Map<string, string>> {
    if (jobIds.length === 0) return new Map();
    const results = await Promise.allSettled([this.metronome.findByJobIds(jobIds), this.marathon.findByJobIds(jobIds)]);
    const found = new Map<string, string>();
    const errors: unknown[] = [];
    for (const result of results) {
      if (result.status === 'fulfilled') for (const [jobId, nativeJobId] of result.value) found.set(jobId, nativeJobId);
      else errors.push(result.reason);
    }
    if (errors.length === results.length) throw errors[0];
    for (const error of errors) this.log.warn({ error: errorText(error) }, 'one Mesos framework could not be searched; submit adopts what it finds there');
    return found;
  }

  /** Each side polls its own jobs, both at once; a side that fails leaves its jobs out (all sides failing: the error). */
  async poll(jobs: readonly TrackedJob[]): Promise<NativeJobStatus[]> {
    if (jobs.length === 0) return [];
    const services = jobs.filter((job) => this.routeOfNative(job.nativeJobId) === this.marathon);
    const batch = jobs.filter((job) => this.routeOfNative(job.nativeJobId) === this.metronome);
    const unknown = jobs.length - services.length - batch.length;
    if (unknown > 0) this.log.warn({ count: unknown }, 'jobs with native ids neither Metronome nor Marathon made; left out');
    const sides = [
      ...(batch.length > 0 ? [this.metronome.poll(batch)] : []),
      ...(services.length > 0 ? [this.marathon.poll(services)] : []),
    ];
    const results = await Promise.allSettled(sides);
    const statuses: NativeJobStatus[] = [];
    const errors: unknown[] = [];
    for (const result of results) {
      if (result.status === 'fulfilled') statuses.push(...result.value);
      else errors.push(result.reason);
    }
    if (errors.length > 0 && errors.length === results.length) throw errors[0];
    for (const error of errors) this.log.warn({ error: errorText(error) }, 'one Mesos framework could not be polled; its jobs wait for the next poll');
    return statuses;
  }

  cancel(nativeJobId: string): Promise<void> {
    const route = this.routeOfNative(nativeJobId);
    if (!route) return Promise.reject(new Error(`not a Mesos native id: ${JSON.stringify(nativeJobId)}`));
    return route.cancel(nativeJobId);
  }

  async outputTails(): Promise<{ stdOut?: string; stdErr?: string }> {
    // The output is on the agents, out of reach of both APIs (see metronomeScheduler.ts).
    return {};
  }

  async outputTailsOfMany(jobs: readonly JobOutput[]): Promise<{ stdOut?: string; stdErr?: string }[]> {
    return jobs.map(() => ({}));
  }
}
