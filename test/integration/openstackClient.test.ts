// Our OpenStack client against the real services of the test cloud (scripts/openstack-test-cloud):
// Keystone password and application-credential auth and a revoked token, Nova, Glance, Neutron
// and Heat, and the services' own error codes carried through. Every name made here carries this
// run's id, so runs never meet, and afterAll removes whatever a failed test left behind.
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  compareMicroversions, OpenStackClient, OpenStackError, selectEndpoint, serverFault, stackStatus, tokensUrl,
  type CloudConfig, type HeatStack, type NovaServer, type ServerStatus, type StackRef,
} from '../../src/providers/openstack/client/index';
import { generateRsaSshKeyPair } from '../../src/secrets/sshKeys';
import {
  createApplicationCredential, deleteApplicationCredential, projectIdOf, requireTestCloud, testCloudConfig,
} from '../support/openstack/realCloud';
import { until } from '../support/until';

jest.setTimeout(120_000);

/** This run's mark: in every name and in the metadata of every server, for the clean-up. */
const RUN = `it${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
const RUN_KEY = 'metascheduler_it_run';
const TEMPLATE = readFileSync(path.join(__dirname, '..', '..', 'templates', 'openstack-cluster.yaml'), 'utf8');

let demoConfig: CloudConfig;
let demo: OpenStackClient;
let demoProjectId: string;

// What afterAll removes, whatever state the tests stopped in.
const keyPairs = new Set<string>();
const stacks: StackRef[] = [];
const appCredentials = new Map<string, string>(); // id -> name, while it exists
const clusterIds: string[] = [];

beforeAll(async () => {
  await requireTestCloud();
  demoConfig = testCloudConfig('test-demo');
  demo = new OpenStackClient(demoConfig);
  demoProjectId = await projectIdOf('demo');
});

afterAll(async () => {
  if (demo === undefined) return;
  const attempts: Array<Promise<unknown>> = [];
  for (const stack of stacks) attempts.push(demo.heat.deleteStack(stack));
  const servers = [
    ...await demo.nova.listServers({ metadata: { [RUN_KEY]: RUN } }),
    ...(await Promise.all(clusterIds.map((id) => demo.nova.listServers({ metadata: { metascheduler_cluster: id } })))).flat(),
  ];
  for (const server of servers) attempts.push(demo.nova.deleteServer(server.id));
  for (const name of keyPairs) attempts.push(demo.nova.deleteKeyPair(name));
  for (const id of appCredentials.keys()) attempts.push(deleteApplicationCredential('test-demo', id));
  const failures = (await Promise.allSettled(attempts)).filter((result) => result.status === 'rejected');
  if (failures.length > 0) throw new Error(`clean-up failed ${failures.length} time(s): ${String((failures[0] as PromiseRejectedResult).reason)}`);
});

// ---------------------------------------------------------------------------------------------
// Helpers

const errorOf = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(() => { throw new Error('expected a failure'); }, (error: unknown) => error);

async function openStackErrorOf(promise: Promise<unknown>): Promise<OpenStackError> {
  const error = await errorOf(promise);
  expect(error).toBeInstanceOf(OpenStackError);
  return error as OpenStackError;
}

async function serverReaching(client: OpenStackClient, id: string, wanted: ServerStatus): Promise<NovaServer> {
  return until(`server ${id} to be ${wanted}`, 90_000, async () => {
    const server = await client.nova.getServer(id);
    if (server === undefined) throw new Error(`server ${id} is gone while waiting for ${wanted}`);
    if (server.status === wanted) return server;
    // A server that ends anywhere but the wanted state would be waited on for nothing.
    if (server.status === 'ERROR' || server.status === 'ACTIVE') {
      throw new Error(`server ${id} is ${server.status}, not ${wanted}${server.fault ? `: ${server.fault.message}` : ''}`);
    }
    return undefined;
  }, 1000);
}

async function stackReaching(ref: StackRef, wanted: string): Promise<HeatStack> {
  return until(`stack ${ref.stack_name} to be ${wanted}`, 150_000, async () => {
    const stack = await demo.heat.getStack(ref);
    if (stack === undefined) throw new Error(`stack ${ref.stack_name} is gone while waiting for ${wanted}`);
    if (stack.stack_status === wanted) return stack;
    if (stackStatus(stack.stack_status).state === 'FAILED') {
      throw new Error(`stack ${ref.stack_name} is ${stack.stack_status}: ${stack.stack_status_reason ?? ''}`);
    }
    return undefined;
  }, 1000);
}

async function newKeyPair(label: string): Promise<{ name: string; publicKey: string }> {
  const name = `ms-${RUN}-${label}`;
  const { publicKey } = await generateRsaSshKeyPair(name);
  return { name, publicKey };
}

/** The real fetch, with every answer's status written down (which call got the 401, which token request followed). */
function recordingFetch(log: Array<{ method: string; path: string; status: number }>): typeof fetch {
  return async (input, init) => {
    const response = await fetch(input, init);
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    log.push({ method: init?.method ?? 'GET', path: new URL(url).pathname, status: response.status });
    return response;
  };
}

// ---------------------------------------------------------------------------------------------
// Keystone

describe('Keystone', () => {
  it('authenticates test-demo by password: a token scoped to project demo, with the catalog of every service', async () => {
    const state = await demo.session.auth.current();
    expect(state.token).toMatch(/^\S{20,}$/);
    expect(state.projectId).toBe(demoProjectId);
    expect(await demo.session.projectId()).toBe(demoProjectId);

    const compute = selectEndpoint(state.catalog, { type: 'compute', interface: 'public', region: 'RegionOne' });
    expect(compute).toBe('http://127.0.0.1:8774/v2.1');
    expect(selectEndpoint(state.catalog, { type: 'image', interface: 'internal', region: 'RegionOne' })).toBe('http://127.0.0.1:9292');
    // Keystone fills Heat's per-project URL in with the token's project.
    expect(selectEndpoint(state.catalog, { type: 'orchestration', interface: 'admin' })).toBe(`http://127.0.0.1:8004/v1/${demoProjectId}`);
    const elsewhere = await errorOf(Promise.resolve().then(() => selectEndpoint(state.catalog, { type: 'compute', interface: 'public', region: 'NoSuchRegion' })));
    expect(elsewhere).toMatchObject({ code: 'EndpointNotFound', category: 'bad_request' });

    // The roots the calls are written against.
    expect(await demo.session.root('network')).toBe('http://127.0.0.1:9696/v2.0');
    expect(await demo.session.root('image')).toBe('http://127.0.0.1:9292/v2');
    expect(await demo.session.root('orchestration')).toBe(`http://127.0.0.1:8004/v1/${demoProjectId}`);
  });

  it('refuses a wrong password with an auth error from Keystone', async () => {
    if (demoConfig.credentials.method !== 'password') throw new Error('test-demo should use password auth');
    const wrong = new OpenStackClient({ ...demoConfig, credentials: { ...demoConfig.credentials, password: `not-${RUN}` } });
    const error = await openStackErrorOf(wrong.nova.getLimits());
    expect(error).toMatchObject({ service: 'identity', status: 401, category: 'auth' });
  });

  it('works with an application credential, and no longer once it is deleted', async () => {
    const name = `ms-${RUN}-appcred`;
    const credential = await createApplicationCredential('test-demo', name);
    appCredentials.set(credential.id, name);
    const config: CloudConfig = {
      ...demoConfig,
      credentials: { method: 'application_credential', authUrl: demoConfig.credentials.authUrl, id: credential.id, secret: credential.secret },
    };
    const client = new OpenStackClient(config);
    // The credential brings its own project: the token is scoped to demo without our asking.
    expect(await client.session.projectId()).toBe(demoProjectId);
    // Other test files may be booting servers in demo meanwhile: only whose they are is certain.
    const servers = await client.nova.listServers();
    expect(servers.filter((server) => server.tenant_id !== demoProjectId)).toEqual([]);

    await deleteApplicationCredential('test-demo', credential.id);
    appCredentials.delete(credential.id);
    const after = new OpenStackClient(config);
    const error = await openStackErrorOf(after.nova.listServers());
    // Keystone says 404 for a credential it no longer has: still the operator's to fix, not a bad request.
    expect(error).toMatchObject({ service: 'identity', status: 404, category: 'auth' });
    expect(error.message).toContain('Could not find Application Credential');
    // The secret never shows in what the error says.
    expect(JSON.stringify(error)).not.toContain(credential.secret);
  });

  it('gets a new token once when a service refuses a revoked one, and the call succeeds', async () => {
    const log: Array<{ method: string; path: string; status: number }> = [];
    const client = new OpenStackClient(demoConfig, { http: { fetch: recordingFetch(log) } });
    const first = await client.session.auth.current();
    // Revoked before any service has seen (and cached) it: Nova asks Keystone, which says no.
    const revoke = await fetch(tokensUrl(demoConfig.credentials.authUrl), {
      method: 'DELETE', headers: { 'X-Auth-Token': first.token, 'X-Subject-Token': first.token },
    });
    expect(revoke.status).toBe(204);

    const limits = await client.nova.getLimits();
    expect(typeof limits.maxTotalInstances).toBe('number');
    const second = await client.session.auth.current();
    expect(second.token).not.toBe(first.token);
    expect(log.map((entry) => `${entry.method} ${entry.path} ${entry.status}`)).toEqual([
      'POST /v3/auth/tokens 201',
      'GET /v2.1/limits 401',
      'POST /v3/auth/tokens 201',
      'GET /v2.1/limits 200',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Nova, Glance, Neutron

describe('Nova', () => {
  it('reports its microversions, and 2.37 (our default) is among them', async () => {
    const range = await demo.nova.supportedMicroversions();
    expect(range.min).toBe('2.1');
    expect(compareMicroversions(range.max, '2.37')).toBeGreaterThanOrEqual(0);
  });

  it('finds flavors by name and by id, and none for an unknown name', async () => {
    const byName = await demo.nova.findFlavor('m1.tiny');
    expect(byName).toMatchObject({ name: 'm1.tiny', vcpus: 1, ram: 512, disk: 1 });
    const byId = await demo.nova.findFlavor(byName?.id ?? '');
    expect(byId?.name).toBe('m1.tiny');
    expect(await demo.nova.findFlavor(`no-such-flavor-${RUN}`)).toBeUndefined();
  });

  it('reads the absolute limits of project demo', async () => {
    const limits = await demo.nova.getLimits();
    expect(limits.maxTotalInstances).toBeGreaterThanOrEqual(10);
    expect(limits.maxTotalCores).toBeGreaterThanOrEqual(10);
    expect(limits.totalInstancesUsed).toBeGreaterThanOrEqual(0);
    expect(typeof limits.totalRAMUsed).toBe('number');
  });

  it('boots a server with metadata and no network, finds it by metadata, updates its metadata and deletes it', async () => {
    const [flavor, image] = await Promise.all([demo.nova.findFlavor('m1.tiny'), demo.glance.findImage('tiny-raw')]);
    if (flavor === undefined || image === undefined) throw new Error('the test cloud lacks flavor m1.tiny or image tiny-raw');
    const name = `ms-${RUN}-solo`;
    const created = await demo.nova.createServer({
      name, flavorRef: flavor.id, imageRef: image.id, networks: 'none', metadata: { [RUN_KEY]: RUN, role: 'solo' },
    });
    expect(created.id).toMatch(/^[0-9a-f-]{36}$/);

    const active = await serverReaching(demo, created.id, 'ACTIVE');
    expect(active).toMatchObject({ id: created.id, name, metadata: { [RUN_KEY]: RUN, role: 'solo' } });
    expect(serverFault(active)).toBeUndefined();

    const found = await demo.nova.listServers({ metadata: { [RUN_KEY]: RUN, role: 'solo' } });
    expect(found.map((s) => s.id)).toEqual([created.id]);
    expect((await demo.nova.listServers({ namePrefix: name })).map((s) => s.id)).toEqual([created.id]);
    expect(await demo.nova.listServers({ metadata: { [RUN_KEY]: RUN, role: 'nobody' } })).toEqual([]);

    const updated = await demo.nova.updateServerMetadata(created.id, { role: 'renamed', extra: 'x' });
    expect(updated).toEqual({ [RUN_KEY]: RUN, role: 'renamed', extra: 'x' });
    expect(await demo.nova.getServerMetadata(created.id)).toEqual(updated);
    const replaced = await demo.nova.replaceServerMetadata(created.id, { [RUN_KEY]: RUN });
    expect(replaced).toEqual({ [RUN_KEY]: RUN });

    expect(await demo.nova.deleteServer(created.id)).toBe(true);
    await until(`server ${created.id} to be gone`, 60_000, async () => ((await demo.nova.getServer(created.id)) === undefined ? true : undefined), 1000);
    expect(await demo.nova.deleteServer(created.id)).toBe(false);
  });

  it('sees a server no host can take go to ERROR, and reads its fault as a capacity failure', async () => {
    const [flavor, image] = await Promise.all([demo.nova.findFlavor('m1.nohost'), demo.glance.findImage('tiny-raw')]);
    if (flavor === undefined || image === undefined) throw new Error('the test cloud lacks flavor m1.nohost or image tiny-raw');
    const created = await demo.nova.createServer({
      name: `ms-${RUN}-nohost`, flavorRef: flavor.id, imageRef: image.id, networks: 'none', metadata: { [RUN_KEY]: RUN, role: 'nohost' },
    });
    const failed = await serverReaching(demo, created.id, 'ERROR');
    const fault = serverFault(failed);
    expect(fault).toBeInstanceOf(OpenStackError);
    expect(fault?.category).toBe('capacity');
    expect(fault?.code).toBe('NoValidHost');
    expect(fault?.message).toContain('No valid host');
    expect(await demo.nova.deleteServer(created.id)).toBe(true);
  });

  it('creates, reads, lists and deletes a key pair; a second one of the same name is a 409 conflict', async () => {
    const { name, publicKey } = await newKeyPair('keys');
    keyPairs.add(name);
    const created = await demo.nova.createKeyPair({ name, publicKey });
    expect(created).toMatchObject({ name, type: 'ssh' });
    expect(created.fingerprint).toMatch(/^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);

    expect(await demo.nova.getKeyPair(name)).toMatchObject({ name, fingerprint: created.fingerprint, public_key: publicKey });
    expect((await demo.nova.listKeyPairs()).map((pair) => pair.name)).toContain(name);

    const twice = await openStackErrorOf(demo.nova.createKeyPair({ name, publicKey }));
    expect(twice).toMatchObject({ service: 'compute', status: 409, code: 'conflictingRequest', category: 'bad_request', method: 'POST' });
    expect(twice.message).toContain(name);

    expect(await demo.nova.deleteKeyPair(name)).toBe(true);
    expect(await demo.nova.deleteKeyPair(name)).toBe(false);
    expect(await demo.nova.getKeyPair(name)).toBeUndefined();
    keyPairs.delete(name);
  });

  it('answers a 404 for a server it does not know with its own itemNotFound code', async () => {
    const error = await openStackErrorOf(demo.nova.getServerMetadata(randomUUID()));
    expect(error).toMatchObject({ service: 'compute', status: 404, code: 'itemNotFound', category: 'bad_request' });
    expect(error.requestId).toMatch(/^req-/);
    expect(await demo.nova.getServer(randomUUID())).toBeUndefined();
  });
});

describe('Glance', () => {
  it('finds the image by name and by id', async () => {
    const image = await demo.glance.findImage('tiny-raw');
    expect(image).toMatchObject({ name: 'tiny-raw', status: 'active' });
    expect((await demo.glance.findImage(image?.id ?? ''))?.name).toBe('tiny-raw');
    expect(await demo.glance.findImage(`no-such-image-${RUN}`)).toBeUndefined();
    expect(await demo.glance.getImage(randomUUID())).toBeUndefined();
  });
});

describe('Neutron', () => {
  it('finds test-net by name and id', async () => {
    const network = await demo.neutron.findNetwork('test-net');
    expect(network).toMatchObject({ name: 'test-net', project_id: demoProjectId });
    expect((await demo.neutron.findNetwork(network?.id ?? ''))?.id).toBe(network?.id);
    expect(await demo.neutron.findNetwork(`no-such-net-${RUN}`)).toBeUndefined();
  });

  it('reads the project quota with use, and lists the security groups', async () => {
    const quota = await demo.neutron.getQuota();
    for (const resource of ['port', 'floatingip', 'network', 'security_group']) {
      expect(typeof quota[resource]?.limit).toBe('number');
      expect(typeof quota[resource]?.used).toBe('number');
    }
    expect(quota.network.used).toBeGreaterThanOrEqual(1);

    const groups = await demo.neutron.listSecurityGroups();
    const defaults = groups.filter((group) => group.name === 'default' && group.project_id === demoProjectId);
    expect(defaults).toHaveLength(1);
    expect(defaults[0].security_group_rules.length).toBeGreaterThan(0);
    expect((await demo.neutron.listSecurityGroups({ name: 'default' })).map((g) => g.id)).toContain(defaults[0].id);
  });

  it('answers a rule for a group it does not know with 404 SecurityGroupNotFound', async () => {
    const error = await openStackErrorOf(demo.neutron.createSecurityGroupRule({ securityGroupId: randomUUID(), direction: 'ingress', protocol: 'tcp', portRangeMin: 22, portRangeMax: 22 }));
    expect(error).toMatchObject({ service: 'network', status: 404, code: 'SecurityGroupNotFound', category: 'bad_request' });
  });
});

// ---------------------------------------------------------------------------------------------
// Heat

describe('Heat', () => {
  it('creates the cluster stack, follows its events and resources, grows it by one and deletes it', async () => {
    const { name: keyName, publicKey } = await newKeyPair('stack');
    keyPairs.add(keyName);
    await demo.nova.createKeyPair({ name: keyName, publicKey });
    const clusterId = randomUUID();
    clusterIds.push(clusterId);
    const stackName = `ms-${RUN}-stack`;

    const ref = await demo.heat.createStack(stackName, {
      template: TEMPLATE,
      parameters: {
        count: 2, flavor: 'm1.tiny', image: 'tiny-raw', key_name: keyName, network: 'none',
        name_prefix: `ms-${RUN}-node`, cluster_id: clusterId, gateway_id: 'gw-openstack-it',
      },
      timeoutMins: 10,
      tags: ['metascheduler', RUN],
    });
    stacks.push(ref);
    expect(ref.stack_name).toBe(stackName);

    const created = await stackReaching(ref, 'CREATE_COMPLETE');
    expect(created.parameters?.count).toBe('2');
    // Found by name alone too (Heat redirects to the name/id URL).
    expect((await demo.heat.getStack(stackName))?.id).toBe(ref.id);
    expect((await demo.heat.listStacks({ tags: [RUN] })).map((s) => s.id)).toEqual([ref.id]);

    const events = await demo.heat.eventsSince(ref, undefined, { nestedDepth: 1 });
    const completed = (resource: string) => events.some((e) => e.resource_name === resource && e.resource_status === 'CREATE_COMPLETE');
    expect(['0', '1', 'nodes', stackName].filter(completed)).toEqual(['0', '1', 'nodes', stackName]);
    const lastSeen = events[events.length - 1].id;

    const members = async () => (await demo.heat.listResources(ref, { nestedDepth: 1 }))
      .filter((r) => r.resource_type === 'OS::Nova::Server');
    const servers = async () => demo.nova.listServers({ metadata: { metascheduler_cluster: clusterId } });
    const before = await members();
    expect(before.map((r) => r.resource_name).sort()).toEqual(['0', '1']);
    const novaBefore = await servers();
    expect(novaBefore.map((s) => s.id).sort()).toEqual(before.map((r) => r.physical_resource_id).sort());
    expect(novaBefore.every((s) => s.status === 'ACTIVE' && s.key_name === keyName)).toBe(true);

    await demo.heat.patchStack(ref, { parameters: { count: 3 } });
    const updated = await stackReaching(ref, 'UPDATE_COMPLETE');
    expect(updated.parameters?.count).toBe('3');
    const novaAfter = await servers();
    expect(novaAfter).toHaveLength(3);
    expect(novaAfter.map((s) => s.metadata?.metascheduler_member).sort()).toEqual(['0', '1', '2']);
    expect(novaAfter.filter((s) => s.status === 'ACTIVE')).toHaveLength(3);
    expect((await members()).map((r) => r.resource_name).sort()).toEqual(['0', '1', '2']);
    // Only what happened since: the new member's creation, none of the events already seen.
    const newer = await demo.heat.eventsSince(ref, lastSeen, { nestedDepth: 1 });
    expect(newer.some((e) => e.resource_name === '2' && e.resource_status === 'CREATE_COMPLETE')).toBe(true);
    const seenIds = new Set(events.map((e) => e.id));
    expect(newer.filter((e) => seenIds.has(e.id))).toEqual([]);

    expect(await demo.heat.deleteStack(ref)).toBe(true);
    // Heat marks the stack DELETE_COMPLETE a moment before it drops it from the list: gone is when it is off the list.
    await until(`stack ${stackName} to be deleted`, 150_000, async () => {
      const listed = await demo.heat.listStacks({ name: stackName });
      const failed = listed.find((stack) => stack.stack_status === 'DELETE_FAILED');
      if (failed !== undefined) throw new Error(`stack delete failed: ${failed.stack_status_reason ?? ''}`);
      return listed.length === 0 ? true : undefined;
    }, 1000);
    // By its id Heat still shows the deleted stack; by name alone it knows it no more.
    expect((await demo.heat.getStack(ref))?.stack_status ?? 'DELETE_COMPLETE').toBe('DELETE_COMPLETE');
    expect(await demo.heat.getStack(stackName)).toBeUndefined();
    expect(await servers()).toEqual([]);
  }, 300_000);

  it('answers an update of a stack it does not know with 404 and its own code', async () => {
    const error = await openStackErrorOf(demo.heat.patchStack({ stack_name: `ms-${RUN}-none`, id: randomUUID() }, { parameters: { count: 1 } }));
    expect(error).toMatchObject({ service: 'orchestration', status: 404, code: 'EntityNotFound', category: 'bad_request' });
    expect(await demo.heat.getStack(`ms-${RUN}-none`)).toBeUndefined();
  });
});
