// The OPENSTACK provider against the real test cloud (scripts/openstack-test-cloud: Keystone, Glance,
// Nova with the fake driver, Neutron's API, Heat). Fake servers have no network, so each test hands
// the cluster's servers an address through metadata as they appear (addressMetadataKey), the way
// the service's tests point nodes at reachable machines.
import { randomUUID } from 'node:crypto';
import type { Cluster, ClusterNode, ClusterSpec } from '../../src/domain/types';
import { keyMaterial, keyPairName } from '../../src/providers/naming';
import { OpenStackClient, OpenStackError, type NovaServer } from '../../src/providers/openstack/client/index';
import { META_CLUSTER, META_GATEWAY, META_MEMBER, META_NODE, stackName } from '../../src/providers/openstack/metadata';
import { OpenStackProvider } from '../../src/providers/openstack/openstackProvider';
import { ProviderError, type OwnedResource, type ProvisionContext } from '../../src/providers/provider';
import { generateRsaSshKeyPair } from '../../src/secrets/sshKeys';
import { requireTestCloud, resetComputeQuota, setComputeQuota, testCloudConfig } from '../support/openstack/realCloud';
import { sleep, until } from '../support/until';

const DEMO = 'test-demo';
const TIGHT = 'test-tight';
const ADDRESS_KEY = 'metascheduler_test_address';
const GATEWAY = 'gw-openstack-test';
const STEP_TIMEOUT = 420_000;

const clients = new Map<string, OpenStackClient>();
function clientOf(cloud: string): OpenStackClient {
  let client = clients.get(cloud);
  if (client === undefined) {
    client = new OpenStackClient(testCloudConfig(cloud));
    clients.set(cloud, client);
  }
  return client;
}
const demo = (): OpenStackClient => clientOf(DEMO);

let provider: OpenStackProvider;
let sshPublicKey: string;
/** Every cluster id a test made something for: afterAll removes whatever is left of them. */
const clusterIds = new Set<string>();
const strayServers = new Set<string>();
const strayKeyPairs = new Set<string>();

function specOf(providerOptions: Record<string, string>, workerCount: number, cloud = DEMO): ClusterSpec {
  return {
    name: 'ostest', kind: 'SLURM', provider: 'OPENSTACK', workerCount,
    providerOptions: { cloud, flavor: 'm1.tiny', image: 'tiny-raw', network: 'none', ...providerOptions },
  };
}

function clusterOf(spec: ClusterSpec): Cluster {
  const clusterId = randomUUID();
  clusterIds.add(clusterId);
  const nodes: ClusterNode[] = provider.plan(spec).map((planned) => ({ ...planned, nodeId: randomUUID() }));
  return {
    clusterId, gatewayId: GATEWAY, name: `os-${clusterId.slice(0, 8)}`, kind: spec.kind, provider: 'OPENSTACK', state: 'PROVISIONING', spec, nodes,
    failures: [], createdAt: Date.now(), updatedAt: Date.now(),
  };
}

function newWorker(cluster: Cluster): ClusterNode {
  return { ...provider.planWorker(cluster.spec), nodeId: randomUUID() };
}

function contextOf(): { context: ProvisionContext; notes: string[] } {
  const notes: string[] = [];
  return { notes, context: { sshPublicKey, note: async (message) => { notes.push(message); } } };
}

/** The cluster's servers Nova still knows (any state but DELETED). */
async function novaServers(clusterId: string): Promise<NovaServer[]> {
  return (await demo().nova.listServers({ metadata: { [META_CLUSTER]: clusterId } })).filter((s) => s.status !== 'DELETED');
}

let nextAddress = 10;

/**
 * Gives each of the cluster's servers an address (metadata ADDRESS_KEY) as soon as Nova lists it,
 * standing in for the network a real cloud would attach. addressOf(serverId) says what it gave.
 */
function addressGiver(clusterId: string): { addressOf(serverId: string): string | undefined; stop(): Promise<void> } {
  const given = new Map<string, string>();
  let running = true;
  let failure: unknown;
  const loop = (async () => {
    while (running) {
      try {
        for (const server of await novaServers(clusterId)) {
          if (given.has(server.id) || server.metadata?.[ADDRESS_KEY] !== undefined) continue;
          const address = `192.0.2.${nextAddress++}`;
          try {
            await demo().nova.updateServerMetadata(server.id, { [ADDRESS_KEY]: address });
            given.set(server.id, address);
          } catch (error) {
            // A server deleted meanwhile (a released node) needs no address.
            if (!(error instanceof OpenStackError && (error.status === 404 || error.status === 409))) throw error;
          }
        }
      } catch (error) {
        failure = error;
        running = false;
      }
      await sleep(250);
    }
  })();
  return {
    addressOf: (serverId) => given.get(serverId),
    async stop() {
      running = false;
      await loop;
      if (failure !== undefined) throw failure;
    },
  };
}

async function lookUp(client: OpenStackClient, what: 'flavor' | 'image', name: string): Promise<{ id: string; vcpus?: number; ram?: number }> {
  const found = what === 'flavor' ? await client.nova.findFlavor(name) : await client.glance.findImage(name);
  if (found === undefined) throw new Error(`the test cloud has no ${what} ${name}: is scripts/openstack-test-cloud up complete?`);
  return found;
}

const errorOf = (promise: Promise<unknown>): Promise<unknown> => promise.then(() => { throw new Error('expected a failure'); }, (e: unknown) => e);

beforeAll(async () => {
  await requireTestCloud();
  sshPublicKey = (await generateRsaSshKeyPair('test@openstackProvider')).publicKey;
  provider = new OpenStackProvider({ clients: clientOf, pollIntervalMs: 300, waitTimeoutMs: 180_000, addressMetadataKey: ADDRESS_KEY });
}, 120_000);

afterAll(async () => {
  // Whatever a failed test left: stacks first (they would make their servers again), then servers and key pairs.
  const client = demo();
  for (const clusterId of clusterIds) {
    const stack = await client.heat.getStack(stackName(clusterId));
    if (stack !== undefined && stack.stack_status !== 'DELETE_COMPLETE') await client.heat.deleteStack(stack);
  }
  for (const clusterId of clusterIds) {
    for (const server of await novaServers(clusterId)) strayServers.add(server.id);
    strayKeyPairs.add(keyPairName(clusterId));
  }
  for (const id of strayServers) await client.nova.deleteServer(id);
  for (const name of strayKeyPairs) await client.nova.deleteKeyPair(name);
  await until('the test servers to be deleted', 120_000, async () => {
    for (const id of strayServers) if (await client.nova.getServer(id) !== undefined) return undefined;
    return true;
  });
  for (const clusterId of clusterIds) {
    await until(`stack ${stackName(clusterId)} to be deleted`, 120_000, async () => {
      const stack = await client.heat.getStack(stackName(clusterId));
      return stack === undefined || stack.stack_status === 'DELETE_COMPLETE' ? true : undefined;
    });
  }
}, 300_000);

describe('OpenStackProvider, server mode', () => {
  it('buys 3 servers, finds them again on a rerun, grows, releases one and then everything', async () => {
    const spec = specOf({}, 3);
    const flavor = await lookUp(demo(), 'flavor', 'm1.tiny');
    const check = await provider.checkQuota(spec);
    expect(check.errors).toEqual([]);
    expect(check.invalid ?? []).toEqual([]);
    expect(check.needed).toEqual({ instances: 3, cores: 3 * (flavor.vcpus ?? 0), ram: 3 * (flavor.ram ?? 0) });
    expect(check.available?.instances).toBeGreaterThanOrEqual(3);

    const cluster = clusterOf(spec);
    const addresses = addressGiver(cluster.clusterId);
    try {
      const { context, notes } = contextOf();
      const acquired = await provider.acquire(cluster, cluster.nodes, context);
      expect(acquired.map((a) => a.nodeId)).toEqual(cluster.nodes.map((n) => n.nodeId));
      for (const node of acquired) {
        expect(node.providerResourceId).toEqual(expect.any(String));
        expect(node.address).toBe(addresses.addressOf(node.providerResourceId as string));
        expect(node.address).toMatch(/^192\.0\.2\.\d+$/);
      }
      expect(notes).toContain('3 of 3 server(s) ACTIVE with an address');

      const servers = await novaServers(cluster.clusterId);
      expect(servers.map((s) => s.id).sort()).toEqual(acquired.map((a) => a.providerResourceId).sort());
      for (const server of servers) {
        const node = acquired.find((a) => a.providerResourceId === server.id);
        expect(server.status).toBe('ACTIVE');
        expect(server.metadata?.[META_CLUSTER]).toBe(cluster.clusterId);
        expect(server.metadata?.[META_NODE]).toBe(node?.nodeId);
        expect(server.metadata?.[META_GATEWAY]).toBe(GATEWAY);
        expect(server.key_name).toBe(keyPairName(cluster.clusterId));
      }
      const pair = await demo().nova.getKeyPair(keyPairName(cluster.clusterId));
      expect(pair && keyMaterial(pair.public_key)).toBe(keyMaterial(sshPublicKey));

      // The step run again after a crash before anything was recorded: the same servers, none new.
      const rerun = contextOf();
      const again = await provider.acquire(cluster, cluster.nodes, rerun.context);
      expect(again).toEqual(acquired);
      expect(rerun.notes).toContain('3 of 3 node(s) have a server from an earlier run: kept');
      expect((await novaServers(cluster.clusterId)).map((s) => s.id).sort()).toEqual(servers.map((s) => s.id).sort());

      // A crash between a create and its record, then the create again: node 0 has two servers. The rerun keeps the first.
      const image = await lookUp(demo(), 'image', 'tiny-raw');
      const first = cluster.nodes[0];
      const twin = await demo().nova.createServer({
        name: `ms-twin-${first.nodeId.slice(0, 8)}`, flavorRef: flavor.id, imageRef: image.id, networks: 'none', keyName: keyPairName(cluster.clusterId),
        metadata: { [META_CLUSTER]: cluster.clusterId, [META_NODE]: first.nodeId, [META_GATEWAY]: GATEWAY },
      });
      strayServers.add(twin.id);
      const twice = contextOf();
      expect(await provider.acquire(cluster, cluster.nodes, twice.context)).toEqual(acquired);
      expect(twice.notes).toContain(`deleting 1 spare server(s) made twice for the same node: ${twin.id}`);
      expect(await demo().nova.getServer(twin.id)).toBeUndefined();
      expect(await novaServers(cluster.clusterId)).toHaveLength(3);

      cluster.nodes = cluster.nodes.map((node, i) => ({
        ...node, state: 'CONFIGURED', address: acquired[i].address, providerResourceId: acquired[i].providerResourceId,
      }));
      const described = await provider.describe(cluster);
      expect(described).toEqual(acquired.map((a) => ({ nodeId: a.nodeId, state: 'running', address: a.address, providerResourceId: a.providerResourceId })));

      // Scale out by one.
      const extra = newWorker(cluster);
      cluster.nodes.push(extra);
      const [grown] = await provider.acquire(cluster, [extra], contextOf().context);
      expect(grown.nodeId).toBe(extra.nodeId);
      expect(acquired.map((a) => a.providerResourceId)).not.toContain(grown.providerResourceId);
      expect(await novaServers(cluster.clusterId)).toHaveLength(4);
      Object.assign(extra, { state: 'CONFIGURED', address: grown.address, providerResourceId: grown.providerResourceId });

      // Scale in by one.
      const leaving = cluster.nodes[1];
      const [proof] = await provider.release(cluster, [leaving], contextOf().context);
      expect(proof.nodeId).toBe(leaving.nodeId);
      expect(proof.providerResourceId).toBe(leaving.providerResourceId);
      expect(proof.proof).toMatch(/404/);
      expect(await demo().nova.getServer(leaving.providerResourceId as string)).toBeUndefined();
      expect((await novaServers(cluster.clusterId)).map((s) => s.id).sort())
        .toEqual(cluster.nodes.filter((n) => n !== leaving).map((n) => n.providerResourceId).sort());
      leaving.state = 'RELEASED';

      // Releasing it again finds nothing and says so.
      const [repeat] = await provider.release(cluster, [leaving]);
      expect(repeat.proof).toMatch(/is gone \(Nova answers 404\)/);

      const rest = cluster.nodes.filter((n) => n !== leaving);
      const proofs = await provider.release(cluster, rest, contextOf().context);
      expect(proofs.map((p) => p.nodeId)).toEqual(rest.map((n) => n.nodeId));
      for (const p of proofs) expect(p.proof).toMatch(/404/);
      const clusterProofs = await provider.releaseCluster(cluster, contextOf().context);
      expect(clusterProofs).toContain(`key pair ${keyPairName(cluster.clusterId)} deleted`);
      expect(await novaServers(cluster.clusterId)).toEqual([]);
      expect(await demo().nova.getKeyPair(keyPairName(cluster.clusterId))).toBeUndefined();
      expect(await provider.describe(cluster)).toEqual(cluster.nodes.map((n) => ({ nodeId: n.nodeId, state: 'gone', providerResourceId: n.providerResourceId })));
    } finally {
      await addresses.stop();
    }
  }, STEP_TIMEOUT);
});

describe('OpenStackProvider, Heat mode', () => {
  it('makes one stack of 3, grows it to 4, removes a middle member and deletes the stack', async () => {
    const cluster = clusterOf(specOf({ template: 'true' }, 3));
    const name = stackName(cluster.clusterId);
    const addresses = addressGiver(cluster.clusterId);
    try {
      const { context, notes } = contextOf();
      const acquired = await provider.acquire(cluster, cluster.nodes, context);
      expect(acquired.map((a) => a.nodeId)).toEqual(cluster.nodes.map((n) => n.nodeId));
      for (const node of acquired) expect(node.address).toBe(addresses.addressOf(node.providerResourceId as string));

      const stack = await demo().heat.getStack(name);
      expect(stack?.stack_status).toBe('CREATE_COMPLETE');
      expect(stack?.tags).toEqual(expect.arrayContaining(['metascheduler', `${META_CLUSTER}=${cluster.clusterId}`]));
      expect(notes).toContain(`stack ${name}: creating 3 server(s)`);
      expect(notes.some((n) => /^stack: \S+ CREATE_COMPLETE/.test(n))).toBe(true);
      expect(notes.some((n) => /^stack members .* assigned to their nodes$/.test(n))).toBe(true);

      const servers = await novaServers(cluster.clusterId);
      expect(servers).toHaveLength(3);
      for (const node of acquired) {
        const server = servers.find((s) => s.id === node.providerResourceId);
        expect(server?.metadata?.[META_NODE]).toBe(node.nodeId);
        expect(server?.metadata?.[META_MEMBER]).toMatch(/^[0-2]$/);
        expect(server?.key_name).toBe(keyPairName(cluster.clusterId));
      }

      // The step run again before anything was recorded: the same members, the stack left alone.
      const rerun = contextOf();
      expect(await provider.acquire(cluster, cluster.nodes, rerun.context)).toEqual(acquired);
      expect(rerun.notes.filter((n) => n.startsWith(`stack ${name}`))).toEqual([]);
      expect((await demo().heat.getStack(name))?.stack_status).toBe('CREATE_COMPLETE');

      // The sweeper finds the stack by its tags.
      const owned = (await provider.listOwned([DEMO])).filter((r) => r.clusterId === cluster.clusterId);
      expect(owned.filter((r) => r.resourceType === 'stack')).toEqual([expect.objectContaining({
        providerResourceId: `${name}/${stack?.id}`, scope: DEMO, live: true,
      })]);
      expect(owned.filter((r) => r.resourceType === 'server').map((r) => r.nodeId).sort()).toEqual(cluster.nodes.map((n) => n.nodeId).sort());
      expect(owned.filter((r) => r.resourceType === 'key-pair').map((r) => r.providerResourceId)).toEqual([keyPairName(cluster.clusterId)]);

      cluster.nodes = cluster.nodes.map((node, i) => ({
        ...node, state: 'CONFIGURED', address: acquired[i].address, providerResourceId: acquired[i].providerResourceId,
      }));
      const extra = newWorker(cluster);
      cluster.nodes.push(extra);
      const grow = contextOf();
      const grown = await provider.acquire(cluster, [extra], grow.context);
      expect(grown).toHaveLength(1);
      expect(grown[0].nodeId).toBe(extra.nodeId);
      expect(grow.notes).toContain(`stack ${name}: 3 -> 4 server(s)`);
      expect((await demo().heat.getStack(name))?.parameters?.count).toBe('4');
      const afterGrow = await novaServers(cluster.clusterId);
      expect(afterGrow).toHaveLength(4);
      // The members that served before are the same servers.
      expect(afterGrow.map((s) => s.id)).toEqual(expect.arrayContaining(acquired.map((a) => a.providerResourceId)));
      expect(afterGrow.find((s) => s.id === grown[0].providerResourceId)?.metadata?.[META_NODE]).toBe(extra.nodeId);
      Object.assign(extra, { state: 'CONFIGURED', address: grown[0].address, providerResourceId: grown[0].providerResourceId });

      const leaving = cluster.nodes[1];
      const [proof] = await provider.release(cluster, [leaving], contextOf().context);
      expect(proof.nodeId).toBe(leaving.nodeId);
      expect(proof.proof).toMatch(new RegExp(`removed from stack ${name}: server ${leaving.providerResourceId} gone \\(Nova answers 404\\)`));
      expect(await demo().nova.getServer(leaving.providerResourceId as string)).toBeUndefined();
      leaving.state = 'RELEASED';
      const staying = cluster.nodes.filter((n) => n !== leaving);
      const afterRelease = await novaServers(cluster.clusterId);
      expect(afterRelease.map((s) => s.id).sort()).toEqual(staying.map((n) => n.providerResourceId).sort());
      for (const node of staying) expect(afterRelease.find((s) => s.id === node.providerResourceId)?.metadata?.[META_NODE]).toBe(node.nodeId);
      expect((await demo().heat.getStack(name))?.parameters?.count).toBe('3');
      expect((await provider.describe(cluster)).map((d) => d.state)).toEqual(['running', 'gone', 'running', 'running']);

      const released = contextOf();
      const clusterProofs = await provider.releaseCluster(cluster, released.context);
      expect(clusterProofs[0]).toMatch(new RegExp(`^stack ${name} \\(.+\\) deleted`));
      expect(released.notes.some((n) => /^stack: \S+ DELETE_COMPLETE/.test(n))).toBe(true);
      const gone = await demo().heat.getStack(name);
      expect(gone === undefined || gone.stack_status === 'DELETE_COMPLETE').toBe(true);
      expect(await novaServers(cluster.clusterId)).toEqual([]);
      expect(await demo().nova.getKeyPair(keyPairName(cluster.clusterId))).toBeUndefined();
    } finally {
      await addresses.stop();
    }
  }, STEP_TIMEOUT);
});

describe('OpenStackProvider: quota pre-flight', () => {
  // Project tight runs on the cloud's default quotas; whatever a test squeezed goes back to them.
  afterAll(async () => {
    await resetComputeQuota('tight');
  });

  it("refuses 3 nodes in a project allowed 2 instances, naming the quota and its numbers", async () => {
    await setComputeQuota('tight', { instances: 2, cores: 100, ram: 100_000 });
    const limits = await clientOf(TIGHT).nova.getLimits();
    const used = limits.totalInstancesUsed;
    const check = await provider.checkQuota(specOf({}, 3, TIGHT));
    expect(check.invalid ?? []).toEqual([]);
    expect(check.needed.instances).toBe(3);
    expect(check.available?.instances).toBe(Math.max(0, 2 - used));
    expect(check.errors).toEqual([{
      field: 'spec.workerCount',
      message: `needs 3 instance(s) but the project's Nova quota 'instances' is 2 with ${used} in use: ${Math.max(0, 2 - used)} available`,
    }]);
    // What is left fits.
    const left = Math.max(0, 2 - used);
    if (left > 0) expect((await provider.checkQuota(specOf({}, left, TIGHT))).errors).toEqual([]);
  });

  it('refuses 2 nodes of m1.small when the cores quota is 3', async () => {
    const small = await lookUp(clientOf(TIGHT), 'flavor', 'm1.small');
    await setComputeQuota('tight', { instances: 10, cores: 3, ram: 100_000 });
    const used = (await clientOf(TIGHT).nova.getLimits()).totalCoresUsed;
    const check = await provider.checkQuota(specOf({ flavor: 'm1.small' }, 2, TIGHT));
    expect(check.needed.cores).toBe(2 * (small.vcpus ?? 0));
    expect(check.errors).toHaveLength(1);
    expect(check.errors[0].field).toBe('spec.workerCount');
    expect(check.errors[0].message).toBe(
      `needs ${2 * (small.vcpus ?? 0)} core(s) (2 x ${small.vcpus} of flavor m1.small) but the project's Nova quota 'cores' is 3 with ${used} in use: ${Math.max(0, 3 - used)} available`,
    );
  });

  it('names the flavor, image and network the cloud does not have', async () => {
    const check = await provider.checkQuota(specOf({ flavor: 'm9.nonesuch', image: 'no-such-image', network: 'no-such-net' }, 2));
    expect(check.errors).toEqual([]);
    expect(check.invalid).toEqual([
      { field: 'spec.providerOptions.flavor', message: `cloud '${DEMO}' has no flavor "m9.nonesuch"` },
      { field: 'spec.providerOptions.image', message: `cloud '${DEMO}' has no image "no-such-image"` },
      { field: 'spec.providerOptions.network', message: `cloud '${DEMO}' has no network "no-such-net"` },
    ]);
    // One at a time, the others real: each is named alone.
    expect((await provider.checkQuota(specOf({ image: 'no-such-image' }, 1))).invalid?.map((e) => e.field)).toEqual(['spec.providerOptions.image']);
    expect((await provider.checkQuota(specOf({ network: 'no-such-net' }, 1))).invalid?.map((e) => e.field)).toEqual(['spec.providerOptions.network']);
    // The demo project's own network is found (and its servers would need ports).
    const withNetwork = await provider.checkQuota(specOf({ network: 'test-net' }, 1));
    expect(withNetwork.invalid ?? []).toEqual([]);
    expect(withNetwork.needed.port).toBe(1);
  });
});

describe('OpenStackProvider: a server that goes to ERROR', () => {
  it("fails the acquire as capacity with Nova's fault, and release cleans up", async () => {
    const cluster = clusterOf(specOf({ flavor: 'm1.nohost' }, 2));
    const error = await errorOf(provider.acquire(cluster, cluster.nodes, contextOf().context));
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).category).toBe('capacity');
    expect((error as ProviderError).message).toMatch(/No valid host/);
    expect((await novaServers(cluster.clusterId)).length).toBeGreaterThan(0);

    const proofs = await provider.release(cluster, cluster.nodes, contextOf().context);
    for (const p of proofs) expect(p.proof).toMatch(/404/);
    await provider.releaseCluster(cluster);
    expect(await novaServers(cluster.clusterId)).toEqual([]);
    expect(await demo().nova.getKeyPair(keyPairName(cluster.clusterId))).toBeUndefined();
  }, STEP_TIMEOUT);
});

describe('OpenStackProvider: a stack whose servers go to ERROR', () => {
  it("fails the acquire as capacity with the member's fault, and release and releaseCluster clean up", async () => {
    const cluster = clusterOf(specOf({ template: 'true', flavor: 'm1.nohost' }, 2));
    const name = stackName(cluster.clusterId);
    const { context, notes } = contextOf();
    const error = await errorOf(provider.acquire(cluster, cluster.nodes, context));
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).category).toBe('capacity');
    expect((error as ProviderError).message).toMatch(new RegExp(`stack ${name} CREATE_FAILED: resource .*No valid host`));
    expect(notes.some((n) => /^stack: \S+ CREATE_FAILED/.test(n))).toBe(true);
    expect((await demo().heat.getStack(name))?.stack_status).toBe('CREATE_FAILED');

    // The rollback as the workflow does it: every node, then the cluster.
    const proofs = await provider.release(cluster, cluster.nodes, contextOf().context);
    expect(proofs.map((p) => p.proof)).toEqual(['no server of the stack served it', 'no server of the stack served it']);
    expect(await novaServers(cluster.clusterId)).toEqual([]);
    const clusterProofs = await provider.releaseCluster(cluster);
    expect(clusterProofs[0]).toMatch(new RegExp(`^stack ${name} \\(.+\\) deleted`));
    const gone = await demo().heat.getStack(name);
    expect(gone === undefined || gone.stack_status === 'DELETE_COMPLETE').toBe(true);
    expect(await demo().nova.getKeyPair(keyPairName(cluster.clusterId))).toBeUndefined();
  }, STEP_TIMEOUT);
});

describe('OpenStackProvider: what the sweeper sees', () => {
  it('lists a server and a key pair of ours that no cluster records, and releases them', async () => {
    const client = demo();
    const clusterId = randomUUID();
    const [flavor, image] = await Promise.all([lookUp(client, 'flavor', 'm1.tiny'), lookUp(client, 'image', 'tiny-raw')]);
    const created = await client.nova.createServer({
      name: `ms-orphan-${clusterId.slice(0, 8)}`, flavorRef: flavor.id, imageRef: image.id, networks: 'none', metadata: { [META_CLUSTER]: clusterId },
    });
    strayServers.add(created.id);
    const pairClusterId = randomUUID();
    const pairName = keyPairName(pairClusterId);
    strayKeyPairs.add(pairName);
    await client.nova.createKeyPair({ name: pairName, publicKey: keyMaterial(sshPublicKey) });

    const owned = await provider.listOwned([DEMO]);
    const server = owned.find((r) => r.providerResourceId === created.id);
    expect(server).toEqual(expect.objectContaining({ resourceType: 'server', scope: DEMO, clusterId, live: true }));
    expect(server?.nodeId).toBeUndefined();
    const pair = owned.find((r) => r.resourceType === 'key-pair' && r.providerResourceId === pairName);
    expect(pair).toEqual(expect.objectContaining({ scope: DEMO, clusterId: pairClusterId, live: true }));

    expect(await provider.releaseOwned(server as OwnedResource)).toMatch(new RegExp(`server ${created.id} .*deleted.*404`));
    expect(await client.nova.getServer(created.id)).toBeUndefined();
    expect(await provider.releaseOwned(server as OwnedResource)).toMatch(/is gone/);

    expect(await provider.releaseOwned(pair as OwnedResource)).toBe(`key pair ${pairName} deleted`);
    expect(await client.nova.getKeyPair(pairName)).toBeUndefined();
    const after = await provider.listOwned([DEMO]);
    expect(after.filter((r) => r.providerResourceId === created.id || r.providerResourceId === pairName)).toEqual([]);
  }, STEP_TIMEOUT);
});
