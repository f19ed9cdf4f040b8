// A local stand-in for Marathon and Metronome (Mesos' frameworks cannot run on this machine: both
// are retired upstream and have no packages): one node:http server on 127.0.0.1 that serves the
// routes our clients call, answers with the official examples in test/fixtures/marathon and
// test/fixtures/metronome, and keeps the little state a job's life needs (apps, deployments, jobs,
// runs). It records every request, checks every body the clients send against the official JSON
// schemas (AppDefinition.schema.json, jobspec.schema.json) and answers 422 to one that fails them,
// and can be told to redirect to another instance (a leader), answer an error a few times, hang,
// or ask for credentials.
//
// Answer shapes that have no example file follow the APIs' own definitions at the fixtures'
// commits: GET /v2/apps/{id} wraps the app in {"app": ...} and lists {"apps": [...]}, with the
// AppInfo fields of Marathon's types/app.raml (tasksRunning, deployments, lastTaskFailure, ...);
// Metronome's embedded activeRuns/history are JobRun and JobHistory as its api/v1/models writes
// them; error bodies are {"message", "details"} as both write them.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import * as path from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

export const FIXTURES = path.join(__dirname, '..', 'fixtures');

export function fixtureJson<T = unknown>(service: 'marathon' | 'metronome', name: string): T {
  return JSON.parse(readFileSync(path.join(FIXTURES, service, name), 'utf8')) as T;
}

type Json = Record<string, unknown>;

export interface RecordedRequest {
  method: string;
  /** The URL path, without the query. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
  /** The body parsed as JSON; undefined when empty. */
  json: unknown;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** 'hang': never answer. 'reset': drop the connection. redirect: 307 to that base URL, same path and query. */
export type Outcome = Reply | 'hang' | 'reset' | { redirect: string; status?: number };

interface Scripted {
  outcome: Outcome;
  times: number;
  method?: string;
  path?: string | RegExp;
}

// ---------------------------------------------------------------------------------------------
// The schemas. "$schema": "http://json-schema.org/schema#" names the latest draft of its day; Ajv
// reads that URI as draft-07, which has every keyword the two schemas use. Their patterns are
// ECMA-262 regular expressions without the unicode flag ("\-" is no escape under it), and they
// carry keywords of their own ("documentation"), which strict mode would refuse.

let validators: { app: ValidateFunction; job: ValidateFunction } | undefined;

export function schemaValidators(): { app: ValidateFunction; job: ValidateFunction } {
  if (!validators) {
    const ajv = new Ajv({ strict: false, allErrors: true, unicodeRegExp: false });
    addFormats(ajv);
    validators = {
      app: ajv.compile(fixtureJson<Json>('marathon', 'AppDefinition.schema.json')),
      job: ajv.compile(fixtureJson<Json>('metronome', 'jobspec.schema.json')),
    };
  }
  return validators;
}

/** Every error of one body against one schema, one line each; empty when it is valid. */
export function schemaErrorsOf(schema: 'app' | 'job', body: unknown): string[] {
  const validate = schemaValidators()[schema];
  if (validate(body)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'invalid'}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);
}

// ---------------------------------------------------------------------------------------------
// State

export interface DoubleTask {
  appId: string;
  id: string;
  host: string;
  state: string;
  stagedAt: string;
  startedAt?: string;
  version: string;
  healthCheckResults?: { alive: boolean; consecutiveFailures: number; instanceId: string; lastFailureCause?: string }[];
  [key: string]: unknown;
}

export interface DoubleApp {
  definition: Json;
  version: string;
  tasks: DoubleTask[];
  lastTaskFailure?: Json;
}

interface DoubleDeployment {
  body: Json;
  /** Deployment listings left before it ends. */
  pollsLeft: number;
  /** What happens to the app when it ends. */
  onDone: () => void;
}

export interface DoubleRun {
  id: string;
  jobId: string;
  status: string;
  createdAt: string;
  completedAt: string | null;
  tasks: { id: string; startedAt: string; completedAt: string | null; status: string }[];
}

export interface DoubleJob {
  spec: Json;
  activeRuns: DoubleRun[];
  successful: { id: string; createdAt: string; finishedAt: string; tasks: string[] }[];
  failed: { id: string; createdAt: string; finishedAt: string; tasks: string[] }[];
}

export interface DoubleOptions {
  /** Deployment listings before a deployment ends (1: listed once, gone the next time). */
  deploymentPolls?: number;
  /** Seed the examples (/foo with its deployment, the example jobs): true. */
  seed?: boolean;
  /** Answer 401 to requests without these basic credentials. */
  credentials?: { username: string; password: string };
}

/** Metronome's time format: "2016-07-15T13:02:59.735+0000". */
function metronomeTime(ms = Date.now()): string {
  return new Date(ms).toISOString().replace('Z', '+0000');
}

let runCounter = 0;
function newRunId(): string {
  // Metronome's run ids: the UTC time to the second, then five letters and digits ("20160715130259A34HX").
  const stamp = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
  runCounter += 1;
  return `${stamp}${String(runCounter).padStart(5, '0')}`;
}

export class MesosApiDouble {
  readonly requests: RecordedRequest[] = [];
  /** "METHOD path: error" for each body that failed its schema; a test expects none. */
  readonly schemaErrors: string[] = [];
  /** Bodies checked against a schema (valid or not). */
  validatedBodies = 0;
  readonly apps = new Map<string, DoubleApp>();
  readonly deployments = new Map<string, DoubleDeployment>();
  readonly jobs = new Map<string, DoubleJob>();
  private readonly scripted: Scripted[] = [];
  private redirectAll?: string;
  private readonly sockets = new Set<Socket>();
  private readonly deploymentPolls: number;

  private constructor(private readonly server: Server, readonly url: string, private readonly options: DoubleOptions) {
    this.deploymentPolls = options.deploymentPolls ?? 1;
    if (options.seed ?? true) this.seedExamples();
  }

  static async start(options: DoubleOptions = {}): Promise<MesosApiDouble> {
    let double: MesosApiDouble | undefined;
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => double?.answer(request.method ?? 'GET', request.url ?? '/', request.headers, Buffer.concat(chunks).toString('utf8'), response));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    double = new MesosApiDouble(server, `http://127.0.0.1:${port}`, options);
    const sockets = double.sockets;
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    return double;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The next `times` requests (matching method and path, when given) get this outcome instead. */
  script(outcome: Outcome, options: { times?: number; method?: string; path?: string | RegExp } = {}): void {
    this.scripted.push({ outcome, times: options.times ?? 1, method: options.method, path: options.path });
  }

  /** Every request from now on is redirected to that instance (this one is not the leader). */
  redirectEverythingTo(url: string | undefined): void {
    this.redirectAll = url;
  }

  /** Requests to a path, optionally of one method. */
  requestsTo(pathOrPattern: string | RegExp, method?: string): RecordedRequest[] {
    return this.requests.filter((r) => (method === undefined || r.method === method) &&
      (typeof pathOrPattern === 'string' ? r.path === pathOrPattern : pathOrPattern.test(r.path)));
  }

  // -------------------------------------------------------------------------------------------
  // Control of the state, for the tests

  /** The app's live task fails: Marathon records it as lastTaskFailure and (for now) runs none. */
  failTask(appId: string, message: string, state = 'TASK_FAILED'): void {
    const app = this.requireApp(appId);
    const task = app.tasks[0];
    app.tasks = [];
    app.lastTaskFailure = {
      appId, host: task?.host ?? 'agent1', message, state,
      taskId: task?.id ?? `${appId.slice(1).replace(/\//g, '_')}.instance-${randomUUID()}`,
      timestamp: new Date().toISOString(), version: app.version, slaveId: 'agent0',
    };
  }

  /** The app's tasks all start running (after a failure: Marathon relaunched one). */
  runTask(appId: string): void {
    const app = this.requireApp(appId);
    app.tasks = [this.newTask(appId, app.version, 'TASK_RUNNING')];
  }

  /** Health check results on every task of the app. */
  setHealth(appId: string, alive: boolean, cause?: string): void {
    const app = this.requireApp(appId);
    for (const task of app.tasks) {
      task.healthCheckResults = [{ alive, consecutiveFailures: alive ? 0 : 3, instanceId: task.id, ...(cause ? { lastFailureCause: cause } : {}) }];
    }
  }

  /** A run moves on: ACTIVE gets a running task; SUCCESS and FAILED end it into the history. */
  setRunStatus(jobId: string, runId: string, status: 'STARTING' | 'ACTIVE' | 'SUCCESS' | 'FAILED'): void {
    const job = this.jobs.get(jobId);
    const run = job?.activeRuns.find((r) => r.id === runId);
    if (!job || !run) throw new Error(`double: no active run ${jobId}/${runId}`);
    run.status = status;
    if (status === 'ACTIVE' && run.tasks.length === 0) {
      run.tasks.push({ id: `${jobId.replace(/\./g, '_')}_${runId}.${randomUUID()}`, startedAt: metronomeTime(), completedAt: null, status: 'TASK_RUNNING' });
    }
    if (status === 'SUCCESS' || status === 'FAILED') this.endRun(job, run, status);
  }

  private endRun(job: DoubleJob, run: DoubleRun, status: 'SUCCESS' | 'FAILED'): void {
    job.activeRuns = job.activeRuns.filter((r) => r !== run);
    const info = { id: run.id, createdAt: run.createdAt, finishedAt: metronomeTime(), tasks: run.tasks.map((t) => t.id) };
    (status === 'SUCCESS' ? job.successful : job.failed).push(info);
  }

  private requireApp(appId: string): DoubleApp {
    const app = this.apps.get(appId);
    if (!app) throw new Error(`double: no app ${appId}`);
    return app;
  }

  private newTask(appId: string, version: string, state: string): DoubleTask {
    // The shape of a task in app_tasks.json, made this app's.
    const [template] = fixtureJson<{ tasks: DoubleTask[] }>('marathon', 'app_tasks.json').tasks;
    const now = new Date().toISOString();
    return {
      ...template, appId, id: `${appId.slice(1).replace(/\//g, '_')}.instance-${randomUUID()}`, state, version,
      stagedAt: now, ...(state === 'TASK_RUNNING' ? { startedAt: now } : { startedAt: undefined }),
    };
  }

  private seedExamples(): void {
    const foo = fixtureJson<Json>('marathon', 'app.json');
    const { tasks } = fixtureJson<{ tasks: DoubleTask[] }>('marathon', 'app_tasks.json');
    const version = '2015-09-29T15:59:51.164Z';
    this.apps.set(foo.id as string, { definition: foo, version, tasks: tasks.map((t) => ({ ...t, appId: foo.id as string })) });
    for (const deployment of fixtureJson<Json[]>('marathon', 'deployments.json')) {
      this.deployments.set(deployment.id as string, { body: deployment, pollsLeft: this.deploymentPolls, onDone: () => undefined });
    }
    for (const spec of [fixtureJson<Json>('metronome', 'job.json'), ...fixtureJson<Json[]>('metronome', 'job_list.json')]) {
      this.jobs.set(spec.id as string, { spec, activeRuns: [], successful: [], failed: [] });
    }
  }

  // -------------------------------------------------------------------------------------------
  // Answering

  private answer(method: string, rawUrl: string, headers: IncomingHttpHeaders, body: string, response: ServerResponse): void {
    const url = new URL(rawUrl, this.url);
    let json: unknown;
    try {
      json = body === '' ? undefined : JSON.parse(body);
    } catch {
      json = undefined;
    }
    const request: RecordedRequest = { method, path: url.pathname, query: url.searchParams, headers, body, json };
    this.requests.push(request);
    // Every body is checked, whatever is answered (scripted replies and redirects too).
    const invalid = this.checkBody(request);
    const scripted = this.scripted.find((s) => s.times > 0 && (s.method === undefined || s.method === method) &&
      (s.path === undefined || (typeof s.path === 'string' ? s.path === url.pathname : s.path.test(url.pathname))));
    let outcome: Outcome | undefined;
    if (scripted) {
      scripted.times -= 1;
      outcome = scripted.outcome;
    } else if (this.redirectAll !== undefined) {
      outcome = { redirect: this.redirectAll };
    }
    if (outcome === undefined) {
      outcome = this.authorize(headers) ?? invalid ?? this.route(request);
    }
    if (outcome === 'hang') return;
    if (outcome === 'reset') {
      response.socket?.destroy();
      return;
    }
    if ('redirect' in outcome) {
      response.writeHead(outcome.status ?? 307, { Location: `${outcome.redirect}${url.pathname}${url.search}` });
      response.end();
      return;
    }
    const text = outcome.body === undefined ? '' : typeof outcome.body === 'string' ? outcome.body : JSON.stringify(outcome.body);
    response.writeHead(outcome.status, { 'Content-Type': 'application/json', ...outcome.headers });
    response.end(text);
  }

  private authorize(headers: IncomingHttpHeaders): Reply | undefined {
    const wanted = this.options.credentials;
    if (!wanted) return undefined;
    const expected = `Basic ${Buffer.from(`${wanted.username}:${wanted.password}`).toString('base64')}`;
    return headers.authorization === expected ? undefined : { status: 401, body: { message: 'Invalid username or password.' } };
  }

  /**
   * Checks a body the clients send against its schema (apps created or updated, jobs created or
   * updated); the 422 Marathon and Metronome would give when it fails.
   */
  private checkBody(request: RecordedRequest): Reply | undefined {
    const { method, path: p } = request;
    const schema = (method === 'POST' || method === 'PUT') && /^\/v2\/apps(\/.*)?$/.test(p) && !p.endsWith('/tasks') ? 'app'
      : (method === 'POST' && p === '/v1/jobs') || (method === 'PUT' && /^\/v1\/jobs\/[^/]+$/.test(p)) ? 'job'
        : undefined;
    if (schema === undefined) {
      if (request.body !== '') this.schemaErrors.push(`${method} ${p}: a body where the API takes none`);
      return undefined;
    }
    this.validatedBodies += 1;
    const errors = schemaErrorsOf(schema, request.json);
    if (errors.length === 0) return undefined;
    for (const error of errors) this.schemaErrors.push(`${request.method} ${request.path}: ${error}`);
    return { status: 422, body: { message: 'Object is not valid', details: errors.map((e) => ({ path: e.split(' ')[0], errors: [e] })) } };
  }

  private route(request: RecordedRequest): Reply {
    const { method, path: p } = request;
    if (p === '/v2/info' && method === 'GET') return { status: 200, body: fixtureJson('marathon', 'info.json') };
    if (p === '/v2/deployments' && method === 'GET') return this.listDeployments();
    if (p === '/v2/apps') {
      if (method === 'GET') return this.listApps(request);
      if (method === 'POST') return this.createApp(request);
    }
    const tasks = /^\/v2\/apps(\/.+)\/tasks$/.exec(p);
    if (tasks && method === 'GET') {
      const app = this.apps.get(tasks[1]);
      return app ? { status: 200, body: { tasks: app.tasks } } : this.noApp(tasks[1]);
    }
    const app = /^\/v2\/apps(\/.+)$/.exec(p);
    if (app) {
      const id = app[1];
      if (method === 'GET') return this.apps.has(id) ? { status: 200, body: { app: this.appInfo(id, ['tasks', 'lastTaskFailure']) } } : this.noApp(id);
      if (method === 'PUT') return this.updateApp(id, request);
      if (method === 'DELETE') return this.deleteApp(id);
    }
    if (p === '/v1/jobs') {
      if (method === 'GET') return { status: 200, body: [...this.jobs.keys()].map((id) => this.jobInfo(id, embedsOf(request))) };
      if (method === 'POST') return this.createJob(request);
    }
    const stop = /^\/v1\/jobs\/([^/]+)\/runs\/([^/]+)\/actions\/stop$/.exec(p);
    if (stop && method === 'POST') return this.stopRun(stop[1], stop[2]);
    const run = /^\/v1\/jobs\/([^/]+)\/runs\/([^/]+)$/.exec(p);
    if (run && method === 'GET') {
      const found = this.jobs.get(run[1])?.activeRuns.find((r) => r.id === run[2]);
      return found ? { status: 200, body: found } : { status: 404, body: { jobSpec: run[1], id: run[2], message: 'Job Run not found' } };
    }
    const runs = /^\/v1\/jobs\/([^/]+)\/runs$/.exec(p);
    if (runs && method === 'POST') return this.startRun(runs[1]);
    const job = /^\/v1\/jobs\/([^/]+)$/.exec(p);
    if (job) {
      const id = job[1];
      if (method === 'GET') return this.jobs.has(id) ? { status: 200, body: this.jobInfo(id, embedsOf(request)) } : this.noJob(id);
      if (method === 'PUT') return this.updateJob(id, request);
      if (method === 'DELETE') return this.deleteJob(id, request);
    }
    return { status: 404, body: { message: `double: no route ${method} ${p}` } };
  }

  // Marathon ------------------------------------------------------------------------------------

  private noApp(id: string): Reply {
    return { status: 404, body: { message: `App '${id}' does not exist` } };
  }

  private appInfo(id: string, embeds: readonly string[]): Json {
    const app = this.requireApp(id);
    const healthChecked = Array.isArray(app.definition.healthChecks) && app.definition.healthChecks.length > 0;
    const results = (t: DoubleTask) => t.healthCheckResults ?? [];
    const info: Json = {
      ...app.definition,
      version: app.version,
      tasksStaged: app.tasks.filter((t) => t.state === 'TASK_STAGING' || t.state === 'TASK_STARTING').length,
      tasksRunning: app.tasks.filter((t) => t.state === 'TASK_RUNNING').length,
      tasksHealthy: healthChecked ? app.tasks.filter((t) => results(t).length > 0 && results(t).every((h) => h.alive)).length : 0,
      tasksUnhealthy: healthChecked ? app.tasks.filter((t) => results(t).some((h) => !h.alive)).length : 0,
      deployments: [...this.deployments.values()].filter((d) => (d.body.affectedApps as string[]).includes(id)).map((d) => ({ id: d.body.id })),
    };
    if (embeds.includes('tasks')) info.tasks = app.tasks;
    if (embeds.includes('lastTaskFailure') && app.lastTaskFailure) info.lastTaskFailure = app.lastTaskFailure;
    return info;
  }

  private listApps(request: RecordedRequest): Reply {
    const contains = request.query.get('id');
    const embeds = request.query.getAll('embed').filter((e) => e.startsWith('apps.')).map((e) => e.slice('apps.'.length));
    const ids = [...this.apps.keys()].filter((id) => contains === null || id.toLowerCase().includes(contains.toLowerCase()));
    return { status: 200, body: { apps: ids.map((id) => this.appInfo(id, embeds)) } };
  }

  private newDeployment(appId: string, action: string, onDone: () => void): string {
    // Shaped like the example in deployments.json.
    const id = randomUUID();
    const body: Json = {
      id, version: new Date().toISOString(), affectedApps: [appId], affectedPods: [],
      steps: [{ actions: [{ action, app: appId }] }], currentActions: [{ action, app: appId, readinessCheckResults: [] }],
      currentStep: 1, totalSteps: 1,
    };
    this.deployments.set(id, { body, pollsLeft: this.deploymentPolls, onDone });
    return id;
  }

  private listDeployments(): Reply {
    const listed = [...this.deployments.values()];
    // Each listing brings every deployment nearer its end; one that ends does what it did.
    for (const deployment of listed) {
      deployment.pollsLeft -= 1;
      if (deployment.pollsLeft <= 0) {
        this.deployments.delete(deployment.body.id as string);
        deployment.onDone();
      }
    }
    return { status: 200, body: listed.map((d) => d.body) };
  }

  private createApp(request: RecordedRequest): Reply {
    const definition = request.json as Json;
    const id = definition.id as string;
    if (this.apps.has(id)) return { status: 409, body: { message: `An app with id [${id}] already exists.` } };
    const version = new Date().toISOString();
    this.apps.set(id, { definition, version, tasks: [] });
    const deploymentId = this.newDeployment(id, 'StartApplication', () => {
      const app = this.apps.get(id);
      if (app && (definition.instances ?? 1) !== 0) app.tasks = [this.newTask(id, version, 'TASK_RUNNING')];
    });
    const body = {
      ...definition, version, tasksStaged: 0, tasksRunning: 0, tasksHealthy: 0, tasksUnhealthy: 0, deployments: [{ id: deploymentId }],
    };
    return { status: 201, body, headers: { Location: id, 'Marathon-Deployment-Id': deploymentId } };
  }

  private updateApp(id: string, request: RecordedRequest): Reply {
    const app = this.apps.get(id);
    if (!app) return this.noApp(id);
    const update = request.json as Json;
    // Marathon's partialUpdate (its default for PUT): the fields given replace the app's.
    app.definition = { ...app.definition, ...update };
    app.version = new Date().toISOString();
    const deploymentId = this.newDeployment(id, 'ScaleApplication', () => {
      const instances = app.definition.instances as number | undefined;
      if (instances === 0) app.tasks = [];
    });
    return { status: 200, body: { deploymentId, version: app.version } };
  }

  private deleteApp(id: string): Reply {
    if (!this.apps.has(id)) return this.noApp(id);
    // Marathon takes the app out of its group at once; the deployment then kills its tasks.
    this.apps.delete(id);
    const deploymentId = this.newDeployment(id, 'StopApplication', () => undefined);
    return { status: 200, body: { deploymentId, version: new Date().toISOString() } };
  }

  // Metronome -----------------------------------------------------------------------------------

  private noJob(id: string): Reply {
    return { status: 404, body: { id, message: 'Job not found' } };
  }

  private jobInfo(id: string, embeds: readonly string[]): Json {
    const job = this.jobs.get(id) as DoubleJob;
    const info: Json = { ...job.spec };
    if (embeds.includes('activeRuns')) info.activeRuns = job.activeRuns;
    if (embeds.includes('history')) {
      info.history = {
        successCount: job.successful.length, failureCount: job.failed.length,
        lastSuccessAt: job.successful.at(-1)?.finishedAt ?? null, lastFailureAt: job.failed.at(-1)?.finishedAt ?? null,
        successfulFinishedRuns: job.successful, failedFinishedRuns: job.failed,
      };
    }
    return info;
  }

  private createJob(request: RecordedRequest): Reply {
    const spec = request.json as Json;
    const id = spec.id as string;
    if (this.jobs.has(id)) return { status: 409, body: { message: 'Job with this id already exists' } };
    this.jobs.set(id, { spec, activeRuns: [], successful: [], failed: [] });
    return { status: 201, body: spec };
  }

  private updateJob(id: string, request: RecordedRequest): Reply {
    const job = this.jobs.get(id);
    if (!job) return this.noJob(id);
    job.spec = request.json as Json;
    return { status: 200, body: job.spec };
  }

  private deleteJob(id: string, request: RecordedRequest): Reply {
    const job = this.jobs.get(id);
    if (!job) return this.noJob(id);
    if (job.activeRuns.length > 0 && request.query.get('stopCurrentJobRuns') !== 'true') {
      return { status: 409, body: { message: 'There are active job runs. Override with stopCurrentJobRuns=true' } };
    }
    this.jobs.delete(id);
    return { status: 200, body: job.spec };
  }

  private startRun(id: string): Reply {
    const job = this.jobs.get(id);
    if (!job) return this.noJob(id);
    // Shaped like run.json.
    const run: DoubleRun = { ...fixtureJson<DoubleRun>('metronome', 'run.json'), id: newRunId(), jobId: id, createdAt: metronomeTime(), tasks: [] };
    job.activeRuns.push(run);
    return { status: 201, body: run };
  }

  private stopRun(jobId: string, runId: string): Reply {
    const job = this.jobs.get(jobId);
    if (!job) return this.noJob(jobId);
    const run = job.activeRuns.find((r) => r.id === runId);
    if (!run) return { status: 404, body: { jobSpec: jobId, id: runId, message: 'Job Run not found' } };
    // Metronome records an aborted run as failed.
    this.endRun(job, run, 'FAILED');
    return { status: 200, body: { ...run, status: 'FAILED' } };
  }
}

/** Metronome's embed parameter: repeated, or comma-separated. */
function embedsOf(request: RecordedRequest): string[] {
  return request.query.getAll('embed').flatMap((e) => e.split(','));
}
