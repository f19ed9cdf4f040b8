// Keystone v3 through the client against a replay of the official samples: the auth bodies the
// samples show, the token from X-Subject-Token, endpoints from the catalog, renewal before expiry
// and after a 401, one auth request for many callers, and no secret in any error.
import { inspect } from 'node:util';
import {
  authRequest, OpenStackError, selectEndpoint, tokensUrl, toProviderError, versionedRoot, type CatalogService, type TokenResponse,
} from '../../src/providers/openstack/client/index';
import { fixtureJson } from '../support/openstack/replayServer';
import {
  COMPUTE, json, PASSWORD, PROJECT_ID, startTestCloud, tokenNumber, TOKENS_PATH, USER_ID, type TestCloud,
} from '../support/openstack/testCloud';

const LIMITS = `${COMPUTE}/limits`;
// The sample token's issued_at; its expires_at is one hour later.
const ISSUED = Date.parse('2015-11-07T01:58:43.578929Z');
const MINUTE = 60_000;

let cloud: TestCloud | undefined;
afterEach(async () => {
  await cloud?.close();
  cloud = undefined;
});

describe('auth request bodies', () => {
  const authUrl = 'http://keystone.invalid/v3';

  test('password, user by id, project by id: exactly the sample', () => {
    const body = authRequest({ method: 'password', authUrl, userId: USER_ID, password: PASSWORD, projectId: PROJECT_ID });
    expect(body).toEqual(fixtureJson('keystone/project-id-password.json'));
  });

  test('password, user by id, project by name in a domain by id: exactly the sample', () => {
    const body = authRequest({ method: 'password', authUrl, userId: USER_ID, password: PASSWORD, projectName: 'admin', projectDomainId: 'default' });
    expect(body).toEqual(fixtureJson('keystone/project-name-password.json'));
  });

  test('password, user by name in a domain by name', () => {
    const body = authRequest({
      method: 'password', authUrl, username: 'admin', userDomainName: 'Default', password: PASSWORD, projectName: 'demo', projectDomainName: 'Default',
    });
    expect(body).toEqual({
      auth: {
        identity: { methods: ['password'], password: { user: { name: 'admin', domain: { name: 'Default' }, password: PASSWORD } } },
        scope: { project: { name: 'demo', domain: { name: 'Default' } } },
      },
    });
  });

  test('application credential by id: exactly the sample, no scope', () => {
    const body = authRequest({ method: 'application_credential', authUrl, id: '423f19a4ac1e4f48bbb4180756e6eb6c', secret: 'rEaqvJka48mpv' });
    expect(body).toEqual(fixtureJson('keystone/auth-application-credential-id-request.json'));
  });

  test('application credential by name and user id: exactly the sample', () => {
    const body = authRequest({ method: 'application_credential', authUrl, name: 'monitoring', secret: 'rEaqvJka48mpv', userId: '423f19a4ac1e4f48bbb4180756e6eb6c' });
    expect(body).toEqual(fixtureJson('keystone/auth-application-credential-name-request.json'));
  });

  test('the tokens URL from the auth_url forms users write', () => {
    expect(tokensUrl('http://h:5000/v3')).toBe('http://h:5000/v3/auth/tokens');
    expect(tokensUrl('http://h:5000/v3/')).toBe('http://h:5000/v3/auth/tokens');
    expect(tokensUrl('http://h:5000')).toBe('http://h:5000/v3/auth/tokens');
    expect(tokensUrl('http://h/identity')).toBe('http://h/identity/v3/auth/tokens');
  });
});

describe('the catalog', () => {
  const catalog = fixtureJson<TokenResponse>('keystone/auth-password-project-scoped-response.json').token.catalog as CatalogService[];

  test('picks the endpoint by service type and interface, public by default', () => {
    expect(selectEndpoint(catalog, { type: 'compute', interface: 'public' })).toBe('http://23.253.248.171:8774/v2.1/a6944d763bf64ee6a275f1263fae0352');
    expect(selectEndpoint(catalog, { type: 'identity', interface: 'admin' })).toBe('http://example.com/identity_v2_admin/v2.0');
    expect(selectEndpoint(catalog, { type: 'identity', interface: 'internal' })).toBe('http://example.com/identity/v2.0');
    expect(selectEndpoint(catalog, { type: 'orchestration', interface: 'public', region: 'RegionOne' }))
      .toBe('http://23.253.248.171:8004/v1/a6944d763bf64ee6a275f1263fae0352');
  });

  test('filters by region, and says which one is missing', () => {
    const twoRegions: CatalogService[] = [{
      type: 'network', endpoints: [
        { interface: 'public', region: 'RegionOne', region_id: 'RegionOne', url: 'http://one:9696/' },
        { interface: 'public', region: 'RegionTwo', region_id: 'RegionTwo', url: 'http://two:9696/' },
      ],
    }];
    expect(selectEndpoint(twoRegions, { type: 'network', interface: 'public', region: 'RegionTwo' })).toBe('http://two:9696/');
    expect(selectEndpoint(twoRegions, { type: 'network', interface: 'public' })).toBe('http://one:9696/');
    expect(() => selectEndpoint(twoRegions, { type: 'network', interface: 'public', region: 'Elsewhere' }))
      .toThrow(/no public "network" endpoint in region "Elsewhere"/);
    expect(() => selectEndpoint(twoRegions, { type: 'network', interface: 'internal' })).toThrow(/no internal "network" endpoint/);
  });

  test('a service the catalog lacks is a bad_request naming what it has', () => {
    let caught: unknown;
    try {
      selectEndpoint(catalog, { type: 'placement', interface: 'public' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(OpenStackError);
    expect((caught as OpenStackError).category).toBe('bad_request');
    expect((caught as OpenStackError).code).toBe('EndpointNotFound');
    expect((caught as OpenStackError).message).toMatch(/no "placement" service \(it has: identity, compute_legacy/);
  });

  test('service roots are brought to their versioned form', () => {
    expect(versionedRoot('network', 'http://h:9696/', PROJECT_ID)).toBe('http://h:9696/v2.0');
    expect(versionedRoot('network', 'http://h/networking/v2.0/', PROJECT_ID)).toBe('http://h/networking/v2.0');
    expect(versionedRoot('image', 'http://h:9292', PROJECT_ID)).toBe('http://h:9292/v2');
    expect(versionedRoot('orchestration', 'http://h:8004/v1', PROJECT_ID)).toBe(`http://h:8004/v1/${PROJECT_ID}`);
    expect(versionedRoot('orchestration', `http://h:8004/v1/${PROJECT_ID}`, PROJECT_ID)).toBe(`http://h:8004/v1/${PROJECT_ID}`);
    expect(versionedRoot('compute', `http://h:8774/v2.1/${PROJECT_ID}/`, PROJECT_ID)).toBe(`http://h:8774/v2.1/${PROJECT_ID}`);
  });
});

describe('tokens over the wire', () => {
  test('the token comes from X-Subject-Token and goes out as X-Auth-Token to the catalog\'s endpoint', async () => {
    cloud = await startTestCloud();
    cloud.server.on('GET', LIMITS, cloud.server.fixture('nova/limit-get-resp.json'));
    await cloud.client.nova.getLimits();
    const [auth] = cloud.server.seen('POST', TOKENS_PATH);
    expect(auth.json).toEqual(fixtureJson('keystone/project-id-password.json'));
    expect(auth.headers['content-type']).toBe('application/json');
    const [limits] = cloud.server.seen('GET', LIMITS);
    expect(cloud.tokenOf(limits)).toBe(tokenNumber(1));
    expect(await cloud.client.session.projectId()).toBe(PROJECT_ID);
  });

  test('an application credential token (sample response) is used like any other', async () => {
    cloud = await startTestCloud({
      tokenFixture: 'keystone/auth-application-credential-response.json',
      credentials: (url) => ({ method: 'application_credential', authUrl: `${url}/identity/v3`, id: '423f19a4ac1e4f48bbb4180756e6eb6c', secret: 'rEaqvJka48mpv' }),
    });
    const state = await cloud.client.session.auth.current();
    expect(state.token).toBe(tokenNumber(1));
    expect(state.projectId).toBe('231c62fb0fbd485b995e8b060c3f0d98');
    expect(await cloud.client.session.root('identity')).toBe(`${cloud.server.url}/identity/v3`);
    expect(cloud.server.seen('POST', TOKENS_PATH)[0].json).toEqual(fixtureJson('keystone/auth-application-credential-id-request.json'));
  });

  test('the api-ref\'s current sample lists only identity: a compute call says what the catalog lacks', async () => {
    cloud = await startTestCloud({ tokenFixture: 'keystone/project-scoped-password.json' });
    const error = await cloud.client.nova.getLimits().catch((e: unknown) => e);
    expect(error).toMatchObject({ category: 'bad_request', code: 'EndpointNotFound', message: 'identity: EndpointNotFound: the service catalog has no "compute" service (it has: identity)' });
    expect(await cloud.client.session.root('identity')).toBe(`${cloud.server.url}/identity/v3`);
    expect(await cloud.client.session.projectId()).toBe(PROJECT_ID);
  });

  test('renews the token 5 minutes before it expires, not earlier', async () => {
    let now = ISSUED;
    cloud = await startTestCloud({ client: { now: () => now } });
    cloud.server.on('GET', LIMITS, cloud.server.fixture('nova/limit-get-resp.json'));
    await cloud.client.nova.getLimits();
    now = ISSUED + 54 * MINUTE;
    await cloud.client.nova.getLimits();
    expect(cloud.issued()).toBe(1);
    now = ISSUED + 55 * MINUTE + 1000;
    await cloud.client.nova.getLimits();
    expect(cloud.issued()).toBe(2);
    const tokens = cloud.server.seen('GET', LIMITS).map((r) => cloud?.tokenOf(r));
    expect(tokens).toEqual([tokenNumber(1), tokenNumber(1), tokenNumber(2)]);
  });

  test('counts the lifetime from issued_at, so a client clock years off Keystone\'s does not renew on every call', async () => {
    cloud = await startTestCloud({ client: { now: () => Date.parse('2031-01-01T00:00:00Z') } });
    cloud.server.on('GET', LIMITS, cloud.server.fixture('nova/limit-get-resp.json'));
    await cloud.client.nova.getLimits();
    await cloud.client.nova.getLimits();
    expect(cloud.issued()).toBe(1);
  });

  test('on a 401 it authenticates again and retries the request once', async () => {
    cloud = await startTestCloud();
    const unauthorized = json(401, { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } });
    const c = cloud;
    c.server.on('GET', LIMITS, (request) => (c.tokenOf(request) === tokenNumber(1) ? unauthorized : c.server.fixture('nova/limit-get-resp.json')));
    const limits = await c.client.nova.getLimits();
    expect(limits.maxTotalCores).toBe(20);
    expect(c.issued()).toBe(2);
    expect(c.server.seen('GET', LIMITS).map((r) => c.tokenOf(r))).toEqual([tokenNumber(1), tokenNumber(2)]);
  });

  test('a second 401 is the caller\'s: an auth error, after exactly one renewal', async () => {
    cloud = await startTestCloud();
    cloud.server.on('GET', LIMITS, json(401, { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } }));
    const error = await cloud.client.nova.getLimits().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenStackError);
    expect(error).toMatchObject({ category: 'auth', status: 401, code: 'Unauthorized', service: 'compute' });
    expect(cloud.issued()).toBe(2);
    expect(cloud.server.seen('GET', LIMITS)).toHaveLength(2);
    expect(cloud.sleeps).toEqual([]);
  });

  test('concurrent callers share one auth request', async () => {
    cloud = await startTestCloud({ shapeAuthReply: (reply) => ({ ...reply, delayMs: 50 }) });
    cloud.server.on('GET', LIMITS, cloud.server.fixture('nova/limit-get-resp.json'));
    await Promise.all(Array.from({ length: 6 }, () => cloud?.client.nova.getLimits()));
    expect(cloud.issued()).toBe(1);
    expect(cloud.server.seen('GET', LIMITS)).toHaveLength(6);
  });

  test('many requests refused at once lead to one new token', async () => {
    cloud = await startTestCloud({ shapeAuthReply: (reply) => ({ ...reply, delayMs: 30 }) });
    const c = cloud;
    await c.client.session.auth.current();
    // The refusals come in one after another, the last ones after the new token is already there:
    // those must use it, not throw it away for a third.
    let refused = 0;
    c.server.on('GET', LIMITS, (request) => (c.tokenOf(request) === tokenNumber(1)
      ? { ...json(401, { error: { code: 401, title: 'Unauthorized', message: 'expired' } }), delayMs: 10 + 25 * refused++ }
      : c.server.fixture('nova/limit-get-resp.json')));
    await Promise.all(Array.from({ length: 5 }, () => c.client.nova.getLimits()));
    expect(c.issued()).toBe(2);
  });

  test('a failed auth is shared by its waiters and the next call tries again', async () => {
    let fail = true;
    cloud = await startTestCloud({
      shapeAuthReply: (reply) => (fail ? { ...json(401, { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } }), delayMs: 20 } : reply),
    });
    cloud.server.on('GET', LIMITS, cloud.server.fixture('nova/limit-get-resp.json'));
    const results = await Promise.allSettled([cloud.client.nova.getLimits(), cloud.client.nova.getLimits()]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(cloud.issued()).toBe(1);
    fail = false;
    await cloud.client.nova.getLimits();
    expect(cloud.issued()).toBe(2);
  });

  test('Keystone refusing the password: an auth error without the password in it', async () => {
    cloud = await startTestCloud({
      shapeAuthReply: () => json(401, { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } }),
    });
    const error = await cloud.client.nova.getLimits().catch((e: unknown) => e);
    expect(error).toMatchObject({ category: 'auth', service: 'identity', status: 401, code: 'Unauthorized' });
    expectNoSecret(error, [PASSWORD]);
    expect(toProviderError(error)).toMatchObject({ category: 'auth', code: 'Unauthorized' });
    expectNoSecret(toProviderError(error), [PASSWORD]);
  });

  test('a Keystone answer without X-Subject-Token is an auth error', async () => {
    cloud = await startTestCloud({ shapeAuthReply: (reply) => ({ ...reply, headers: { 'Content-Type': 'application/json' } }) });
    await expect(cloud.client.nova.getLimits()).rejects.toMatchObject({ category: 'auth', code: 'NoSubjectToken' });
  });

  test.each([
    ['application credential secret', 'app-cred-secret-value'],
    ['password', PASSWORD],
  ])('%s and token echoed by a service never reach the error', async (kind, secret) => {
    cloud = await startTestCloud({
      credentials: (url) => (kind === 'password'
        ? { method: 'password', authUrl: `${url}/identity`, userId: USER_ID, password: secret, projectId: PROJECT_ID }
        : { method: 'application_credential', authUrl: `${url}/identity`, id: 'cred', secret }),
    });
    const c = cloud;
    c.server.on('GET', LIMITS, (request) => json(500, {
      computeFault: { code: 500, message: `proxy said: token=${c.tokenOf(request) ?? ''} secret=${secret}` },
    }));
    const error = await c.client.nova.getLimits().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenStackError);
    expect((error as OpenStackError).message).toMatch(/token=<redacted> secret=<redacted>/);
    expectNoSecret(error, [secret, tokenNumber(1)]);
    expectNoSecret(toProviderError(error), [secret, tokenNumber(1)]);
  });

  test('the configured region picks the endpoint; a region the catalog lacks is named', async () => {
    cloud = await startTestCloud({ regionName: 'RegionTwo' });
    await expect(cloud.client.nova.getLimits()).rejects.toMatchObject({
      category: 'bad_request', code: 'EndpointNotFound', message: expect.stringContaining('no public "compute" endpoint in region "RegionTwo"') as unknown,
    });
  });
});

function expectNoSecret(error: unknown, secrets: readonly string[]): void {
  const views = [String(error), JSON.stringify(error), inspect(error, { depth: 5 }), error instanceof Error ? error.stack ?? '' : ''];
  for (const secret of secrets) for (const view of views) expect(view).not.toContain(secret);
}
