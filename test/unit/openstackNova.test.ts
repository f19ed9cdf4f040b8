// Nova through the client against replays of the official api samples: what is sent (bodies,
// microversion headers, filters, paging) and what is read back.
import {
  chooseMicroversion, compareMicroversions, microversionRangeOf, serverAddresses, type NovaServer,
} from '../../src/providers/openstack/client/index';
import { fixtureJson, type RecordedRequest } from '../support/openstack/replayServer';
import { COMPUTE, json, PROJECT_ID, startTestCloud, type TestCloud } from '../support/openstack/testCloud';

let cloud: TestCloud;
afterEach(async () => {
  await cloud.close();
});

async function start(computeMicroversion?: string): Promise<TestCloud> {
  cloud = await startTestCloud({ client: { computeMicroversion } });
  return cloud;
}

function microversionOf(request: RecordedRequest): [unknown, unknown] {
  return [request.headers['openstack-api-version'], request.headers['x-openstack-nova-api-version']];
}

const SERVER_ID = '0e44cc9c-e052-415d-afbf-469b0d384170';

describe('microversions', () => {
  test('every Nova call carries 2.37 in both headers by default', async () => {
    const { server, client } = await start();
    server.on('GET', `${COMPUTE}/limits`, server.fixture('nova/limit-get-resp.json'));
    server.on('GET', `${COMPUTE}/servers/${SERVER_ID}`, server.fixture('nova/v2.100-server-get-resp.json'));
    await client.nova.getLimits();
    await client.nova.getServer(SERVER_ID);
    const calls = server.requests.filter((r) => r.path.startsWith(COMPUTE));
    expect(calls).toHaveLength(2);
    for (const call of calls) expect(microversionOf(call)).toEqual(['compute 2.37', '2.37']);
  });

  test('the configured microversion replaces it', async () => {
    const { server, client } = await start('2.92');
    server.on('GET', `${COMPUTE}/limits`, server.fixture('nova/v2.57-limit-get-resp.json'));
    await client.nova.getLimits();
    expect(microversionOf(server.seen('GET', `${COMPUTE}/limits`)[0])).toEqual(['compute 2.92', '2.92']);
    expect(client.nova.withMicroversion('2.60').microversion).toBe('2.60');
  });

  test('the supported range comes from the version document at the API root', async () => {
    const { server, client } = await start();
    server.on('GET', '/compute/', server.fixture('nova/versions-get-resp.json'));
    expect(await client.nova.supportedMicroversions()).toEqual({ min: '2.1', max: '2.104' });
  });

  test('choosing caps at the cloud\'s newest and refuses one older than its oldest', () => {
    const range = microversionRangeOf(fixtureJson('nova/versions-get-resp.json'));
    expect(range).toEqual({ min: '2.1', max: '2.104' });
    expect(chooseMicroversion('2.37', { min: '2.1', max: '2.93' })).toBe('2.37');
    expect(chooseMicroversion('2.100', { min: '2.1', max: '2.93' })).toBe('2.93');
    expect(() => chooseMicroversion('2.37', { min: '2.40', max: '2.93' })).toThrow(/older than the cloud's oldest \(2.40\)/);
    expect(compareMicroversions('2.9', '2.10')).toBeLessThan(0);
    expect(compareMicroversions('2.37', '2.37')).toBe(0);
    expect(microversionRangeOf({ version: { id: 'v2.1', status: 'CURRENT', version: '2.93', min_version: '2.1' } })).toEqual({ min: '2.1', max: '2.93' });
  });
});

describe('servers', () => {
  test('create sends the sample\'s fields, user data base64-encoded, and returns only the id and links', async () => {
    const { server, client } = await start('2.100');
    server.on('POST', `${COMPUTE}/servers`, server.fixture('nova/v2.100-server-create-resp.json', 202));
    const sample = fixtureJson<{ server: Record<string, unknown> }>('nova/v2.100-server-create-req.json').server;
    const created = await client.nova.createServer({
      name: 'new-server-test',
      imageRef: '70a599e0-31e7-49b7-b260-868f441e862b',
      flavorRef: '1',
      availabilityZone: 'us-west',
      metadata: { 'My Server Name': 'Apache1' },
      securityGroups: ['default'],
      userData: Buffer.from(String(sample.user_data), 'base64').toString('utf8'),
      networks: 'auto',
    });
    expect(created).toEqual({
      id: 'f5dc173b-6804-445a-a6d8-c705dad5b5eb',
      links: expect.arrayContaining([expect.objectContaining({ rel: 'self' })]) as unknown,
    });
    expect(JSON.stringify(created)).not.toContain('adminPass');
    const sent = server.seen('POST', `${COMPUTE}/servers`)[0].json as { server: Record<string, unknown> };
    // The sample's fields we set, as the sample has them (the sample adds access IPs, disk config, hostname).
    const ours = ['name', 'imageRef', 'flavorRef', 'availability_zone', 'metadata', 'security_groups', 'user_data', 'networks'];
    expect(sent).toEqual({ server: Object.fromEntries(ours.map((key) => [key, sample[key]])) });
  });

  test('create with a key pair and no network, or with given networks', async () => {
    const { server, client } = await start();
    server.on('POST', `${COMPUTE}/servers`, server.fixture('nova/v2.100-server-create-resp.json', 202));
    await client.nova.createServer({ name: 'a', flavorRef: '1', imageRef: 'img', keyName: 'k', networks: 'none' });
    await client.nova.createServer({ name: 'b', flavorRef: '1', imageRef: 'img', networks: [{ uuid: 'net-1' }, { port: 'port-1' }] });
    const [first, second] = server.seen('POST', `${COMPUTE}/servers`).map((r) => (r.json as { server: unknown }).server);
    expect(first).toEqual({ name: 'a', flavorRef: '1', imageRef: 'img', key_name: 'k', networks: 'none' });
    expect(second).toMatchObject({ networks: [{ uuid: 'net-1' }, { port: 'port-1' }] });
  });

  test('create is not sent again after the connection dropped (it would boot a second server)', async () => {
    const { server, client } = await start();
    server.on('POST', `${COMPUTE}/servers`, 'reset');
    await expect(client.nova.createServer({ name: 'a', flavorRef: '1', networks: 'none' })).rejects.toMatchObject({ category: 'transient' });
    expect(server.seen('POST', `${COMPUTE}/servers`)).toHaveLength(1);
  });

  test('user data over Nova\'s 64 KiB is refused before sending', async () => {
    const { server, client } = await start();
    await expect(client.nova.createServer({ name: 'a', flavorRef: '1', networks: 'none', userData: 'x'.repeat(50_000) }))
      .rejects.toMatchObject({ category: 'bad_request', code: 'UserDataTooLarge' });
    expect(server.seen('POST', `${COMPUTE}/servers`)).toHaveLength(0);
  });

  test('get reads the sample server; an unknown one is undefined', async () => {
    const { server, client } = await start();
    server.on('GET', `${COMPUTE}/servers/${SERVER_ID}`, server.fixture('nova/v2.100-server-get-resp.json'));
    server.on('GET', `${COMPUTE}/servers/missing`, server.fixture('nova/faults-itemNotFound.json', 404));
    const found = await client.nova.getServer(SERVER_ID);
    expect(found).toMatchObject({ id: SERVER_ID, name: 'new-server-test', status: 'ACTIVE', metadata: { 'My Server Name': 'Apache1' }, 'OS-EXT-STS:task_state': null });
    expect(await client.nova.getServer('missing')).toBeUndefined();
  });

  test('list pages through next links with a name prefix and filters metadata here', async () => {
    const { server, client } = await start();
    const page2: NovaServer = {
      id: 'second', name: 'new-server-test-2', status: 'BUILD', metadata: { 'My Server Name': 'Apache1', 'airavata-cluster': 'c1' },
    };
    server.on('GET', `${COMPUTE}/servers/detail`, (request) => (request.query.get('marker') === null
      ? server.fixture('nova/v2.100-servers-details-resp.json')
      : json(200, { servers: [page2] })));
    const all = await client.nova.listServers({ namePrefix: 'new-server.test', pageSize: 1 });
    expect(all.map((s) => s.id)).toEqual(['f5dc173b-6804-445a-a6d8-c705dad5b5eb', 'second']);
    const [first, second] = server.seen('GET', `${COMPUTE}/servers/detail`);
    expect(first.query.get('name')).toBe('^new-server\\.test');
    expect(first.query.get('limit')).toBe('1');
    // The next link's marker and limit, on our endpoint, the name filter kept.
    expect(second.query.get('marker')).toBe('f5dc173b-6804-445a-a6d8-c705dad5b5eb');
    expect(second.query.get('limit')).toBe('1');
    expect(second.query.get('name')).toBe(first.query.get('name'));

    const mine = await client.nova.listServers({ metadata: { 'airavata-cluster': 'c1' } });
    expect(mine.map((s) => s.id)).toEqual(['second']);
  });

  test('a next link that does not move stops the paging', async () => {
    const { server, client } = await start();
    server.on('GET', `${COMPUTE}/servers/detail`, json(200, {
      servers: [{ id: 'a', name: 'a', status: 'ACTIVE' }],
      servers_links: [{ rel: 'next', href: 'http://elsewhere.invalid/v2.1/servers/detail?marker=a' }],
    }));
    const servers = await client.nova.listServers();
    expect(server.seen('GET', `${COMPUTE}/servers/detail`)).toHaveLength(2);
    expect(servers.map((s) => s.id)).toEqual(['a', 'a']);
  });

  test('delete: 204 is deleted, 404 already gone', async () => {
    const { server, client } = await start();
    server.on('DELETE', `${COMPUTE}/servers/s1`, { status: 204 });
    server.on('DELETE', `${COMPUTE}/servers/s2`, server.fixture('nova/faults-itemNotFound.json', 404));
    expect(await client.nova.deleteServer('s1')).toBe(true);
    expect(await client.nova.deleteServer('s2')).toBe(false);
  });

  test('metadata: get, merge (POST, the sample body), replace (PUT)', async () => {
    const { server, client } = await start();
    const path = `${COMPUTE}/servers/${SERVER_ID}/metadata`;
    server.on('GET', path, server.fixture('nova/server-metadata-all-resp.json'));
    server.on('POST', path, server.fixture('nova/server-metadata-all-resp.json'));
    server.on('PUT', path, server.fixture('nova/server-metadata-all-resp.json'));
    expect(await client.nova.getServerMetadata(SERVER_ID)).toEqual({ foo: 'Foo Value' });
    expect(await client.nova.updateServerMetadata(SERVER_ID, { foo: 'Foo Value' })).toEqual({ foo: 'Foo Value' });
    await client.nova.replaceServerMetadata(SERVER_ID, { foo: 'Foo Value' });
    expect(server.seen('POST', path)[0].json).toEqual(fixtureJson('nova/server-metadata-all-req.json'));
    expect(server.seen('PUT', path)[0].json).toEqual(fixtureJson('nova/server-metadata-all-req.json'));
  });

  test('addresses: fixed from the sample server, floating by type, untyped ones fixed', () => {
    const sample = fixtureJson<{ server: NovaServer }>('nova/v2.100-server-get-resp.json').server;
    expect(serverAddresses(sample)).toEqual({
      fixed: [{ network: 'private', address: '192.168.1.30', version: 4, mac: '00:0c:29:0d:11:74' }],
      floating: [],
    });
    const withFloating = {
      addresses: {
        private: [
          ...(sample.addresses?.private ?? []),
          { addr: '172.24.4.228', version: 4, 'OS-EXT-IPS:type': 'floating' as const, 'OS-EXT-IPS-MAC:mac_addr': '00:0c:29:0d:11:74' },
        ],
      },
    };
    expect(serverAddresses(withFloating).floating).toEqual([{ network: 'private', address: '172.24.4.228', version: 4, mac: '00:0c:29:0d:11:74' }]);
    const ips = fixtureJson<Pick<NovaServer, 'addresses'>>('nova/server-ips-resp.json');
    expect(serverAddresses(ips)).toEqual({ fixed: [{ network: 'private', address: '192.168.1.30', version: 4, mac: undefined }], floating: [] });
  });
});

describe('flavors', () => {
  test('list reads the sample; find by id asks for it, by name lists', async () => {
    const { server, client } = await start();
    const flavors = fixtureJson<{ flavors: Array<{ id: string }> }>('nova/v2.102-flavors-detail-resp.json').flavors;
    server.on('GET', `${COMPUTE}/flavors/detail`, server.fixture('nova/v2.102-flavors-detail-resp.json'));
    server.on('GET', `${COMPUTE}/flavors/1`, json(200, { flavor: flavors[0] }));
    server.on('GET', /\/flavors\/m1\.(small|nope)$/, server.fixture('nova/faults-itemNotFound.json', 404));
    const list = await client.nova.listFlavors();
    expect(list.map((f) => f.name)).toEqual(['m1.tiny', 'm1.small', 'm1.medium', 'm1.large', 'm1.xlarge', 'm1.tiny.specs', 'm1.small.description']);
    expect(await client.nova.findFlavor('1')).toMatchObject({ id: '1', name: 'm1.tiny', vcpus: 1, ram: 512, disk: 1 });
    expect(await client.nova.findFlavor('m1.small')).toMatchObject({ id: '2', vcpus: 1, ram: 2048 });
    expect(await client.nova.findFlavor('m1.nope')).toBeUndefined();
  });

  test('a name two flavors share is an error asking for the id', async () => {
    const { server, client } = await start();
    server.on('GET', `${COMPUTE}/flavors/twin`, server.fixture('nova/faults-itemNotFound.json', 404));
    server.on('GET', `${COMPUTE}/flavors/detail`, json(200, { flavors: [{ id: 'a', name: 'twin', vcpus: 1, ram: 1, disk: 1 }, { id: 'b', name: 'twin', vcpus: 1, ram: 1, disk: 1 }] }));
    await expect(client.nova.findFlavor('twin')).rejects.toMatchObject({ category: 'bad_request', code: 'AmbiguousName' });
  });
});

describe('key pairs', () => {
  test.each([
    ['2.1', 'nova/keypairs-import-post-req.json', 'nova/keypairs-import-post-resp.json', 200],
    ['2.92', 'nova/v2.92-keypairs-import-post-req.json', 'nova/v2.92-keypairs-import-post-resp.json', 201],
  ] as const)('import at %s sends the sample\'s body (the type from 2.2 on)', async (version, request, response, status) => {
    const { server, client } = await start(version);
    server.on('POST', `${COMPUTE}/os-keypairs`, server.fixture(response, status));
    const sample = fixtureJson<{ keypair: { name: string; public_key: string; type?: string; user_id?: string } }>(request).keypair;
    const created = await client.nova.createKeyPair({ name: sample.name, publicKey: sample.public_key });
    // user_id in the 2.92 sample is an admin's option for someone else's key pair; we import our own.
    const { user_id: _admin, ...expected } = sample;
    expect(server.seen('POST', `${COMPUTE}/os-keypairs`)[0].json).toEqual({ keypair: expected });
    expect(created).toMatchObject({ public_key: sample.public_key, fingerprint: expect.stringMatching(/^([0-9a-f]{2}:){15}[0-9a-f]{2}$/) as unknown });
  });

  test('get and delete by name; 404 is none / already gone', async () => {
    const { server, client } = await start();
    const pair = fixtureJson<{ keypair: unknown }>('nova/v2.92-keypairs-import-post-resp.json');
    server.on('GET', `${COMPUTE}/os-keypairs/mine`, json(200, pair));
    server.on('GET', `${COMPUTE}/os-keypairs/other`, json(404, { itemNotFound: { code: 404, message: 'Keypair other not found for user fake' } }));
    server.on('DELETE', `${COMPUTE}/os-keypairs/mine`, { status: 202 });
    server.on('DELETE', `${COMPUTE}/os-keypairs/other`, json(404, { itemNotFound: { code: 404, message: 'Keypair other not found for user fake' } }));
    expect(await client.nova.getKeyPair('mine')).toMatchObject({ name: 'me.and.myself@this.nice.domain.com mooh.', type: 'ssh' });
    expect(await client.nova.getKeyPair('other')).toBeUndefined();
    expect(await client.nova.deleteKeyPair('mine')).toBe(true);
    expect(await client.nova.deleteKeyPair('other')).toBe(false);
  });
});

describe('limits and quotas', () => {
  test('absolute limits from both samples', async () => {
    const { server, client } = await start();
    server.on('GET', `${COMPUTE}/limits`, server.fixture('nova/limit-get-resp.json'));
    expect(await client.nova.getLimits()).toMatchObject({
      maxTotalCores: 20, totalCoresUsed: 0, maxTotalInstances: 10, totalInstancesUsed: 0, maxTotalRAMSize: 51200, totalRAMUsed: 0,
    });
    server.on('GET', `${COMPUTE}/limits`, server.fixture('nova/v2.57-limit-get-resp.json'));
    const newer = await client.nova.getLimits();
    expect(newer.maxTotalCores).toBe(20);
    expect(newer.maxTotalFloatingIps).toBeUndefined();
  });

  test('quota details for the token\'s project', async () => {
    const { server, client } = await start();
    server.on('GET', `${COMPUTE}/os-quota-sets/${PROJECT_ID}/detail`, server.fixture('nova/v2.57-quotas-show-detail-get-resp.json'));
    const quota = await client.nova.getQuotaDetails();
    expect(quota.cores).toEqual({ in_use: 0, limit: 20, reserved: 0 });
    expect(quota.instances.limit).toBe(10);
    expect(quota).not.toHaveProperty('id');
  });
});
