// The HTTP layer against a local server: retries with the waits the service asks for (measured
// through an injected sleep, not the clock), bounded attempts, deadlines, and which requests may be
// sent again after a connection failure.
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { HttpClient, OpenStackError, retryAfterOf, type HttpClientOptions, type HttpRequest } from '../../src/providers/openstack/client/index';
import { loopbackOnlyFetch, ReplayServer, type Handler, type Outcome } from '../support/openstack/replayServer';
import { json } from '../support/openstack/testCloud';

let server: ReplayServer;
let sleeps: number[];

beforeEach(async () => {
  server = await ReplayServer.start();
  sleeps = [];
});
afterEach(async () => {
  await server.close();
});

function client(options: HttpClientOptions = {}): HttpClient {
  return new HttpClient({
    fetch: loopbackOnlyFetch,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 1,
    timeoutMs: 2000,
    ...options,
  });
}

function get(path: string, extra: Partial<HttpRequest> = {}): HttpRequest {
  return { service: 'compute', method: 'GET', url: `${server.url}${path}`, ...extra };
}

async function failure(promise: Promise<unknown>): Promise<OpenStackError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(OpenStackError);
  return error as OpenStackError;
}

/** Answers the scripted outcomes in turn, the last one for good. */
function inTurn(...outcomes: Outcome[]): Handler {
  let n = 0;
  return () => outcomes[Math.min(n++, outcomes.length - 1)];
}

const OK = json(200, { ok: true });
const OVER_LIMIT = json(429, { overLimit: { code: 429, message: 'This request was rate-limited.' } }, { 'Retry-After': '7' });
const UNAVAILABLE = json(503, { serviceUnavailable: { code: 503, message: 'Service Unavailable' } });

describe('Retry-After', () => {
  test('a 429 is retried after the seconds Retry-After names', async () => {
    server.on('GET', '/x', inTurn(OVER_LIMIT, OK));
    const response = await client().send(get('/x'));
    expect(response.body).toEqual({ ok: true });
    expect(sleeps).toEqual([7000]);
    expect(server.requests).toHaveLength(2);
  });

  test('a 503 is retried at the HTTP date Retry-After names', async () => {
    const now = Date.parse('2026-03-01T10:00:00Z');
    server.on('GET', '/x', inTurn({ ...UNAVAILABLE, headers: { ...UNAVAILABLE.headers, 'Retry-After': 'Sun, 01 Mar 2026 10:00:12 GMT' } }, OK));
    await client({ now: () => now }).send(get('/x'));
    expect(sleeps).toEqual([12_000]);
  });

  test('Nova\'s retryAfter in an overLimit body counts when the header is missing', async () => {
    server.on('GET', '/x', inTurn(json(413, { overLimit: { code: 413, message: 'Rate limited', retryAfter: '3' } }), OK));
    await client().send(get('/x'));
    expect(sleeps).toEqual([3000]);
  });

  test('a wait longer than the client will sit out goes to the caller as throttled, with the wait', async () => {
    server.on('GET', '/x', json(429, { overLimit: { code: 429, message: 'slow down' } }, { 'Retry-After': '3600' }));
    const error = await failure(client().send(get('/x')));
    expect(error).toMatchObject({ category: 'throttled', status: 429, code: 'overLimit', retryAfterMs: 3_600_000 });
    expect(sleeps).toEqual([]);
    expect(server.requests).toHaveLength(1);
  });

  test('parses both forms and ignores junk', () => {
    const now = Date.parse('2026-03-01T10:00:00Z');
    expect(retryAfterOf('120', now)).toBe(120_000);
    expect(retryAfterOf('1.5', now)).toBe(1500);
    expect(retryAfterOf('Sun, 01 Mar 2026 10:01:00 GMT', now)).toBe(60_000);
    expect(retryAfterOf('Sun, 01 Mar 2026 09:00:00 GMT', now)).toBe(0);
    expect(retryAfterOf('soon', now)).toBeUndefined();
    expect(retryAfterOf(null, now)).toBeUndefined();
  });
});

describe('bounded retries', () => {
  test('a service that stays unavailable is tried maxRetries + 1 times, with growing waits, then the 503 is thrown', async () => {
    server.on('GET', '/x', UNAVAILABLE);
    const error = await failure(client({ maxRetries: 3, baseDelayMs: 100, maxDelayMs: 350 }).send(get('/x')));
    expect(error).toMatchObject({ category: 'transient', status: 503, code: 'serviceUnavailable', message: 'compute GET /x: 503 serviceUnavailable: Service Unavailable' });
    expect(server.requests).toHaveLength(4);
    // random() = 1: the full bound, doubling and capped.
    expect(sleeps).toEqual([100, 200, 350]);
  });

  test('the jitter draws each wait below its bound', async () => {
    server.on('GET', '/x', UNAVAILABLE);
    await failure(client({ maxRetries: 2, baseDelayMs: 1000, random: () => 0.25 }).send(get('/x')));
    expect(sleeps).toEqual([250, 500]);
  });

  test('a POST turned away with 503 or 429 is sent again: it was not processed', async () => {
    server.on('POST', '/servers', inTurn(UNAVAILABLE, OVER_LIMIT, json(202, { server: { id: 'x' } })));
    const response = await client().send({ service: 'compute', method: 'POST', url: `${server.url}/servers`, json: { server: {} } });
    expect(response.status).toBe(202);
    expect(server.requests).toHaveLength(3);
  });

  test('other errors are not retried', async () => {
    for (const status of [400, 401, 403, 404, 409, 500]) {
      server.on('GET', `/s${status}`, json(status, { badRequest: { code: status, message: 'no' } }));
      await failure(client().send(get(`/s${status}`)));
    }
    expect(server.requests).toHaveLength(6);
    expect(sleeps).toEqual([]);
  });

  test('a proxy\'s 502 is retried for a GET but not for a POST', async () => {
    server.on('GET', '/x', inTurn({ status: 502, body: 'Bad Gateway' }, OK));
    server.on('POST', '/x', { status: 502, body: '<html><body><h1>502 Bad Gateway</h1></body></html>', headers: { 'Content-Type': 'text/html' } });
    await client().send(get('/x'));
    const error = await failure(client().send({ service: 'compute', method: 'POST', url: `${server.url}/x`, json: {} }));
    expect(error).toMatchObject({ status: 502, category: 'transient', message: 'compute POST /x: 502: 502 Bad Gateway' });
    expect(server.seen('GET', '/x')).toHaveLength(2);
    expect(server.seen('POST', '/x')).toHaveLength(1);
  });
});

describe('connection failures and deadlines', () => {
  test('a server that never answers times out: a transient error, tried again for a GET', async () => {
    server.on('GET', '/slow', 'hang');
    const error = await failure(client({ timeoutMs: 100, maxRetries: 1 }).send(get('/slow')));
    expect(error).toMatchObject({ category: 'transient', code: 'Timeout', status: undefined, service: 'compute', path: '/slow' });
    expect(server.requests).toHaveLength(2);
  });

  test('a POST that timed out is not sent again: it may have been carried out', async () => {
    server.on('POST', '/servers', 'hang');
    const error = await failure(client({ timeoutMs: 100 }).send({ service: 'compute', method: 'POST', url: `${server.url}/servers`, json: {} }));
    expect(error).toMatchObject({ category: 'transient', code: 'Timeout' });
    expect(server.requests).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  test('a connection dropped mid-request: GET retried, POST not, POST marked resendable retried', async () => {
    server.on('GET', '/x', inTurn('reset', OK));
    await client().send(get('/x'));
    expect(server.seen('GET', '/x')).toHaveLength(2);

    server.on('POST', '/once', 'reset');
    const error = await failure(client().send({ service: 'network', method: 'POST', url: `${server.url}/once`, json: {} }));
    expect(error).toMatchObject({ category: 'transient', service: 'network' });
    expect(error.code).toMatch(/^(ECONNRESET|UND_ERR_SOCKET|EPIPE)$/);
    expect(server.seen('POST', '/once')).toHaveLength(1);

    server.on('POST', '/twice', inTurn('reset', OK));
    await client().send({ service: 'identity', method: 'POST', url: `${server.url}/twice`, json: {}, resendable: true });
    expect(server.seen('POST', '/twice')).toHaveLength(2);
  });

  test('a PUT the caller marks not resendable is not sent twice', async () => {
    server.on('PUT', '/stack', 'reset');
    await failure(client().send({ service: 'orchestration', method: 'PUT', url: `${server.url}/stack`, json: {}, resendable: false }));
    expect(server.requests).toHaveLength(1);
  });

  test('a refused connection is retried even for a POST (it never left), then thrown as transient', async () => {
    const closedPort = await freePort();
    const error = await failure(client({ maxRetries: 2 }).send({ service: 'compute', method: 'POST', url: `http://127.0.0.1:${closedPort}/servers`, json: {} }));
    expect(error).toMatchObject({ category: 'transient', code: 'ECONNREFUSED' });
    expect(sleeps).toHaveLength(2);
  });

  test('the caller\'s signal ends the call with its reason, without retries', async () => {
    server.on('GET', '/slow', 'hang');
    const controller = new AbortController();
    const reason = new Error('service stopping');
    setTimeout(() => controller.abort(reason), 50);
    await expect(client({ timeoutMs: 5000 }).send(get('/slow', { signal: controller.signal }))).rejects.toBe(reason);
    expect(sleeps).toEqual([]);
  });
});

describe('answers', () => {
  test('accepted statuses come back instead of being thrown; redirects are not followed', async () => {
    server.on('DELETE', '/gone', json(404, { itemNotFound: { code: 404, message: 'gone' } }));
    server.on('GET', '/moved', { status: 302, headers: { Location: `${server.url}/elsewhere` } });
    expect((await client().send({ ...get('/gone'), method: 'DELETE', accept: [404] })).status).toBe(404);
    const moved = await client().send(get('/moved', { accept: [302] }));
    expect(moved.headers.get('location')).toBe(`${server.url}/elsewhere`);
    expect(server.seen('GET', '/elsewhere')).toHaveLength(0);
    await expect(client().send(get('/moved'))).rejects.toMatchObject({ status: 302, category: 'bad_request' });
  });

  test('a success whose body is not JSON is a BadResponse', async () => {
    server.on('GET', '/x', { status: 200, body: '{not json', headers: { 'Content-Type': 'application/json' } });
    await expect(client().send(get('/x'))).rejects.toMatchObject({ code: 'BadResponse', category: 'transient' });
  });

  test('query values are encoded, arrays repeated, undefined left out', async () => {
    server.on('GET', '/q', OK);
    await client().send(get('/q', { query: { name: '^a b.c', port_id: ['p1', 'p2'], limit: 5, marker: undefined } }));
    const [request] = server.requests;
    expect(request.query.get('name')).toBe('^a b.c');
    expect(request.query.getAll('port_id')).toEqual(['p1', 'p2']);
    expect(request.query.get('limit')).toBe('5');
    expect(request.query.has('marker')).toBe(false);
  });

  test('the request id header is kept for the operator', async () => {
    server.on('GET', '/x', json(404, { itemNotFound: { code: 404, message: 'Instance x could not be found.' } }, { 'x-openstack-request-id': 'req-1234' }));
    await expect(client().send(get('/x'))).rejects.toMatchObject({ requestId: 'req-1234' });
  });
});

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
