// The mixed load of a soak, through the Thrift API as a gateway would drive it: short jobs submitted
// at a steady rate, some cancelled at once and some long sleepers cancelled while they run, jobs
// polled (getJob) and listed (listJobs) all along, and the cluster scaled between its full worker
// pool and one worker whenever it is READY. Every unexpected error is kept with its time, not
// thrown, so one bad call shows up in the report beside everything else the run saw.
import type { ServiceClients } from '../../../src/client/connect';
import { base, ms } from '../../../src/rpc/wire';
import { sleep } from '../../support/until';

export type JobKind = 'short' | 'early-cancel' | 'sleeper';

export interface TrackedJob {
  id: string;
  name: string;
  kind: JobKind;
  /** 'sent' once cancelJob returned; 'refused' when the job had ended first. */
  cancel?: 'sent' | 'refused';
  /** The last state seen (by getJob or listJobs). */
  state?: string;
}

export interface ScaleOp {
  to: number;
  startedAt: number;
  /** Seconds from scaleCluster to READY. */
  tookS?: number;
}

export interface LoadOptions {
  clients: ServiceClients;
  token: base.AuthzToken;
  clusterId: string;
  seconds: number;
  submitEveryMs: number;
  pollEveryMs: number;
  /** How long the cluster stays READY before the next scale. */
  scalePauseMs: number;
  /** The worker pool: scaling alternates between this and 1. */
  workers: number;
  /** Seconds since the run's start, for the times in errors and scale ops. */
  now(): number;
  /** The cluster's events as text, for a FAILED cluster's error. */
  story(): Promise<string>;
}

const END = new Set(['COMPLETE', 'FAILED', 'CANCELED']);
const SHORT = ['/bin/sh', '-c', 'echo soak; sleep 2'];
const SLEEPER = ['/bin/sleep', '120'];

export class SoakLoad {
  readonly jobs = new Map<string, TrackedJob>();
  readonly errors: string[] = [];
  readonly scales: ScaleOp[] = [];
  polls = 0;
  clusterState = 'READY';
  private workers: number;
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly options: LoadOptions) {
    this.workers = options.workers;
  }

  counts(): { submitted: number; ended: number; canceled: number } {
    let ended = 0;
    let canceled = 0;
    for (const job of this.jobs.values()) {
      if (job.state && END.has(job.state)) ended += 1;
      if (job.state === 'CANCELED') canceled += 1;
    }
    return { submitted: this.jobs.size, ended, canceled };
  }

  /** Runs the load until its time is up; an unfinished scale is waited for (to READY). */
  async run(): Promise<void> {
    const deadline = Date.now() + this.options.seconds * 1000;
    // No scale starts in the last quarter: the last one should end near the load's end.
    const scaleDeadline = Date.now() + this.options.seconds * 750;
    await Promise.all([this.submitter(deadline), this.poller(deadline), this.scaler(scaleDeadline)]);
    await Promise.all(this.pending);
  }

  private failed(what: string, error: unknown): void {
    this.errors.push(`${this.options.now().toFixed(0)} s ${what}: ${(error as Error).message ?? String(error)}`);
  }

  /** Keeps a background promise (a delayed cancel) so run() can wait for it. */
  private track(work: Promise<void>): void {
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work));
  }

  private async submitter(deadline: number): Promise<void> {
    const { clients, token, clusterId } = this.options;
    let next = Date.now();
    for (let n = 1; Date.now() < deadline; n += 1) {
      const kind: JobKind = n % 5 === 0 ? 'sleeper' : n % 10 === 3 ? 'early-cancel' : 'short';
      const name = `soak-${n}`;
      try {
        const handle = await clients.job.submitJob(token, new ms.JobSpec({
          jobName: name, parallelism: base.ApplicationParallelismType.SERIAL, command: kind === 'sleeper' ? SLEEPER : SHORT, clusterId,
        }));
        const job: TrackedJob = { id: handle.jobId, name, kind };
        this.jobs.set(job.id, job);
        if (kind === 'early-cancel') await this.cancel(job);
        // A sleeper is cancelled 3-8 s later: queued or running by then, varying with the load.
        if (kind === 'sleeper') this.track(sleep(3000 + (n % 6) * 1000).then(() => this.cancel(job)));
      } catch (error) {
        this.failed(`submitJob ${name}`, error);
      }
      next += this.options.submitEveryMs;
      await sleep(Math.max(0, next - Date.now()));
    }
  }

  private async cancel(job: TrackedJob): Promise<void> {
    try {
      await this.options.clients.job.cancelJob(this.options.token, job.id);
      job.cancel = 'sent';
    } catch (error) {
      // Ended before the cancel arrived: the service refuses, as the README says.
      if (error instanceof base.InvalidRequestException) job.cancel = 'refused';
      else this.failed(`cancelJob ${job.name}`, error);
    }
  }

  private note(model: base.JobModel): void {
    const job = this.jobs.get(model.jobId);
    const last = model.jobStatuses?.at(-1)?.jobState;
    if (job && last !== undefined) job.state = base.JobState[last];
  }

  private async poller(deadline: number): Promise<void> {
    const { clients, token, clusterId } = this.options;
    for (let tick = 0; Date.now() < deadline; tick += 1) {
      try {
        if (tick % 3 === 2) {
          for (const model of await clients.job.listJobs(token, clusterId, 100)) this.note(model);
        } else {
          const open = [...this.jobs.values()].filter((j) => !j.state || !END.has(j.state));
          const pick = open.length > 0 ? open[tick % open.length] : undefined;
          if (pick) this.note(await clients.job.getJob(token, pick.id));
        }
        this.polls += 1;
      } catch (error) {
        this.failed(tick % 3 === 2 ? 'listJobs' : 'getJob', error);
      }
      await sleep(this.options.pollEveryMs);
    }
  }

  /** Polls the cluster until READY; a FAILED cluster throws with its story. */
  async ready(timeoutMs: number): Promise<void> {
    const { clients, token, clusterId } = this.options;
    const until = Date.now() + timeoutMs;
    for (;;) {
      const cluster = await clients.cluster.getCluster(token, clusterId);
      this.clusterState = ms.ClusterState[cluster.state];
      if (cluster.state === ms.ClusterState.READY) return;
      if (cluster.state === ms.ClusterState.FAILED) throw new Error(`cluster FAILED: ${cluster.stateReason}\n${await this.options.story()}`);
      if (Date.now() > until) throw new Error(`cluster not READY within ${timeoutMs} ms (${this.clusterState})`);
      await sleep(1000);
    }
  }

  private async scaler(scaleDeadline: number): Promise<void> {
    const { clients, token, clusterId } = this.options;
    try {
      while (Date.now() < scaleDeadline) {
        await sleep(Math.min(this.options.scalePauseMs, Math.max(0, scaleDeadline - Date.now())));
        if (Date.now() >= scaleDeadline) break;
        const to = this.workers === 1 ? this.options.workers : 1;
        const op: ScaleOp = { to, startedAt: this.options.now() };
        await clients.cluster.scaleCluster(token, clusterId, to);
        this.workers = to;
        this.scales.push(op);
        await this.ready(600_000);
        op.tookS = this.options.now() - op.startedAt;
      }
    } catch (error) {
      this.failed('scaling', error);
    }
  }
}
