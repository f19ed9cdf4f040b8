// Scheduler for run-to-completion (BATCH) jobs on Metronome: one Metronome job per job of ours
// (id "airavata.<name>", label airavata.jobId = our id), started once, never restarted.
//
// Native id: "metronome:<metronome job id>/<run id>", e.g. metronome:airavata.3f0c...-9a1e/20160715130259A34HX.
//
// States: a run INITIAL or STARTING waits for an offer (QUEUED), ACTIVE runs, SUCCESS is COMPLETE
// (exit 0), FAILED is FAILED, unless we stopped that run: Metronome records a stopped run as failed
// too, so cancel first writes the run's id into the job's label airavata.canceledRun, and a failed
// run named there is CANCELED. That label lives in Metronome, so it survives a restart of ours.
//
// Output: the task writes stdout.txt and stderr.txt into the job's working directory on the agent,
// which this service cannot read over Metronome's API (Mesos' sandbox API would serve the sandbox,
// not that directory): outputTails gives nothing, and the job's end is recorded without them.
import type { Logger } from '../../log';
import type { JobState } from '../../domain/types';
import {
  JobRefusedError, type BatchJob, type JobOutput, type NativeJobStatus, type Scheduler, type SubmitOutcome, type TrackedJob,
} from '../scheduler';
import { submitEach } from '../mesos/submitEach';
import { MesosApiError } from '../mesos/errors';
import {
  checkShape, DEFAULT_RESOURCES, JOB_ID_LABEL, mesosName, parseApiTime, taskCommand, taskEnvironment,
  taskResources, taskUser, wallTimeSeconds, type TaskResources,
} from '../mesos/task';
import type { MetronomeClient, MetronomeJob, MetronomeJobSpec, MetronomeRun } from './client';

export const METRONOME_PREFIX = 'metronome:';
/** Metronome job ids of ours: "airavata.<name>". */
export const METRONOME_NAMESPACE = 'airavata';
/** The run of the job that we stopped (cancel), so its FAILED reads as CANCELED. */
export const CANCELED_RUN_LABEL = 'airavata.canceledRun';
/** Seconds a run may wait for resources before Metronome gives it up (FAILED): Metronome's default. */
export const DEFAULT_MAX_LAUNCH_DELAY_SECONDS = 3600;
/** The jobspec schema's least memory. */
const METRONOME_MIN_MEM_MB = 32;
const SUBMIT_CONCURRENCY = 8;

const JOB_ID = /^([a-z0-9]+(-+[a-z0-9]+)*)(\.([a-z0-9]+(-+[a-z0-9]+)*))*$/;
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export interface MetronomeSchedulerOptions {
  client: MetronomeClient;
  log: Logger;
  /** Resources of a job that names none (1 CPU, 128 MB, no disk). */
  resources?: Partial<TaskResources>;
  /** Seconds a run may wait to be launched before Metronome fails it (3600). */
  maxLaunchDelaySeconds?: number;
}

/** Our Metronome job id for a job id of ours; valid per the jobspec schema's pattern, whatever the id. */
export function metronomeJobId(jobId: string): string {
  return `${METRONOME_NAMESPACE}.${mesosName(jobId)}`;
}

export function metronomeNativeId(metronomeJob: string, runId: string): string {
  return `${METRONOME_PREFIX}${metronomeJob}/${runId}`;
}

export function parseMetronomeNativeId(nativeJobId: string): { jobId: string; runId: string } | undefined {
  if (!nativeJobId.startsWith(METRONOME_PREFIX)) return undefined;
  const rest = nativeJobId.slice(METRONOME_PREFIX.length);
  const slash = rest.lastIndexOf('/');
  if (slash < 0) return undefined;
  const jobId = rest.slice(0, slash);
  const runId = rest.slice(slash + 1);
  return JOB_ID.test(jobId) && RUN_ID.test(runId) ? { jobId, runId } : undefined;
}

/** The Metronome job for one of ours (see the file's head); throws JobRefusedError for what cannot run. */
export function metronomeJobSpec(job: BatchJob, options: { resources?: Partial<TaskResources>; maxLaunchDelaySeconds?: number } = {}): MetronomeJobSpec {
  checkShape(job, 'Metronome');
  if (job.spec.jobType === 'SERVICE') throw new JobRefusedError('a SERVICE job runs on Marathon, not Metronome');
  const user = taskUser(job);
  const resources = taskResources(job, { ...DEFAULT_RESOURCES, ...options.resources });
  return {
    id: metronomeJobId(job.jobId),
    description: `Airavata job ${job.jobId}`.slice(0, 200),
    labels: { [JOB_ID_LABEL]: job.jobId },
    run: {
      cmd: taskCommand(job, { wallTimeSeconds: wallTimeSeconds(job) }),
      cpus: resources.cpus,
      // Metronome takes no less; a smaller ask gets the least it takes.
      mem: Math.max(METRONOME_MIN_MEM_MB, resources.memMb),
      disk: resources.diskMb,
      user,
      env: taskEnvironment(job),
      maxLaunchDelay: options.maxLaunchDelaySeconds ?? DEFAULT_MAX_LAUNCH_DELAY_SECONDS,
      restart: { policy: 'NEVER' },
    },
  };
}

/** Our state for a Metronome run status (JobRunStatus). */
export function metronomeRunState(status: string, stoppedByUs: boolean): JobState {
  switch (status) {
    case 'INITIAL':
    case 'STARTING':
      return 'QUEUED';
    case 'ACTIVE':
      return 'ACTIVE';
    case 'SUCCESS':
      return 'COMPLETE';
    case 'FAILED':
      return stoppedByUs ? 'CANCELED' : 'FAILED';
    default:
      return 'UNKNOWN';
  }
}

/**
 * What the job's active runs and history say of one run; undefined when they do not name it (it
 * ended between two reads: the next poll finds it in the history).
 */
export function metronomeRunStatus(tracked: TrackedJob, job: MetronomeJob, runId: string): NativeJobStatus | undefined {
  const stoppedByUs = job.labels[CANCELED_RUN_LABEL] === runId;
  const base = { jobId: tracked.jobId, nativeJobId: tracked.nativeJobId };
  const active = job.activeRuns?.find((run) => run.id === runId);
  if (active) {
    const state = metronomeRunState(active.status, stoppedByUs);
    const status: NativeJobStatus = { ...base, state, nativeState: active.status, reason: `Metronome run ${runId} ${active.status.toLowerCase()}` };
    const started = earliestStart(active);
    if (started !== undefined && state !== 'QUEUED') status.startTime = started;
    if (state === 'COMPLETE') status.exitCode = 0;
    const ended = parseApiTime(active.completedAt);
    if (ended !== undefined && (state === 'COMPLETE' || state === 'FAILED' || state === 'CANCELED')) status.endTime = ended;
    return status;
  }
  const succeeded = job.history?.successfulFinishedRuns.find((run) => run.id === runId);
  if (succeeded) {
    return { ...base, state: 'COMPLETE', nativeState: 'SUCCESS', exitCode: 0, reason: `Metronome run ${runId} succeeded`, ...endTime(succeeded.finishedAt) };
  }
  const failed = job.history?.failedFinishedRuns.find((run) => run.id === runId);
  if (failed) {
    return stoppedByUs
      ? { ...base, state: 'CANCELED', nativeState: 'FAILED', reason: `Metronome run ${runId} stopped by cancel`, ...endTime(failed.finishedAt) }
      // Metronome keeps no exit status: the task's stderr.txt in the working directory tells why.
      : { ...base, state: 'FAILED', nativeState: 'FAILED', reason: `Metronome run ${runId} failed`, ...endTime(failed.finishedAt) };
  }
  return undefined;
}

function endTime(value: string | undefined): { endTime?: number } {
  const ms = parseApiTime(value);
  return ms === undefined ? {} : { endTime: ms };
}

function earliestStart(run: MetronomeRun): number | undefined {
  const starts = run.tasks.map((t) => parseApiTime(t.startedAt)).filter((ms): ms is number => ms !== undefined);
  return starts.length > 0 ? Math.min(...starts) : undefined;
}

/** The run to stand for a job found again: the live one, else the one that ended last. */
export function latestRun(job: MetronomeJob): string | undefined {
  const active = [...(job.activeRuns ?? [])].sort((a, b) => (parseApiTime(b.createdAt) ?? 0) - (parseApiTime(a.createdAt) ?? 0));
  if (active.length > 0) return active[0].id;
  const finished = [...(job.history?.successfulFinishedRuns ?? []), ...(job.history?.failedFinishedRuns ?? [])]
    .sort((a, b) => (parseApiTime(b.finishedAt) ?? 0) - (parseApiTime(a.finishedAt) ?? 0));
  return finished[0]?.id;
}

export class MetronomeScheduler implements Scheduler {
  readonly name = 'Metronome';
  private readonly client: MetronomeClient;
  private readonly log: Logger;
  private readonly options: MetronomeSchedulerOptions;

  constructor(options: MetronomeSchedulerOptions) {
    this.options = options;
    this.client = options.client;
    this.log = options.log;
  }

  async submit(job: BatchJob): Promise<string> {
    // Built and checked before anything reaches Metronome.
    const spec = metronomeJobSpec(job, this.options);
    const existing = await this.create(job, spec);
    // A run started by an earlier, interrupted submit stands: never a second run of one job.
    const earlier = existing ? latestRun(existing) : undefined;
    if (earlier !== undefined) return metronomeNativeId(spec.id, earlier);
    const run = await this.client.startRun(spec.id);
    const nativeJobId = metronomeNativeId(spec.id, run.id);
    this.log.info({ jobId: job.jobId, nativeJobId, account: job.account }, 'started a Metronome run');
    return nativeJobId;
  }

  /**
   * Creates the Metronome job; when it exists already (a submit cut short after the POST), the
   * job found is returned if it is ours. The POST may be sent twice for that reason.
   */
  private async create(job: BatchJob, spec: MetronomeJobSpec): Promise<MetronomeJob | undefined> {
    try {
      await this.client.createJob(spec, { resendable: true });
      return undefined;
    } catch (error) {
      if (error instanceof MesosApiError && error.code === 'HTTP' && error.status === 409) {
        const found = await this.client.getJob(spec.id, ['activeRuns', 'history']);
        if (found && found.labels[JOB_ID_LABEL] === job.jobId) return found;
        throw new JobRefusedError(`Metronome job ${spec.id} exists and is not this job's`);
      }
      // Metronome judged the job itself (400, 422): running it again cannot help.
      if (error instanceof MesosApiError && error.code === 'HTTP' && (error.status === 400 || error.status === 422)) {
        throw new JobRefusedError(`Metronome refused the job: ${error.apiMessage}${error.details ? ` (${error.details})` : ''}`);
      }
      throw error;
    }
  }

  async submitMany(jobs: readonly BatchJob[]): Promise<SubmitOutcome[]> {
    return submitEach(jobs, (job) => this.submit(job), SUBMIT_CONCURRENCY);
  }

  async findByJobIds(jobIds: readonly string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    if (jobIds.length === 0) return found;
    const wanted = new Set(jobIds);
    for (const job of await this.client.listJobs(['activeRuns', 'history'])) {
      const ours = job.labels[JOB_ID_LABEL];
      if (ours === undefined || !wanted.has(ours) || job.id !== metronomeJobId(ours)) continue;
      // A job without a run was cut short before its run: submit starts that run.
      const run = latestRun(job);
      if (run !== undefined) found.set(ours, metronomeNativeId(job.id, run));
    }
    return found;
  }

  async poll(jobs: readonly TrackedJob[]): Promise<NativeJobStatus[]> {
    if (jobs.length === 0) return [];
    // One call for every job of the cluster, runs and history embedded.
    const all = new Map((await this.client.listJobs(['activeRuns', 'history'])).map((job) => [job.id, job]));
    const statuses: NativeJobStatus[] = [];
    for (const tracked of jobs) {
      const native = parseMetronomeNativeId(tracked.nativeJobId);
      if (!native) {
        this.log.warn({ jobId: tracked.jobId, nativeJobId: tracked.nativeJobId }, 'not a Metronome native id; left out');
        continue;
      }
      const job = all.get(native.jobId);
      if (!job) {
        // Only a delete removes a job, and we never delete one with a run we track.
        statuses.push({
          jobId: tracked.jobId, nativeJobId: tracked.nativeJobId, state: 'CANCELED', nativeState: 'DELETED',
          reason: `Metronome job ${native.jobId} no longer exists (deleted outside this service)`,
        });
        continue;
      }
      // Both the label and the id must match: a job of the same name made by someone else is not ours.
      if (job.labels[JOB_ID_LABEL] !== tracked.jobId) continue;
      const status = metronomeRunStatus(tracked, job, native.runId);
      if (status) statuses.push(status);
    }
    return statuses;
  }

  async cancel(nativeJobId: string): Promise<void> {
    const native = parseMetronomeNativeId(nativeJobId);
    if (!native) throw new Error(`not a Metronome native id: ${JSON.stringify(nativeJobId)}`);
    const run = await this.client.getRun(native.jobId, native.runId);
    // Not active: it ended (or never was); its end stands as it is.
    if (!run) return;
    const job = await this.client.getJob(native.jobId, []);
    if (!job) return;
    // Marked before the stop: a stopped run must never read as FAILED, even after a restart of ours.
    if (job.labels[CANCELED_RUN_LABEL] !== native.runId) {
      await this.client.updateJob(resubmittable(job, { ...job.labels, [CANCELED_RUN_LABEL]: native.runId }));
    }
    const stopped = await this.client.stopRun(native.jobId, native.runId);
    this.log.info({ nativeJobId, stopped }, stopped ? 'stopped a Metronome run' : 'Metronome run had already ended');
  }

  async outputTails(): Promise<{ stdOut?: string; stdErr?: string }> {
    // Not readable from here (see the file's head): nothing, rather than "unread", so the end is recorded.
    return {};
  }

  async outputTailsOfMany(jobs: readonly JobOutput[]): Promise<{ stdOut?: string; stdErr?: string }[]> {
    return jobs.map(() => ({}));
  }
}

/** Run fields the jobspec schema allows: an update sends back these and nothing the API added. */
const RUN_FIELDS = [
  'args', 'artifacts', 'cmd', 'cpus', 'gpus', 'disk', 'networks', 'ucr', 'docker', 'env', 'maxLaunchDelay', 'mem',
  'placement', 'user', 'taskKillGracePeriodSeconds', 'restart', 'volumes', 'secrets',
];

/** The job as PUT wants it back, with new labels. */
export function resubmittable(job: MetronomeJob, labels: Record<string, string>): MetronomeJobSpec {
  if (!job.run) throw new Error(`Metronome job ${job.id} came without its run`);
  const run: Record<string, unknown> = {};
  for (const key of RUN_FIELDS) if (job.run[key] !== undefined && job.run[key] !== null) run[key] = job.run[key];
  return {
    id: job.id,
    ...(job.description !== undefined ? { description: job.description } : {}),
    labels,
    run: run as MetronomeJobSpec['run'],
  };
}
