// Metronome's REST API (v1), the calls the adapter makes. Request bodies follow Metronome's
// jobspec schema; answers are read for the fields we use only (JobInfo, JobRun and JobHistory as
// Metronome writes them), each checked as it is read.
import type { JsonRequest, MesosHttpClient } from '../mesos/httpJson';
import {
  arrayOf, isObject, objectOf, objects, optionalNumber, optionalString, requiredString, segment, stringMap,
  type JsonObject, type WireContext,
} from '../mesos/wire';

/** Run states, from Metronome's JobRunStatus. */
export const METRONOME_RUN_STATUSES = ['INITIAL', 'STARTING', 'ACTIVE', 'SUCCESS', 'FAILED'] as const;

/** What getJob and listJobs can embed. */
export type MetronomeEmbed = 'activeRuns' | 'history' | 'historySummary' | 'schedules';

/** The job we send (jobspec.schema.json); only the fields the adapter sets are typed. */
export interface MetronomeJobSpec {
  id: string;
  description?: string;
  labels?: Record<string, string>;
  run: MetronomeRunSpec;
}

export interface MetronomeRunSpec {
  cmd?: string;
  args?: string[];
  cpus: number;
  mem: number;
  disk: number;
  user?: string;
  env?: Record<string, string>;
  maxLaunchDelay?: number;
  restart?: { policy: 'NEVER' | 'ON_FAILURE'; activeDeadlineSeconds?: number };
  /** Anything else the API returned, kept so an update sends the job back whole. */
  [key: string]: unknown;
}

export interface MetronomeRunTask {
  id: string;
  status?: string;
  startedAt?: string;
  completedAt?: string | null;
}

export interface MetronomeRun {
  id: string;
  jobId: string;
  status: string;
  createdAt?: string;
  completedAt?: string | null;
  tasks: MetronomeRunTask[];
}

export interface MetronomeFinishedRun {
  id: string;
  createdAt?: string;
  finishedAt?: string;
}

export interface MetronomeHistory {
  successCount?: number;
  failureCount?: number;
  lastSuccessAt?: string | null;
  lastFailureAt?: string | null;
  successfulFinishedRuns: MetronomeFinishedRun[];
  failedFinishedRuns: MetronomeFinishedRun[];
}

export interface MetronomeJob {
  id: string;
  description?: string;
  labels: Record<string, string>;
  run?: MetronomeRunSpec;
  /** With embed=activeRuns. */
  activeRuns?: MetronomeRun[];
  /** With embed=history. */
  history?: MetronomeHistory;
}

export class MetronomeClient {
  constructor(readonly http: MesosHttpClient) {}

  /**
   * POST /v1/jobs. Metronome answers 409 for an id it has; resendable says a second POST after a
   * lost answer is harmless to the caller (it adopts the job it finds on 409).
   */
  async createJob(spec: MetronomeJobSpec, options: { resendable?: boolean } = {}): Promise<MetronomeJob> {
    const request: JsonRequest = { method: 'POST', path: '/v1/jobs', json: spec, resendable: options.resendable };
    const response = await this.http.send(request);
    return readJob(response.body, this.context(request), 'job');
  }

  /** GET /v1/jobs/{id}?embed=...; undefined when Metronome has no such job. */
  async getJob(id: string, embed: readonly MetronomeEmbed[] = ['activeRuns', 'history']): Promise<MetronomeJob | undefined> {
    const request: JsonRequest = { method: 'GET', path: `/v1/jobs/${segment(id)}`, query: { embed }, accept: [404] };
    const response = await this.http.send(request);
    if (response.status === 404) return undefined;
    return readJob(response.body, this.context(request), 'job');
  }

  /** GET /v1/jobs?embed=...: every job, with what was embedded. */
  async listJobs(embed: readonly MetronomeEmbed[] = ['activeRuns', 'history']): Promise<MetronomeJob[]> {
    const request: JsonRequest = { method: 'GET', path: '/v1/jobs', query: { embed } };
    const response = await this.http.send(request);
    const context = this.context(request);
    return arrayOf(response.body, context, 'the job list').map((item, i) => readJob(item, context, `job ${i}`));
  }

  /** PUT /v1/jobs/{id}: replaces the job's definition (its runs go on). */
  async updateJob(spec: MetronomeJobSpec): Promise<MetronomeJob> {
    const request: JsonRequest = { method: 'PUT', path: `/v1/jobs/${segment(spec.id)}`, json: spec };
    const response = await this.http.send(request);
    return readJob(response.body, this.context(request), 'job');
  }

  /** DELETE /v1/jobs/{id}; false when there was no such job. */
  async deleteJob(id: string, options: { stopCurrentJobRuns?: boolean } = {}): Promise<boolean> {
    const request: JsonRequest = {
      method: 'DELETE', path: `/v1/jobs/${segment(id)}`, accept: [404],
      query: { stopCurrentJobRuns: options.stopCurrentJobRuns ? 'true' : undefined },
    };
    const response = await this.http.send(request);
    return response.status !== 404;
  }

  /** POST /v1/jobs/{id}/runs: starts a run now. Never sent twice: a second POST is a second run. */
  async startRun(jobId: string): Promise<MetronomeRun> {
    const request: JsonRequest = { method: 'POST', path: `/v1/jobs/${segment(jobId)}/runs`, resendable: false };
    const response = await this.http.send(request);
    return readRun(response.body, this.context(request), 'run');
  }

  /** GET /v1/jobs/{id}/runs/{runId}; undefined once the run has ended (it is history then) or never was. */
  async getRun(jobId: string, runId: string): Promise<MetronomeRun | undefined> {
    const request: JsonRequest = { method: 'GET', path: `/v1/jobs/${segment(jobId)}/runs/${segment(runId)}`, accept: [404] };
    const response = await this.http.send(request);
    if (response.status === 404) return undefined;
    return readRun(response.body, this.context(request), 'run');
  }

  /**
   * POST /v1/jobs/{id}/runs/{runId}/actions/stop; false when the run is not active (ended, or
   * unknown). Stopping twice stops once, so it may be sent again.
   */
  async stopRun(jobId: string, runId: string): Promise<boolean> {
    const request: JsonRequest = {
      method: 'POST', path: `/v1/jobs/${segment(jobId)}/runs/${segment(runId)}/actions/stop`, accept: [404], resendable: true,
    };
    const response = await this.http.send(request);
    return response.status !== 404;
  }

  private context(request: JsonRequest): WireContext {
    return { service: 'Metronome', method: request.method, path: request.path };
  }
}

export function readJob(value: unknown, context: WireContext, what: string): MetronomeJob {
  const o = objectOf(value, context, what);
  const job: MetronomeJob = { id: requiredString(o, 'id', context, what), labels: stringMap(o.labels) };
  const description = optionalString(o, 'description');
  if (description !== undefined) job.description = description;
  if (isObject(o.run)) job.run = o.run as MetronomeRunSpec;
  if (o.activeRuns !== undefined && o.activeRuns !== null) {
    job.activeRuns = arrayOf(o.activeRuns, context, `${what}.activeRuns`).map((run, i) => readRun(run, context, `${what}.activeRuns[${i}]`));
  }
  if (isObject(o.history)) job.history = readHistory(o.history);
  return job;
}

export function readRun(value: unknown, context: WireContext, what: string): MetronomeRun {
  const o = objectOf(value, context, what);
  return {
    id: requiredString(o, 'id', context, what),
    jobId: optionalString(o, 'jobId') ?? '',
    status: requiredString(o, 'status', context, what),
    createdAt: optionalString(o, 'createdAt'),
    completedAt: optionalString(o, 'completedAt') ?? null,
    tasks: objects(o.tasks).map(readTask).filter((task): task is MetronomeRunTask => task !== undefined),
  };
}

function readTask(o: JsonObject): MetronomeRunTask | undefined {
  const id = optionalString(o, 'id');
  if (id === undefined) return undefined;
  return { id, status: optionalString(o, 'status'), startedAt: optionalString(o, 'startedAt'), completedAt: optionalString(o, 'completedAt') ?? null };
}

function readHistory(o: JsonObject): MetronomeHistory {
  const finished = (value: unknown): MetronomeFinishedRun[] => objects(value).flatMap((run) => {
    const id = optionalString(run, 'id');
    return id === undefined ? [] : [{ id, createdAt: optionalString(run, 'createdAt'), finishedAt: optionalString(run, 'finishedAt') }];
  });
  return {
    successCount: optionalNumber(o, 'successCount'),
    failureCount: optionalNumber(o, 'failureCount'),
    lastSuccessAt: optionalString(o, 'lastSuccessAt') ?? null,
    lastFailureAt: optionalString(o, 'lastFailureAt') ?? null,
    successfulFinishedRuns: finished(o.successfulFinishedRuns),
    failedFinishedRuns: finished(o.failedFinishedRuns),
  };
}
