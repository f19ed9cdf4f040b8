// Each service's error body, served by a local server and read by the client, comes out with the
// service's own code and message and the provider category the workflow acts on. Shapes without an
// official sample are built from the service code's format (see test/fixtures/openstack/README.md).
import { ProviderError, PROVIDER_ERROR_CATEGORIES } from '../../src/providers/provider';
import {
  categorize, HttpClient, OpenStackConfigError, OpenStackError, parseErrorBody, serverFault, stackFailure, toProviderError,
  type HeatEvent, type NovaServer, type OpenStackService,
} from '../../src/providers/openstack/client/index';
import { fixtureJson, fixtureText, loopbackOnlyFetch, ReplayServer, type Reply } from '../support/openstack/replayServer';
import { json } from '../support/openstack/testCloud';

let server: ReplayServer;
beforeAll(async () => {
  server = await ReplayServer.start();
});
afterAll(async () => {
  await server.close();
});

interface Case {
  name: string;
  service: OpenStackService;
  reply: Reply;
  category: (typeof PROVIDER_ERROR_CATEGORIES)[number];
  code: string | undefined;
  message: string;
}

const CASES: Case[] = [
  {
    name: 'Nova itemNotFound (the api-guide sample)', service: 'compute',
    reply: { status: 404, body: fixtureText('nova/faults-itemNotFound.json'), headers: { 'Content-Type': 'application/json' } },
    category: 'bad_request', code: 'itemNotFound', message: 'Aggregate agg_h1 could not be found.',
  },
  {
    name: 'Nova quota exceeded on create: 403 forbidden', service: 'compute',
    reply: json(403, { forbidden: { code: 403, message: 'Quota exceeded for cores: Requested 4, but already used 18 of 20 cores' } }),
    category: 'quota', code: 'forbidden', message: 'Quota exceeded for cores: Requested 4, but already used 18 of 20 cores',
  },
  {
    name: 'Nova forbidden by policy', service: 'compute',
    reply: json(403, { forbidden: { code: 403, message: 'Policy doesn\'t allow os_compute_api:servers:create:forced_host to be performed.' } }),
    category: 'auth', code: 'forbidden', message: 'Policy doesn\'t allow os_compute_api:servers:create:forced_host to be performed.',
  },
  {
    name: 'Nova overLimit 413 without a wait: a quota', service: 'compute',
    reply: json(413, { overLimit: { code: 413, message: 'Maximum number of ports exceeded' } }),
    category: 'quota', code: 'overLimit', message: 'Maximum number of ports exceeded',
  },
  {
    name: 'Nova overLimit 413 with Retry-After: throttled', service: 'compute',
    reply: json(413, { overLimit: { code: 413, message: 'This request was rate-limited.', retryAfter: '3600' } }, { 'Retry-After': '3600' }),
    category: 'throttled', code: 'overLimit', message: 'This request was rate-limited.',
  },
  {
    name: 'Nova badRequest', service: 'compute',
    reply: json(400, { badRequest: { code: 400, message: 'Invalid flavorRef provided.' } }),
    category: 'bad_request', code: 'badRequest', message: 'Invalid flavorRef provided.',
  },
  {
    name: 'Nova conflictingRequest', service: 'compute',
    reply: json(409, { conflictingRequest: { code: 409, message: 'Cannot \'delete\' instance while it is in task_state deleting' } }),
    category: 'bad_request', code: 'conflictingRequest', message: 'Cannot \'delete\' instance while it is in task_state deleting',
  },
  {
    name: 'Nova computeFault', service: 'compute',
    reply: json(500, { computeFault: { code: 500, message: 'Unexpected API Error.' } }),
    category: 'transient', code: 'computeFault', message: 'Unexpected API Error.',
  },
  {
    name: 'Neutron OverQuota (409)', service: 'network',
    reply: json(409, { NeutronError: { type: 'OverQuota', message: 'Quota exceeded for resources: [\'floatingip\'].', detail: '' } }),
    category: 'quota', code: 'OverQuota', message: 'Quota exceeded for resources: [\'floatingip\'].',
  },
  {
    name: 'Neutron NetworkNotFound (404)', service: 'network',
    reply: json(404, { NeutronError: { type: 'NetworkNotFound', message: 'Network 1234 could not be found.', detail: '' } }),
    category: 'bad_request', code: 'NetworkNotFound', message: 'Network 1234 could not be found.',
  },
  {
    name: 'Neutron out of addresses (409): capacity', service: 'network',
    reply: json(409, { NeutronError: { type: 'IpAddressGenerationFailure', message: 'No more IP addresses available on network 1234.', detail: '' } }),
    category: 'capacity', code: 'IpAddressGenerationFailure', message: 'No more IP addresses available on network 1234.',
  },
  {
    name: 'Neutron policy (403)', service: 'network',
    reply: json(403, { NeutronError: { type: 'PolicyNotAuthorized', message: '(rule:create_network:shared) is disallowed by policy', detail: '' } }),
    category: 'auth', code: 'PolicyNotAuthorized', message: '(rule:create_network:shared) is disallowed by policy',
  },
  {
    name: 'Keystone 401', service: 'identity',
    reply: json(401, { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } }),
    category: 'auth', code: 'Unauthorized', message: 'The request you have made requires authentication.',
  },
  {
    name: 'Keystone 404', service: 'identity',
    reply: json(404, { error: { code: 404, title: 'Not Found', message: 'Could not find project: x.' } }),
    category: 'bad_request', code: 'Not Found', message: 'Could not find project: x.',
  },
  {
    name: 'Heat stack not found', service: 'orchestration',
    reply: json(404, { explanation: 'The resource could not be found.', code: 404, error: { message: 'The Stack (nope) could not be found.', traceback: null, type: 'EntityNotFound' }, title: 'Not Found' }),
    category: 'bad_request', code: 'EntityNotFound', message: 'The Stack (nope) could not be found.',
  },
  {
    name: 'Heat validation failure', service: 'orchestration',
    reply: json(400, { explanation: 'The server could not comply with the request since it is either malformed or otherwise incorrect.', code: 400, error: { message: 'Property error: resources.server.properties.flavor: Error validating value \'m1.huge\'', traceback: null, type: 'StackValidationFailed' }, title: 'Bad Request' }),
    category: 'bad_request', code: 'StackValidationFailed', message: 'Property error: resources.server.properties.flavor: Error validating value \'m1.huge\'',
  },
  {
    name: 'Heat error without a safe message: the explanation', service: 'orchestration',
    reply: json(500, { explanation: 'The server has either erred or is incapable of performing the requested operation.', code: 500, error: { message: '', traceback: 'Traceback (most recent call last): ...', type: 'HTTPInternalServerError' }, title: 'Internal Server Error' }),
    category: 'transient', code: 'HTTPInternalServerError', message: 'The server has either erred or is incapable of performing the requested operation.',
  },
  {
    name: 'Glance webob text page', service: 'image',
    reply: { status: 404, body: '404 Not Found\n\nNo image found with ID 1234\n\n   ', headers: { 'Content-Type': 'text/plain; charset=UTF-8' } },
    category: 'bad_request', code: undefined, message: '404 Not Found No image found with ID 1234',
  },
  {
    name: 'a 429 with no body', service: 'compute',
    reply: { status: 429, headers: { 'Retry-After': '3600' } },
    category: 'throttled', code: undefined, message: 'HTTP 429',
  },
  {
    name: 'a proxy\'s HTML 504', service: 'network',
    reply: { status: 504, body: '<html><body><h1>504 Gateway Time-out</h1>\nThe server didn\'t respond in time.\n</body></html>', headers: { 'Content-Type': 'text/html' } },
    category: 'transient', code: undefined, message: '504 Gateway Time-out The server didn\'t respond in time.',
  },
];

describe('error bodies over HTTP', () => {
  test.each(CASES)('$name -> $category', async ({ service, reply, category, code, message }) => {
    const path = `/case/${CASES.findIndex((c) => c.reply === reply)}`;
    server.on('GET', path, reply);
    // No retries: the throttled and 5xx cases would otherwise be tried again.
    const http = new HttpClient({ fetch: loopbackOnlyFetch, maxRetries: 0 });
    const error = await http.send({ service, method: 'GET', url: `${server.url}${path}` }).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(OpenStackError);
    expect(error).toMatchObject({ category, code, serviceMessage: message, service, status: reply.status });
    expect((error as OpenStackError).message).toBe(`${service} GET ${path}: ${[reply.status, code].filter((p) => p !== undefined).join(' ')}: ${message}`);
    const provider = toProviderError(error);
    expect(provider).toBeInstanceOf(ProviderError);
    expect(provider).toMatchObject({ category, code, message: (error as OpenStackError).message });
  });

  test('every provider category is reachable', () => {
    expect(new Set(CASES.map((c) => c.category))).toEqual(new Set(PROVIDER_ERROR_CATEGORIES));
  });
});

describe('reading bodies', () => {
  test('Neutron detail is kept beside the message', () => {
    expect(parseErrorBody(JSON.stringify({ NeutronError: { type: 'InvalidInput', message: 'Invalid input for operation', detail: 'cidr is not valid' } })))
      .toEqual({ code: 'InvalidInput', message: 'Invalid input for operation', detail: 'cidr is not valid' });
  });

  test('Nova retryAfter is read as seconds', () => {
    expect(parseErrorBody('{"overLimit": {"code": 413, "message": "x", "retryAfter": "30"}}')).toMatchObject({ code: 'overLimit', retryAfterSeconds: 30 });
  });

  test('categorize without a status (nothing answered) is transient', () => {
    expect(categorize({ message: 'connection reset' })).toBe('transient');
  });
});

describe('server faults', () => {
  const base = fixtureJson<{ server: NovaServer }>('nova/v2.100-server-get-resp.json').server;

  test('"No valid host was found" in an ERROR server\'s fault is capacity', () => {
    // The fault shape of Nova's api-ref (no sample carries one).
    const failed: NovaServer = { ...base, status: 'ERROR', fault: { code: 500, created: '2013-09-03T04:01:33Z', message: 'No valid host was found. There are not enough hosts available.' } };
    const error = serverFault(failed);
    expect(error).toMatchObject({ category: 'capacity', code: 'NoValidHost', status: 500, service: 'compute' });
    expect(error?.message).toContain('server 0e44cc9c-e052-415d-afbf-469b0d384170 (new-server-test): No valid host was found.');
    expect(toProviderError(error)).toMatchObject({ category: 'capacity', code: 'NoValidHost' });
  });

  test('a quota fault is quota, another build failure transient', () => {
    expect(serverFault({ ...base, status: 'ERROR', fault: { code: 403, message: 'Quota exceeded for ram: Requested 2048, but already used 51200 of 51200 ram' } }))
      .toMatchObject({ category: 'quota' });
    expect(serverFault({ ...base, status: 'ERROR', fault: { code: 500, message: 'Build of instance x aborted: Failed to allocate the network(s), not rescheduling.' } }))
      .toMatchObject({ category: 'transient', code: 'ServerFault' });
  });

  test('an ACTIVE server has no fault', () => {
    expect(serverFault(base)).toBeUndefined();
  });
});

describe('stack failures', () => {
  const events = fixtureJson<{ events: HeatEvent[] }>('heat/events-list-response.json').events;

  test('the sample\'s CREATE_FAILED event (NotFound: Subnet ...) is bad_request', () => {
    const failed = events.find((e) => e.resource_status === 'CREATE_FAILED');
    const error = stackFailure(`resource ${failed?.resource_name ?? ''}`, failed?.resource_status_reason ?? null);
    expect(error).toMatchObject({ category: 'bad_request', code: 'NotFound', service: 'orchestration' });
    expect(error.message).toContain('NotFound: Subnet f8a699d0-3537-429e-87a5-6b5a8d0c2bf0 could not be found');
  });

  test('no valid host behind a ResourceInError is capacity; quota is quota; an engine fault transient', () => {
    expect(stackFailure('stack', 'Resource CREATE failed: ResourceInError: resources.node: Went to status ERROR due to "Message: No valid host was found. , Code: 500"'))
      .toMatchObject({ category: 'capacity' });
    expect(stackFailure('stack', 'Forbidden: resources.node: Quota exceeded for instances: Requested 1, but already used 10 of 10 instances'))
      .toMatchObject({ category: 'quota' });
    expect(stackFailure('stack', 'Timed out')).toMatchObject({ category: 'transient' });
  });
});

describe('toProviderError', () => {
  test('a ProviderError passes through; a config error is auth; anything else transient', () => {
    const provider = new ProviderError('quota', 'x');
    expect(toProviderError(provider)).toBe(provider);
    expect(toProviderError(new OpenStackConfigError('auth.password', 'cloud x: auth.password is missing'))).toMatchObject({ category: 'auth', code: 'ConfigError' });
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    expect(toProviderError(reset)).toMatchObject({ category: 'transient', code: 'ECONNRESET', message: 'socket hang up' });
    expect(toProviderError('weird')).toMatchObject({ category: 'transient', message: 'weird' });
  });

  test('an OpenStackError serializes to its own fields only', () => {
    const error = new OpenStackError({ service: 'compute', category: 'quota', status: 403, code: 'forbidden', message: 'Quota exceeded', method: 'POST', path: '/servers' });
    expect(JSON.parse(JSON.stringify(error))).toEqual({
      name: 'OpenStackError', service: 'compute', category: 'quota', status: 403, code: 'forbidden',
      message: 'compute POST /servers: 403 forbidden: Quota exceeded', method: 'POST', path: '/servers',
    });
    expect(error.retryable).toBe(false);
  });
});
