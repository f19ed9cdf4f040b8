// OpenStack (Jetstream and most academic clouds): nodes are Nova servers bought per cluster, one
// create each, or (providerOptions.template=true) the members of one Heat stack. Every server
// carries the cluster and node ids as metadata, so a rerun, release and the orphan sweeper find it
// whether or not the database recorded it.
import type { FieldError } from '../../domain/errors';
import type { Cluster, ClusterNode, ClusterSpec } from '../../domain/types';
import { mapSettledBounded, valuesOrThrow } from '../boundedMap';
import { atLeastOneNode, boughtNode, boughtPool, holdsResource, servingAfter, withDefaultOption } from '../serving';
import { clusterOfKeyPair, KEY_PAIR_PREFIX, keyPairName, shortId } from '../naming';
import {
  ProviderError, type AcquiredNode, type NodeDescription, type OwnedResource, type PlannedNode, type Provider, type ProvisionContext,
  type QuotaCheck, type ReleaseProof,
} from '../provider';
import type { NovaServer, OpenStackClient } from './client/index';
import { cloudClients, type CloudClients } from './clouds';
import { HeatStacks } from './heatStacks';
import { deleteKeyPair, ensureKeyPair, sshUserData } from './keyPairs';
import { META_CLUSTER, META_NODE, serverMetadata, serverName } from './metadata';
import { openStackOptionsOf, parseOpenStackOptions, type OpenStackOptions } from './options';
import { checkProjectQuota, requireRefs } from './quota';
import {
  addressOf, addressRule, bestServer, byNode, clusterServers, deleteAndWait, ensureFloatingIp, guarded, isLive, waitUntilActive,
  type CallContext, type WaitTiming,
} from './servers';

export interface OpenStackProviderOptions {
  /** The cloud of specs that name none (OPENSTACK_CLOUD, else OS_CLOUD). */
  defaultCloud?: string;
  /** Between polls while servers and stacks change (2 s). */
  pollIntervalMs?: number;
  /** Longest wait for servers to start or go (15 min). */
  waitTimeoutMs?: number;
  clients?: CloudClients;
  /**
   * Tests only (OPENSTACK_ADDRESS_METADATA_KEY): a server metadata entry that, when set, is the
   * node's address. A fake-driver server has no network to be reached on; the tests point it at a
   * test machine this way.
   */
  addressMetadataKey?: string;
}

/** Server creates in flight at once for one cluster. */
const CREATE_CONCURRENCY = 8;

export class OpenStackProvider implements Provider {
  readonly type = 'OPENSTACK' as const;
  readonly buysNodes = true;
  private readonly defaultCloud?: string;
  private readonly timing: WaitTiming;
  private readonly clients: CloudClients;
  private readonly stacks: HeatStacks;
  private readonly addressMetadataKey?: string;

  constructor(options: OpenStackProviderOptions = {}) {
    this.defaultCloud = options.defaultCloud;
    this.timing = { pollIntervalMs: options.pollIntervalMs ?? 2000, waitTimeoutMs: options.waitTimeoutMs ?? 15 * 60_000 };
    this.clients = options.clients ?? cloudClients();
    this.stacks = new HeatStacks(this.timing);
    this.addressMetadataKey = options.addressMetadataKey;
  }

  validate(spec: ClusterSpec): FieldError[] {
    const { errors } = parseOpenStackOptions(spec, this.defaultCloud);
    errors.push(...atLeastOneNode(spec, 'OpenStack'));
    return errors;
  }

  /** The cloud is written into the spec: a later change of OPENSTACK_CLOUD must not lose the cluster's servers. */
  settle(spec: ClusterSpec): ClusterSpec {
    return withDefaultOption(spec, 'cloud', this.defaultCloud);
  }

  /** workerCount nodes (1 by default), the first also the controller; addresses come with the servers. */
  plan(spec: ClusterSpec): PlannedNode[] {
    return boughtPool(spec, this.sshUserOf(spec));
  }

  planWorker(spec: ClusterSpec): PlannedNode {
    return boughtNode(['worker'], this.sshUserOf(spec));
  }

  private sshUserOf(spec: ClusterSpec): string {
    return parseOpenStackOptions(spec, this.defaultCloud).options?.sshUser ?? 'ubuntu';
  }

  /** Flavor, image and network looked up; Nova's instances, cores and RAM and Neutron's ports and floating IPs. */
  async checkQuota(spec: ClusterSpec, extraWorkers = 0): Promise<QuotaCheck> {
    const { options, errors } = parseOpenStackOptions(spec, this.defaultCloud);
    const nodes = extraWorkers > 0 ? extraWorkers : this.plan(spec).length;
    if (!options) return { needed: { instances: nodes }, errors: [], invalid: errors };
    return checkProjectQuota(() => this.clients(options.cloud), options, nodes);
  }

  async acquire(cluster: Cluster, nodes: readonly ClusterNode[], context: ProvisionContext): Promise<AcquiredNode[]> {
    if (nodes.length === 0) return [];
    const options = this.optionsOf(cluster);
    const client = this.client(options.cloud);
    const refs = await requireRefs(client, options);
    // The cluster's pair unless the user named one; the cluster's key also comes in by cloud-init.
    const keyName = options.keyName ?? await ensureKeyPair(client.nova, cluster.clusterId, context.sshPublicKey, context);
    const userData = sshUserData(context.sshPublicKey);

    let servers: Map<string, NovaServer>;
    if (options.template) {
      servers = await this.stacks.acquire(client, cluster, options, refs, keyName, userData, servingAfter(cluster, nodes), context);
    } else {
      // A rerun finds what the run before created (metadata set at create) and creates only the rest.
      const found = byNode(await clusterServers(client.nova, cluster.clusterId));
      await this.endDuplicates(client, nodes, found, context);
      const kept = nodes.filter((node) => bestServer(found.get(node.nodeId)) !== undefined);
      if (kept.length > 0) await context.note(`${kept.length} of ${nodes.length} node(s) have a server from an earlier run: kept`);
      const results = await mapSettledBounded(nodes, CREATE_CONCURRENCY, async (node): Promise<NovaServer> => {
        const existing = bestServer(found.get(node.nodeId));
        if (existing) return existing;
        const name = serverName(cluster, node);
        const created = await guarded(() => client.nova.createServer({
          name, flavorRef: refs.flavor.id, imageRef: refs.imageId, keyName, metadata: serverMetadata(cluster, node), networks: refs.networks,
          securityGroups: options.securityGroups.length > 0 ? options.securityGroups : undefined, userData,
        }));
        await context.note(`node ${shortId(node.nodeId)}: server ${created.id} (${name}) created`);
        return { id: created.id, name, status: 'BUILD', metadata: serverMetadata(cluster, node) };
      });
      const values = valuesOrThrow(results, (error) => error instanceof ProviderError && !error.retryable);
      servers = new Map(nodes.map((node, i) => [node.nodeId, values[i]]));
    }

    const rule = addressRule(options, this.addressMetadataKey);
    const ids = nodes.map((node) => this.serverOf(servers, node).id);
    const ready = await waitUntilActive(client.nova, ids, rule, this.timing, context);
    if (options.template) await this.stacks.confirmNodes(client, cluster, nodes, servers, context);
    return Promise.all(nodes.map(async (node) => {
      const server = ready.get(this.serverOf(servers, node).id) ?? this.serverOf(servers, node);
      const address = options.floatingIp && rule.metadataKey === undefined
        ? await ensureFloatingIp(client.neutron, cluster.clusterId, node, server)
        : addressOf(server, rule) ?? '';
      return { nodeId: node.nodeId, address, providerResourceId: server.id };
    }));
  }

  private serverOf(servers: Map<string, NovaServer>, node: ClusterNode): NovaServer {
    const server = servers.get(node.nodeId);
    if (server === undefined) throw new ProviderError('transient', `no server was made for node ${node.nodeId}`, 'NoServer');
    return server;
  }

  /** Two live servers for one node (a crash between create and record): the spare one goes. */
  private async endDuplicates(client: OpenStackClient, nodes: readonly ClusterNode[], found: Map<string, NovaServer[]>, context: CallContext): Promise<void> {
    const spare: NovaServer[] = [];
    for (const node of nodes) {
      const keep = bestServer(found.get(node.nodeId));
      for (const server of found.get(node.nodeId) ?? []) if (server !== keep && isLive(server)) spare.push(server);
    }
    if (spare.length === 0) return;
    await context.note?.(`deleting ${spare.length} spare server(s) made twice for the same node: ${spare.map((s) => s.id).join(', ')}`);
    await deleteAndWait(client.nova, client.neutron, spare, this.timing, context);
  }

  async describe(cluster: Cluster): Promise<NodeDescription[]> {
    const options = this.optionsOf(cluster);
    const client = this.client(options.cloud);
    const perNode = await this.serversOfNodes(client, cluster, cluster.nodes);
    const rule = addressRule(options, this.addressMetadataKey);
    return cluster.nodes.map((node) => {
      const best = bestServer(perNode.get(node.nodeId));
      if (!best) return { nodeId: node.nodeId, state: 'gone', providerResourceId: node.providerResourceId };
      return { nodeId: node.nodeId, state: describedState(best.status), address: addressOf(best, rule), providerResourceId: best.id };
    });
  }

  async release(cluster: Cluster, nodes: readonly ClusterNode[], given?: Pick<ProvisionContext, 'note' | 'signal'>): Promise<ReleaseProof[]> {
    const context: CallContext = given ?? {};
    if (nodes.length === 0) return [];
    const options = this.optionsOf(cluster);
    const client = this.client(options.cloud);
    if (options.template) {
      const leaving = new Set(nodes.map((n) => n.nodeId));
      const remaining = cluster.nodes.filter((n) => !leaving.has(n.nodeId) && holdsResource(n));
      return this.stacks.release(client, cluster, remaining, nodes, context);
    }
    const perNode = await this.serversOfNodes(client, cluster, nodes);
    const unique = new Map<string, NovaServer>();
    for (const servers of perNode.values()) for (const server of servers) unique.set(server.id, server);
    const proofs = await deleteAndWait(client.nova, client.neutron, [...unique.values()], this.timing, context);
    return nodes.map((node) => {
      const servers = perNode.get(node.nodeId) ?? [];
      if (servers.length === 0) {
        const proof = node.providerResourceId === undefined ? 'nothing was bought' : `server ${node.providerResourceId} is gone (Nova answers 404)`;
        return { nodeId: node.nodeId, providerResourceId: node.providerResourceId, proof };
      }
      return { nodeId: node.nodeId, providerResourceId: node.providerResourceId ?? servers[0].id, proof: servers.map((s) => proofs.get(s.id)).join('; ') };
    });
  }

  /** The stack (template mode), any server still tagged with the cluster, and the cluster's key pair. */
  async releaseCluster(cluster: Cluster, given?: Pick<ProvisionContext, 'note' | 'signal'>): Promise<string[]> {
    const context: CallContext = given ?? {};
    const options = this.optionsOf(cluster);
    const client = this.client(options.cloud);
    const proofs: string[] = [];
    if (options.template) proofs.push(...await this.stacks.deleteStack(client, cluster.clusterId, context));
    const leftover = (await clusterServers(client.nova, cluster.clusterId)).filter(isLive);
    if (leftover.length > 0) {
      await context.note?.(`${leftover.length} server(s) of the cluster were still there: deleting ${leftover.map((s) => s.id).join(', ')}`);
      proofs.push(...(await deleteAndWait(client.nova, client.neutron, leftover, this.timing, context)).values());
    }
    const keyName = keyPairName(cluster.clusterId);
    proofs.push(await deleteKeyPair(client.nova, keyName) ? `key pair ${keyName} deleted` : `key pair ${keyName} was not there`);
    return proofs;
  }

  scopeOf(spec: ClusterSpec): string {
    return parseOpenStackOptions(spec, this.defaultCloud).options?.cloud ?? spec.providerOptions?.cloud ?? this.defaultCloud ?? '';
  }

  async listOwned(scopes: readonly string[]): Promise<OwnedResource[]> {
    const owned: OwnedResource[] = [];
    for (const cloud of new Set(scopes)) {
      const client = this.client(cloud);
      const servers = (await guarded(() => client.nova.listServers())).filter((s) => s.metadata?.[META_CLUSTER] !== undefined);
      for (const server of servers) {
        const clusterId = server.metadata?.[META_CLUSTER];
        const nodeId = server.metadata?.[META_NODE];
        owned.push({
          providerResourceId: server.id, resourceType: 'server', scope: cloud, clusterId, nodeId, live: isLive(server),
          description: `server ${server.id} (${server.name}, ${server.status}) of cluster ${clusterId ?? '?'}${nodeId ? ` node ${shortId(nodeId)}` : ''} in cloud ${cloud}`,
        });
      }
      for (const pair of await guarded(() => client.nova.listKeyPairs())) {
        const clusterId = clusterOfKeyPair(pair.name);
        if (clusterId === undefined) continue;
        owned.push({
          providerResourceId: pair.name, resourceType: 'key-pair', scope: cloud, clusterId, live: true,
          description: `key pair ${pair.name} of cluster ${clusterId} in cloud ${cloud}`,
        });
      }
      owned.push(...await this.ownedStacks(client, cloud));
    }
    return owned;
  }

  /** Stacks of ours; none on a cloud without Heat. */
  private async ownedStacks(client: OpenStackClient, cloud: string): Promise<OwnedResource[]> {
    try {
      return await this.stacks.listStacks(client, cloud);
    } catch (error) {
      if (error instanceof ProviderError && error.code === 'EndpointNotFound') return [];
      throw error;
    }
  }

  async releaseOwned(resource: OwnedResource): Promise<string> {
    const client = this.client(resource.scope);
    switch (resource.resourceType) {
      case 'server': {
        const server = await guarded(() => client.nova.getServer(resource.providerResourceId));
        if (server === undefined) return `server ${resource.providerResourceId} is gone (Nova answers 404)`;
        if (!isLive(server)) return `server ${server.id} is ${server.status}`;
        const proofs = await deleteAndWait(client.nova, client.neutron, [server], this.timing, {});
        return proofs.get(server.id) ?? `server ${server.id} deleted`;
      }
      case 'key-pair':
        if (!resource.providerResourceId.startsWith(KEY_PAIR_PREFIX)) throw new ProviderError('bad_request', `key pair ${resource.providerResourceId} is not ours`);
        return await deleteKeyPair(client.nova, resource.providerResourceId)
          ? `key pair ${resource.providerResourceId} deleted`
          : `key pair ${resource.providerResourceId} was not there`;
      case 'stack':
        return this.stacks.deleteOwnedStack(client, resource);
      default:
        throw new ProviderError('bad_request', `OpenStack holds no resources of type ${JSON.stringify(resource.resourceType)}`);
    }
  }

  private optionsOf(cluster: Cluster): OpenStackOptions {
    return openStackOptionsOf(cluster.spec, this.defaultCloud);
  }

  private client(cloud: string): OpenStackClient {
    return this.clients(cloud);
  }

  /** Each node's servers: by the node metadata, and by the recorded server id for one that lost it. */
  private async serversOfNodes(client: OpenStackClient, cluster: Cluster, nodes: readonly ClusterNode[]): Promise<Map<string, NovaServer[]>> {
    const tagged = byNode(await clusterServers(client.nova, cluster.clusterId));
    const seen = new Set([...tagged.values()].flat().map((s) => s.id));
    const perNode = new Map<string, NovaServer[]>();
    for (const node of nodes) {
      const servers = [...(tagged.get(node.nodeId) ?? [])];
      if (node.providerResourceId !== undefined && !seen.has(node.providerResourceId)) {
        const recorded = await guarded(() => client.nova.getServer(node.providerResourceId as string));
        if (recorded !== undefined && isLive(recorded)) servers.push(recorded);
      }
      if (servers.length > 0) perNode.set(node.nodeId, servers);
    }
    return perNode;
  }
}

function describedState(status: NovaServer['status']): NodeDescription['state'] {
  if (status === 'ACTIVE') return 'running';
  if (status === 'BUILD' || status === 'REBOOT' || status === 'HARD_REBOOT' || status === 'REBUILD') return 'pending';
  if (status === 'DELETED' || status === 'SOFT_DELETED') return 'gone';
  return 'stopped';
}
