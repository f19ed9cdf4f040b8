// A local stand-in for EC2, CloudFormation and Service Quotas that the real AWS SDK v3 clients talk
// to over HTTP (AWS_ENDPOINT_URL), so their serialisation, parsing, retries and error classes run
// as they would against AWS. Tests steer it through latency, fault rules, held calls and
// interruptions, and read back what it did (instances, key pairs, stacks, calls).
import { CloudFormation } from './cloudformation';
import { Control, type Latency } from './control';
import { ec2Handlers } from './ec2';
import { DEFAULT_INSTANCE_TYPES, Inventory, ON_DEMAND_VCPU_QUOTA, SPOT_VCPU_QUOTA } from './inventory';
import { quotasHandlers } from './quotas';
import { startServer, type DecodedRequest, type Outcome, type OutcomeResult, type Service } from './server';
import { ApiError, type Params } from './wire';

export interface DoubleInstance {
  instanceId: string;
  nodeTag?: string;
  clusterTag?: string;
  tags: Record<string, string>;
  instanceType: string;
  imageId: string;
  subnetId?: string;
  privateIp: string;
  publicIp?: string;
  keyName?: string;
  state: 'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopped';
  spot: boolean;
  clientToken?: string;
  launchedAt: number;
  region: string;
  stackName?: string;
}

export interface FaultRule {
  /** An API action ('RunInstances'), or 'CreateStack:resource' / 'DeleteStack:resource' for a stack
   *  resource that fails to be created / deleted (then `code` is the ResourceStatusReason and match
   *  sees { StackName, LogicalResourceId, ResourceType }). */
  action: string;
  code: string;
  message?: string;
  /** Default 400; 503 for RequestLimitExceeded, 500 for InsufficientInstanceCapacity. */
  status?: number;
  /** Default 1; Infinity for always. */
  times?: number;
  match?: (params: Record<string, string>) => boolean;
}

export interface HeldCall {
  action: string;
  /** The held call's parameters, filled in when it arrives. */
  params: Record<string, string>;
  /** Resolves when a matching call arrived. */
  arrived: Promise<void>;
  release(): void;
}

export interface AwsDoubleOptions {
  region?: string;
  /** Private IPs handed to instances in order (a free one each); default synthetic 10.250.x.y. */
  addresses?: string[];
  /** Public IPs for instances that get one (AssociatePublicIpAddress, or no subnet); default: the private IP. */
  publicAddresses?: string[];
  /** Awaited before the instance reports 'running'; publicKey = the imported key of its KeyName. */
  onBoot?: (instance: DoubleInstance, publicKey: string | undefined) => Promise<void>;
  /** Awaited before the instance reports 'terminated'. */
  onTerminate?: (instance: DoubleInstance) => Promise<void>;
  /** Time pending -> running (default 0: the next DescribeInstances sees running). */
  bootMs?: number;
  /** Injected per call. */
  latencyMs?: Latency;
  /** GetServiceQuota values by QuotaCode; default { 'L-1216C47A': 1920, 'L-34B43A08': 1920 }. */
  quotas?: Record<string, number>;
  instanceTypes?: Record<string, { vcpus: number; memoryMiB: number }>;
  /** Tag keys behind DoubleInstance.nodeTag / clusterTag; default: the first tag named like *node / *cluster(-id). */
  tagKeys?: { node?: string; cluster?: string };
  /** Time between two steps of a stack operation (default 5 ms). */
  stackStepMs?: number;
}

export interface CallRecord { action: string; params: Record<string, string>; status: number; at: number }

export interface AwsDouble {
  /** http://127.0.0.1:PORT */
  url: string;
  /** AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (fake values). */
  env: Record<string, string>;
  /** Every instance ever launched, with its current state. */
  instances(): DoubleInstance[];
  keyPairs(): { keyName: string; keyPairId: string; publicKey: string; tags: Record<string, string> }[];
  stacks(): { stackName: string; stackId: string; status: string; tags: Record<string, string> }[];
  /** Every request, in order of arrival; status is 0 while a call is still in flight. */
  calls(): CallRecord[];
  /** Total latency injected so far (for benchmarks). */
  injectedWaitMs(): number;
  fail(rule: FaultRule): void;
  /** Makes a stack resource whose logical id matches fail when created (in CreateStack or UpdateStack) or deleted. */
  failResource(logicalIdPattern: RegExp, phase: 'create' | 'delete', reason: string, times?: number): void;
  setLatency(latency: Latency): void;
  /** Parks the next matching call before its effect (or, with after, after it) until release(). */
  hold(action: string, options?: { after?: boolean; match?: (params: Record<string, string>) => boolean }): HeldCall;
  /** Spot interruption / instance lost: terminated without a call of ours. */
  interrupt(instanceId: string): void;
  close(): Promise<void>;
}

const UNKNOWN_ACTION_CODE: Record<Service, string> = { ec2: 'InvalidAction', cloudformation: 'InvalidAction', servicequotas: 'UnknownOperationException' };

type Handler = (params: Params) => OutcomeResult | Promise<OutcomeResult>;

export async function startAwsDouble(options: AwsDoubleOptions = {}): Promise<AwsDouble> {
  const region = options.region ?? 'us-east-1';
  const quotas = options.quotas ?? { [ON_DEMAND_VCPU_QUOTA]: 1920, [SPOT_VCPU_QUOTA]: 1920 };
  const inventory = new Inventory({
    region,
    addresses: options.addresses,
    publicAddresses: options.publicAddresses,
    onBoot: options.onBoot,
    onTerminate: options.onTerminate,
    bootMs: options.bootMs ?? 0,
    quotas,
    instanceTypes: options.instanceTypes ?? DEFAULT_INSTANCE_TYPES,
    tagKeys: options.tagKeys ?? {},
  });
  const control = new Control(options.latencyMs ?? 0);
  const cloudformation = new CloudFormation(inventory, control, options.stackStepMs ?? 5);
  const handlers: Record<Service, Record<string, Handler>> = {
    ec2: ec2Handlers(inventory),
    servicequotas: quotasHandlers(region, quotas),
    cloudformation: cloudformation.handlers,
  };
  const calls: CallRecord[] = [];

  const respond = async ({ service, action, params, signed }: DecodedRequest): Promise<Outcome> => {
    if (!signed) return { error: new ApiError('AuthFailure', 'AWS was not able to validate the provided access credentials', 401) };
    await control.delay();
    const fault = control.takeFault(action, params);
    if (fault !== undefined) return { error: fault };
    const handler = handlers[service][action];
    if (handler === undefined) return { error: new ApiError(UNKNOWN_ACTION_CODE[service], `The action ${action} is not valid for this web service.`) };
    await control.passHolds(action, params, false);
    let outcome: Outcome;
    try {
      outcome = { result: await handler(params) };
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      outcome = { error };
    }
    await control.passHolds(action, params, true);
    return outcome;
  };

  const server = await startServer(async (request) => {
    const call: CallRecord = { action: request.action, params: request.params, status: 0, at: Date.now() };
    calls.push(call);
    const outcome = await respond(request);
    call.status = 'error' in outcome ? outcome.error.status : 200;
    return outcome;
  }, (error) => calls.push({ action: '', params: {}, status: error.status, at: Date.now() }));

  return {
    url: server.url,
    env: {
      AWS_ENDPOINT_URL: server.url,
      AWS_REGION: region,
      AWS_ACCESS_KEY_ID: 'AKIDAWSDOUBLE0000000',
      AWS_SECRET_ACCESS_KEY: 'aws-double-fake-secret-key',
    },
    instances: () => inventory.all().map((record) => inventory.view(record)),
    keyPairs: () => inventory.keyPairs().map(({ keyName, keyPairId, publicKey, tags }) => ({ keyName, keyPairId, publicKey, tags: { ...tags } })),
    stacks: () => cloudformation.stacks(),
    calls: () => calls.map((call) => ({ ...call, params: { ...call.params } })),
    injectedWaitMs: () => control.injectedWaitMs(),
    fail: (rule) => control.fail(rule),
    failResource: (pattern, phase, reason, times) => control.fail({
      action: phase === 'create' ? 'CreateStack:resource' : 'DeleteStack:resource',
      code: reason,
      times,
      match: (params) => pattern.test(params.LogicalResourceId ?? ''),
    }),
    setLatency: (latency) => control.setLatency(latency),
    hold: (action, holdOptions) => control.hold(action, holdOptions),
    interrupt: (instanceId) => {
      inventory.terminate(instanceId, { code: 'Server.SpotInstanceTermination', message: 'Server.SpotInstanceTermination: Spot instance termination' });
    },
    close: async () => {
      control.releaseAll();
      await server.close();
      await cloudformation.close();
      await inventory.close();
    },
  };
}
