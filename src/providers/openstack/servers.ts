// A cluster's Nova servers: found by their metadata, waited for until ACTIVE (or ERROR, whose fault
// is the failure), deleted and watched until Nova no longer knows them. Shared by the provider's
// server mode and its Heat mode, whose group members are Nova servers too.
import type { ClusterNode } from '../../domain/types';
import type { ProvisionContext } from '../provider';
import { ProviderError } from '../provider';
import { pause } from '../pause';
import {
  serverAddresses, serverFault, toProviderError, type NeutronClient, type NovaClient, type NovaServer,
} from './client/index';
import { META_CLUSTER, META_NODE } from './metadata';
import type { OpenStackOptions } from './options';

export type CallContext = Partial<Pick<ProvisionContext, 'note' | 'signal'>>;

export interface WaitTiming {
  pollIntervalMs: number;
  waitTimeoutMs: number;
}

/** How the service reaches a server: its floating or fixed address, or (tests) a metadata entry. */
export interface AddressRule {
  floatingIp: boolean;
  network: string;
  /** A metadata key whose value, when set, is the address (OPENSTACK_ADDRESS_METADATA_KEY). */
  metadataKey?: string;
}

export function addressRule(options: OpenStackOptions, metadataKey?: string): AddressRule {
  return { floatingIp: options.floatingIp, network: options.network, metadataKey };
}

/** The address the service reaches the server at; undefined while it has none. */
export function addressOf(server: NovaServer, rule: AddressRule): string | undefined {
  if (rule.metadataKey !== undefined) {
    const given = server.metadata?.[rule.metadataKey];
    if (given !== undefined && given !== '') return given;
  }
  const { fixed, floating } = serverAddresses(server);
  if (rule.floatingIp) return floating[0]?.address;
  // The named network's IPv4 first, then any IPv4, then whatever there is.
  const ordered = [
    ...fixed.filter((a) => a.network === rule.network && a.version === 4),
    ...fixed.filter((a) => a.version === 4),
    ...fixed,
  ];
  return ordered[0]?.address;
}

/** A server still there (costing quota): anything Nova has not deleted. */
export function isLive(server: NovaServer): boolean {
  return server.status !== 'DELETED' && server.status !== 'SOFT_DELETED';
}

/** Every server tagged with the cluster. */
export async function clusterServers(nova: NovaClient, clusterId: string): Promise<NovaServer[]> {
  return guarded(() => nova.listServers({ metadata: { [META_CLUSTER]: clusterId } }));
}

/** Servers by the node id in their metadata (members of a stack not yet assigned have none). */
export function byNode(servers: readonly NovaServer[]): Map<string, NovaServer[]> {
  const out = new Map<string, NovaServer[]>();
  for (const server of servers) {
    const nodeId = server.metadata?.[META_NODE];
    if (nodeId === undefined || !isLive(server)) continue;
    out.set(nodeId, [...(out.get(nodeId) ?? []), server]);
  }
  return out;
}

// ACTIVE first, then those on their way; a server in ERROR only when there is nothing else.
const PREFERENCE: readonly string[] = ['ACTIVE', 'BUILD', 'REBOOT', 'HARD_REBOOT', 'SHUTOFF'];

/** The server a node keeps when a crash left it two. */
export function bestServer(servers: readonly NovaServer[] | undefined): NovaServer | undefined {
  const live = (servers ?? []).filter(isLive);
  const rank = (s: NovaServer): number => {
    const i = PREFERENCE.indexOf(s.status);
    return i === -1 ? PREFERENCE.length : i;
  };
  return [...live].sort((a, b) => rank(a) - rank(b) || (a.created ?? '').localeCompare(b.created ?? ''))[0];
}

/**
 * Waits until every server is ACTIVE with an address. A server in ERROR ends the wait with its
 * fault ("No valid host was found" is capacity); one Nova forgets is a transient failure.
 */
export async function waitUntilActive(
  nova: NovaClient, ids: readonly string[], rule: AddressRule, timing: WaitTiming, context: CallContext,
): Promise<Map<string, NovaServer>> {
  const ready = new Map<string, NovaServer>();
  const deadline = Date.now() + timing.waitTimeoutMs;
  let reported = -1;
  while (ready.size < ids.length) {
    for (const id of ids) {
      if (ready.has(id)) continue;
      const server = await guarded(() => nova.getServer(id));
      if (server === undefined) throw new ProviderError('transient', `server ${id} vanished while it was starting`, 'ServerGone');
      if (server.status === 'ERROR') {
        const fault = serverFault(server);
        throw fault ? toProviderError(fault) : new ProviderError('transient', `server ${id} (${server.name}) went to ERROR without a fault`, 'ServerError');
      }
      if (server.status === 'ACTIVE' && addressOf(server, rule) !== undefined) ready.set(id, server);
    }
    if (ready.size !== reported) {
      reported = ready.size;
      await context.note?.(`${ready.size} of ${ids.length} server(s) ACTIVE with an address`);
    }
    if (ready.size === ids.length) break;
    if (Date.now() > deadline) {
      throw new ProviderError('transient', `servers not ACTIVE with an address after ${Math.round(timing.waitTimeoutMs / 1000)} s: `
        + ids.filter((id) => !ready.has(id)).join(', '), 'WaitTimeout');
    }
    await pause(timing.pollIntervalMs, context.signal, 'waiting for servers to start');
  }
  return ready;
}

/**
 * Deletes the servers and waits until Nova no longer knows them (404): the proof that nothing of
 * theirs is still billed. Floating IPs bound to them go first (they outlive a server otherwise).
 */
export async function deleteAndWait(
  nova: NovaClient, neutron: NeutronClient | undefined, servers: readonly NovaServer[], timing: WaitTiming, context: CallContext,
): Promise<Map<string, string>> {
  const proofs = new Map<string, string>();
  if (servers.length === 0) return proofs;
  for (const server of servers) {
    const released = neutron ? await releaseFloatingIps(neutron, server.id) : [];
    const took = await guarded(() => nova.deleteServer(server.id));
    const ips = released.length > 0 ? `, floating IP ${released.join(', ')} released` : '';
    proofs.set(server.id, took ? `server ${server.id} (${server.name}) deleted${ips}` : `server ${server.id} was already gone${ips}`);
  }
  await context.note?.(`deleting ${servers.length} server(s): ${servers.map((s) => s.id).join(', ')}`);
  const deadline = Date.now() + timing.waitTimeoutMs;
  const waiting = new Set(servers.map((s) => s.id));
  // DELETED is Nova's short step between the hypervisor letting go and the record going: the
  // server is still listed then, so the wait goes on to the 404 unless the deadline comes first.
  const deletedSeen = new Set<string>();
  while (waiting.size > 0) {
    for (const id of [...waiting]) {
      const server = await guarded(() => nova.getServer(id));
      if (server === undefined) {
        waiting.delete(id);
        proofs.set(id, `${proofs.get(id) ?? `server ${id} deleted`}; Nova answers 404 for it`);
      } else if (server.status === 'DELETED') {
        deletedSeen.add(id);
      } else if (server.status === 'ERROR' && server['OS-EXT-STS:task_state'] == null) {
        // A delete that failed leaves the server in ERROR: ask again.
        await guarded(() => nova.deleteServer(id));
      }
    }
    if (waiting.size === 0) break;
    if (Date.now() > deadline) {
      const stuck = [...waiting].filter((id) => !deletedSeen.has(id));
      if (stuck.length === 0) {
        for (const id of waiting) proofs.set(id, `${proofs.get(id) ?? `server ${id} deleted`}; Nova shows it DELETED`);
        break;
      }
      throw new ProviderError('transient', `servers still there ${Math.round(timing.waitTimeoutMs / 1000)} s after their delete: ${stuck.join(', ')}`, 'DeleteTimeout');
    }
    await pause(timing.pollIntervalMs, context.signal, 'waiting for servers to be deleted');
  }
  return proofs;
}

/** Releases the floating IPs bound to a server's ports; their addresses. */
export async function releaseFloatingIps(neutron: NeutronClient, serverId: string): Promise<string[]> {
  const addresses: string[] = [];
  for (const ip of await guarded(() => neutron.floatingIpsOfDevice(serverId))) {
    if (await guarded(() => neutron.deleteFloatingIp(ip.id))) addresses.push(ip.floating_ip_address);
  }
  return addresses;
}

/**
 * The node's floating address: the one bound to its server's port, else a new one from the first
 * external network, described with the cluster and node so it is found again.
 */
export async function ensureFloatingIp(neutron: NeutronClient, clusterId: string, node: ClusterNode, server: NovaServer): Promise<string> {
  const bound = await guarded(() => neutron.floatingIpsOfDevice(server.id));
  if (bound.length > 0) return bound[0].floating_ip_address;
  const ports = await guarded(() => neutron.listPorts({ deviceId: server.id }));
  if (ports.length === 0) throw new ProviderError('bad_request', `server ${server.id} has no port to bind a floating IP to`, 'NoPort');
  const external = (await guarded(() => neutron.listNetworks({ external: true })))[0];
  if (external === undefined) throw new ProviderError('bad_request', 'the cloud has no external network to take a floating IP from', 'NoExternalNetwork');
  const ip = await guarded(() => neutron.createFloatingIp({
    floatingNetworkId: external.id, portId: ports[0].id, description: `${META_CLUSTER}=${clusterId} ${META_NODE}=${node.nodeId}`,
  }));
  return ip.floating_ip_address;
}

/** Any failure of the client as a ProviderError (category and the service's own code kept). */
export async function guarded<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toProviderError(error);
  }
}
