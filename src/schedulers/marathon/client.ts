// Marathon's REST API (v2), the calls the adapter makes. Request bodies follow Marathon's
// AppDefinition schema; answers are read for the fields we use only (AppInfo, Task, TaskFailure,
// Deployment as Marathon's RAML types name them), each checked as it is read.
import { setTimeout as delay } from 'node:timers/promises';
import type { JsonRequest, MesosHttpClient } from '../mesos/httpJson';
import {
  arrayOf, isObject, objectOf, objects, optionalBoolean, optionalNumber, optionalString, requiredString, segment, stringMap,
  type JsonObject, type WireContext,
} from '../mesos/wire';

/** The app we send (AppDefinition.schema.json); only the fields the adapter sets are typed. */
export interface MarathonAppDefinition {
  id: string;
  cmd?: string;
  args?: string[];
  cpus?: number;
  mem?: number;
  disk?: number;
  instances?: number;
  user?: string;
  env?: Record<string, string>;
  labels?: Record<string, string>;
  portDefinitions?: { port: number; protocol?: 'tcp' | 'udp'; name?: string }[];
  backoffSeconds?: number;
  backoffFactor?: number;
  maxLaunchDelaySeconds?: number;
  taskKillGracePeriodSeconds?: number;
}

/** A partial update (PUT with Marathon's default partialUpdate=true): the id and what changes. */
export type MarathonAppUpdate = Pick<MarathonAppDefinition, 'id'> & Partial<Omit<MarathonAppDefinition, 'id'>>;

export interface MarathonHealthResult {
  alive: boolean;
  consecutiveFailures?: number;
  lastFailureCause?: string;
}

export interface MarathonTask {
  id: string;
  appId?: string;
  host?: string;
  /** Mesos task state: TASK_STAGING, TASK_RUNNING, ... */
  state?: string;
  stagedAt?: string;
  startedAt?: string;
  version?: string;
  healthCheckResults: MarathonHealthResult[];
}

export interface MarathonTaskFailure {
  appId?: string;
  host?: string;
  message: string;
  state?: string;
  taskId?: string;
  timestamp?: string;
  version?: string;
}

export interface MarathonApp {
  id: string;
  instances?: number;
  user?: string;
  cmd?: string;
  labels: Record<string, string>;
  /** How many health checks the app defines. */
  healthChecks: number;
  tasksStaged?: number;
  tasksRunning?: number;
  tasksHealthy?: number;
  tasksUnhealthy?: number;
  /** Deployments under way that touch the app (ids). */
  deployments: string[];
  /** With embed app(s).tasks. */
  tasks?: MarathonTask[];
  lastTaskFailure?: MarathonTaskFailure;
  version?: string;
}

export interface MarathonDeployment {
  id: string;
  version?: string;
  affectedApps: string[];
  currentStep?: number;
  totalSteps?: number;
  /** The actions of the current step ("StartApplication /x", ...). */
  currentActions: { action: string; app?: string }[];
}

export interface MarathonDeploymentResult {
  deploymentId: string;
  version?: string;
}

export interface MarathonInfo {
  name: string;
  version: string;
  elected?: boolean;
  leader?: string;
  frameworkId?: string;
}

/** What getApp and listApps ask Marathon to embed: everything the adapter reads. */
export const APP_EMBEDS = ['tasks', 'deployments', 'lastTaskFailure', 'counts'] as const;

export interface MarathonClientOptions {
  /** Between two looks at the deployments while waiting for one (1 s). */
  deploymentPollMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export class MarathonClient {
  private readonly deploymentPollMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(readonly http: MesosHttpClient, options: MarathonClientOptions = {}) {
    this.deploymentPollMs = options.deploymentPollMs ?? 1_000;
    this.sleep = options.sleep ?? ((ms) => delay(ms));
  }

  /** GET /v2/info. */
  async info(): Promise<MarathonInfo> {
    const request: JsonRequest = { method: 'GET', path: '/v2/info' };
    const response = await this.http.send(request);
    const context = this.context(request);
    const o = objectOf(response.body, context, 'info');
    return {
      name: requiredString(o, 'name', context, 'info'),
      version: requiredString(o, 'version', context, 'info'),
      elected: optionalBoolean(o, 'elected'),
      leader: optionalString(o, 'leader'),
      frameworkId: optionalString(o, 'frameworkId'),
    };
  }

  /**
   * POST /v2/apps: the app, with the deployment that starts it. Marathon answers 409 for an id it
   * has; resendable says a second POST after a lost answer is harmless to the caller (it adopts the
   * app it finds on 409).
   */
  async createApp(app: MarathonAppDefinition, options: { resendable?: boolean } = {}): Promise<MarathonApp> {
    const request: JsonRequest = { method: 'POST', path: '/v2/apps', json: app, resendable: options.resendable };
    const response = await this.http.send(request);
    return readApp(response.body, this.context(request), 'app');
  }

  /** GET /v2/apps/{id} with its tasks, deployments and last task failure; undefined when there is no such app. */
  async getApp(id: string): Promise<MarathonApp | undefined> {
    const request: JsonRequest = {
      method: 'GET', path: `/v2/apps${appPath(id)}`, query: { embed: APP_EMBEDS.map((e) => `app.${e}`) }, accept: [404],
    };
    const response = await this.http.send(request);
    if (response.status === 404) return undefined;
    const context = this.context(request);
    return readApp(objectOf(response.body, context, 'answer').app, context, 'app');
  }

  /** GET /v2/apps/{id}/tasks: the app's live tasks; undefined when there is no such app. */
  async getAppTasks(id: string): Promise<MarathonTask[] | undefined> {
    const request: JsonRequest = { method: 'GET', path: `/v2/apps${appPath(id)}/tasks`, accept: [404] };
    const response = await this.http.send(request);
    if (response.status === 404) return undefined;
    return readTaskList(response.body, this.context(request));
  }

  /**
   * GET /v2/apps: the apps whose id contains idContains (Marathon's own filter), with tasks,
   * deployments and last task failures: one call for many apps.
   */
  async listApps(filter: { idContains?: string; label?: string } = {}): Promise<MarathonApp[]> {
    const request: JsonRequest = {
      method: 'GET', path: '/v2/apps',
      query: { id: filter.idContains, label: filter.label, embed: APP_EMBEDS.map((e) => `apps.${e}`) },
    };
    const response = await this.http.send(request);
    const context = this.context(request);
    const apps = arrayOf(objectOf(response.body, context, 'answer').apps, context, 'apps');
    return apps.map((app, i) => readApp(app, context, `apps[${i}]`));
  }

  /** PUT /v2/apps/{id} with the fields that change (Marathon's partialUpdate, its default). */
  async updateApp(update: MarathonAppUpdate, options: { force?: boolean } = {}): Promise<MarathonDeploymentResult> {
    const request: JsonRequest = {
      method: 'PUT', path: `/v2/apps${appPath(update.id)}`, json: update, query: { force: options.force ? 'true' : undefined },
    };
    const response = await this.http.send(request);
    return readDeploymentResult(response.body, this.context(request));
  }

  /** Scales the app to this many instances (force: even while a deployment of it is under way). */
  scaleApp(id: string, instances: number, options: { force?: boolean } = {}): Promise<MarathonDeploymentResult> {
    return this.updateApp({ id, instances }, options);
  }

  /**
   * DELETE /v2/apps/{id} (force, Marathon's default for deletes: a deployment still starting the
   * app is cancelled rather than waited for); undefined when there was no such app.
   */
  async deleteApp(id: string): Promise<MarathonDeploymentResult | undefined> {
    const request: JsonRequest = { method: 'DELETE', path: `/v2/apps${appPath(id)}`, query: { force: 'true' }, accept: [404] };
    const response = await this.http.send(request);
    if (response.status === 404) return undefined;
    return readDeploymentResult(response.body, this.context(request));
  }

  /** GET /v2/deployments: the deployments under way. */
  async listDeployments(): Promise<MarathonDeployment[]> {
    const request: JsonRequest = { method: 'GET', path: '/v2/deployments' };
    const response = await this.http.send(request);
    const context = this.context(request);
    return arrayOf(response.body, context, 'deployments').map((item, i) => readDeployment(item, context, `deployments[${i}]`));
  }

  /**
   * Follows a deployment to its end: true once Marathon lists it no more (done, or replaced by a
   * later one), false when it is still under way after timeoutMs.
   */
  async waitForDeployment(deploymentId: string, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const deployments = await this.listDeployments();
      if (!deployments.some((d) => d.id === deploymentId)) return true;
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await this.sleep(Math.min(this.deploymentPollMs, left));
    }
  }

  private context(request: JsonRequest): WireContext {
    return { service: 'Marathon', method: request.method, path: request.path };
  }
}

/** "/airavata/x" as a URL path, each segment encoded. */
export function appPath(id: string): string {
  const segments = id.split('/').filter((s) => s !== '');
  if (segments.length === 0) throw new Error(`not a Marathon app id: ${JSON.stringify(id)}`);
  return `/${segments.map(segment).join('/')}`;
}

export function readApp(value: unknown, context: WireContext, what: string): MarathonApp {
  const o = objectOf(value, context, what);
  const app: MarathonApp = {
    id: requiredString(o, 'id', context, what),
    labels: stringMap(o.labels),
    healthChecks: Array.isArray(o.healthChecks) ? o.healthChecks.length : 0,
    deployments: objects(o.deployments).map((d) => optionalString(d, 'id')).filter((id): id is string => id !== undefined),
  };
  const instances = optionalNumber(o, 'instances');
  if (instances !== undefined) app.instances = instances;
  const user = optionalString(o, 'user');
  if (user !== undefined) app.user = user;
  const cmd = optionalString(o, 'cmd');
  if (cmd !== undefined) app.cmd = cmd;
  const version = optionalString(o, 'version');
  if (version !== undefined) app.version = version;
  for (const key of ['tasksStaged', 'tasksRunning', 'tasksHealthy', 'tasksUnhealthy'] as const) {
    const count = optionalNumber(o, key);
    if (count !== undefined) app[key] = count;
  }
  if (o.tasks !== undefined && o.tasks !== null) {
    app.tasks = arrayOf(o.tasks, context, `${what}.tasks`).filter(isObject).map(readTask)
      .filter((task): task is MarathonTask => task !== undefined);
  }
  if (isObject(o.lastTaskFailure)) {
    const failure = readTaskFailure(o.lastTaskFailure);
    if (failure) app.lastTaskFailure = failure;
  }
  return app;
}

/** The tasks of GET /v2/apps/{id}/tasks ({"tasks": [...]}). */
export function readTaskList(value: unknown, context: WireContext): MarathonTask[] {
  const tasks = arrayOf(objectOf(value, context, 'answer').tasks, context, 'tasks');
  return tasks.filter(isObject).map(readTask).filter((task): task is MarathonTask => task !== undefined);
}

function readTask(o: JsonObject): MarathonTask | undefined {
  const id = optionalString(o, 'id');
  if (id === undefined) return undefined;
  return {
    id,
    appId: optionalString(o, 'appId'),
    host: optionalString(o, 'host'),
    state: optionalString(o, 'state'),
    stagedAt: optionalString(o, 'stagedAt'),
    startedAt: optionalString(o, 'startedAt'),
    version: optionalString(o, 'version'),
    healthCheckResults: objects(o.healthCheckResults).map((h) => ({
      alive: h.alive === true,
      consecutiveFailures: optionalNumber(h, 'consecutiveFailures'),
      lastFailureCause: optionalString(h, 'lastFailureCause'),
    })),
  };
}

function readTaskFailure(o: JsonObject): MarathonTaskFailure | undefined {
  const message = optionalString(o, 'message');
  if (message === undefined) return undefined;
  return {
    message,
    appId: optionalString(o, 'appId'),
    host: optionalString(o, 'host'),
    state: optionalString(o, 'state'),
    taskId: optionalString(o, 'taskId'),
    timestamp: optionalString(o, 'timestamp'),
    version: optionalString(o, 'version'),
  };
}

function readDeployment(value: unknown, context: WireContext, what: string): MarathonDeployment {
  const o = objectOf(value, context, what);
  return {
    id: requiredString(o, 'id', context, what),
    version: optionalString(o, 'version'),
    affectedApps: Array.isArray(o.affectedApps) ? o.affectedApps.filter((a): a is string => typeof a === 'string') : [],
    currentStep: optionalNumber(o, 'currentStep'),
    totalSteps: optionalNumber(o, 'totalSteps'),
    currentActions: objects(o.currentActions).flatMap((a) => {
      const action = optionalString(a, 'action');
      return action === undefined ? [] : [{ action, app: optionalString(a, 'app') }];
    }),
  };
}

function readDeploymentResult(value: unknown, context: WireContext): MarathonDeploymentResult {
  const o = objectOf(value, context, 'deployment result');
  return { deploymentId: requiredString(o, 'deploymentId', context, 'deployment result'), version: optionalString(o, 'version') };
}

/** Health of an app's tasks, from the counts Marathon keeps and each task's health check results. */
export interface AppHealth {
  running: number;
  staged: number;
  healthy: number;
  unhealthy: number;
  /** The app defines health checks: running alone does not mean well. */
  checked: boolean;
  /** Why unhealthy tasks are (each task's lastFailureCause), for the job's history. */
  causes: string[];
}

const RUNNING = 'TASK_RUNNING';
const STAGING = new Set(['TASK_STAGING', 'TASK_STARTING']);

export function appHealth(app: MarathonApp): AppHealth {
  const tasks = app.tasks ?? [];
  const byState = (match: (state: string | undefined) => boolean) => tasks.filter((t) => match(t.state)).length;
  const running = app.tasksRunning ?? byState((s) => s === RUNNING);
  const staged = app.tasksStaged ?? byState((s) => s !== undefined && STAGING.has(s));
  const checked = app.healthChecks > 0 || tasks.some((t) => t.healthCheckResults.length > 0);
  // A task is healthy when every check of it is alive, unhealthy when one is not.
  const unhealthyTasks = tasks.filter((t) => t.healthCheckResults.some((h) => !h.alive));
  const healthyTasks = tasks.filter((t) => t.healthCheckResults.length > 0 && t.healthCheckResults.every((h) => h.alive));
  const causes = [...new Set(unhealthyTasks.flatMap((t) => t.healthCheckResults.filter((h) => !h.alive && h.lastFailureCause).map((h) => h.lastFailureCause as string)))];
  return {
    running,
    staged,
    healthy: app.tasksHealthy ?? healthyTasks.length,
    unhealthy: app.tasksUnhealthy ?? unhealthyTasks.length,
    checked,
    causes,
  };
}
