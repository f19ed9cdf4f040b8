// The AWS double against the real SDK v3 clients: requests go over HTTP to the double, and the SDK's
// own serialisation, XML/JSON parsing, retry strategy and error classes handle the answers. Where an
// official recorded body exists (test/fixtures/aws), the SDK's parse of it is compared with its
// parse of the double's answer to the same call.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  CreateStackCommand, CloudFormationClient, DeleteStackCommand, DescribeStackEventsCommand, DescribeStackResourcesCommand,
  DescribeStacksCommand, ListStacksCommand, UpdateStackCommand, type Stack,
} from '@aws-sdk/client-cloudformation';
import {
  CreateTagsCommand, DeleteKeyPairCommand, DescribeInstanceStatusCommand, DescribeInstanceTypesCommand, DescribeInstancesCommand,
  DescribeKeyPairsCommand, EC2Client, ImportKeyPairCommand, RunInstancesCommand, StartInstancesCommand, StopInstancesCommand, TerminateInstancesCommand,
  paginateDescribeInstances,
  type Instance, type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import { GetServiceQuotaCommand, ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { startAwsDouble, type AwsDouble, type DoubleInstance } from '../support/aws/double';
import { replayBody } from '../support/aws/replay';
import { until } from '../support/until';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'aws');
const fixture = (relative: string): Buffer => readFileSync(path.join(FIXTURES, relative));

const credentials = { accessKeyId: 'AKIDAWSDOUBLE0000000', secretAccessKey: 'aws-double-fake-secret-key' };
const ec2Of = (endpoint: string, region = 'us-east-1'): EC2Client => new EC2Client({ region, endpoint, credentials });
const cfnOf = (endpoint: string): CloudFormationClient => new CloudFormationClient({ region: 'us-east-1', endpoint, credentials });
const quotasOf = (endpoint: string, region = 'us-east-1'): ServiceQuotasClient => new ServiceQuotasClient({ region, endpoint, credentials });

const PUBLIC_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHf0j2e1rZ0mQ5sV6bX8pP0Jm8kq0n1Qe5m3J2aVb7Xy test@double';

const launch = (overrides: Partial<RunInstancesCommandInput> = {}): RunInstancesCommand => new RunInstancesCommand({
  ImageId: 'ami-0abcdef1234567890', InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, SubnetId: 'subnet-0123abcd', ...overrides,
});

const tagsOf = (instance: Instance | undefined): Record<string, string> =>
  Object.fromEntries((instance?.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));

async function caught(work: Promise<unknown>): Promise<Error & { $fault?: string; $metadata?: { httpStatusCode?: number; attempts?: number; requestId?: string } }> {
  try {
    await work;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to fail');
}

async function describeOne(ec2: EC2Client, instanceId: string): Promise<Instance> {
  const output = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  const instance = output.Reservations?.[0]?.Instances?.[0];
  if (instance === undefined) throw new Error(`no instance ${instanceId}`);
  return instance;
}

describe('AWS double: EC2 through the real SDK', () => {
  let double: AwsDouble;
  let ec2: EC2Client;
  const booted: { instance: DoubleInstance; publicKey: string | undefined }[] = [];
  const terminatedHook: string[] = [];

  beforeAll(async () => {
    double = await startAwsDouble({
      addresses: ['10.1.0.11', '10.1.0.12', '10.1.0.13', '10.1.0.14', '10.1.0.15', '10.1.0.16', '10.1.0.17', '10.1.0.18', '10.1.0.19', '10.1.0.20'],
      publicAddresses: ['203.0.113.11', '203.0.113.12', '203.0.113.13'],
      onBoot: async (instance, publicKey) => { booted.push({ instance, publicKey }); },
      onTerminate: async (instance) => { terminatedHook.push(instance.instanceId); },
    });
    ec2 = ec2Of(double.url);
  });
  afterAll(async () => {
    ec2.destroy();
    await double.close();
  });

  it('launches with tags, key and public address, is idempotent per ClientToken, and terminates', async () => {
    await ec2.send(new ImportKeyPairCommand({ KeyName: 'cluster-key', PublicKeyMaterial: Buffer.from(PUBLIC_KEY) }));
    const input: RunInstancesCommandInput = {
      ImageId: 'ami-0abcdef1234567890', InstanceType: 't3.small', MinCount: 1, MaxCount: 1, KeyName: 'cluster-key',
      ClientToken: 'launch-node-1', SecurityGroupIds: ['sg-0123456789abcdef0'],
      NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: 'subnet-0123abcd', AssociatePublicIpAddress: true, Groups: ['sg-0123456789abcdef0'] }],
      TagSpecifications: [
        { ResourceType: 'instance', Tags: [{ Key: 'ms:cluster', Value: 'c-1' }, { Key: 'ms:node', Value: 'node-1' }] },
        { ResourceType: 'volume', Tags: [{ Key: 'ms:cluster', Value: 'c-1' }] },
      ],
    };
    const first = await ec2.send(new RunInstancesCommand(input));
    const launched = first.Instances?.[0];
    expect(launched?.State).toEqual({ Code: 0, Name: 'pending' });
    expect(launched?.PrivateIpAddress).toBe('10.1.0.11');
    expect(launched?.PublicIpAddress).toBe('203.0.113.11');
    expect(launched?.KeyName).toBe('cluster-key');
    expect(launched?.SubnetId).toBe('subnet-0123abcd');
    expect(launched?.ClientToken).toBe('launch-node-1');
    expect(launched?.LaunchTime).toBeInstanceOf(Date);
    expect(tagsOf(launched)).toEqual({ 'ms:cluster': 'c-1', 'ms:node': 'node-1' });
    const instanceId = launched?.InstanceId ?? '';
    expect(instanceId).toMatch(/^i-[0-9a-f]{17}$/);

    // The same token and request: the same reservation, nothing new launched.
    const again = await ec2.send(new RunInstancesCommand(input));
    expect(again.ReservationId).toBe(first.ReservationId);
    expect(again.Instances?.map((i) => i.InstanceId)).toEqual([instanceId]);
    expect(double.instances()).toHaveLength(1);
    // The same token with another request is refused, as a client error the SDK does not retry.
    const mismatch = await caught(ec2.send(new RunInstancesCommand({ ...input, InstanceType: 't3.large' })));
    expect(mismatch.name).toBe('IdempotentParameterMismatch');
    expect(mismatch.$metadata?.httpStatusCode).toBe(400);
    expect(mismatch.$metadata?.attempts).toBe(1);

    const running = await describeOne(ec2, instanceId);
    expect(running.State?.Name).toBe('running');
    expect(running.InstanceType).toBe('t3.small');
    expect(running.SecurityGroups?.[0]?.GroupId).toBe('sg-0123456789abcdef0');
    expect(booted.map((b) => [b.instance.instanceId, b.publicKey])).toEqual([[instanceId, PUBLIC_KEY]]);
    expect(booted[0]?.instance).toMatchObject({ nodeTag: 'node-1', clusterTag: 'c-1', privateIp: '10.1.0.11', state: 'pending' });

    await ec2.send(new CreateTagsCommand({ Resources: [instanceId], Tags: [{ Key: 'Name', Value: 'node one' }] }));
    expect(tagsOf(await describeOne(ec2, instanceId))).toMatchObject({ Name: 'node one', 'ms:node': 'node-1' });

    const terminated = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    expect(terminated.TerminatingInstances).toEqual([{
      InstanceId: instanceId, CurrentState: { Code: 32, Name: 'shutting-down' }, PreviousState: { Code: 16, Name: 'running' },
    }]);
    const afterwards = await describeOne(ec2, instanceId);
    expect(afterwards.State).toEqual({ Code: 48, Name: 'terminated' });
    expect(afterwards.PrivateIpAddress).toBeUndefined();
    expect(terminatedHook).toEqual([instanceId]);
    // Terminating again is fine and reports the end state.
    const twice = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    expect(twice.TerminatingInstances?.[0]?.CurrentState?.Name).toBe('terminated');
    // The address is free again for the next launch.
    const next = await ec2.send(launch());
    expect(next.Instances?.[0]?.PrivateIpAddress).toBe('10.1.0.11');
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [next.Instances?.[0]?.InstanceId ?? ''] }));
  });

  it('pages DescribeInstances and applies filters', async () => {
    const batch = await ec2.send(launch({
      MinCount: 7, MaxCount: 7, InstanceMarketOptions: { MarketType: 'spot' },
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'batch', Value: 'paging' }] }],
    }));
    const ids = (batch.Instances ?? []).map((i) => i.InstanceId ?? '');
    expect(ids).toHaveLength(7);
    expect(batch.Instances?.[0]?.InstanceLifecycle).toBe('spot');
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [ids[6] ?? ''] }));

    const filtered = { Filters: [{ Name: 'tag:batch', Values: ['paging'] }], MaxResults: 5 };
    const pageSizes: number[] = [];
    const seen: string[] = [];
    for await (const page of paginateDescribeInstances({ client: ec2 }, filtered)) {
      const instances = (page.Reservations ?? []).flatMap((r) => r.Instances ?? []);
      pageSizes.push(instances.length);
      seen.push(...instances.map((i) => i.InstanceId ?? ''));
    }
    expect(pageSizes).toEqual([5, 2]);
    expect(seen).toEqual(ids);
    expect(double.calls().filter((c) => c.action === 'DescribeInstances' && c.params.NextToken !== undefined)).toHaveLength(1);

    const running = await ec2.send(new DescribeInstancesCommand({
      Filters: [{ Name: 'tag-key', Values: ['batch'] }, { Name: 'instance-state-name', Values: ['pending', 'running'] }],
    }));
    const runningIds = (running.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => i.InstanceId);
    expect(runningIds).toEqual(ids.slice(0, 6));
    const byId = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: [ids[2] ?? ''] }] }));
    expect(byId.Reservations?.[0]?.Instances?.map((i) => i.InstanceId)).toEqual([ids[2]]);

    await ec2.send(new TerminateInstancesCommand({ InstanceIds: ids.slice(0, 6) }));
  });

  it('answers an unknown instance with InvalidInstanceID.NotFound as the SDK error name', async () => {
    const error = await caught(ec2.send(new DescribeInstancesCommand({ InstanceIds: ['i-0123456789abcdef0'] })));
    expect(error.name).toBe('InvalidInstanceID.NotFound');
    expect(error.message).toBe("The instance ID 'i-0123456789abcdef0' does not exist");
    expect(error.$fault).toBe('client');
    expect(error.$metadata?.httpStatusCode).toBe(400);
    expect(error.$metadata?.requestId).toMatch(/^[0-9a-f-]{36}$/);
    const terminate = await caught(ec2.send(new TerminateInstancesCommand({ InstanceIds: ['i-0123456789abcdef0'] })));
    expect(terminate.name).toBe('InvalidInstanceID.NotFound');
  });

  it('lets the SDK retry throttling until it succeeds and surfaces capacity errors', async () => {
    double.setLatency(3);
    await ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: ['t3.micro'] }));
    await ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: ['t3.small'] }));
    expect(double.injectedWaitMs()).toBe(6);
    double.setLatency(0);

    double.fail({ action: 'DescribeInstances', code: 'RequestLimitExceeded', message: 'Request limit exceeded.' });
    const before = double.calls().length;
    const output = await ec2.send(new DescribeInstancesCommand({}));
    expect(output.$metadata.attempts).toBe(2);
    expect(double.calls().slice(before).map((c) => [c.action, c.status])).toEqual([['DescribeInstances', 503], ['DescribeInstances', 200]]);

    // Capacity: all ten addresses taken, then one more.
    const all = await ec2.send(launch({ MinCount: 1, MaxCount: 20 }));
    expect(all.Instances).toHaveLength(10);
    const capacity = await caught(ec2.send(launch()));
    expect(capacity.name).toBe('InsufficientInstanceCapacity');
    expect(capacity.$fault).toBe('server');
    expect(capacity.$metadata?.httpStatusCode).toBe(500);
    expect(capacity.$metadata?.attempts).toBe(3);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: (all.Instances ?? []).map((i) => i.InstanceId ?? '') }));

    // Injected capacity errors surface the same way; the next launch works again.
    double.fail({ action: 'RunInstances', code: 'InsufficientInstanceCapacity', times: 3 });
    expect((await caught(ec2.send(launch()))).name).toBe('InsufficientInstanceCapacity');
    const recovered = await ec2.send(launch());
    expect(recovered.Instances).toHaveLength(1);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [recovered.Instances?.[0]?.InstanceId ?? ''] }));
  });

  it('imports, describes, filters and deletes key pairs', async () => {
    const imported = await ec2.send(new ImportKeyPairCommand({
      KeyName: 'tagged-key', PublicKeyMaterial: Buffer.from(PUBLIC_KEY),
      TagSpecifications: [{ ResourceType: 'key-pair', Tags: [{ Key: 'ms:cluster', Value: 'c-9' }] }],
    }));
    expect(imported.KeyPairId).toMatch(/^key-[0-9a-f]{17}$/);
    expect(imported.Tags).toEqual([{ Key: 'ms:cluster', Value: 'c-9' }]);
    const duplicate = await caught(ec2.send(new ImportKeyPairCommand({ KeyName: 'tagged-key', PublicKeyMaterial: Buffer.from(PUBLIC_KEY) })));
    expect(duplicate.name).toBe('InvalidKeyPair.Duplicate');

    const byTag = await ec2.send(new DescribeKeyPairsCommand({ Filters: [{ Name: 'tag:ms:cluster', Values: ['c-9'] }], IncludePublicKey: true }));
    expect(byTag.KeyPairs?.map((k) => [k.KeyName, k.KeyPairId, k.PublicKey, k.KeyType])).toEqual([['tagged-key', imported.KeyPairId, PUBLIC_KEY, 'ed25519']]);
    expect((await ec2.send(new DescribeKeyPairsCommand({ Filters: [{ Name: 'tag-key', Values: ['ms:cluster'] }] }))).KeyPairs).toHaveLength(1);
    expect(double.keyPairs().map((k) => k.keyName)).toEqual(['cluster-key', 'tagged-key']);

    await ec2.send(new DeleteKeyPairCommand({ KeyName: 'tagged-key' }));
    await ec2.send(new DeleteKeyPairCommand({ KeyName: 'tagged-key' }));
    const missing = await caught(ec2.send(new DescribeKeyPairsCommand({ KeyNames: ['tagged-key'] })));
    expect(missing.name).toBe('InvalidKeyPair.NotFound');
    const unknownKey = await caught(ec2.send(launch({ KeyName: 'tagged-key' })));
    expect(unknownKey.name).toBe('InvalidKeyPair.NotFound');
  });

  it('describes instance types', async () => {
    const output = await ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: ['c5.xlarge', 't3.micro'] }));
    expect(output.InstanceTypes?.map((t) => [t.InstanceType, t.VCpuInfo?.DefaultVCpus, t.MemoryInfo?.SizeInMiB])).toEqual([
      ['c5.xlarge', 4, 8192], ['t3.micro', 2, 1024],
    ]);
    expect((await caught(ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: ['p4d.24xlarge'] })))).name).toBe('InvalidInstanceType');
  });

  it('holds a call before its effect, or after it, until released', async () => {
    const beforeEffect = double.hold('RunInstances');
    const launching = ec2.send(launch({ TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'held', Value: 'before' }] }] }));
    await beforeEffect.arrived;
    expect(beforeEffect.params['TagSpecification.1.Tag.1.Value']).toBe('before');
    expect(double.instances().filter((i) => i.tags.held === 'before')).toHaveLength(0);
    beforeEffect.release();
    const launched = (await launching).Instances?.[0]?.InstanceId ?? '';
    expect(double.instances().filter((i) => i.tags.held === 'before')).toHaveLength(1);

    const afterEffect = double.hold('TerminateInstances', { after: true, match: (p) => p['InstanceId.1'] === launched });
    const terminating = ec2.send(new TerminateInstancesCommand({ InstanceIds: [launched] }));
    await afterEffect.arrived;
    // The effect is there while the answer is still held back.
    await until('instance terminated', 5000, async () =>
      double.instances().find((i) => i.instanceId === launched)?.state === 'terminated' ? true : undefined, 5);
    expect(double.calls().filter((c) => c.action === 'TerminateInstances').at(-1)?.status).toBe(0);
    afterEffect.release();
    expect((await terminating).TerminatingInstances?.[0]?.InstanceId).toBe(launched);
  });

  it('terminates an interrupted instance without a call', async () => {
    const spot = await ec2.send(launch({ InstanceMarketOptions: { MarketType: 'spot' } }));
    const instanceId = spot.Instances?.[0]?.InstanceId ?? '';
    expect((await describeOne(ec2, instanceId)).State?.Name).toBe('running');
    double.interrupt(instanceId);
    const gone = await until('interrupted instance terminated', 5000, async () => {
      const instance = await describeOne(ec2, instanceId);
      return instance.State?.Name === 'terminated' ? instance : undefined;
    }, 5);
    expect(gone.StateReason?.Code).toBe('Server.SpotInstanceTermination');
  });

  it('refuses unsigned requests with AuthFailure', async () => {
    const response = await fetch(double.url, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'Action=DescribeInstances&Version=2016-11-15',
    });
    expect(response.status).toBe(401);
    expect(await response.text()).toContain('<Code>AuthFailure</Code>');
  });
});

describe('AWS double: responses parse like the official fixtures', () => {
  let double: AwsDouble;
  afterEach(async () => { await double.close(); });

  it('DescribeInstanceStatus, InvalidInstanceID.NotFound and GetServiceQuota', async () => {
    double = await startAwsDouble({ region: 'us-east-2' });
    const ec2 = ec2Of(double.url, 'us-east-2');
    const instanceId = (await ec2.send(launch())).Instances?.[0]?.InstanceId ?? '';
    await until('running', 5000, async () => ((await describeOne(ec2, instanceId)).State?.Name === 'running' ? true : undefined), 5);

    // A recorded DescribeInstanceStatus body (real EC2, us-west-2) and the double's answer.
    const recorded = await replayBody(200, 'text/xml;charset=UTF-8', fixture('ec2/recorded/DescribeInstanceStatus.200.ok.xml'),
      { 'x-amzn-requestid': 'c9b9b2a0-ddbc-4ea8-a76a-4339a9a99de4', server: 'AmazonEC2' });
    const fromFixture = (await ec2Of(recorded.url).send(new DescribeInstanceStatusCommand({ InstanceIds: ['i-09fb4224219ac6902'] }))).InstanceStatuses?.[0];
    const fromDouble = (await ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: [instanceId] }))).InstanceStatuses?.[0];
    await recorded.close();
    expect(fromFixture?.InstanceId).toBe('i-09fb4224219ac6902');
    expect(fromDouble).toEqual({ ...fromFixture, InstanceId: instanceId, AvailabilityZone: 'us-east-2a' });

    // The recorded StartInstances answer (a stopped instance starting) and the double's.
    await ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
    expect((await describeOne(ec2, instanceId)).State?.Name).toBe('stopped');
    // Not running: the recorded empty set (`<instanceStatusSet/>`) and the double's read alike.
    const emptyReplay = await replayBody(200, 'text/xml;charset=UTF-8', fixture('ec2/recorded/DescribeInstanceStatus.200.empty-set.xml'));
    const fixtureEmpty = await ec2Of(emptyReplay.url).send(new DescribeInstanceStatusCommand({ InstanceIds: ['i-09fb4224219ac6902'] }));
    await emptyReplay.close();
    const doubleEmpty = await ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: [instanceId] }));
    expect(fixtureEmpty.InstanceStatuses).toEqual([]);
    expect(doubleEmpty.InstanceStatuses).toEqual(fixtureEmpty.InstanceStatuses);
    const startReplay = await replayBody(200, 'text/xml;charset=UTF-8', fixture('ec2/recorded/StartInstances.200.xml'), { 'x-amzn-requestid': 'bec35864-7ea6-430e-864e-229454f8b80d' });
    const fixtureStart = await ec2Of(startReplay.url).send(new StartInstancesCommand({ InstanceIds: ['i-09fb4224219ac6902'] }));
    await startReplay.close();
    const doubleStart = await ec2.send(new StartInstancesCommand({ InstanceIds: [instanceId] }));
    expect(fixtureStart.StartingInstances?.[0]?.InstanceId).toBe('i-09fb4224219ac6902');
    expect(doubleStart.StartingInstances).toEqual(fixtureStart.StartingInstances?.map((i) => ({ ...i, InstanceId: instanceId })));
    await until('running again', 5000, async () => ((await describeOne(ec2, instanceId)).State?.Name === 'running' ? true : undefined), 5);

    // The only official EC2 error bodies are the generic protocol tests: same root, same SDK shape.
    const errorReplay = await replayBody(400, 'text/xml', fixture('ec2/protocol-tests/extracted_Ec2InvalidGreetingError.400.xml'), { 'x-amzn-requestid': 'foo-id' });
    const fixtureError = await caught(ec2Of(errorReplay.url).send(new DescribeInstancesCommand({ InstanceIds: ['i-0123456789abcdef0'] })));
    await errorReplay.close();
    const doubleError = await caught(ec2.send(new DescribeInstancesCommand({ InstanceIds: ['i-0123456789abcdef0'] })));
    expect([fixtureError.name, fixtureError.message, fixtureError.$fault]).toEqual(['InvalidGreeting', 'Hi', 'client']);
    expect([doubleError.name, doubleError.$fault, doubleError.$metadata?.httpStatusCode]).toEqual(['InvalidInstanceID.NotFound', 'client', 400]);
    expect(Object.getPrototypeOf(doubleError)).toBe(Object.getPrototypeOf(fixtureError));
    expect(Object.keys(doubleError).sort()).toEqual(Object.keys(fixtureError).sort());

    // The aws-cli example output of get-service-quota is the JSON response body: parsed, it equals
    // the double's answer for the same quota in the same region.
    const quotaReplay = await replayBody(200, 'application/x-amz-json-1.1', fixture('service-quotas/examples/awscli_service-quotas_get-service-quota.output1.json'));
    const input = { ServiceCode: 'ec2', QuotaCode: 'L-1216C47A' };
    const fixtureQuota = await quotasOf(quotaReplay.url, 'us-east-2').send(new GetServiceQuotaCommand(input));
    await quotaReplay.close();
    const doubleQuota = await quotasOf(double.url, 'us-east-2').send(new GetServiceQuotaCommand(input));
    expect(doubleQuota.Quota).toEqual(fixtureQuota.Quota);

    const quotaErrorReplay = await replayBody(400, 'application/x-amz-json-1.1', fixture('service-quotas/protocol-tests/extracted_AwsJson11InvalidGreetingError.400.json'));
    const fixtureQuotaError = await caught(quotasOf(quotaErrorReplay.url).send(new GetServiceQuotaCommand(input)));
    await quotaErrorReplay.close();
    const doubleQuotaError = await caught(quotasOf(double.url).send(new GetServiceQuotaCommand({ ServiceCode: 'ec2', QuotaCode: 'L-NOPE' })));
    expect([fixtureQuotaError.name, fixtureQuotaError.message]).toEqual(['InvalidGreeting', 'Hi']);
    expect([doubleQuotaError.name, doubleQuotaError.$fault, doubleQuotaError.$metadata?.httpStatusCode]).toEqual(['NoSuchResourceException', 'client', 400]);

    // awsQuery errors (CloudFormation): the generic protocol-test body and the double's ValidationError.
    const queryReplay = await replayBody(400, 'text/xml', fixture('cloudformation/protocol-tests/extracted_QueryInvalidGreetingError.400.xml'));
    const fixtureStackError = await caught(cfnOf(queryReplay.url).send(new DescribeStacksCommand({ StackName: 'missing' })));
    await queryReplay.close();
    const doubleStackError = await caught(cfnOf(double.url).send(new DescribeStacksCommand({ StackName: 'missing' })));
    expect([fixtureStackError.name, fixtureStackError.message, fixtureStackError.$fault]).toEqual(['InvalidGreeting', 'Hi', 'client']);
    expect([doubleStackError.name, doubleStackError.message, doubleStackError.$fault]).toEqual(['ValidationError', 'Stack with id missing does not exist', 'client']);
    expect(Object.getPrototypeOf(doubleStackError)).toBe(Object.getPrototypeOf(fixtureStackError));
  });

  it('reaches the double through AWS_ENDPOINT_URL and answers quota values from its options', async () => {
    double = await startAwsDouble({ quotas: { 'L-1216C47A': 64, 'L-34B43A08': 32 } });
    const saved = { ...process.env };
    Object.assign(process.env, double.env);
    try {
      const quotas = new ServiceQuotasClient({});
      const spot = await quotas.send(new GetServiceQuotaCommand({ ServiceCode: 'ec2', QuotaCode: 'L-34B43A08' }));
      expect([spot.Quota?.Value, spot.Quota?.Unit, spot.Quota?.QuotaName]).toEqual([32, 'None', 'All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests']);
      const ec2 = new EC2Client({});
      // 64 vCPUs on demand: 32 two-vCPU instances fit, one more does not.
      expect((await ec2.send(launch({ MinCount: 32, MaxCount: 32 }))).Instances).toHaveLength(32);
      expect((await caught(ec2.send(launch()))).name).toBe('VcpuLimitExceeded');
      quotas.destroy();
      ec2.destroy();
    } finally {
      for (const key of Object.keys(double.env)) delete process.env[key];
      Object.assign(process.env, saved);
    }
    expect(double.calls().map((c) => c.action)).toEqual(['GetServiceQuota', 'RunInstances', 'RunInstances']);
  });
});

describe('AWS double: CloudFormation stacks through the real SDK', () => {
  let double: AwsDouble;
  let cfn: CloudFormationClient;
  let ec2: EC2Client;
  const bootedKeys: (string | undefined)[] = [];

  // One instance per entry of a CommaDelimitedList, through the LanguageExtensions loop.
  const template = JSON.stringify({
    AWSTemplateFormatVersion: '2010-09-09',
    Transform: 'AWS::LanguageExtensions',
    Description: 'compute nodes',
    Parameters: {
      NodeIds: { Type: 'CommaDelimitedList' },
      ImageId: { Type: 'AWS::EC2::Image::Id' },
      InstanceType: { Type: 'String', Default: 't3.micro' },
      KeyName: { Type: 'AWS::EC2::KeyPair::KeyName' },
      SubnetId: { Type: 'AWS::EC2::Subnet::Id' },
    },
    Resources: {
      'Fn::ForEach::Nodes': ['NodeId', { Ref: 'NodeIds' }, {
        'Node&{NodeId}': {
          Type: 'AWS::EC2::Instance',
          Properties: {
            ImageId: { Ref: 'ImageId' }, InstanceType: { Ref: 'InstanceType' }, KeyName: { Ref: 'KeyName' }, SubnetId: { Ref: 'SubnetId' },
            SecurityGroupIds: ['sg-0123456789abcdef0'],
            Tags: [{ Key: 'ms:node', Value: { 'Fn::Sub': '${AWS::StackName}-${NodeId}' } }],
          },
        },
      }],
      Placement: { Type: 'AWS::EC2::PlacementGroup', Properties: { Strategy: 'cluster' } },
    },
    Outputs: {
      'Fn::ForEach::NodeAddresses': ['NodeId', { Ref: 'NodeIds' }, {
        'Node&{NodeId}Ip': { Value: { 'Fn::GetAtt': ['Node&{NodeId}', 'PrivateIp'] } },
      }],
    },
  });
  const parameters = (nodeIds: string): { ParameterKey: string; ParameterValue: string }[] => [
    { ParameterKey: 'NodeIds', ParameterValue: nodeIds }, { ParameterKey: 'ImageId', ParameterValue: 'ami-0abcdef1234567890' },
    { ParameterKey: 'KeyName', ParameterValue: 'stack-key' }, { ParameterKey: 'SubnetId', ParameterValue: 'subnet-0123abcd' },
  ];

  async function settled(stackName: string): Promise<Stack> {
    return until(`stack ${stackName} to settle`, 10_000, async () => {
      const stack = (await cfn.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks?.[0];
      return stack?.StackStatus?.endsWith('_IN_PROGRESS') === false ? stack : undefined;
    }, 10);
  }
  const stackInstances = (stackName: string): DoubleInstance[] => double.instances().filter((i) => i.stackName === stackName);

  beforeAll(async () => {
    double = await startAwsDouble({ bootMs: 20, onBoot: async (_instance, publicKey) => { bootedKeys.push(publicKey); } });
    cfn = cfnOf(double.url);
    ec2 = ec2Of(double.url);
    await ec2.send(new ImportKeyPairCommand({ KeyName: 'stack-key', PublicKeyMaterial: Buffer.from(PUBLIC_KEY) }));
  });
  afterAll(async () => {
    cfn.destroy();
    ec2.destroy();
    await double.close();
  });

  it('creates three instances with Fn::ForEach, updates to two and deletes', async () => {
    const create = {
      StackName: 'nodes', TemplateBody: template, Parameters: parameters('1,2,3'), Capabilities: ['CAPABILITY_AUTO_EXPAND' as const],
      Tags: [{ Key: 'ms:cluster', Value: 'c-42' }], ClientRequestToken: 'create-nodes-1',
    };
    const missingCapability = await caught(cfn.send(new CreateStackCommand({ ...create, Capabilities: [] })));
    expect(missingCapability.name).toBe('InsufficientCapabilitiesException');
    const { StackId: stackId } = await cfn.send(new CreateStackCommand(create));
    expect(stackId).toMatch(/^arn:aws:cloudformation:us-east-1:123456789012:stack\/nodes\//);
    expect((await cfn.send(new DescribeStacksCommand({ StackName: 'nodes' }))).Stacks?.[0]?.StackStatus).toBe('CREATE_IN_PROGRESS');
    // A retry with the same token is the same operation; a new one for the same name is refused.
    expect((await cfn.send(new CreateStackCommand(create))).StackId).toBe(stackId);
    expect((await caught(cfn.send(new CreateStackCommand({ ...create, ClientRequestToken: 'create-nodes-2' })))).name).toBe('AlreadyExistsException');

    const created = await settled('nodes');
    expect(created.StackStatus).toBe('CREATE_COMPLETE');
    expect(created.Tags).toEqual([{ Key: 'ms:cluster', Value: 'c-42' }]);
    expect(created.Parameters?.find((p) => p.ParameterKey === 'NodeIds')?.ParameterValue).toBe('1,2,3');
    const instances = stackInstances('nodes');
    expect(instances.map((i) => [i.tags['aws:cloudformation:logical-id'], i.state, i.nodeTag, i.clusterTag, i.keyName])).toEqual([
      ['Node1', 'running', 'nodes-1', 'c-42', 'stack-key'], ['Node2', 'running', 'nodes-2', 'c-42', 'stack-key'], ['Node3', 'running', 'nodes-3', 'c-42', 'stack-key'],
    ]);
    expect(instances[0]?.tags['aws:cloudformation:stack-name']).toBe('nodes');
    expect(bootedKeys).toEqual([PUBLIC_KEY, PUBLIC_KEY, PUBLIC_KEY]);
    expect(Object.fromEntries((created.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]))).toEqual(
      Object.fromEntries(instances.map((i) => [`${i.tags['aws:cloudformation:logical-id']}Ip`, i.privateIp])));
    // The stack's instances are ordinary EC2 instances to DescribeInstances.
    const described = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:aws:cloudformation:stack-name', Values: ['nodes'] }] }));
    expect((described.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => i.InstanceId)).toEqual(instances.map((i) => i.instanceId));
    const resources = (await cfn.send(new DescribeStackResourcesCommand({ StackName: 'nodes' }))).StackResources ?? [];
    expect(resources.map((r) => [r.LogicalResourceId, r.ResourceStatus]).sort()).toEqual([
      ['Node1', 'CREATE_COMPLETE'], ['Node2', 'CREATE_COMPLETE'], ['Node3', 'CREATE_COMPLETE'], ['Placement', 'CREATE_COMPLETE'],
    ]);
    expect(resources.find((r) => r.LogicalResourceId === 'Node2')?.PhysicalResourceId).toBe(instances[1]?.instanceId);
    const createEvents = (await cfn.send(new DescribeStackEventsCommand({ StackName: 'nodes' }))).StackEvents ?? [];
    expect([createEvents[0]?.LogicalResourceId, createEvents[0]?.ResourceStatus]).toEqual(['nodes', 'CREATE_COMPLETE']);
    expect([createEvents.at(-1)?.ResourceStatus, createEvents.at(-1)?.ResourceStatusReason]).toEqual(['CREATE_IN_PROGRESS', 'User Initiated']);
    expect(createEvents.every((e) => e.ClientRequestToken === 'create-nodes-1')).toBe(true);

    await cfn.send(new UpdateStackCommand({
      StackName: 'nodes', UsePreviousTemplate: true, Capabilities: ['CAPABILITY_AUTO_EXPAND'],
      Parameters: [{ ParameterKey: 'NodeIds', ParameterValue: '1,2' }, ...['ImageId', 'KeyName', 'SubnetId'].map((k) => ({ ParameterKey: k, UsePreviousValue: true }))],
    }));
    const updated = await settled('nodes');
    expect(updated.StackStatus).toBe('UPDATE_COMPLETE');
    expect(stackInstances('nodes').map((i) => [i.instanceId, i.state])).toEqual([
      [instances[0]?.instanceId, 'running'], [instances[1]?.instanceId, 'running'], [instances[2]?.instanceId, 'terminated'],
    ]);
    expect(updated.Outputs?.map((o) => o.OutputKey).sort()).toEqual(['Node1Ip', 'Node2Ip']);
    const updateEvents = (await cfn.send(new DescribeStackEventsCommand({ StackName: 'nodes' }))).StackEvents ?? [];
    expect(updateEvents.slice(0, 4).map((e) => [e.LogicalResourceId, e.ResourceStatus])).toEqual([
      ['nodes', 'UPDATE_COMPLETE'], ['Node3', 'DELETE_COMPLETE'], ['Node3', 'DELETE_IN_PROGRESS'], ['nodes', 'UPDATE_COMPLETE_CLEANUP_IN_PROGRESS'],
    ]);
    const noChange = await caught(cfn.send(new UpdateStackCommand({
      StackName: 'nodes', UsePreviousTemplate: true, Capabilities: ['CAPABILITY_AUTO_EXPAND'],
      Parameters: ['NodeIds', 'ImageId', 'KeyName', 'SubnetId'].map((k) => ({ ParameterKey: k, UsePreviousValue: true })),
    })));
    expect([noChange.name, noChange.message]).toEqual(['ValidationError', 'No updates are to be performed.']);

    await cfn.send(new DeleteStackCommand({ StackName: 'nodes' }));
    const deleted = await until('stack deleted', 10_000, async () => {
      const stack = (await cfn.send(new DescribeStacksCommand({ StackName: stackId }))).Stacks?.[0];
      return stack?.StackStatus === 'DELETE_COMPLETE' ? stack : undefined;
    }, 10);
    expect(deleted.DeletionTime).toBeInstanceOf(Date);
    expect(stackInstances('nodes').every((i) => i.state === 'terminated')).toBe(true);
    const gone = await caught(cfn.send(new DescribeStacksCommand({ StackName: 'nodes' })));
    expect([gone.name, gone.message, gone.$metadata?.httpStatusCode]).toEqual(['ValidationError', 'Stack with id nodes does not exist', 400]);
    await cfn.send(new DeleteStackCommand({ StackName: 'nodes' }));
    const listed = await cfn.send(new ListStacksCommand({ StackStatusFilter: ['DELETE_COMPLETE'] }));
    expect(listed.StackSummaries?.map((s) => s.StackId)).toContain(stackId);
    expect(double.stacks()).toEqual([{ stackName: 'nodes', stackId, status: 'DELETE_COMPLETE', tags: { 'ms:cluster': 'c-42' } }]);
  });

  it('rolls back a stack whose resource fails, with the reason in the events', async () => {
    double.failResource(/^Node2$/, 'create', 'Injected: no capacity for Node2');
    await cfn.send(new CreateStackCommand({ StackName: 'broken', TemplateBody: template, Parameters: parameters('1,2,3'), Capabilities: ['CAPABILITY_AUTO_EXPAND'] }));
    const stack = await settled('broken');
    expect(stack.StackStatus).toBe('ROLLBACK_COMPLETE');
    const events = (await cfn.send(new DescribeStackEventsCommand({ StackName: 'broken' }))).StackEvents ?? [];
    const failed = events.find((e) => e.ResourceStatus === 'CREATE_FAILED');
    expect([failed?.LogicalResourceId, failed?.ResourceStatusReason]).toEqual(['Node2', 'Injected: no capacity for Node2']);
    const rollback = events.find((e) => e.ResourceStatus === 'ROLLBACK_IN_PROGRESS');
    expect(rollback?.ResourceStatusReason).toBe('The following resource(s) failed to create: [Node2]. Rollback requested by user.');
    expect(events.filter((e) => e.ResourceStatus === 'DELETE_COMPLETE').map((e) => e.LogicalResourceId).sort()).toEqual(['Node1', 'Node3', 'Placement']);
    expect(stackInstances('broken').map((i) => i.state)).toEqual(['terminated', 'terminated']);
    // A stack in ROLLBACK_COMPLETE can only be deleted.
    const update = await caught(cfn.send(new UpdateStackCommand({ StackName: 'broken', UsePreviousTemplate: true, Capabilities: ['CAPABILITY_AUTO_EXPAND'] })));
    expect(update.message).toMatch(/is in ROLLBACK_COMPLETE state and can not be updated/);

    await cfn.send(new DeleteStackCommand({ StackName: 'broken' }));
    await until('broken deleted', 10_000, async () => (double.stacks().find((s) => s.stackName === 'broken')?.status === 'DELETE_COMPLETE' ? true : undefined), 10);
  });

  it('rolls an update back when a new resource fails, and replaces instances whose properties change', async () => {
    const create = { StackName: 'grow', TemplateBody: template, Parameters: parameters('1'), Capabilities: ['CAPABILITY_AUTO_EXPAND' as const] };
    await cfn.send(new CreateStackCommand(create));
    expect((await settled('grow')).StackStatus).toBe('CREATE_COMPLETE');
    const [original] = stackInstances('grow');

    double.failResource(/^Node2$/, 'create', 'Injected: Node2 will not start');
    await cfn.send(new UpdateStackCommand({ ...create, Parameters: parameters('1,2,3') }));
    const rolledBack = await settled('grow');
    expect(rolledBack.StackStatus).toBe('UPDATE_ROLLBACK_COMPLETE');
    expect(rolledBack.Parameters?.find((p) => p.ParameterKey === 'NodeIds')?.ParameterValue).toBe('1');
    const events = (await cfn.send(new DescribeStackEventsCommand({ StackName: 'grow' }))).StackEvents ?? [];
    expect(events.find((e) => e.LogicalResourceId === 'Node2' && e.ResourceStatus === 'CREATE_FAILED')?.ResourceStatusReason).toBe('Injected: Node2 will not start');
    expect(stackInstances('grow').filter((i) => i.state !== 'terminated').map((i) => i.instanceId)).toEqual([original?.instanceId]);
    expect((await cfn.send(new DescribeStackResourcesCommand({ StackName: 'grow' }))).StackResources?.map((r) => r.LogicalResourceId).sort()).toEqual(['Node1', 'Placement']);

    // Another instance type means a new instance; the old one goes in the cleanup phase.
    await cfn.send(new UpdateStackCommand({ ...create, Parameters: [...parameters('1'), { ParameterKey: 'InstanceType', ParameterValue: 't3.large' }] }));
    expect((await settled('grow')).StackStatus).toBe('UPDATE_COMPLETE');
    const live = stackInstances('grow').filter((i) => i.state !== 'terminated');
    expect(live.map((i) => [i.instanceType, i.tags['aws:cloudformation:logical-id']])).toEqual([['t3.large', 'Node1']]);
    expect(live[0]?.instanceId).not.toBe(original?.instanceId);
    expect(double.instances().find((i) => i.instanceId === original?.instanceId)?.state).toBe('terminated');
    await cfn.send(new DeleteStackCommand({ StackName: 'grow' }));
  });

  it('fails a resource for real reasons (no such key) and can leave a failed delete', async () => {
    await cfn.send(new CreateStackCommand({
      StackName: 'keyless', TemplateBody: template, Capabilities: ['CAPABILITY_AUTO_EXPAND'], OnFailure: 'DO_NOTHING',
      Parameters: parameters('a').map((p) => (p.ParameterKey === 'KeyName' ? { ...p, ParameterValue: 'no-such-key' } : p)),
    }));
    const stack = await settled('keyless');
    expect([stack.StackStatus, stack.StackStatusReason]).toEqual(['CREATE_FAILED', 'The following resource(s) failed to create: [Nodea]. ']);
    const failed = (await cfn.send(new DescribeStackEventsCommand({ StackName: 'keyless' }))).StackEvents?.find((e) => e.LogicalResourceId === 'Nodea' && e.ResourceStatus === 'CREATE_FAILED');
    expect(failed?.ResourceStatusReason).toMatch(/^The key pair 'no-such-key' does not exist/);

    double.failResource(/^Placement$/, 'delete', 'Injected: placement group in use');
    await cfn.send(new DeleteStackCommand({ StackName: 'keyless' }));
    const stuck = await settled('keyless');
    expect([stuck.StackStatus, stuck.StackStatusReason]).toEqual(['DELETE_FAILED', 'The following resource(s) failed to delete: [Placement]. ']);
    await cfn.send(new DeleteStackCommand({ StackName: 'keyless' }));
    await until('keyless deleted', 10_000, async () => (double.stacks().find((s) => s.stackName === 'keyless')?.status === 'DELETE_COMPLETE' ? true : undefined), 10);
  });
});
