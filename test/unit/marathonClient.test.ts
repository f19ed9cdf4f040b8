// The Marathon client against the replay double (test/support/mesosApiDouble.ts): each call parses
// its official example, every body sent passes AppDefinition.schema.json, and the HTTP layer under
// it follows leader redirects, gives up after a bounded number of tries, times out, moves to the
// next master, and never lets credentials into an error or a log line.
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../../src/log';
import { appHealth, MarathonClient, type MarathonAppDefinition } from '../../src/schedulers/marathon/client';
import { MesosApiError } from '../../src/schedulers/mesos/errors';
import { MesosHttpClient, type MesosHttpOptions } from '../../src/schedulers/mesos/httpJson';
import { fixtureJson, MesosApiDouble, type DoubleOptions } from '../support/mesosApiDouble';

let double: MesosApiDouble;
let sleeps: number[];
const others: MesosApiDouble[] = [];

beforeEach(async () => {
  double = await MesosApiDouble.start();
  sleeps = [];
});

afterEach(async () => {
  // Whatever a test did, nothing the client sent may have failed the schema.
  expect(double.schemaErrors).toEqual([]);
  for (const other of others) expect(other.schemaErrors).toEqual([]);
  await double.close();
  await Promise.all(others.splice(0).map((o) => o.close()));
});

async function another(options: DoubleOptions = {}): Promise<MesosApiDouble> {
  const created = await MesosApiDouble.start(options);
  others.push(created);
  return created;
}

function http(options: Partial<MesosHttpOptions> = {}): MesosHttpClient {
  return new MesosHttpClient({
    service: 'Marathon',
    endpoints: [double.url],
    timeoutMs: 2_000,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...options,
  });
}

function marathon(options: Partial<MesosHttpOptions> = {}): MarathonClient {
  return new MarathonClient(http(options), { deploymentPollMs: 5, sleep: async () => undefined });
}

async function failure(promise: Promise<unknown>): Promise<MesosApiError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(MesosApiError);
  return error as MesosApiError;
}

/** A port nothing listens on: connections to it are refused. */
async function closedPort(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

const SLEEP: MarathonAppDefinition = { id: '/test/sleep60', cmd: 'sleep 60', cpus: 0.3, instances: 2, mem: 9 };

describe('each call parses its example', () => {
  test('info reads info.json', async () => {
    const info = await marathon().info();
    expect(info).toEqual({
      name: 'marathon', version: '1.5.0-SNAPSHOT', elected: true, leader: 'localhost:8080', frameworkId: '96d7da70-b731-4cfb-96a7-0ee877af615d-0000',
    });
  });

  test('createApp sends each apps_create.json app as it is, valid per the schema, and reads the deployment', async () => {
    const client = marathon();
    for (const app of fixtureJson<MarathonAppDefinition[]>('marathon', 'apps_create.json')) {
      const created = await client.createApp(app);
      expect(created.id).toBe(app.id);
      expect(created.deployments).toHaveLength(1);
      expect(double.requestsTo('/v2/apps', 'POST').at(-1)?.json).toEqual(app);
    }
    expect(double.validatedBodies).toBe(2);
  });

  test('getApp reads app.json with the tasks of app_tasks.json, its deployment, and asks for the embeds', async () => {
    const app = await marathon().getApp('/foo');
    const example = fixtureJson<{ instances: number; user: string; labels: Record<string, string> }>('marathon', 'app.json');
    expect(app).toMatchObject({ id: '/foo', instances: example.instances, user: example.user, labels: example.labels, healthChecks: 1 });
    expect(app?.tasks?.map((t) => [t.id, t.state, t.host])).toEqual([
      ['minecraft_survival-world.instance-564bd685-4c30-11e5-98c1-be5b2935a987', 'TASK_STAGING', 'srv7.hw.ca1.mesosphere.com'],
    ]);
    expect(app?.deployments).toEqual(['97c136bf-5a28-4821-9d94-480d9fbb01c8']);
    expect(app?.tasksStaged).toBe(1);
    const [request] = double.requestsTo('/v2/apps/foo', 'GET');
    expect(request.query.getAll('embed')).toEqual(['app.tasks', 'app.deployments', 'app.lastTaskFailure', 'app.counts']);
  });

  test('getApp of an app Marathon does not have is undefined', async () => {
    expect(await marathon().getApp('/nothing/here')).toBeUndefined();
  });

  test('getAppTasks reads app_tasks.json as served', async () => {
    double.script({ status: 200, body: fixtureJson('marathon', 'app_tasks.json') }, { path: '/v2/apps/minecraft/survival-world/tasks' });
    const tasks = await marathon().getAppTasks('/minecraft/survival-world');
    expect(tasks).toEqual([{
      id: 'minecraft_survival-world.instance-564bd685-4c30-11e5-98c1-be5b2935a987', appId: '/minecraft/survival-world',
      host: 'srv7.hw.ca1.mesosphere.com', state: 'TASK_STAGING', stagedAt: '2015-08-26T20:23:39.463Z',
      startedAt: '2015-08-26T20:23:44.678Z', version: '2015-04-17T04:00:14.171Z', healthCheckResults: [],
    }]);
  });

  test('listApps filters by id and embeds tasks and last failures', async () => {
    await marathon().createApp(SLEEP);
    const apps = await marathon().listApps({ idContains: '/test/' });
    expect(apps.map((a) => a.id)).toEqual(['/test/sleep60']);
    const [request] = double.requestsTo('/v2/apps', 'GET');
    expect(request.query.get('id')).toBe('/test/');
    expect(request.query.getAll('embed')).toEqual(['apps.tasks', 'apps.deployments', 'apps.lastTaskFailure', 'apps.counts']);
    expect(apps[0].tasks).toEqual([]);
  });

  test('scaleApp sends exactly app_patch.json and reads deployments_result.json', async () => {
    double.script({ status: 200, body: fixtureJson('marathon', 'deployments_result.json') }, { method: 'PUT' });
    const result = await marathon().scaleApp('/foo', 2);
    expect(result).toEqual({ deploymentId: '5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43', version: '2015-09-29T15:59:51.164Z' });
    const [request] = double.requestsTo('/v2/apps/foo', 'PUT');
    expect(request.json).toEqual(fixtureJson('marathon', 'app_patch.json'));
    expect(double.validatedBodies).toBe(1);
  });

  test('deleteApp reads the deployment; a second delete finds nothing', async () => {
    const client = marathon();
    const result = await client.deleteApp('/foo');
    expect(result?.deploymentId).toMatch(/^[0-9a-f-]{36}$/);
    expect(double.requestsTo('/v2/apps/foo', 'DELETE')[0].query.get('force')).toBe('true');
    expect(await client.getApp('/foo')).toBeUndefined();
    expect(await client.deleteApp('/foo')).toBeUndefined();
  });

  test('listDeployments reads deployments.json', async () => {
    const deployments = await marathon().listDeployments();
    expect(deployments).toEqual([{
      id: '97c136bf-5a28-4821-9d94-480d9fbb01c8', version: '2015-09-30T09:09:17.614Z', affectedApps: ['/foo'],
      currentStep: 1, totalSteps: 1, currentActions: [{ action: 'ScaleApplication', app: '/foo' }],
    }]);
  });

  test('waitForDeployment follows a deployment until Marathon lists it no more', async () => {
    const client = marathon();
    const created = await client.createApp(SLEEP);
    expect(await client.waitForDeployment(created.deployments[0], 5_000)).toBe(true);
    // Listed once under way, then gone.
    expect(double.requestsTo('/v2/deployments', 'GET')).toHaveLength(2);
    expect((await client.getApp('/test/sleep60'))?.tasksRunning).toBe(1);
  });

  test('waitForDeployment says false for a deployment still under way at the deadline', async () => {
    const slow = await another({ deploymentPolls: 1_000_000 });
    const client = new MarathonClient(new MesosHttpClient({ service: 'Marathon', endpoints: [slow.url] }), { deploymentPollMs: 5 });
    expect(await client.waitForDeployment('97c136bf-5a28-4821-9d94-480d9fbb01c8', 50)).toBe(false);
  });

  test('app health reads tasks\' health check results and the counts', async () => {
    const client = marathon();
    const created = await client.createApp({ ...SLEEP, instances: 1 });
    await client.waitForDeployment(created.deployments[0], 5_000);
    double.apps.get('/test/sleep60')!.definition.healthChecks = [{ protocol: 'COMMAND', command: { value: 'true' } }];
    double.setHealth('/test/sleep60', false, 'Command exited with status 1');
    const unhealthy = appHealth((await client.getApp('/test/sleep60'))!);
    expect(unhealthy).toEqual({ running: 1, staged: 0, healthy: 0, unhealthy: 1, checked: true, causes: ['Command exited with status 1'] });
    double.setHealth('/test/sleep60', true);
    expect(appHealth((await client.getApp('/test/sleep60'))!)).toMatchObject({ healthy: 1, unhealthy: 0, causes: [] });
  });

  test('an error answer becomes a MesosApiError with the API\'s message', async () => {
    const error = await failure(marathon().createApp({ ...SLEEP, id: '/foo' }));
    expect(error).toMatchObject({ service: 'Marathon', code: 'HTTP', status: 409, method: 'POST', path: '/v2/apps', apiMessage: 'An app with id [/foo] already exists.' });
    expect(error.message).toBe(`Marathon POST /v2/apps at ${double.url}: 409 An app with id [/foo] already exists.`);
  });

  test('the API\'s field errors ("details") are part of the error', async () => {
    double.script({ status: 422, body: { message: 'Object is not valid', details: [{ path: '/cmd', errors: ['error.expected.jsstring'] }] } });
    const error = await failure(marathon().createApp(SLEEP));
    expect(error.details).toBe('/cmd: error.expected.jsstring');
    expect(error.message).toContain('422 Object is not valid (/cmd: error.expected.jsstring)');
  });
});

describe('leaders and masters', () => {
  test('a redirect to the leader is followed with the same method and body, and the leader is asked first from then on', async () => {
    const leader = await another({ seed: false });
    double.redirectEverythingTo(leader.url);
    const client = marathon();
    const created = await client.createApp(SLEEP);
    expect(created.id).toBe('/test/sleep60');
    expect(double.requestsTo('/v2/apps', 'POST')).toHaveLength(1);
    const [resent] = leader.requestsTo('/v2/apps', 'POST');
    expect(resent.json).toEqual(SLEEP);
    expect(leader.apps.has('/test/sleep60')).toBe(true);
    expect(client.http.leader).toBe(leader.url);
    await client.info();
    expect(double.requests).toHaveLength(1);
    expect(leader.requestsTo('/v2/info')).toHaveLength(1);
  });

  test('redirects are followed a bounded number of times', async () => {
    double.redirectEverythingTo(double.url);
    const error = await failure(marathon({ maxRedirects: 2 }).info());
    expect(error.code).toBe('TooManyRedirects');
    expect(double.requests).toHaveLength(3);
  });

  test('an unreachable master is passed over for the next one, which is asked first from then on', async () => {
    const down = await closedPort();
    const client = marathon({ endpoints: [down, double.url] });
    expect((await client.info()).name).toBe('marathon');
    expect(client.http.leader).toBe(double.url);
    expect(sleeps).toEqual([]);
  });

  test('a POST goes to the next master when the first refused the connection: it never arrived', async () => {
    const down = await closedPort();
    const created = await marathon({ endpoints: [down, double.url] }).createApp(SLEEP);
    expect(created.id).toBe(SLEEP.id);
  });

  test('no master reachable: a ConnectionError after every round', async () => {
    const down = await closedPort();
    const error = await failure(marathon({ endpoints: [down], maxRetries: 1 }).info());
    expect(error).toMatchObject({ code: 'ConnectionError', neverSent: true, attempts: 2 });
    expect(error.message).toContain('connection failed (ECONNREFUSED)');
  });
});

describe('retries', () => {
  test('a 503 once is retried after a backoff', async () => {
    double.script({ status: 503, body: { message: 'Could not determine the current leader' } }, { path: '/v2/info' });
    expect((await marathon().info()).version).toBe('1.5.0-SNAPSHOT');
    expect(double.requestsTo('/v2/info')).toHaveLength(2);
    expect(sleeps).toEqual([250]);
  });

  test('retries are bounded: after maxRetries more rounds a typed error says how many attempts', async () => {
    double.script({ status: 503, body: { message: 'Could not determine the current leader' } }, { times: 100 });
    const error = await failure(marathon({ maxRetries: 2 }).info());
    expect(error).toMatchObject({ code: 'HTTP', status: 503, attempts: 3, apiMessage: 'Could not determine the current leader' });
    expect(error.message).toMatch(/gave up after 3 attempts$/);
    expect(double.requests).toHaveLength(3);
    expect(sleeps).toEqual([250, 500]);
  });

  test('502 and 504 are retried too; a 500 is not', async () => {
    double.script({ status: 502 }, { times: 1 });
    double.script({ status: 504 }, { times: 1 });
    await marathon().info();
    expect(double.requests).toHaveLength(3);
    double.script({ status: 500, body: { message: 'boom' } });
    const error = await failure(marathon().info());
    expect(error.status).toBe(500);
    expect(double.requests).toHaveLength(4);
  });

  test('a POST is not sent again after a 503 unless the caller says it may be', async () => {
    double.script({ status: 503 }, { times: 1, method: 'POST' });
    const error = await failure(marathon().createApp(SLEEP));
    expect(error.status).toBe(503);
    expect(double.requestsTo('/v2/apps', 'POST')).toHaveLength(1);
    double.script({ status: 503 }, { times: 1, method: 'POST' });
    const created = await marathon().createApp(SLEEP, { resendable: true });
    expect(created.id).toBe(SLEEP.id);
    expect(double.requestsTo('/v2/apps', 'POST')).toHaveLength(3);
  });

  test('an answer that is not JSON is a BadResponse', async () => {
    double.script({ status: 200, body: '<html>proxy</html>', headers: { 'Content-Type': 'text/html' } });
    expect((await failure(marathon().info())).code).toBe('BadResponse');
  });
});

describe('deadlines', () => {
  test('a master that does not answer in time is a Timeout; a GET is tried again, a POST is not', async () => {
    double.script('hang', { path: '/v2/info' });
    expect((await marathon({ timeoutMs: 200 }).info()).name).toBe('marathon');
    expect(double.requestsTo('/v2/info')).toHaveLength(2);

    double.script('hang', { method: 'POST' });
    const error = await failure(marathon({ timeoutMs: 200 }).createApp(SLEEP));
    expect(error).toMatchObject({ code: 'Timeout', neverSent: false, attempts: 1 });
    expect(error.message).toContain('no answer within 200 ms');
  });

  test('a dropped connection is retried for a GET', async () => {
    double.script('reset', { path: '/v2/info' });
    expect((await marathon().info()).name).toBe('marathon');
  });
});

describe('credentials', () => {
  const credentials = { username: 'ms-operator', password: 'S3cr3t-p@ss"word' };
  const token = Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64');

  function logged(): { lines: string[]; log: ReturnType<typeof createLogger> } {
    const lines: string[] = [];
    return { lines, log: createLogger('debug', { write: (line: string) => void lines.push(line) }) };
  }

  test('basic credentials are sent to the masters given', async () => {
    const guarded = await another({ credentials });
    const client = new MarathonClient(new MesosHttpClient({ service: 'Marathon', endpoints: [guarded.url], credentials }));
    expect((await client.info()).name).toBe('marathon');
    expect(guarded.requests[0].headers.authorization).toBe(`Basic ${token}`);
  });

  test('a refusal, retries and an echoing error page never show the password or the token, in errors or logs', async () => {
    const { lines, log } = logged();
    const wrong = { ...credentials, password: 'wr0ng-S3cr3t' };
    const guarded = await another({ credentials });
    const wrongToken = Buffer.from(`${wrong.username}:${wrong.password}`).toString('base64');
    const client = new MarathonClient(new MesosHttpClient({
      service: 'Marathon', endpoints: [guarded.url], credentials: wrong, log, sleep: async () => undefined,
    }));
    const refused = await failure(client.info());
    expect(refused.status).toBe(401);
    // A proxy that echoes the request's headers in its error page, after two 503s.
    guarded.script({ status: 503, body: { message: `no leader; you sent Authorization: Basic ${wrongToken} (${wrong.password})` } }, { times: 2 });
    guarded.script({ status: 400, body: { message: `bad request from ${wrong.username}:${wrong.password}`, details: `token ${wrongToken}` } });
    const echoed = await failure(client.info());
    expect(echoed.apiMessage).toContain('[redacted]');
    for (const text of [refused.message, echoed.message, JSON.stringify(refused), JSON.stringify(echoed), String(echoed.stack), ...lines]) {
      expect(text).not.toContain(wrong.password);
      expect(text).not.toContain(wrongToken);
    }
    expect(lines.length).toBeGreaterThan(0);
  });

  test('a redirect to a host that is not one of the masters gets no credentials', async () => {
    const elsewhere = await another({ seed: false });
    // The masters are named "localhost"; the redirect goes to 127.0.0.1, another host name.
    const client = new MarathonClient(new MesosHttpClient({
      service: 'Marathon', endpoints: [double.url.replace('127.0.0.1', 'localhost')], credentials,
    }));
    double.redirectEverythingTo(elsewhere.url);
    await client.info();
    expect(double.requests[0].headers.authorization).toBe(`Basic ${token}`);
    expect(elsewhere.requests[0].headers.authorization).toBeUndefined();
  });

  test('an endpoint URL holding credentials is refused without quoting it', () => {
    expect(() => new MesosHttpClient({ service: 'Marathon', endpoints: [`http://u:${credentials.password}@127.0.0.1:8080`] }))
      .toThrow(/endpoint 1 carries credentials in its URL/);
    try {
      new MesosHttpClient({ service: 'Marathon', endpoints: [`http://u:${credentials.password}@127.0.0.1:8080`] });
    } catch (error) {
      expect(String(error)).not.toContain(credentials.password);
    }
  });
});
