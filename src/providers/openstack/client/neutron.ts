// Neutron (network v2.0): networks, ports, security groups and their rules, floating IPs, quotas.
import type { HttpResponse, Query } from './http';
import type { OpenStackSession, ServiceCall } from './session';
import { allPages, ambiguousName, isObject, listAt, looksLikeUuid, nextHref, objectAt, segment } from './wire';

export interface NeutronNetwork {
  id: string;
  name: string;
  status: string;
  admin_state_up?: boolean;
  shared?: boolean;
  'router:external'?: boolean;
  subnets?: string[];
  project_id?: string;
  mtu?: number;
}

export interface NeutronPort {
  id: string;
  name: string;
  network_id: string;
  device_id: string;
  device_owner: string;
  status: string;
  mac_address?: string;
  fixed_ips: Array<{ ip_address: string; subnet_id: string }>;
  security_groups?: string[];
  project_id?: string;
}

export interface SecurityGroupRule {
  id: string;
  security_group_id: string;
  direction: 'ingress' | 'egress';
  ethertype: 'IPv4' | 'IPv6';
  protocol: string | null;
  port_range_min: number | null;
  port_range_max: number | null;
  remote_ip_prefix: string | null;
  remote_group_id: string | null;
  remote_address_group_id?: string | null;
  description?: string;
  project_id?: string;
}

export interface SecurityGroup {
  id: string;
  name: string;
  description: string;
  security_group_rules: SecurityGroupRule[];
  project_id?: string;
  stateful?: boolean;
  tags?: string[];
}

export interface FloatingIp {
  id: string;
  floating_ip_address: string;
  floating_network_id: string;
  fixed_ip_address: string | null;
  port_id: string | null;
  router_id?: string | null;
  status: string;
  description?: string;
  project_id?: string;
  port_details?: { device_id?: string; device_owner?: string; network_id?: string; status?: string } | null;
}

/** Limit (and, from the quota_details extension, use and reservations) of one resource; -1 is unlimited. */
export interface NeutronQuota {
  limit: number;
  used?: number;
  reserved?: number;
}

export interface CreateSecurityGroupRuleInput {
  securityGroupId: string;
  direction: 'ingress' | 'egress';
  ethertype?: 'IPv4' | 'IPv6';
  protocol?: string;
  portRangeMin?: number;
  portRangeMax?: number;
  remoteIpPrefix?: string;
  remoteGroupId?: string;
  remoteAddressGroupId?: string;
  description?: string;
}

export interface CreateFloatingIpInput {
  floatingNetworkId: string;
  portId?: string;
  fixedIpAddress?: string;
  subnetId?: string;
  floatingIpAddress?: string;
  description?: string;
}

export class NeutronClient {
  constructor(private readonly session: OpenStackSession) {}

  // -- networks and ports

  async listNetworks(filter: { name?: string; id?: string; external?: boolean } = {}): Promise<NeutronNetwork[]> {
    return this.list<NeutronNetwork>('/networks', 'networks', { name: filter.name, id: filter.id, 'router:external': filter.external });
  }

  /** The network with this id, else the one with this name; undefined when none; an error when the name is not unique. */
  async findNetwork(nameOrId: string): Promise<NeutronNetwork | undefined> {
    // Only an id-shaped value is sent as an id filter: Neutron may refuse one that is not a UUID.
    if (looksLikeUuid(nameOrId)) {
      const byId = await this.listNetworks({ id: nameOrId });
      if (byId.length > 0) return byId[0];
    }
    const named = await this.listNetworks({ name: nameOrId });
    if (named.length > 1) throw ambiguousName('network', 'network', nameOrId, named.length);
    return named[0];
  }

  async listPorts(filter: { deviceId?: string; networkId?: string } = {}): Promise<NeutronPort[]> {
    return this.list<NeutronPort>('/ports', 'ports', { device_id: filter.deviceId, network_id: filter.networkId });
  }

  // -- security groups

  async listSecurityGroups(filter: { name?: string; projectId?: string } = {}): Promise<SecurityGroup[]> {
    return this.list<SecurityGroup>('/security-groups', 'security_groups', { name: filter.name, project_id: filter.projectId });
  }

  async createSecurityGroup(input: { name: string; description?: string; stateful?: boolean }): Promise<SecurityGroup> {
    const security_group = { name: input.name, description: input.description, stateful: input.stateful };
    const response = await this.call({ method: 'POST', path: '/security-groups', json: { security_group } });
    return objectAt<SecurityGroup>('network', response, 'security_group');
  }

  /** True when deleted, false when it was already gone. */
  async deleteSecurityGroup(id: string): Promise<boolean> {
    const response = await this.call({ method: 'DELETE', path: `/security-groups/${segment(id)}`, accept: [404] });
    return response.status !== 404;
  }

  /** A second identical rule is refused with 409 "SecurityGroupRuleExists" (bad_request): the caller may treat it as done. */
  async createSecurityGroupRule(input: CreateSecurityGroupRuleInput): Promise<SecurityGroupRule> {
    const security_group_rule = {
      direction: input.direction,
      port_range_min: input.portRangeMin,
      ethertype: input.ethertype ?? 'IPv4',
      port_range_max: input.portRangeMax,
      protocol: input.protocol,
      remote_ip_prefix: input.remoteIpPrefix,
      remote_group_id: input.remoteGroupId,
      remote_address_group_id: input.remoteAddressGroupId,
      security_group_id: input.securityGroupId,
      description: input.description,
    };
    // The duplicate check above makes a second send harmless.
    const response = await this.call({ method: 'POST', path: '/security-group-rules', json: { security_group_rule }, resendable: true });
    return objectAt<SecurityGroupRule>('network', response, 'security_group_rule');
  }

  // -- floating IPs

  async createFloatingIp(input: CreateFloatingIpInput): Promise<FloatingIp> {
    const floatingip = {
      floating_network_id: input.floatingNetworkId,
      port_id: input.portId,
      subnet_id: input.subnetId,
      fixed_ip_address: input.fixedIpAddress,
      floating_ip_address: input.floatingIpAddress,
      description: input.description,
    };
    // Not retried after a lost connection: a second POST would allocate (and bill) a second address.
    const response = await this.call({ method: 'POST', path: '/floatingips', json: { floatingip } });
    return objectAt<FloatingIp>('network', response, 'floatingip');
  }

  /** True when released, false when it was already gone. */
  async deleteFloatingIp(id: string): Promise<boolean> {
    const response = await this.call({ method: 'DELETE', path: `/floatingips/${segment(id)}`, accept: [404] });
    return response.status !== 404;
  }

  /** Floating IPs, by the ports they are bound to (any of them) or by address/network. */
  async listFloatingIps(filter: { portIds?: readonly string[]; floatingNetworkId?: string; floatingIpAddress?: string; description?: string } = {}): Promise<FloatingIp[]> {
    // No port_id at all would be no filter at all: every floating IP of the project.
    if (filter.portIds !== undefined && filter.portIds.length === 0) return [];
    return this.list<FloatingIp>('/floatingips', 'floatingips', {
      port_id: filter.portIds, floating_network_id: filter.floatingNetworkId,
      floating_ip_address: filter.floatingIpAddress, description: filter.description,
    });
  }

  /** Floating IPs bound to any port of a device (a server's id). */
  async floatingIpsOfDevice(deviceId: string): Promise<FloatingIp[]> {
    const ports = await this.listPorts({ deviceId });
    if (ports.length === 0) return [];
    return this.listFloatingIps({ portIds: ports.map((port) => port.id) });
  }

  // -- quotas

  /**
   * The project's network quotas, with use when the quota_details extension is there (it is on
   * any Neutron from Pike on); else the plain limits.
   */
  async getQuota(projectId?: string): Promise<Record<string, NeutronQuota>> {
    const project = segment(projectId ?? await this.session.projectId());
    const detailed = await this.call({ method: 'GET', path: `/quotas/${project}/details.json`, accept: [404] });
    if (detailed.status !== 404) {
      const out: Record<string, NeutronQuota> = {};
      for (const [name, usage] of Object.entries(objectAt<Record<string, unknown>>('network', detailed, 'quota'))) {
        if (isObject(usage) && typeof usage.limit === 'number') {
          out[name] = { limit: usage.limit, used: numberOr(usage.used), reserved: numberOr(usage.reserved) };
        }
      }
      return out;
    }
    const plain = await this.call({ method: 'GET', path: `/quotas/${project}` });
    const out: Record<string, NeutronQuota> = {};
    for (const [name, limit] of Object.entries(objectAt<Record<string, unknown>>('network', plain, 'quota'))) {
      if (typeof limit === 'number') out[name] = { limit };
    }
    return out;
  }

  // -- helpers

  /** A filtered list, following <key>_links pages when Neutron paginates. */
  private list<T>(path: string, key: string, filter: Query): Promise<T[]> {
    return allPages<T>(filter, async (query) => {
      const response = await this.call({ method: 'GET', path, query });
      const links = isObject(response.body) ? response.body[`${key}_links`] : undefined;
      return { items: listAt<T>('network', response, key), next: nextHref(links) };
    });
  }

  private call(call: ServiceCall): Promise<HttpResponse> {
    return this.session.call('network', call);
  }
}

function numberOr(value: unknown): number | undefined {
  return typeof value === 'number' ? value : undefined;
}
