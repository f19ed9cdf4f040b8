// Scheduler for long-running (SERVICE) jobs on Marathon: one app per job of ours, id
// "/airavata/<name>", one instance, label airavata.jobId = our id. Marathon keeps it running,
// restarting its task when it ends, until cancel deletes the app.
//
// Native id: "marathon:/airavata/<name>".
//
// States, from the app, its tasks and its deployments (marathonAppStatus):
//   QUEUED    deploying, staging, or waiting for resources: no task running yet
//   ACTIVE    a task runs (healthy, or unhealthy with the checks' causes in the reason, when the app
//             has health checks); also while Marathon restarts a task that ended (the reason says why)
//   SUSPENDED scaled to 0 instances in Marathon by someone
//   CANCELED  the app is gone: we deleted it (cancel), or someone did
//   FAILED    crash loop: maxTaskFailures different tasks of it failed within failureWindowMs and
//             none runs; the app is then scaled to 0 so that Marathon stops relaunching it, and
//             labelled airavata.failed with the last failure, which keeps it FAILED after a restart
//             of ours. A single failure is not the end of a service: Marathon restarts it.
//
// Output: stdout.txt and stderr.txt in the working directory on the agent, appended to across
// restarts; not readable from here (see metronomeScheduler.ts), so outputTails gives nothing.
import type { Logger } from '../../log';
import {
  JobRefusedError, type BatchJob, type JobOutput, type NativeJobStatus, type Scheduler, type SubmitOutcome, type TrackedJob,
} from '../scheduler';
import { clip, MesosApiError } from '../mesos/errors';
import { submitEach } from '../mesos/submitEach';
import {
  checkShape, DEFAULT_RESOURCES, errorText, JOB_ID_LABEL, mesosName, parseApiTime, taskCommand, taskEnvironment,
  taskResources, taskUser, type TaskResources,
} from '../mesos/task';
import { appHealth, type MarathonApp, type MarathonAppDefinition, type MarathonClient, type MarathonTaskFailure } from './client';

export const MARATHON_PREFIX = 'marathon:';
/** The Marathon group our apps live in. */
export const MARATHON_GROUP = '/airavata';
/** Set on an app we stopped for a crash loop: its value is the last failure's message. */
export const FAILED_LABEL = 'airavata.failed';
/** How long submit and cancel follow the app's deployment before going on without it (30 s). */
export const DEFAULT_DEPLOYMENT_TIMEOUT_MS = 30_000;
/** Different failed tasks that make a crash loop (3), within this window (10 min). */
export const DEFAULT_MAX_TASK_FAILURES = 3;
export const DEFAULT_FAILURE_WINDOW_MS = 10 * 60_000;
const SUBMIT_CONCURRENCY = 8;
const DELETED_REMEMBERED = 10_000;

const APP_ID = /^\/airavata\/[a-z0-9]+(-[a-z0-9]+)*$/;

export interface MarathonSchedulerOptions {
  client: MarathonClient;
  log: Logger;
  /** Resources of a job that names none (1 CPU, 128 MB, no disk). */
  resources?: Partial<TaskResources>;
  /** See DEFAULT_DEPLOYMENT_TIMEOUT_MS; 0: do not follow. */
  deploymentTimeoutMs?: number;
  /** See DEFAULT_MAX_TASK_FAILURES; 0: a service is never FAILED by us. */
  maxTaskFailures?: number;
  failureWindowMs?: number;
  now?: () => number;
}

export function marathonAppId(jobId: string): string {
  return `${MARATHON_GROUP}/${mesosName(jobId)}`;
}

export function marathonNativeId(appId: string): string {
  return `${MARATHON_PREFIX}${appId}`;
}

export function parseMarathonNativeId(nativeJobId: string): string | undefined {
  if (!nativeJobId.startsWith(MARATHON_PREFIX)) return undefined;
  const appId = nativeJobId.slice(MARATHON_PREFIX.length);
  return APP_ID.test(appId) ? appId : undefined;
}

/** The Marathon app for one of ours (see the file's head); throws JobRefusedError for what cannot run. */
export function marathonAppDefinition(job: BatchJob, options: { resources?: Partial<TaskResources> } = {}): MarathonAppDefinition {
  checkShape(job, 'Marathon');
  if (job.spec.jobType !== 'SERVICE') {
    throw new JobRefusedError('a BATCH job runs on Metronome: Marathon restarts a task that ends, so it would never complete');
  }
  const user = taskUser(job);
  const resources = taskResources(job, { ...DEFAULT_RESOURCES, ...options.resources });
  return {
    id: marathonAppId(job.jobId),
    // No wall time: a service runs until it is cancelled.
    cmd: taskCommand(job, { append: true }),
    cpus: resources.cpus,
    mem: resources.memMb,
    disk: resources.diskMb,
    instances: 1,
    user,
    env: taskEnvironment(job),
    labels: { [JOB_ID_LABEL]: job.jobId },
    // No host ports: Marathon would otherwise take one per task that nothing of ours uses.
    portDefinitions: [],
  };
}

/** The app conditions marathonAppStatus tells apart, as its nativeState says them. */
export const MARATHON_CONDITIONS = [
  'DELETED', 'FAILED', 'SUSPENDED', 'HEALTHY', 'UNHEALTHY', 'RUNNING', 'RESTARTING', 'STAGING', 'DEPLOYING', 'WAITING',
] as const;
export type MarathonCondition = (typeof MARATHON_CONDITIONS)[number];

export interface MarathonObservation {
  /** Undefined: Marathon has no such app. */
  app?: MarathonApp;
  /** We deleted it (cancel). */
  deletedByUs: boolean;
  /** The failure tracker says crash loop. */
  crashLooping: boolean;
}

/** Our state of a service from what Marathon says of its app (see the file's head). */
export function marathonAppStatus(tracked: TrackedJob, observed: MarathonObservation): NativeJobStatus & { nativeState: MarathonCondition } {
  const base = { jobId: tracked.jobId, nativeJobId: tracked.nativeJobId };
  const { app } = observed;
  if (!app) {
    return {
      ...base, state: 'CANCELED', nativeState: 'DELETED',
      reason: observed.deletedByUs ? 'Marathon app deleted by cancel' : 'the Marathon app no longer exists (deleted outside this service)',
    };
  }
  const health = appHealth(app);
  const failure = app.lastTaskFailure;
  const failed = app.labels[FAILED_LABEL];
  if (failed !== undefined) return { ...base, state: 'FAILED', nativeState: 'FAILED', reason: `stopped after repeated task failures: ${failed}`, ...failedAt(failure) };
  if (observed.crashLooping && health.running === 0) {
    return { ...base, state: 'FAILED', nativeState: 'FAILED', reason: `its tasks keep failing: ${failureText(failure)}`, ...failedAt(failure) };
  }
  if (app.instances === 0) return { ...base, state: 'SUSPENDED', nativeState: 'SUSPENDED', reason: 'scaled to 0 instances in Marathon' };
  if (health.running > 0) {
    const startTime = firstStart(app);
    const started = startTime === undefined ? {} : { startTime };
    if (!health.checked) return { ...base, state: 'ACTIVE', nativeState: 'RUNNING', reason: `${health.running} task(s) running`, ...started };
    if (health.unhealthy > 0) {
      const causes = health.causes.length > 0 ? `: ${clip(health.causes.join('; '), 300)}` : '';
      return { ...base, state: 'ACTIVE', nativeState: 'UNHEALTHY', reason: `${health.unhealthy} of ${health.running} task(s) failing health checks${causes}`, ...started };
    }
    if (health.healthy > 0) return { ...base, state: 'ACTIVE', nativeState: 'HEALTHY', reason: `${health.healthy} task(s) healthy`, ...started };
    return { ...base, state: 'ACTIVE', nativeState: 'RUNNING', reason: `${health.running} task(s) running, health not yet known`, ...started };
  }
  if (failure) return { ...base, state: 'ACTIVE', nativeState: 'RESTARTING', reason: `Marathon restarts it after: ${failureText(failure)}` };
  if (health.staged > 0) return { ...base, state: 'QUEUED', nativeState: 'STAGING', reason: `${health.staged} task(s) staging` };
  if (app.deployments.length > 0) return { ...base, state: 'QUEUED', nativeState: 'DEPLOYING', reason: `deployment ${app.deployments.join(', ')} under way` };
  return { ...base, state: 'QUEUED', nativeState: 'WAITING', reason: 'no task running: Marathon waits for resources' };
}

function failureText(failure: MarathonTaskFailure | undefined): string {
  if (!failure) return 'no failure recorded';
  const state = failure.state ? `${failure.state}: ` : '';
  return clip(`${state}${failure.message || 'no message'}`, 300);
}

function failedAt(failure: MarathonTaskFailure | undefined): { endTime?: number } {
  const ms = parseApiTime(failure?.timestamp);
  return ms === undefined ? {} : { endTime: ms };
}

function firstStart(app: MarathonApp): number | undefined {
  const starts = (app.tasks ?? []).map((t) => parseApiTime(t.startedAt ?? t.stagedAt)).filter((ms): ms is number => ms !== undefined);
  return starts.length > 0 ? Math.min(...starts) : undefined;
}

/**
 * Task failures of each app seen by our polls: Marathon reports only the last one, so a crash
 * loop shows as a new lastTaskFailure (another task id) poll after poll.
 */
export class TaskFailureTracker {
  private readonly seen = new Map<string, Map<string, number>>();

  constructor(private readonly limit: number, private readonly windowMs: number) {}

  /** Records the app's last failure; true when `limit` different ones fell within the window. */
  observe(appId: string, failure: MarathonTaskFailure | undefined, now: number): boolean {
    if (this.limit <= 0) return false;
    const failures = this.seen.get(appId) ?? new Map<string, number>();
    if (failure) {
      const key = failure.taskId ?? `${failure.timestamp ?? ''} ${failure.message}`;
      if (!failures.has(key)) failures.set(key, now);
    }
    for (const [key, at] of failures) if (now - at > this.windowMs) failures.delete(key);
    if (failures.size === 0) {
      this.seen.delete(appId);
      return false;
    }
    this.seen.set(appId, failures);
    return failures.size >= this.limit;
  }

  forget(appId: string): void {
    this.seen.delete(appId);
  }
}

export class MarathonScheduler implements Scheduler {
  readonly name = 'Marathon';
  private readonly client: MarathonClient;
  private readonly log: Logger;
  private readonly options: MarathonSchedulerOptions;
  private readonly deploymentTimeoutMs: number;
  private readonly failures: TaskFailureTracker;
  private readonly now: () => number;
  /** Apps our cancel deleted (in this process), so that "gone" can say who did it. */
  private readonly deleted = new Set<string>();

  constructor(options: MarathonSchedulerOptions) {
    this.options = options;
    this.client = options.client;
    this.log = options.log;
    this.deploymentTimeoutMs = options.deploymentTimeoutMs ?? DEFAULT_DEPLOYMENT_TIMEOUT_MS;
    this.failures = new TaskFailureTracker(options.maxTaskFailures ?? DEFAULT_MAX_TASK_FAILURES, options.failureWindowMs ?? DEFAULT_FAILURE_WINDOW_MS);
    this.now = options.now ?? Date.now;
  }

  async submit(job: BatchJob): Promise<string> {
    // Built and checked before anything reaches Marathon.
    const definition = marathonAppDefinition(job, this.options);
    const deploymentId = await this.create(job, definition);
    const nativeJobId = marathonNativeId(definition.id);
    this.log.info({ jobId: job.jobId, nativeJobId, account: job.account, deploymentId }, 'created a Marathon app');
    if (deploymentId !== undefined) await this.follow(deploymentId, nativeJobId);
    return nativeJobId;
  }

  /**
   * Creates the app, returning the deployment that starts it; when the app exists already (a
   * submit cut short after the POST), the app found is adopted if it is ours. The POST may be sent
   * twice for that reason.
   */
  private async create(job: BatchJob, definition: MarathonAppDefinition): Promise<string | undefined> {
    try {
      const created = await this.client.createApp(definition, { resendable: true });
      return created.deployments[0];
    } catch (error) {
      if (error instanceof MesosApiError && error.code === 'HTTP' && error.status === 409) {
        const found = await this.client.getApp(definition.id);
        if (found && found.labels[JOB_ID_LABEL] === job.jobId) return found.deployments[0];
        throw new JobRefusedError(`Marathon app ${definition.id} exists and is not this job's`);
      }
      // Marathon judged the app itself (400, 422): running it again cannot help.
      if (error instanceof MesosApiError && error.code === 'HTTP' && (error.status === 400 || error.status === 422)) {
        throw new JobRefusedError(`Marathon refused the app: ${error.apiMessage}${error.details ? ` (${error.details})` : ''}`);
      }
      throw error;
    }
  }

  /** Waits for a deployment to end, for a while; the app stands either way (poll tells the rest). */
  private async follow(deploymentId: string, nativeJobId: string): Promise<void> {
    if (this.deploymentTimeoutMs <= 0) return;
    try {
      const done = await this.client.waitForDeployment(deploymentId, this.deploymentTimeoutMs);
      if (!done) this.log.info({ nativeJobId, deploymentId, waitedMs: this.deploymentTimeoutMs }, 'Marathon deployment still under way; polls follow it');
    } catch (error) {
      this.log.warn({ nativeJobId, deploymentId, error: errorText(error) }, 'could not follow the Marathon deployment; polls follow it');
    }
  }

  async submitMany(jobs: readonly BatchJob[]): Promise<SubmitOutcome[]> {
    return submitEach(jobs, (job) => this.submit(job), SUBMIT_CONCURRENCY);
  }

  async findByJobIds(jobIds: readonly string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    if (jobIds.length === 0) return found;
    const wanted = new Set(jobIds);
    for (const app of await this.client.listApps({ idContains: `${MARATHON_GROUP}/` })) {
      const ours = app.labels[JOB_ID_LABEL];
      if (ours !== undefined && wanted.has(ours) && app.id === marathonAppId(ours)) found.set(ours, marathonNativeId(app.id));
    }
    return found;
  }

  async poll(jobs: readonly TrackedJob[]): Promise<NativeJobStatus[]> {
    if (jobs.length === 0) return [];
    // One call for every app of ours, tasks, deployments and last failures embedded.
    const apps = new Map((await this.client.listApps({ idContains: `${MARATHON_GROUP}/` })).map((app) => [app.id, app]));
    const now = this.now();
    const statuses: NativeJobStatus[] = [];
    for (const tracked of jobs) {
      const appId = parseMarathonNativeId(tracked.nativeJobId);
      if (appId === undefined) {
        this.log.warn({ jobId: tracked.jobId, nativeJobId: tracked.nativeJobId }, 'not a Marathon native id; left out');
        continue;
      }
      const app = apps.get(appId);
      // Both the label and the id must match: an app of the same name made by someone else is not ours.
      if (app && app.labels[JOB_ID_LABEL] !== tracked.jobId) continue;
      const crashLooping = app ? this.failures.observe(appId, app.lastTaskFailure, now) : false;
      const status = marathonAppStatus(tracked, { app, deletedByUs: this.deleted.has(appId), crashLooping });
      if (!app) this.failures.forget(appId);
      if (status.state === 'FAILED' && app && app.labels[FAILED_LABEL] === undefined) await this.stopRelaunching(app, status);
      statuses.push(status);
    }
    return statuses;
  }

  /** A crash-looping service is over: 0 instances, and a label saying why (see the file's head). */
  private async stopRelaunching(app: MarathonApp, status: NativeJobStatus): Promise<void> {
    const why = clip(failureText(app.lastTaskFailure), 200);
    try {
      await this.client.updateApp({ id: app.id, instances: 0, labels: { ...app.labels, [FAILED_LABEL]: why } }, { force: true });
      this.log.warn({ jobId: status.jobId, appId: app.id, reason: status.reason }, 'Marathon app keeps failing; scaled to 0');
    } catch (error) {
      // The next poll finds it failing still and tries again.
      this.log.warn({ jobId: status.jobId, appId: app.id, error: errorText(error) }, 'could not scale a failing Marathon app to 0');
    }
  }

  async cancel(nativeJobId: string): Promise<void> {
    const appId = parseMarathonNativeId(nativeJobId);
    if (appId === undefined) throw new Error(`not a Marathon native id: ${JSON.stringify(nativeJobId)}`);
    // Remembered before the call: a delete whose answer is lost still went through.
    if (this.deleted.size >= DELETED_REMEMBERED) this.deleted.clear();
    this.deleted.add(appId);
    const result = await this.client.deleteApp(appId);
    if (!result) {
      this.log.info({ nativeJobId }, 'Marathon app already gone');
      return;
    }
    this.log.info({ nativeJobId, deploymentId: result.deploymentId }, 'deleted a Marathon app');
    await this.follow(result.deploymentId, nativeJobId);
  }

  async outputTails(): Promise<{ stdOut?: string; stdErr?: string }> {
    // Not readable from here (see the file's head): nothing, rather than "unread", so the end is recorded.
    return {};
  }

  async outputTailsOfMany(jobs: readonly JobOutput[]): Promise<{ stdOut?: string; stdErr?: string }[]> {
    return jobs.map(() => ({}));
  }
}
