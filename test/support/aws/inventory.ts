// The double's world: instances, the private/public addresses they hold and the key pairs. RunInstances
// and CloudFormation stacks both launch through here, so they share addresses, quotas and the
// onBoot/onTerminate hooks. State changes that take time (boot, shutdown) run in the background;
// every read sees the state of that moment, as with the real API.
import { createHash, randomBytes } from 'node:crypto';
import type { DoubleInstance } from './double';
import { ApiError } from './wire';

export type InstanceState = DoubleInstance['state'];

export const STATE_CODES: Record<InstanceState, number> = { pending: 0, running: 16, 'shutting-down': 32, terminated: 48, stopped: 80 };

export interface InstanceTypeInfo { vcpus: number; memoryMiB: number }

export const DEFAULT_INSTANCE_TYPES: Record<string, InstanceTypeInfo> = {
  't3.micro': { vcpus: 2, memoryMiB: 1024 },
  't3.small': { vcpus: 2, memoryMiB: 2048 },
  't3.medium': { vcpus: 2, memoryMiB: 4096 },
  't3.large': { vcpus: 2, memoryMiB: 8192 },
  'c5.large': { vcpus: 2, memoryMiB: 4096 },
  'c5.xlarge': { vcpus: 4, memoryMiB: 8192 },
  'm5.large': { vcpus: 2, memoryMiB: 8192 },
};

export const ON_DEMAND_VCPU_QUOTA = 'L-1216C47A';
export const SPOT_VCPU_QUOTA = 'L-34B43A08';

export interface InventoryOptions {
  region: string;
  addresses?: string[];
  publicAddresses?: string[];
  onBoot?: (instance: DoubleInstance, publicKey: string | undefined) => Promise<void>;
  onTerminate?: (instance: DoubleInstance) => Promise<void>;
  bootMs: number;
  quotas: Record<string, number>;
  instanceTypes: Record<string, InstanceTypeInfo>;
  tagKeys: { node?: string; cluster?: string };
}

export interface LaunchSpec {
  imageId: string;
  instanceType: string;
  minCount: number;
  maxCount: number;
  subnetId?: string;
  securityGroupIds: string[];
  keyName?: string;
  tags: Record<string, string>;
  spot: boolean;
  clientToken?: string;
  publicIp: boolean;
  stackName?: string;
}

/** What the double keeps per instance beyond the public view. */
export interface InstanceRecord {
  instance: DoubleInstance;
  reservationId: string;
  launchIndex: number;
  securityGroupIds: string[];
  stateReason?: { code: string; message: string };
}

export interface KeyPairRecord {
  keyName: string;
  keyPairId: string;
  publicKey: string;
  keyType: 'rsa' | 'ed25519' | 'ecdsa';
  fingerprint: string;
  tags: Record<string, string>;
  createdAt: number;
}

export interface StateChange { instanceId: string; previous: InstanceState; current: InstanceState }

export const awsId = (prefix: string): string => `${prefix}-${randomBytes(9).toString('hex').slice(0, 17)}`;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

// Tag names are the provider's choice; without an explicit key, the first tag whose name ends in
// "node" / "cluster" (optionally "-id") is taken, so the view works with any naming scheme.
function roleTag(tags: Record<string, string>, explicitKey: string | undefined, role: string): string | undefined {
  if (explicitKey !== undefined) return tags[explicitKey];
  const pattern = new RegExp(`(^|[^a-z])${role}([-_]?id)?$`, 'i');
  const key = Object.keys(tags).find((k) => !k.startsWith('aws:') && pattern.test(k));
  return key === undefined ? undefined : tags[key];
}

export class Inventory {
  private readonly records = new Map<string, InstanceRecord>();
  private readonly keys = new Map<string, KeyPairRecord>();
  private readonly privateInUse = new Set<string>();
  private readonly publicInUse = new Set<string>();
  private syntheticAddresses = 0;
  private readonly background = new Set<Promise<void>>();
  private closed = false;
  private wake: () => void = () => {};
  private readonly closing = new Promise<void>((resolve) => { this.wake = resolve; });

  constructor(private readonly options: InventoryOptions) {}

  get region(): string { return this.options.region; }

  instanceType(name: string): InstanceTypeInfo | undefined { return this.options.instanceTypes[name]; }
  instanceTypeNames(): string[] { return Object.keys(this.options.instanceTypes); }
  quota(code: string): number | undefined { return this.options.quotas[code]; }

  /** The public view: a copy with the role tags worked out, so callers cannot change the world. */
  view(record: InstanceRecord): DoubleInstance {
    const instance = { ...record.instance, tags: { ...record.instance.tags } };
    instance.nodeTag = roleTag(instance.tags, this.options.tagKeys.node, 'node');
    instance.clusterTag = roleTag(instance.tags, this.options.tagKeys.cluster, 'cluster');
    return instance;
  }

  all(): InstanceRecord[] { return [...this.records.values()]; }
  get(instanceId: string): InstanceRecord | undefined { return this.records.get(instanceId); }

  /** Launches between minCount and maxCount instances, as many as there are free addresses. */
  launch(spec: LaunchSpec): InstanceRecord[] {
    const type = this.options.instanceTypes[spec.instanceType];
    if (type === undefined) throw new ApiError('InvalidParameterValue', `Invalid value '${spec.instanceType}' for InstanceType.`);
    const key = spec.keyName === undefined ? undefined : this.keys.get(spec.keyName);
    if (spec.keyName !== undefined && key === undefined) throw new ApiError('InvalidKeyPair.NotFound', `The key pair '${spec.keyName}' does not exist`);
    const count = Math.min(spec.maxCount, this.freeAddressCount(), spec.publicIp ? this.freePublicAddressCount() : Number.MAX_SAFE_INTEGER);
    if (count < spec.minCount) {
      throw new ApiError('InsufficientInstanceCapacity',
        `We currently do not have sufficient ${spec.instanceType} capacity in the Availability Zone you requested (${this.region}a).`, 500);
    }
    this.checkVcpuQuota(spec.spot, type.vcpus * spec.minCount);

    const reservationId = awsId('r');
    const launched: InstanceRecord[] = [];
    for (let launchIndex = 0; launchIndex < count; launchIndex++) {
      const privateIp = this.takePrivateAddress();
      const instance: DoubleInstance = {
        instanceId: awsId('i'), tags: { ...spec.tags }, instanceType: spec.instanceType, imageId: spec.imageId,
        subnetId: spec.subnetId, privateIp, publicIp: spec.publicIp ? this.takePublicAddress(privateIp) : undefined,
        keyName: spec.keyName, state: 'pending', spot: spec.spot, clientToken: spec.clientToken, launchedAt: Date.now(),
        region: this.region, stackName: spec.stackName,
      };
      const record: InstanceRecord = { instance, reservationId, launchIndex, securityGroupIds: spec.securityGroupIds };
      this.records.set(instance.instanceId, record);
      launched.push(record);
      this.track(this.boot(record, key?.publicKey));
    }
    return launched;
  }

  /** Starts shutting an instance down; it reports terminated once onTerminate has resolved. */
  terminate(instanceId: string, reason?: { code: string; message: string }): StateChange {
    const record = this.records.get(instanceId);
    if (record === undefined) throw new ApiError('InvalidInstanceID.NotFound', `The instance ID '${instanceId}' does not exist`);
    const previous = record.instance.state;
    if (previous === 'shutting-down' || previous === 'terminated') return { instanceId, previous, current: previous };
    record.instance.state = 'shutting-down';
    record.stateReason = reason ?? { code: 'Client.UserInitiatedShutdown', message: 'Client.UserInitiatedShutdown: User initiated shutdown' };
    this.track(this.finishTermination(record));
    return { instanceId, previous, current: 'shutting-down' };
  }

  /** Stopping is instant here; an instance keeps its addresses while stopped. */
  stop(instanceId: string): StateChange {
    const record = this.require(instanceId);
    const previous = record.instance.state;
    if (previous === 'shutting-down' || previous === 'terminated') {
      throw new ApiError('IncorrectInstanceState', `This instance '${instanceId}' is not in a state from which it can be stopped.`);
    }
    record.instance.state = 'stopped';
    record.stateReason = { code: 'Client.UserInitiatedShutdown', message: 'Client.UserInitiatedShutdown: User initiated shutdown' };
    return { instanceId, previous, current: 'stopped' };
  }

  /** A stopped instance boots again (bootMs, onBoot) like a fresh launch. */
  start(instanceId: string): StateChange {
    const record = this.require(instanceId);
    const previous = record.instance.state;
    if (previous === 'shutting-down' || previous === 'terminated') {
      throw new ApiError('IncorrectInstanceState', `The instance '${instanceId}' is not in a state from which it can be started.`);
    }
    if (previous !== 'stopped') return { instanceId, previous, current: previous };
    record.instance.state = 'pending';
    record.stateReason = undefined;
    const keyName = record.instance.keyName;
    this.track(this.boot(record, keyName === undefined ? undefined : this.keys.get(keyName)?.publicKey));
    return { instanceId, previous, current: 'pending' };
  }

  private require(instanceId: string): InstanceRecord {
    const record = this.records.get(instanceId);
    if (record === undefined) throw new ApiError('InvalidInstanceID.NotFound', `The instance ID '${instanceId}' does not exist`);
    return record;
  }

  setTags(instanceId: string, tags: Record<string, string>): void {
    const record = this.records.get(instanceId);
    if (record === undefined) throw new ApiError('InvalidInstanceID.NotFound', `The instance ID '${instanceId}' does not exist`);
    Object.assign(record.instance.tags, tags);
  }

  /** A stack update rewrites an instance's whole tag set (tags it dropped go away). */
  replaceTags(instanceId: string, tags: Record<string, string>): void {
    const record = this.records.get(instanceId);
    if (record !== undefined) record.instance.tags = { ...tags };
  }

  importKeyPair(keyName: string, publicKey: string, tags: Record<string, string>): KeyPairRecord {
    if (this.keys.has(keyName)) throw new ApiError('InvalidKeyPair.Duplicate', `The keypair '${keyName}' already exists.`);
    const [algorithm, body] = publicKey.trim().split(/\s+/);
    const keyType = algorithm === 'ssh-rsa' ? 'rsa' : algorithm === 'ssh-ed25519' ? 'ed25519' : algorithm?.startsWith('ecdsa-') ? 'ecdsa' : undefined;
    if (keyType === undefined || body === undefined || !/^[A-Za-z0-9+/]+=*$/.test(body)) {
      throw new ApiError('InvalidKey.Format', 'Key is not in valid OpenSSH public key format');
    }
    const blob = Buffer.from(body, 'base64');
    // Imported RSA keys get an MD5 fingerprint, the others SHA-256; the exact input differs in AWS
    // (DER vs wire blob) but only stability and format matter to a client.
    const fingerprint = keyType === 'rsa'
      ? (createHash('md5').update(blob).digest('hex').match(/../g) ?? []).join(':')
      : createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
    const record: KeyPairRecord = { keyName, keyPairId: awsId('key'), publicKey: publicKey.trim(), keyType, fingerprint, tags: { ...tags }, createdAt: Date.now() };
    this.keys.set(keyName, record);
    return record;
  }

  keyPairs(): KeyPairRecord[] { return [...this.keys.values()]; }

  deleteKeyPair(match: (key: KeyPairRecord) => boolean): KeyPairRecord | undefined {
    const key = [...this.keys.values()].find(match);
    if (key !== undefined) this.keys.delete(key.keyName);
    return key;
  }

  /** Cuts boot delays short, skips boot hooks not yet started and waits for those running. */
  async close(): Promise<void> {
    this.closed = true;
    this.wake();
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
  }

  private track(work: Promise<void>): void {
    this.background.add(work);
    void work.finally(() => this.background.delete(work));
  }

  private async boot(record: InstanceRecord, publicKey: string | undefined): Promise<void> {
    if (this.options.bootMs > 0) await Promise.race([sleep(this.options.bootMs), this.closing]);
    if (this.closed) return;
    try {
      if (this.options.onBoot !== undefined && record.instance.state === 'pending') await this.options.onBoot(this.view(record), publicKey);
    } catch (error) {
      // A failing boot hook is a launch that never came up: the instance goes away as EC2 would.
      if (record.instance.state === 'pending') {
        record.instance.state = 'shutting-down';
        record.stateReason = { code: 'Server.InternalError', message: `Server.InternalError: ${(error as Error).message}` };
        await this.finishTermination(record);
      }
      return;
    }
    if (record.instance.state === 'pending') record.instance.state = 'running';
  }

  private async finishTermination(record: InstanceRecord): Promise<void> {
    try {
      await this.options.onTerminate?.(this.view(record));
    } finally {
      record.instance.state = 'terminated';
      this.privateInUse.delete(record.instance.privateIp);
      if (record.instance.publicIp !== undefined) this.publicInUse.delete(record.instance.publicIp);
    }
  }

  private checkVcpuQuota(spot: boolean, extraVcpus: number): void {
    const code = spot ? SPOT_VCPU_QUOTA : ON_DEMAND_VCPU_QUOTA;
    const limit = this.options.quotas[code];
    if (limit === undefined) return;
    const inUse = this.all()
      .filter((r) => r.instance.spot === spot && r.instance.state !== 'terminated')
      .reduce((sum, r) => sum + (this.options.instanceTypes[r.instance.instanceType]?.vcpus ?? 0), 0);
    if (inUse + extraVcpus <= limit) return;
    if (spot) throw new ApiError('MaxSpotInstanceCountExceeded', `Max spot instance count exceeded (vCPU limit ${limit})`);
    throw new ApiError('VcpuLimitExceeded', `You have requested more vCPU capacity than your current vCPU limit of ${limit} allows for the instance bucket that the specified instance type belongs to.`);
  }

  private freeAddressCount(): number {
    const { addresses } = this.options;
    if (addresses === undefined) return Number.MAX_SAFE_INTEGER;
    return addresses.filter((a) => !this.privateInUse.has(a)).length;
  }

  private freePublicAddressCount(): number {
    const { publicAddresses } = this.options;
    if (publicAddresses === undefined) return Number.MAX_SAFE_INTEGER;
    return publicAddresses.filter((a) => !this.publicInUse.has(a)).length;
  }

  private takePrivateAddress(): string {
    const { addresses } = this.options;
    let address = addresses?.find((a) => !this.privateInUse.has(a));
    if (addresses === undefined) {
      const n = this.syntheticAddresses++;
      address = `10.250.${Math.floor(n / 250)}.${(n % 250) + 1}`;
    }
    if (address === undefined) throw new ApiError('InsufficientInstanceCapacity', 'No free address', 500);
    this.privateInUse.add(address);
    return address;
  }

  private takePublicAddress(privateIp: string): string {
    const { publicAddresses } = this.options;
    if (publicAddresses === undefined) return privateIp;
    const address = publicAddresses.find((a) => !this.publicInUse.has(a));
    if (address === undefined) throw new ApiError('AddressLimitExceeded', 'The maximum number of addresses has been reached.');
    this.publicInUse.add(address);
    return address;
  }
}
