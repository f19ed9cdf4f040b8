// Nova (compute v2.1): servers, their metadata, faults and addresses, flavors, key pairs, limits.
// Every call carries the compute microversion, so the shapes we read do not change under us when
// the cloud is upgraded. 2.37 by default: from there a server can be booted with "networks": "none"
// (or "auto"), and "networks" is required on create.
import { categorize, OpenStackError } from './errors';
import type { HttpResponse, Query } from './http';
import type { OpenStackSession, ServiceCall } from './session';
import { allPages, ambiguousName, isObject, listAt, nextHref, objectAt, segment } from './wire';

export const DEFAULT_COMPUTE_MICROVERSION = '2.37';

// ---------------------------------------------------------------------------------------------
// Microversions

export interface MicroversionRange {
  min: string;
  max: string;
}

function parts(version: string): [number, number] {
  const match = /^(\d+)\.(\d+)$/.exec(version.trim());
  if (match === null) throw new RangeError(`"${version}" is not a microversion like 2.37`);
  return [Number(match[1]), Number(match[2])];
}

/** Negative, zero or positive as a is older than, the same as or newer than b ("2.9" < "2.10"). */
export function compareMicroversions(a: string, b: string): number {
  const [aMajor, aMinor] = parts(a);
  const [bMajor, bMinor] = parts(b);
  return aMajor !== bMajor ? aMajor - bMajor : aMinor - bMinor;
}

/** The version to use: the one wanted, or the cloud's newest when that is older. */
export function chooseMicroversion(wanted: string, supported: MicroversionRange): string {
  if (compareMicroversions(wanted, supported.min) < 0) {
    throw new OpenStackError({
      service: 'compute', category: 'bad_request', code: 'MicroversionUnsupported',
      message: `compute microversion ${wanted} is older than the cloud's oldest (${supported.min})`,
    });
  }
  return compareMicroversions(wanted, supported.max) > 0 ? supported.max : wanted;
}

/** Both header spellings: OpenStack-API-Version is read from 2.27 on, the Nova-specific one before. */
export function microversionHeaders(version: string): Record<string, string> {
  return { 'OpenStack-API-Version': `compute ${version}`, 'X-OpenStack-Nova-API-Version': version };
}

export interface ComputeVersion {
  id: string;
  status: string;
  /** The newest microversion; "" for an API without microversions (v2.0). */
  version: string;
  min_version: string;
  updated?: string;
  links?: Array<{ href: string; rel: string }>;
}

/** The v2.1 entry of Nova's version document ({"versions": [...]} at the root, {"version": {...}} at /v2.1/). */
export function microversionRangeOf(document: unknown): MicroversionRange | undefined {
  if (!isObject(document)) return undefined;
  const candidates: unknown[] = Array.isArray(document.versions) ? document.versions : [document.version];
  const entry = candidates.find((v): v is ComputeVersion => isObject(v) && v.id === 'v2.1' && typeof v.version === 'string');
  if (entry === undefined || entry.version === '') return undefined;
  return { min: entry.min_version === '' ? '2.1' : entry.min_version, max: entry.version };
}

// ---------------------------------------------------------------------------------------------
// Wire shapes

export const SERVER_STATUSES = [
  'ACTIVE', 'BUILD', 'DELETED', 'ERROR', 'HARD_REBOOT', 'MIGRATING', 'PASSWORD', 'PAUSED', 'REBOOT', 'REBUILD', 'RESCUE',
  'RESIZE', 'REVERT_RESIZE', 'SHELVED', 'SHELVED_OFFLOADED', 'SHUTOFF', 'SOFT_DELETED', 'SUSPENDED', 'UNKNOWN', 'VERIFY_RESIZE',
] as const;
export type ServerStatus = (typeof SERVER_STATUSES)[number];

export interface NovaAddress {
  addr: string;
  version: number;
  'OS-EXT-IPS:type'?: 'fixed' | 'floating';
  'OS-EXT-IPS-MAC:mac_addr'?: string;
}

/** Set on a server in ERROR (or DELETED) state: why the build or an action failed. */
export interface NovaFault {
  code?: number;
  message: string;
  created?: string;
  /** Admin-oriented (may be a traceback); not carried into errors. */
  details?: string;
}

export interface NovaServer {
  id: string;
  name: string;
  status: ServerStatus;
  addresses?: Record<string, NovaAddress[]>;
  metadata?: Record<string, string>;
  fault?: NovaFault;
  key_name?: string | null;
  flavor?: { original_name?: string; vcpus?: number; ram?: number; disk?: number; id?: string };
  image?: { id?: string } | '';
  tenant_id?: string;
  user_id?: string;
  created?: string;
  updated?: string;
  tags?: string[];
  security_groups?: Array<{ name: string }>;
  'OS-EXT-STS:task_state'?: string | null;
  'OS-EXT-STS:vm_state'?: string;
  'OS-EXT-AZ:availability_zone'?: string;
}

export interface CreatedServer {
  id: string;
  links?: Array<{ href: string; rel: string }>;
}

export interface NovaFlavor {
  id: string;
  name: string;
  vcpus: number;
  ram: number;
  disk: number;
  swap?: number | '';
  'OS-FLV-EXT-DATA:ephemeral'?: number;
  'os-flavor-access:is_public'?: boolean;
  description?: string | null;
  extra_specs?: Record<string, string>;
}

export interface NovaKeyPair {
  name: string;
  fingerprint: string;
  public_key: string;
  type?: string;
  user_id?: string;
}

/** GET /limits "absolute"; -1 is unlimited. Network and image fields are gone from 2.36/2.57 on. */
export interface AbsoluteLimits {
  maxTotalCores: number;
  totalCoresUsed: number;
  maxTotalInstances: number;
  totalInstancesUsed: number;
  maxTotalRAMSize: number;
  totalRAMUsed: number;
  maxTotalKeypairs?: number;
  maxServerMeta?: number;
  maxServerGroups?: number;
  maxServerGroupMembers?: number;
  totalServerGroupsUsed?: number;
  [other: string]: number | undefined;
}

export interface QuotaUsage {
  in_use: number;
  limit: number;
  reserved: number;
}

export type NetworkChoice = { uuid: string; fixed_ip?: string } | { port: string };

export interface CreateServerInput {
  name: string;
  flavorRef: string;
  imageRef?: string;
  keyName?: string;
  metadata?: Readonly<Record<string, string>>;
  /** "none": no network at all; "auto": the project's auto-allocated one; else these networks or ports. */
  networks: 'none' | 'auto' | readonly NetworkChoice[];
  /** Security group names. */
  securityGroups?: readonly string[];
  /** Plain text (cloud-init); sent base64-encoded as Nova wants it. */
  userData?: string;
  availabilityZone?: string;
}

// Nova refuses user_data over 64 KiB once encoded.
const MAX_USER_DATA = 65535;

export interface ServerFilter {
  /** Servers whose name starts with this (sent to Nova as an anchored regular expression). */
  namePrefix?: string;
  /** Servers carrying all of these metadata entries (filtered here: Nova filters no metadata). */
  metadata?: Readonly<Record<string, string>>;
  status?: ServerStatus;
  /** Servers per page; Nova's own limit (1000 by default) otherwise. */
  pageSize?: number;
}

// ---------------------------------------------------------------------------------------------
// The client

export class NovaClient {
  constructor(private readonly session: OpenStackSession, readonly microversion: string = DEFAULT_COMPUTE_MICROVERSION) {
    // A malformed version fails here, at construction, not on the first call.
    parts(microversion);
  }

  /** The same client speaking another microversion (after chooseMicroversion, say). */
  withMicroversion(version: string): NovaClient {
    return new NovaClient(this.session, version);
  }

  /** What the cloud's Nova supports, from its version document. */
  async supportedMicroversions(): Promise<MicroversionRange> {
    const root = await this.session.root('compute');
    // The catalog names ".../v2.1/<project>"; the version document is at the API's root.
    const versionsUrl = `${root.replace(/\/v2(\.\d+)?(\/.*)?$/, '')}/`;
    const response = await this.session.http.send({ service: 'compute', method: 'GET', url: versionsUrl });
    const range = microversionRangeOf(response.body);
    if (range === undefined) {
      throw new OpenStackError({
        service: 'compute', category: 'transient', code: 'BadResponse', status: response.status,
        path: new URL(response.url).pathname, message: 'the version document lists no v2.1 API with microversions',
      });
    }
    return range;
  }

  // -- servers

  async createServer(input: CreateServerInput): Promise<CreatedServer> {
    const userData = input.userData === undefined ? undefined : Buffer.from(input.userData, 'utf8').toString('base64');
    if (userData !== undefined && userData.length > MAX_USER_DATA) {
      throw new OpenStackError({
        service: 'compute', category: 'bad_request', code: 'UserDataTooLarge',
        message: `user data is ${userData.length} bytes once base64-encoded; Nova takes at most ${MAX_USER_DATA}`,
      });
    }
    const server = {
      name: input.name,
      imageRef: input.imageRef,
      flavorRef: input.flavorRef,
      key_name: input.keyName,
      availability_zone: input.availabilityZone,
      metadata: input.metadata,
      security_groups: input.securityGroups?.map((name) => ({ name })),
      user_data: userData,
      networks: input.networks,
    };
    // Not retried after a lost connection: a second POST would boot a second server. The caller
    // finds out by listing servers by name or metadata.
    const response = await this.call({ method: 'POST', path: '/servers', json: { server } });
    // Only id and links: the answer also holds the server's admin password.
    const created = objectAt<CreatedServer>('compute', response, 'server');
    return { id: created.id, links: created.links };
  }

  /** The server, or undefined when Nova does not know it (never created, or deleted and gone). */
  async getServer(id: string): Promise<NovaServer | undefined> {
    const response = await this.call({ method: 'GET', path: `/servers/${segment(id)}`, accept: [404] });
    return response.status === 404 ? undefined : objectAt<NovaServer>('compute', response, 'server');
  }

  /** Every server (detailed) matching the filter, across all pages. */
  async listServers(filter: ServerFilter = {}): Promise<NovaServer[]> {
    const first: Query = {
      name: filter.namePrefix === undefined ? undefined : `^${escapeRegex(filter.namePrefix)}`,
      status: filter.status,
      limit: filter.pageSize,
    };
    const servers = await allPages<NovaServer>(first, async (query) => {
      const response = await this.call({ method: 'GET', path: '/servers/detail', query });
      return { items: listAt<NovaServer>('compute', response, 'servers'), next: nextHref(bodyField(response, 'servers_links')) };
    });
    const wanted = Object.entries(filter.metadata ?? {});
    return servers.filter((server) => wanted.every(([key, value]) => server.metadata?.[key] === value));
  }

  /** True when Nova took the delete, false when the server was already gone. */
  async deleteServer(id: string): Promise<boolean> {
    const response = await this.call({ method: 'DELETE', path: `/servers/${segment(id)}`, accept: [404] });
    return response.status !== 404;
  }

  async getServerMetadata(id: string): Promise<Record<string, string>> {
    const response = await this.call({ method: 'GET', path: `/servers/${segment(id)}/metadata` });
    return objectAt<Record<string, string>>('compute', response, 'metadata');
  }

  /** Adds or changes these entries, keeping the others; returns all of the server's metadata. */
  async updateServerMetadata(id: string, metadata: Readonly<Record<string, string>>): Promise<Record<string, string>> {
    // Setting the same entries twice ends the same way: safe to send again.
    const response = await this.call({ method: 'POST', path: `/servers/${segment(id)}/metadata`, json: { metadata }, resendable: true });
    return objectAt<Record<string, string>>('compute', response, 'metadata');
  }

  /** Replaces all of the server's metadata with these entries. */
  async replaceServerMetadata(id: string, metadata: Readonly<Record<string, string>>): Promise<Record<string, string>> {
    const response = await this.call({ method: 'PUT', path: `/servers/${segment(id)}/metadata`, json: { metadata } });
    return objectAt<Record<string, string>>('compute', response, 'metadata');
  }

  // -- flavors

  async listFlavors(): Promise<NovaFlavor[]> {
    return allPages<NovaFlavor>({}, async (query) => {
      const response = await this.call({ method: 'GET', path: '/flavors/detail', query });
      return { items: listAt<NovaFlavor>('compute', response, 'flavors'), next: nextHref(bodyField(response, 'flavors_links')) };
    });
  }

  /** The flavor with this id, else the one with this name; undefined when none; an error when the name is not unique. */
  async findFlavor(nameOrId: string): Promise<NovaFlavor | undefined> {
    const byId = await this.call({ method: 'GET', path: `/flavors/${segment(nameOrId)}`, accept: [404] });
    if (byId.status !== 404) return objectAt<NovaFlavor>('compute', byId, 'flavor');
    const named = (await this.listFlavors()).filter((flavor) => flavor.name === nameOrId);
    if (named.length > 1) throw ambiguousName('compute', 'flavor', nameOrId, named.length);
    return named[0];
  }

  // -- key pairs

  /** Imports a public key under this name (Nova stopped generating key pairs at 2.92). */
  async createKeyPair(input: { name: string; publicKey: string }): Promise<NovaKeyPair> {
    // "type" exists from 2.2 on; older microversions reject unknown fields.
    const type = compareMicroversions(this.microversion, '2.2') >= 0 ? { type: 'ssh' } : {};
    const response = await this.call({ method: 'POST', path: '/os-keypairs', json: { keypair: { name: input.name, ...type, public_key: input.publicKey } } });
    return keyPairFields(objectAt<NovaKeyPair>('compute', response, 'keypair'));
  }

  /** The user's key pairs (Nova keeps them per user, not per project). */
  async listKeyPairs(): Promise<NovaKeyPair[]> {
    const response = await this.call({ method: 'GET', path: '/os-keypairs' });
    return listAt<{ keypair: NovaKeyPair }>('compute', response, 'keypairs').map((entry) => keyPairFields(entry.keypair));
  }

  async getKeyPair(name: string): Promise<NovaKeyPair | undefined> {
    const response = await this.call({ method: 'GET', path: `/os-keypairs/${segment(name)}`, accept: [404] });
    return response.status === 404 ? undefined : keyPairFields(objectAt<NovaKeyPair>('compute', response, 'keypair'));
  }

  /** True when deleted, false when there was no such key pair. */
  async deleteKeyPair(name: string): Promise<boolean> {
    const response = await this.call({ method: 'DELETE', path: `/os-keypairs/${segment(name)}`, accept: [404] });
    return response.status !== 404;
  }

  // -- limits and quotas

  async getLimits(): Promise<AbsoluteLimits> {
    const response = await this.call({ method: 'GET', path: '/limits' });
    const limits = objectAt<{ absolute?: unknown }>('compute', response, 'limits');
    if (!isObject(limits.absolute)) {
      throw new OpenStackError({ service: 'compute', category: 'transient', code: 'BadResponse', status: response.status, message: 'the limits have no "absolute" part' });
    }
    return limits.absolute as AbsoluteLimits;
  }

  /** Limit, use and reservations per resource for a project (this token's when absent). */
  async getQuotaDetails(projectId?: string): Promise<Record<string, QuotaUsage>> {
    const project = projectId ?? await this.session.projectId();
    const response = await this.call({ method: 'GET', path: `/os-quota-sets/${segment(project)}/detail` });
    const set = objectAt<Record<string, unknown>>('compute', response, 'quota_set');
    const out: Record<string, QuotaUsage> = {};
    for (const [name, usage] of Object.entries(set)) if (isObject(usage)) out[name] = usage as unknown as QuotaUsage;
    return out;
  }

  private call(call: ServiceCall): Promise<HttpResponse> {
    return this.session.call('compute', { ...call, headers: { ...call.headers, ...microversionHeaders(this.microversion) } });
  }
}

// ---------------------------------------------------------------------------------------------
// Reading servers

/** Why a server failed, as an error of the right category (capacity for "No valid host was found"). */
export function serverFault(server: NovaServer): OpenStackError | undefined {
  if (server.fault === undefined || (server.status !== 'ERROR' && server.status !== 'DELETED')) return undefined;
  const message = server.fault.message;
  const code = /no valid host was found/i.test(message) ? 'NoValidHost' : 'ServerFault';
  return new OpenStackError({
    service: 'compute', status: server.fault.code, code, message: `server ${server.id} (${server.name}): ${message}`,
    category: categorize({ status: server.fault.code, code, message }),
  });
}

export interface ServerAddress {
  network: string;
  address: string;
  version: number;
  mac?: string;
}

/** The server's fixed and floating addresses, network by network in Nova's order. */
export function serverAddresses(server: Pick<NovaServer, 'addresses'>): { fixed: ServerAddress[]; floating: ServerAddress[] } {
  const fixed: ServerAddress[] = [];
  const floating: ServerAddress[] = [];
  for (const [network, addresses] of Object.entries(server.addresses ?? {})) {
    for (const entry of addresses) {
      const address: ServerAddress = { network, address: entry.addr, version: entry.version, mac: entry['OS-EXT-IPS-MAC:mac_addr'] };
      // Without the extension's type (GET /servers/{id}/ips) an address is the port's own, fixed.
      (entry['OS-EXT-IPS:type'] === 'floating' ? floating : fixed).push(address);
    }
  }
  return { fixed, floating };
}

// ---------------------------------------------------------------------------------------------

function bodyField(response: HttpResponse, key: string): unknown {
  return isObject(response.body) ? response.body[key] : undefined;
}

function keyPairFields(pair: NovaKeyPair): NovaKeyPair {
  return { name: pair.name, fingerprint: pair.fingerprint, public_key: pair.public_key, type: pair.type, user_id: pair.user_id };
}

/** Nova reads the name filter as a (Python) regular expression. */
function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
