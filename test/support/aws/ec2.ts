// EC2 actions (ec2Query, 2016-11-15): read the flattened form parameters, act on the inventory and
// return the response members under their wire names (instanceState, ipAddress, tagSet, ...).
import { STATE_CODES, Inventory, type InstanceRecord, type KeyPairRecord, type StateChange } from './inventory';
import { ApiError, decodeToken, encodeToken, integer, list, required, structs, sub, tagsOf, type Params } from './wire';
import type { XmlObject, XmlValue } from './xml';

export type Ec2Handler = (params: Params) => XmlObject | Promise<XmlObject>;

const OWNER_ID = '123456789012';

const tagSet = (tags: Record<string, string>): XmlValue[] | undefined => {
  const entries = Object.entries(tags);
  return entries.length === 0 ? undefined : entries.map(([key, value]) => ({ key, value }));
};

const stateXml = (state: InstanceRecord['instance']['state']): XmlObject => ({ code: STATE_CODES[state], name: state });

function privateDnsName(ip: string, region: string): string {
  const domain = region === 'us-east-1' ? 'ec2.internal' : `${region}.compute.internal`;
  return `ip-${ip.replaceAll('.', '-')}.${domain}`;
}

function instanceXml(record: InstanceRecord, region: string): XmlObject {
  const { instance } = record;
  const gone = instance.state === 'terminated';
  return {
    instanceId: instance.instanceId,
    imageId: instance.imageId,
    instanceState: stateXml(instance.state),
    privateDnsName: gone ? '' : privateDnsName(instance.privateIp, region),
    dnsName: '',
    reason: '',
    keyName: instance.keyName,
    amiLaunchIndex: record.launchIndex,
    productCodes: [],
    instanceType: instance.instanceType,
    launchTime: new Date(instance.launchedAt),
    placement: { availabilityZone: `${region}a`, groupName: '', tenancy: 'default' },
    monitoring: { state: 'disabled' },
    subnetId: gone ? undefined : instance.subnetId,
    // A terminated instance has given its addresses back, and real EC2 stops reporting them.
    privateIpAddress: gone ? undefined : instance.privateIp,
    ipAddress: gone ? undefined : instance.publicIp,
    groupSet: record.securityGroupIds.map((groupId) => ({ groupId, groupName: groupId })),
    stateReason: record.stateReason,
    architecture: 'x86_64',
    rootDeviceType: 'ebs',
    rootDeviceName: '/dev/xvda',
    instanceLifecycle: instance.spot ? 'spot' : undefined,
    virtualizationType: 'hvm',
    clientToken: instance.clientToken ?? '',
    tagSet: tagSet(instance.tags),
    hypervisor: 'xen',
  };
}

function reservationXml(reservationId: string, records: InstanceRecord[], region: string): XmlObject {
  return { reservationId, ownerId: OWNER_ID, groupSet: [], instancesSet: records.map((r) => instanceXml(r, region)) };
}

// Filter values accept the `*` and `?` wildcards, as in the EC2 API.
function wildcardMatch(pattern: string, value: string): boolean {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.');
  return new RegExp(`^${source}$`, 's').test(value);
}

const anyMatch = (patterns: string[], value: string | undefined): boolean =>
  value !== undefined && patterns.some((p) => wildcardMatch(p, value));

type FilterTest<T> = (item: T, values: string[]) => boolean;

function tagFilter<T>(name: string, tagsOf: (item: T) => Record<string, string>): FilterTest<T> | undefined {
  if (name === 'tag-key') return (item, values) => Object.keys(tagsOf(item)).some((k) => anyMatch(values, k));
  if (name === 'tag-value') return (item, values) => Object.values(tagsOf(item)).some((v) => anyMatch(values, v));
  if (name.startsWith('tag:')) return (item, values) => anyMatch(values, tagsOf(item)[name.slice(4)]);
  return undefined;
}

const INSTANCE_FILTERS: Record<string, FilterTest<InstanceRecord>> = {
  'instance-id': (r, v) => anyMatch(v, r.instance.instanceId),
  'instance-state-name': (r, v) => anyMatch(v, r.instance.state),
  'instance-state-code': (r, v) => anyMatch(v, String(STATE_CODES[r.instance.state])),
  'instance-type': (r, v) => anyMatch(v, r.instance.instanceType),
  'client-token': (r, v) => anyMatch(v, r.instance.clientToken),
  'reservation-id': (r, v) => anyMatch(v, r.reservationId),
  'private-ip-address': (r, v) => r.instance.state !== 'terminated' && anyMatch(v, r.instance.privateIp),
  'ip-address': (r, v) => r.instance.state !== 'terminated' && anyMatch(v, r.instance.publicIp),
  'key-name': (r, v) => anyMatch(v, r.instance.keyName),
  'subnet-id': (r, v) => anyMatch(v, r.instance.subnetId),
  'image-id': (r, v) => anyMatch(v, r.instance.imageId),
  'instance-lifecycle': (r, v) => r.instance.spot && anyMatch(v, 'spot'),
};

const KEY_PAIR_FILTERS: Record<string, FilterTest<KeyPairRecord>> = {
  'key-name': (k, v) => anyMatch(v, k.keyName),
  'key-pair-id': (k, v) => anyMatch(v, k.keyPairId),
  fingerprint: (k, v) => anyMatch(v, k.fingerprint),
  'key-type': (k, v) => anyMatch(v, k.keyType),
};

/** Filter.N.Name / Filter.N.Value.M; every filter must match, any value of one filter may. */
function applyFilters<T>(items: T[], params: Params, known: Record<string, FilterTest<T>>, tags: (item: T) => Record<string, string>): T[] {
  const tests = structs(params, 'Filter').map((filter) => {
    const name = filter.Name ?? '';
    const test = known[name] ?? tagFilter(name, tags);
    if (test === undefined) throw new ApiError('InvalidParameterValue', `The filter '${name}' is invalid`);
    const values = list(filter, 'Value');
    return (item: T) => test(item, values);
  });
  return items.filter((item) => tests.every((test) => test(item)));
}

function notFound(ids: string[]): ApiError {
  return ids.length === 1
    ? new ApiError('InvalidInstanceID.NotFound', `The instance ID '${ids[0]}' does not exist`)
    : new ApiError('InvalidInstanceID.NotFound', `The instance IDs '${ids.join(', ')}' do not exist`);
}

function lookUp(inventory: Inventory, ids: string[]): InstanceRecord[] {
  const malformed = ids.filter((id) => !/^i-[0-9a-f]{8,17}$/.test(id));
  if (malformed.length > 0) throw new ApiError('InvalidInstanceID.Malformed', `Invalid id: "${malformed[0]}"`);
  const missing = ids.filter((id) => inventory.get(id) === undefined);
  if (missing.length > 0) throw notFound(missing);
  return ids.map((id) => inventory.get(id) as InstanceRecord);
}

function tagSpecifications(params: Params, resourceType: string): Record<string, string> {
  return Object.assign({}, ...structs(params, 'TagSpecification')
    .filter((spec) => spec.ResourceType === resourceType)
    .map((spec) => tagsOf(structs(spec, 'Tag')))) as Record<string, string>;
}

/** The EC2 actions over one inventory; RunInstances remembers client tokens for idempotency. */
export function ec2Handlers(inventory: Inventory): Record<string, Ec2Handler> {
  const region = inventory.region;
  const launchesByToken = new Map<string, { fingerprint: string; reservationId: string; instanceIds: string[] }>();

  const runInstances: Ec2Handler = (params) => {
    const clientToken = params.ClientToken;
    const fingerprint = JSON.stringify(Object.entries(params).filter(([k]) => k !== 'ClientToken').sort());
    const earlier = clientToken === undefined ? undefined : launchesByToken.get(clientToken);
    if (earlier !== undefined) {
      if (earlier.fingerprint !== fingerprint) {
        throw new ApiError('IdempotentParameterMismatch', `Arguments on this idempotent request are inconsistent with arguments used in previous request(s).`);
      }
      return reservationXml(earlier.reservationId, lookUp(inventory, earlier.instanceIds), region);
    }
    const networkInterfaces = structs(params, 'NetworkInterface');
    const associatePublic = networkInterfaces.map((n) => n.AssociatePublicIpAddress).find((v) => v !== undefined);
    const subnetId = params.SubnetId ?? networkInterfaces.map((n) => n.SubnetId).find((v) => v !== undefined);
    const minCount = integer(params, 'MinCount') ?? 1;
    const maxCount = integer(params, 'MaxCount') ?? minCount;
    if (minCount < 1 || maxCount < minCount) throw new ApiError('InvalidParameterValue', 'MinCount must be at least 1 and at most MaxCount');
    const launched = inventory.launch({
      imageId: required(params, 'ImageId'),
      instanceType: params.InstanceType ?? 'm1.small',
      minCount,
      maxCount,
      subnetId,
      securityGroupIds: [...list(params, 'SecurityGroupId'), ...networkInterfaces.flatMap((n) => list(n, 'SecurityGroupId'))],
      keyName: params.KeyName,
      tags: tagSpecifications(params, 'instance'),
      spot: sub(params, 'InstanceMarketOptions').MarketType === 'spot',
      clientToken,
      // Default-VPC behaviour: a launch without a subnet gets a public address unless told otherwise.
      publicIp: associatePublic === undefined ? subnetId === undefined : associatePublic === 'true',
    });
    const reservationId = launched[0]?.reservationId ?? '';
    if (clientToken !== undefined) {
      launchesByToken.set(clientToken, { fingerprint, reservationId, instanceIds: launched.map((r) => r.instance.instanceId) });
    }
    return reservationXml(reservationId, launched, region);
  };

  const describeInstances: Ec2Handler = (params) => {
    const ids = list(params, 'InstanceId');
    const maxResults = integer(params, 'MaxResults');
    if (maxResults !== undefined && ids.length > 0) {
      throw new ApiError('InvalidParameterCombination', 'The parameter instancesSet cannot be used with the parameter maxResults');
    }
    if (maxResults !== undefined && (maxResults < 5 || maxResults > 1000)) {
      throw new ApiError('InvalidParameterValue', `Value ( ${maxResults} ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.`);
    }
    const candidates = ids.length > 0 ? lookUp(inventory, ids) : inventory.all();
    const matching = applyFilters(candidates, params, INSTANCE_FILTERS, (r) => r.instance.tags);
    const offset = decodeToken(params.NextToken);
    const page = maxResults === undefined ? matching.slice(offset) : matching.slice(offset, offset + maxResults);
    const next = offset + page.length;
    // Instances of one reservation stay together, in launch order, like the real response.
    const byReservation = new Map<string, InstanceRecord[]>();
    for (const record of page) byReservation.set(record.reservationId, [...(byReservation.get(record.reservationId) ?? []), record]);
    return {
      reservationSet: [...byReservation].map(([reservationId, records]) => reservationXml(reservationId, records, region)),
      nextToken: next < matching.length ? encodeToken(next) : undefined,
    };
  };

  const stateChanges = (change: (instanceId: string) => StateChange) => (params: Params): XmlObject => {
    const records = lookUp(inventory, list(params, 'InstanceId'));
    return {
      instancesSet: records.map((r) => {
        const { instanceId, current, previous } = change(r.instance.instanceId);
        return { instanceId, currentState: stateXml(current), previousState: stateXml(previous) };
      }),
    };
  };

  const describeInstanceStatus: Ec2Handler = (params) => {
    const ids = list(params, 'InstanceId');
    const all = params.IncludeAllInstances === 'true';
    const records = (ids.length > 0 ? lookUp(inventory, ids) : inventory.all())
      .filter((r) => all || r.instance.state === 'running');
    const ok = (running: boolean): XmlObject => running
      ? { status: 'ok', details: [{ name: 'reachability', status: 'passed' }] }
      : { status: 'not-applicable' };
    return {
      instanceStatusSet: records.map((r) => ({
        instanceId: r.instance.instanceId,
        availabilityZone: `${region}a`,
        instanceState: stateXml(r.instance.state),
        systemStatus: ok(r.instance.state === 'running'),
        instanceStatus: ok(r.instance.state === 'running'),
      })),
    };
  };

  const describeInstanceTypes: Ec2Handler = (params) => {
    const requested = list(params, 'InstanceType');
    const unknown = requested.filter((t) => inventory.instanceType(t) === undefined);
    if (unknown.length > 0) throw new ApiError('InvalidInstanceType', `The following supplied instance types do not exist: [${unknown.join(', ')}]`);
    const names = requested.length > 0 ? requested : inventory.instanceTypeNames();
    return {
      instanceTypeSet: names.map((name) => {
        const info = inventory.instanceType(name) as { vcpus: number; memoryMiB: number };
        return {
          instanceType: name,
          currentGeneration: true,
          supportedUsageClasses: ['on-demand', 'spot'],
          vCpuInfo: { defaultVCpus: info.vcpus, defaultCores: Math.max(1, info.vcpus / 2), defaultThreadsPerCore: info.vcpus > 1 ? 2 : 1 },
          memoryInfo: { sizeInMiB: info.memoryMiB },
        };
      }),
    };
  };

  const keyPairXml = (key: KeyPairRecord, includePublicKey: boolean): XmlObject => ({
    keyPairId: key.keyPairId,
    keyFingerprint: key.fingerprint,
    keyName: key.keyName,
    keyType: key.keyType,
    tagSet: tagSet(key.tags),
    publicKey: includePublicKey ? key.publicKey : undefined,
    createTime: new Date(key.createdAt),
  });

  const importKeyPair: Ec2Handler = (params) => {
    const keyName = required(params, 'KeyName');
    const material = Buffer.from(required(params, 'PublicKeyMaterial'), 'base64').toString('utf8');
    const key = inventory.importKeyPair(keyName, material, tagSpecifications(params, 'key-pair'));
    return { keyFingerprint: key.fingerprint, keyName: key.keyName, keyPairId: key.keyPairId, tagSet: tagSet(key.tags) };
  };

  const describeKeyPairs: Ec2Handler = (params) => {
    const names = list(params, 'KeyName');
    const ids = list(params, 'KeyPairId');
    const keys = inventory.keyPairs();
    const missingName = names.find((n) => !keys.some((k) => k.keyName === n));
    if (missingName !== undefined) throw new ApiError('InvalidKeyPair.NotFound', `The key pair '${missingName}' does not exist`);
    const missingId = ids.find((id) => !keys.some((k) => k.keyPairId === id));
    if (missingId !== undefined) throw new ApiError('InvalidKeyPair.NotFound', `The key pair ID '${missingId}' does not exist`);
    const selected = keys.filter((k) => (names.length === 0 || names.includes(k.keyName)) && (ids.length === 0 || ids.includes(k.keyPairId)));
    const matching = applyFilters(selected, params, KEY_PAIR_FILTERS, (k) => k.tags);
    return { keySet: matching.map((k) => keyPairXml(k, params.IncludePublicKey === 'true')) };
  };

  // Deleting a key that is not there succeeds, as in EC2.
  const deleteKeyPair: Ec2Handler = (params) => {
    const { KeyName: keyName, KeyPairId: keyPairId } = params;
    if (keyName === undefined && keyPairId === undefined) throw new ApiError('MissingParameter', 'The request must contain the parameter KeyName or KeyPairId');
    const deleted = inventory.deleteKeyPair((k) => k.keyName === keyName || k.keyPairId === keyPairId);
    return { return: true, keyPairId: deleted?.keyPairId };
  };

  const createTags: Ec2Handler = (params) => {
    const resources = list(params, 'ResourceId');
    const tags = tagsOf(structs(params, 'Tag'));
    const instanceIds = resources.filter((r) => r.startsWith('i-'));
    lookUp(inventory, instanceIds);
    for (const id of instanceIds) inventory.setTags(id, tags);
    for (const key of inventory.keyPairs()) if (resources.includes(key.keyPairId)) Object.assign(key.tags, tags);
    return { return: true };
  };

  return {
    RunInstances: runInstances,
    DescribeInstances: describeInstances,
    TerminateInstances: stateChanges((id) => inventory.terminate(id)),
    StartInstances: stateChanges((id) => inventory.start(id)),
    StopInstances: stateChanges((id) => inventory.stop(id)),
    DescribeInstanceStatus: describeInstanceStatus,
    DescribeInstanceTypes: describeInstanceTypes,
    ImportKeyPair: importKeyPair,
    DescribeKeyPairs: describeKeyPairs,
    DeleteKeyPair: deleteKeyPair,
    CreateTags: createTags,
  };
}
