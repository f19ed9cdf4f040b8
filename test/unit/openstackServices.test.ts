// Glance, Neutron and Heat through the client against replays of the official api samples.
import { stackRefFromLocation, stackStatus, type StackRef } from '../../src/providers/openstack/client/index';
import { fixtureJson, fixtureText, type RecordedRequest } from '../support/openstack/replayServer';
import { IMAGE, json, NETWORK, ORCHESTRATION, PROJECT_ID, startTestCloud, type TestCloud } from '../support/openstack/testCloud';

let cloud: TestCloud;
beforeEach(async () => {
  cloud = await startTestCloud();
});
afterEach(async () => {
  await cloud.close();
});

// ---------------------------------------------------------------------------------------------

describe('glance', () => {
  const CIRROS = '1bea47ed-f6a9-463b-b423-14b9cca9ad27';

  /** The list sample, filtered by name the way Glance does. */
  function serveImages(): void {
    const sample = fixtureJson<{ images: Array<{ name: string }> }>('glance/images-list-response.json');
    cloud.server.on('GET', `${IMAGE}/images`, (request) => json(200, {
      ...sample, images: sample.images.filter((image) => image.name === request.query.get('name')),
    }));
  }

  test('by name: /v2/images?name= on the catalog\'s image endpoint', async () => {
    serveImages();
    const image = await cloud.client.glance.findImage('cirros-0.3.2-x86_64-disk');
    expect(image).toMatchObject({ id: CIRROS, status: 'active', visibility: 'public', min_disk: 0 });
    expect(cloud.server.seen('GET', `${IMAGE}/images`)[0].query.get('name')).toBe('cirros-0.3.2-x86_64-disk');
    expect(await cloud.client.glance.findImage('nothing-like-it')).toBeUndefined();
  });

  test('by id: the image itself; an id-shaped name that is no id still looks by name', async () => {
    serveImages();
    cloud.server.on('GET', `${IMAGE}/images/${CIRROS}`, cloud.server.fixture('glance/image-show-response.json'));
    cloud.server.on('GET', /\/images\/00000000-/, { status: 404, body: '404 Not Found\n\nNo image found with ID x\n\n', headers: { 'Content-Type': 'text/plain' } });
    expect(await cloud.client.glance.findImage(CIRROS)).toMatchObject({ id: CIRROS, name: 'cirros-0.3.2-x86_64-disk', size: 13167616 });
    expect(await cloud.client.glance.findImage('00000000-0000-0000-0000-000000000000')).toBeUndefined();
    expect(cloud.server.seen('GET', `${IMAGE}/images`).map((r) => r.query.get('name'))).toEqual(['00000000-0000-0000-0000-000000000000']);
  });

  test('pages through Glance\'s "next" and refuses an ambiguous name', async () => {
    const twin = { id: 'a', name: 'twin', status: 'active' };
    cloud.server.on('GET', `${IMAGE}/images`, (request) => (request.query.get('marker') === null
      ? json(200, { images: [twin], first: '/v2/images?name=twin', next: '/v2/images?name=twin&marker=a' })
      : json(200, { images: [{ ...twin, id: 'b' }], first: '/v2/images?name=twin' })));
    expect((await cloud.client.glance.listImagesNamed('twin')).map((i) => i.id)).toEqual(['a', 'b']);
    await expect(cloud.client.glance.findImage('twin')).rejects.toMatchObject({ category: 'bad_request', code: 'AmbiguousName', service: 'image' });
  });
});

// ---------------------------------------------------------------------------------------------

describe('neutron', () => {
  test('networks by name, and by id before name', async () => {
    cloud.server.on('GET', `${NETWORK}/networks`, (request) => {
      const sample = fixtureJson<{ networks: Array<{ id: string; name: string }> }>('neutron/networks-list-response.json');
      const id = request.query.get('id');
      const name = request.query.get('name');
      return json(200, { networks: sample.networks.filter((n) => (id === null || n.id === id) && (name === null || n.name === name)) });
    });
    expect(await cloud.client.neutron.findNetwork('net2')).toMatchObject({ id: 'db193ab3-96e3-4cb3-8fc5-05f4296d0324', status: 'ACTIVE' });
    expect(await cloud.client.neutron.findNetwork('d32019d3-bc6e-4319-9c1d-6722fc136a22')).toMatchObject({ name: 'net1' });
    expect(await cloud.client.neutron.findNetwork('none')).toBeUndefined();
    const queries = cloud.server.seen('GET', `${NETWORK}/networks`).map((r) => r.query.toString());
    expect(queries).toEqual(['name=net2', 'id=d32019d3-bc6e-4319-9c1d-6722fc136a22', 'name=none']);
  });

  test('ports by device id', async () => {
    cloud.server.on('GET', `${NETWORK}/ports`, cloud.server.fixture('neutron/ports-list-response.json'));
    const ports = await cloud.client.neutron.listPorts({ deviceId: '9ae135f4-b6e0-4dad-9e91-3c223e385824' });
    expect(ports.map((p) => p.fixed_ips[0].ip_address)).toEqual(['172.24.4.2', '10.0.0.1']);
    expect(cloud.server.seen('GET', `${NETWORK}/ports`)[0].query.get('device_id')).toBe('9ae135f4-b6e0-4dad-9e91-3c223e385824');
  });

  test('security group create sends the sample body and reads the sample answer', async () => {
    cloud.server.on('POST', `${NETWORK}/security-groups`, cloud.server.fixture('neutron/security-group-create-response.json', 201));
    const group = await cloud.client.neutron.createSecurityGroup({ name: 'new-webservers', description: 'security group for webservers', stateful: true });
    expect(cloud.server.seen('POST', `${NETWORK}/security-groups`)[0].json).toEqual(fixtureJson('neutron/security-group-create-request.json'));
    expect(group).toMatchObject({ id: '2076db17-a522-4506-91de-c6dd8e837028', name: 'new-webservers' });
    expect(group.security_group_rules.map((r) => `${r.direction}/${r.ethertype}`)).toEqual(['egress/IPv4', 'egress/IPv6']);
  });

  test('security group rule create sends the sample\'s fields (ports as numbers)', async () => {
    cloud.server.on('POST', `${NETWORK}/security-group-rules`, cloud.server.fixture('neutron/security-group-rule-create-response.json', 201));
    const rule = await cloud.client.neutron.createSecurityGroupRule({
      securityGroupId: 'a7734e61-b545-452d-a3cd-0189cbd9747a', direction: 'ingress', ethertype: 'IPv4', protocol: 'tcp',
      portRangeMin: 80, portRangeMax: 80, remoteGroupId: '85cc3048-abc3-43cc-89b3-377341426ac5',
      remoteAddressGroupId: 'a9baa1eb-0614-4d68-870e-fec6d8f8c221',
    });
    const sample = fixtureJson<{ security_group_rule: Record<string, unknown> }>('neutron/security-group-rule-create-request.json');
    // The sample writes the ports as strings; Neutron reads both, and answers with numbers.
    expect(cloud.server.seen('POST', `${NETWORK}/security-group-rules`)[0].json)
      .toEqual({ security_group_rule: { ...sample.security_group_rule, port_range_min: 80, port_range_max: 80 } });
    expect(rule).toMatchObject({ id: '2bc0accf-312e-429a-956e-e4407625eb62', port_range_min: 80, port_range_max: 80, protocol: 'tcp' });
  });

  test('a duplicate rule is a bad_request naming Neutron\'s type, so the caller can treat it as done', async () => {
    cloud.server.on('POST', `${NETWORK}/security-group-rules`, json(409, {
      NeutronError: { type: 'SecurityGroupRuleExists', message: 'Security group rule already exists. Rule id is 2bc0accf.', detail: '' },
    }));
    await expect(cloud.client.neutron.createSecurityGroupRule({ securityGroupId: 'g', direction: 'ingress', protocol: 'tcp', portRangeMin: 22, portRangeMax: 22 }))
      .rejects.toMatchObject({ category: 'bad_request', code: 'SecurityGroupRuleExists', status: 409 });
  });

  test('floating IP create sends the sample\'s fields and reads the sample answer; delete 404 is gone', async () => {
    cloud.server.on('POST', `${NETWORK}/floatingips`, cloud.server.fixture('neutron/floatingip-create-response.json', 201));
    cloud.server.on('DELETE', `${NETWORK}/floatingips/2f245a7b-796b-4f26-9cf9-9e82d248fda7`, { status: 204 });
    cloud.server.on('DELETE', `${NETWORK}/floatingips/gone`, json(404, { NeutronError: { type: 'FloatingIPNotFound', message: 'Floating IP gone could not be found', detail: '' } }));
    const created = await cloud.client.neutron.createFloatingIp({
      floatingNetworkId: '376da547-b977-4cfe-9cba-275c80debf57', portId: 'ce705c24-c1ef-408a-bda3-7bbd946164ab',
      subnetId: '278d9507-36e7-403c-bb80-1d7093318fe6', fixedIpAddress: '10.0.0.3', floatingIpAddress: '172.24.4.228',
      description: 'floating ip for testing',
    });
    const sample = fixtureJson<{ floatingip: Record<string, unknown> }>('neutron/floatingip-create-request.json').floatingip;
    const fields = ['floating_network_id', 'port_id', 'subnet_id', 'fixed_ip_address', 'floating_ip_address', 'description'];
    expect(cloud.server.seen('POST', `${NETWORK}/floatingips`)[0].json).toEqual({ floatingip: Object.fromEntries(fields.map((f) => [f, sample[f]])) });
    expect(created).toMatchObject({ id: '2f245a7b-796b-4f26-9cf9-9e82d248fda7', floating_ip_address: '172.24.4.228', fixed_ip_address: '10.0.0.3', status: 'ACTIVE' });
    expect(await cloud.client.neutron.deleteFloatingIp(created.id)).toBe(true);
    expect(await cloud.client.neutron.deleteFloatingIp('gone')).toBe(false);
  });

  test('floating IPs of a device: its ports, then the IPs bound to any of them', async () => {
    const fip = fixtureJson<{ floatingip: unknown }>('neutron/floatingip-create-response.json').floatingip;
    cloud.server.on('GET', `${NETWORK}/ports`, (request) => (request.query.get('device_id') === 'empty'
      ? json(200, { ports: [] })
      : cloud.server.fixture('neutron/ports-list-response.json')));
    cloud.server.on('GET', `${NETWORK}/floatingips`, json(200, { floatingips: [fip] }));
    const ips = await cloud.client.neutron.floatingIpsOfDevice('9ae135f4-b6e0-4dad-9e91-3c223e385824');
    expect(ips.map((ip) => ip.floating_ip_address)).toEqual(['172.24.4.228']);
    expect(cloud.server.seen('GET', `${NETWORK}/floatingips`)[0].query.getAll('port_id'))
      .toEqual(['d80b1a3b-4fc1-49f3-952e-1e2ab7081d8b', 'f71a6703-d6de-4be1-a91a-a570ede1d159']);
    // No ports: no floating IP query at all (an empty port_id filter would list every IP of the project).
    expect(await cloud.client.neutron.floatingIpsOfDevice('empty')).toEqual([]);
    expect(cloud.server.seen('GET', `${NETWORK}/floatingips`)).toHaveLength(1);
  });

  test('quota with details, and the plain quota when the details extension is missing', async () => {
    const details = `${NETWORK}/quotas/${PROJECT_ID}/details.json`;
    cloud.server.on('GET', details, cloud.server.fixture('neutron/quota-details-show-for-project-response.json'));
    cloud.server.on('GET', `${NETWORK}/quotas/${PROJECT_ID}`, cloud.server.fixture('neutron/quotas-list-for-project-response.json'));
    const detailed = await cloud.client.neutron.getQuota();
    expect(detailed.port).toEqual({ limit: 500, used: 21, reserved: 3 });
    expect(detailed.subnetpool).toEqual({ limit: -1, used: 2, reserved: 0 });

    cloud.server.on('GET', details, json(404, { NeutronError: { type: 'HTTPNotFound', message: 'The resource could not be found.', detail: '' } }));
    const plain = await cloud.client.neutron.getQuota();
    expect(plain.floatingip).toEqual({ limit: 50 });
    expect(plain.security_group_rule).toEqual({ limit: 100 });
  });

  test('lists follow Neutron\'s <resource>_links pages', async () => {
    cloud.server.on('GET', `${NETWORK}/security-groups`, (request) => (request.query.get('marker') === null
      ? json(200, { security_groups: [{ id: 'g1', name: 'a' }], security_groups_links: [{ rel: 'next', href: 'http://neutron.invalid/v2.0/security-groups?limit=1&marker=g1' }] })
      : json(200, { security_groups: [{ id: 'g2', name: 'b' }], security_groups_links: [{ rel: 'previous', href: 'http://neutron.invalid/v2.0/security-groups?limit=1&marker=g2&page_reverse=True' }] })));
    expect((await cloud.client.neutron.listSecurityGroups()).map((g) => g.id)).toEqual(['g1', 'g2']);
  });
});

// ---------------------------------------------------------------------------------------------

describe('heat', () => {
  const STACK: StackRef = { stack_name: 'simple_stack', id: '3095aefc-09fb-4bc7-b1f0-f21a304e864c' };
  const STACK_PATH = `${ORCHESTRATION}/stacks/simple_stack/3095aefc-09fb-4bc7-b1f0-f21a304e864c`;

  test('create on the project\'s Heat URL sends exactly the sample body', async () => {
    cloud.server.on('POST', `${ORCHESTRATION}/stacks`, cloud.server.fixture('heat/stack-create-response.json', 201));
    const sample = fixtureJson<{ template: Record<string, unknown>; parameters: Record<string, string> }>('heat/stack-create-request.json');
    const ref = await cloud.client.heat.createStack('teststack', {
      template: sample.template, parameters: sample.parameters, timeoutMins: 60, disableRollback: true, files: {},
    });
    expect(ref).toEqual({ stack_name: 'teststack', id: '3095aefc-09fb-4bc7-b1f0-f21a304e864c' });
    expect(cloud.server.seen('POST', `${ORCHESTRATION}/stacks`)[0].json).toEqual(fixtureJson('heat/stack-create-request.json'));
  });

  test('a template given as text goes as text; tags as Heat\'s comma list', async () => {
    cloud.server.on('POST', `${ORCHESTRATION}/stacks`, cloud.server.fixture('heat/stack-create-response.json', 201));
    const template = fixtureText('heat/rg_template_with_outputs.yaml');
    await cloud.client.heat.createStack('rg', { template, parameters: { attr_wait_secs: 0 }, tags: ['airavata', 'cluster=c1'] });
    expect(cloud.server.seen('POST', `${ORCHESTRATION}/stacks`)[0].json).toEqual({
      stack_name: 'rg', template, parameters: { attr_wait_secs: 0 }, tags: 'airavata,cluster=c1',
    });
  });

  test('show by name follows the 302 to /stacks/<name>/<id> on our endpoint', async () => {
    cloud.server.on('GET', `${ORCHESTRATION}/stacks/simple_stack`, {
      status: 302, headers: { Location: cloud.server.localize('http://192.168.123.200:8004/v1/a6944d763bf64ee6a275f1263fae0352/stacks/simple_stack/3095aefc-09fb-4bc7-b1f0-f21a304e864c') },
    });
    cloud.server.on('GET', STACK_PATH, cloud.server.fixture('heat/stack-show-response.json'));
    const stack = await cloud.client.heat.getStack('simple_stack');
    expect(stack).toMatchObject({ id: STACK.id, stack_name: 'simple_stack', stack_status: 'CREATE_COMPLETE', outputs: [] });
    expect(cloud.server.seen('GET', STACK_PATH)).toHaveLength(1);
    expect(stackStatus(stack?.stack_status ?? '')).toEqual({ action: 'CREATE', state: 'COMPLETE' });
  });

  test('a Location on another host is read for the name and id only', async () => {
    cloud.server.on('GET', `${ORCHESTRATION}/stacks/simple_stack`, {
      status: 302, headers: { Location: 'http://heat.internal.invalid:8004/v1/a6944d763bf64ee6a275f1263fae0352/stacks/simple_stack/3095aefc-09fb-4bc7-b1f0-f21a304e864c' },
    });
    cloud.server.on('GET', STACK_PATH, cloud.server.fixture('heat/stack-show-response.json'));
    expect(await cloud.client.heat.getStack('simple_stack')).toMatchObject({ id: STACK.id });
    expect(stackRefFromLocation('/v1/p/stacks/my%20stack/abc')).toEqual({ stack_name: 'my stack', id: 'abc' });
    expect(stackRefFromLocation('/v1/p/other')).toBeUndefined();
  });

  test('show by name and id asks directly; unknown is undefined', async () => {
    cloud.server.on('GET', STACK_PATH, cloud.server.fixture('heat/stack-show-response.json'));
    cloud.server.on('GET', `${ORCHESTRATION}/stacks/nope`, json(404, {
      explanation: 'The resource could not be found.', code: 404, error: { message: 'The Stack (nope) could not be found.', traceback: null, type: 'EntityNotFound' }, title: 'Not Found',
    }));
    expect(await cloud.client.heat.getStack(STACK)).toMatchObject({ stack_status_reason: 'Stack CREATE completed successfully' });
    expect(await cloud.client.heat.getStack('nope')).toBeUndefined();
  });

  test('list by tags reads the sample', async () => {
    cloud.server.on('GET', `${ORCHESTRATION}/stacks`, cloud.server.fixture('heat/stacks-list-response.json'));
    const stacks = await cloud.client.heat.listStacks({ tags: ['airavata', 'cluster=c1'] });
    expect(stacks.map((s) => s.stack_name)).toEqual(['simple_stack']);
    expect(cloud.server.seen('GET', `${ORCHESTRATION}/stacks`)[0].query.get('tags')).toBe('airavata,cluster=c1');
  });

  test('events: newest first with a marker; the reason of a failed resource is kept', async () => {
    cloud.server.on('GET', `${STACK_PATH}/events`, cloud.server.fixture('heat/events-list-response.json'));
    const events = await cloud.client.heat.listEvents(STACK, { sortDir: 'desc', marker: 'm0', limit: 20, nestedDepth: 1 });
    expect(events.map((e) => e.resource_status)).toEqual(['CREATE_FAILED', 'CREATE_IN_PROGRESS']);
    expect(events[0].resource_status_reason).toBe('NotFound: Subnet f8a699d0-3537-429e-87a5-6b5a8d0c2bf0 could not be found');
    expect(Object.fromEntries(cloud.server.seen('GET', `${STACK_PATH}/events`)[0].query))
      .toEqual({ sort_dir: 'desc', marker: 'm0', limit: '20', nested_depth: '1' });
  });

  test('events since the last one seen: oldest first, page after page by marker', async () => {
    const sample = fixtureJson<{ events: Array<{ id: string }> }>('heat/events-list-response.json').events;
    const all = [...sample, { ...sample[0], id: 'third' }];
    cloud.server.on('GET', `${STACK_PATH}/events`, (request: RecordedRequest) => {
      const marker = request.query.get('marker');
      const start = marker === null ? 0 : all.findIndex((e) => e.id === marker) + 1;
      return json(200, { events: all.slice(start, start + Number(request.query.get('limit'))) });
    });
    const events = await cloud.client.heat.eventsSince(STACK, undefined, { pageSize: 2 });
    expect(events.map((e) => e.id)).toEqual([...sample.map((e) => e.id), 'third']);
    const later = await cloud.client.heat.eventsSince(STACK, sample[1].id, { pageSize: 2 });
    expect(later.map((e) => e.id)).toEqual(['third']);
    const markers = cloud.server.seen('GET', `${STACK_PATH}/events`).map((r) => `${r.query.get('sort_dir') ?? ''}:${r.query.get('marker') ?? ''}`);
    expect(markers).toEqual(['asc:', `asc:${sample[1].id}`, `asc:${sample[1].id}`]);
  });

  test('resources of the stack', async () => {
    cloud.server.on('GET', `${STACK_PATH}/resources`, cloud.server.fixture('heat/resources-list-response.json'));
    const resources = await cloud.client.heat.listResources(STACK);
    expect(resources).toEqual([expect.objectContaining({
      resource_name: 'random_key_name', resource_type: 'OS::Heat::RandomString', resource_status: 'CREATE_COMPLETE',
      physical_resource_id: 'mystack-random_key_name-pmjmy5pks735',
    })]);
  });

  test('update PUTs exactly the sample body; PATCH sends parameters only', async () => {
    cloud.server.on('PUT', STACK_PATH, cloud.server.fixture('heat/stack-update-response.json', 202));
    cloud.server.on('PATCH', STACK_PATH, cloud.server.fixture('heat/stack-update-response.json', 202));
    const sample = fixtureJson<{ template: Record<string, unknown>; parameters: Record<string, string> }>('heat/stack-update-request.json');
    await cloud.client.heat.updateStack(STACK, { template: sample.template, parameters: sample.parameters });
    expect(cloud.server.seen('PUT', STACK_PATH)[0].json).toEqual(fixtureJson('heat/stack-update-request.json'));
    await cloud.client.heat.patchStack(STACK, { parameters: { count: 3 } });
    expect(cloud.server.seen('PATCH', STACK_PATH)[0].json).toEqual({ parameters: { count: 3 } });
  });

  test('an update is not sent again after the connection dropped', async () => {
    cloud.server.on('PUT', STACK_PATH, 'reset');
    await expect(cloud.client.heat.updateStack(STACK, { template: 'heat_template_version: 2013-05-23' })).rejects.toMatchObject({ category: 'transient' });
    expect(cloud.server.seen('PUT', STACK_PATH)).toHaveLength(1);
  });

  test('delete: 204 taken, 404 already gone', async () => {
    cloud.server.on('DELETE', STACK_PATH, { status: 204 });
    cloud.server.on('DELETE', `${ORCHESTRATION}/stacks/old/1`, json(404, {
      explanation: 'The resource could not be found.', code: 404, error: { message: 'The Stack (old) could not be found.', traceback: null, type: 'EntityNotFound' }, title: 'Not Found',
    }));
    expect(await cloud.client.heat.deleteStack(STACK)).toBe(true);
    expect(await cloud.client.heat.deleteStack({ stack_name: 'old', id: '1' })).toBe(false);
  });

  test('stack status names split into action and state', () => {
    expect(stackStatus('UPDATE_IN_PROGRESS')).toEqual({ action: 'UPDATE', state: 'IN_PROGRESS' });
    expect(stackStatus('ROLLBACK_FAILED')).toEqual({ action: 'ROLLBACK', state: 'FAILED' });
    expect(stackStatus('INIT')).toEqual({ action: 'INIT', state: undefined });
  });
});
