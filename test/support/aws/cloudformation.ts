// CloudFormation (awsQuery, 2010-05-15): stacks whose AWS::EC2::Instance resources really launch
// through the shared inventory. Stack operations run in the background in small steps and leave
// the events a poller of DescribeStacks / DescribeStackEvents expects: CREATE_IN_PROGRESS ->
// CREATE_COMPLETE, or ROLLBACK_IN_PROGRESS -> ROLLBACK_COMPLETE when a resource fails; UPDATE_* with
// cleanup; DELETE_* with DELETE_FAILED when a resource will not go. Other resource types are accepted
// as no-ops that complete at once.
import { randomUUID } from 'node:crypto';
import type { Control } from './control';
import { Inventory, awsId } from './inventory';
import {
  LANGUAGE_EXTENSIONS, dependencyWaves, evaluate, parameterValues, prepareTemplate,
  type EvaluationContext, type Json, type JsonObject, type PreparedTemplate,
} from './template';
import { ApiError, list, required, structs, sub, tagsOf, type Params } from './wire';
import type { XmlObject } from './xml';

export interface StackView { stackName: string; stackId: string; status: string; tags: Record<string, string> }

const INSTANCE = 'AWS::EC2::Instance';
const ACCOUNT_ID = '123456789012';
const UPDATABLE = new Set(['CREATE_COMPLETE', 'UPDATE_COMPLETE', 'UPDATE_ROLLBACK_COMPLETE']);

interface ResourceState {
  logicalId: string;
  type: string;
  physicalId?: string;
  status: string;
  reason?: string;
  updatedAt: number;
  /** Properties as resolved when the resource was made, to tell what an update changes. */
  resolved?: JsonObject;
}

interface StackEvent {
  eventId: string;
  logicalId: string;
  physicalId?: string;
  type: string;
  status: string;
  reason?: string;
  at: number;
  token?: string;
  properties?: string;
}

interface StackRecord {
  stackName: string;
  stackId: string;
  status: string;
  reason?: string;
  createdAt: number;
  updatedAt?: number;
  deletedAt?: number;
  template: PreparedTemplate;
  body: string;
  tags: Record<string, string>;
  capabilities: string[];
  onFailure: 'ROLLBACK' | 'DO_NOTHING' | 'DELETE';
  resources: Map<string, ResourceState>;
  events: StackEvent[];
  outputs: { key: string; value: string; description?: string }[];
  token?: string;
  /** Operations on one stack run one after another. */
  work: Promise<void>;
}

/** A resource that did not reach its goal; the message becomes ResourceStatusReason. */
class ResourceFailure extends Error {}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

const sameJson = (a: Json | undefined, b: Json | undefined): boolean => JSON.stringify(a) === JSON.stringify(b);

function parametersOf(params: Params): Record<string, string | undefined> {
  const given: Record<string, string | undefined> = {};
  for (const entry of structs(params, 'Parameters.member')) {
    if (entry.ParameterKey === undefined) continue;
    given[entry.ParameterKey] = entry.UsePreviousValue === 'true' ? undefined : (entry.ParameterValue ?? '');
  }
  return given;
}

function tagList(value: Json | undefined): Record<string, string> {
  if (!Array.isArray(value)) return {};
  const tags: Record<string, string> = {};
  for (const tag of value) if (tag !== null && typeof tag === 'object' && !Array.isArray(tag) && tag.Key !== undefined) tags[String(tag.Key)] = String(tag.Value ?? '');
  return tags;
}

const stringList = (value: Json | undefined): string[] => (Array.isArray(value) ? value.map(String) : value === undefined || value === null ? [] : [String(value)]);

export class CloudFormation {
  readonly handlers: Record<string, (params: Params) => XmlObject>;
  private readonly all: StackRecord[] = [];
  private readonly tokens = new Map<string, { stackId: string; action: string }>();
  private closed = false;

  constructor(private readonly inventory: Inventory, private readonly control: Control, private readonly stepMs: number) {
    this.handlers = {
      CreateStack: (p) => this.createStack(p),
      UpdateStack: (p) => this.updateStack(p),
      DeleteStack: (p) => this.deleteStack(p),
      DescribeStacks: (p) => this.describeStacks(p),
      DescribeStackEvents: (p) => this.describeStackEvents(p),
      DescribeStackResources: (p) => this.describeStackResources(p),
      ListStacks: (p) => this.listStacks(p),
      GetTemplate: (p) => ({ TemplateBody: this.find(required(p, 'StackName')).body }),
    };
  }

  stacks(): StackView[] {
    return this.all.map((s) => ({ stackName: s.stackName, stackId: s.stackId, status: s.status, tags: { ...s.tags } }));
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled(this.all.map((s) => s.work));
  }

  // --- lookups ---------------------------------------------------------------------------------

  /** By name only stacks not yet deleted; by stack id also deleted ones, as CloudFormation does. */
  private lookUp(nameOrId: string): StackRecord | undefined {
    if (nameOrId.startsWith('arn:')) return this.all.find((s) => s.stackId === nameOrId);
    return this.all.find((s) => s.stackName === nameOrId && s.status !== 'DELETE_COMPLETE');
  }

  private find(nameOrId: string): StackRecord {
    const stack = this.lookUp(nameOrId);
    if (stack === undefined) throw new ApiError('ValidationError', `Stack with id ${nameOrId} does not exist`);
    return stack;
  }

  /** A token names one operation: a retry of it is answered again, any other use is refused. */
  private claimToken(token: string | undefined, action: string, stackName: string): StackRecord | undefined {
    if (token === undefined) return undefined;
    const used = this.tokens.get(token);
    if (used === undefined) return undefined;
    const stack = this.all.find((s) => s.stackId === used.stackId);
    if (used.action === action && stack?.stackName === stackName) return stack;
    throw new ApiError('TokenAlreadyExistsException', `Another ${used.action} request with the same ClientRequestToken is already in progress or finished.`);
  }

  // --- actions ---------------------------------------------------------------------------------

  private createStack(params: Params): XmlObject {
    const stackName = required(params, 'StackName');
    const token = params.ClientRequestToken;
    const repeated = this.claimToken(token, 'CreateStack', stackName);
    if (repeated !== undefined) return { StackId: repeated.stackId };
    if (!/^[A-Za-z][-A-Za-z0-9]{0,127}$/.test(stackName)) {
      throw new ApiError('ValidationError', `1 validation error detected: Value '${stackName}' at 'stackName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*`);
    }
    if (this.lookUp(stackName) !== undefined) throw new ApiError('AlreadyExistsException', `Stack [${stackName}] already exists`);
    const body = required(params, 'TemplateBody');
    const template = prepareTemplate(body, parametersOf(params));
    const capabilities = list(params, 'Capabilities.member');
    this.checkCapabilities(template, capabilities);
    const onFailure = params.OnFailure ?? (params.DisableRollback === 'true' ? 'DO_NOTHING' : 'ROLLBACK');
    if (onFailure !== 'ROLLBACK' && onFailure !== 'DO_NOTHING' && onFailure !== 'DELETE') throw new ApiError('ValidationError', `Invalid OnFailure ${onFailure}`);
    const stack: StackRecord = {
      stackName, stackId: `arn:aws:cloudformation:${this.inventory.region}:${ACCOUNT_ID}:stack/${stackName}/${randomUUID()}`,
      status: 'CREATE_IN_PROGRESS', createdAt: Date.now(), template, body, tags: tagsOf(structs(params, 'Tags.member')),
      capabilities, onFailure, resources: new Map(), events: [], outputs: [], token, work: Promise.resolve(),
    };
    if (token !== undefined) this.tokens.set(token, { stackId: stack.stackId, action: 'CreateStack' });
    this.all.push(stack);
    this.stackEvent(stack, 'CREATE_IN_PROGRESS', 'User Initiated');
    this.schedule(stack, () => this.runCreate(stack));
    return { StackId: stack.stackId };
  }

  private updateStack(params: Params): XmlObject {
    const stack = this.find(required(params, 'StackName'));
    const token = params.ClientRequestToken;
    if (this.claimToken(token, 'UpdateStack', stack.stackName) !== undefined) return { StackId: stack.stackId };
    if (!UPDATABLE.has(stack.status)) {
      throw new ApiError('ValidationError', `Stack:${stack.stackId} is in ${stack.status} state and can not be updated.`);
    }
    const body = params.UsePreviousTemplate === 'true' ? stack.body : required(params, 'TemplateBody');
    const template = prepareTemplate(body, parametersOf(params), stack.template.parameters);
    const capabilities = list(params, 'Capabilities.member');
    this.checkCapabilities(template, capabilities);
    const tags = 'Tags' in params || Object.keys(sub(params, 'Tags')).length > 0 ? tagsOf(structs(params, 'Tags.member')) : stack.tags;
    if (sameJson(JSON.parse(body) as Json, JSON.parse(stack.body) as Json) && sameJson(template.parameters, stack.template.parameters) && sameJson(tags, stack.tags)) {
      throw new ApiError('ValidationError', 'No updates are to be performed.');
    }
    if (token !== undefined) this.tokens.set(token, { stackId: stack.stackId, action: 'UpdateStack' });
    const previous = { template: stack.template, body: stack.body, tags: stack.tags };
    Object.assign(stack, { template, body, tags, capabilities, token, updatedAt: Date.now() });
    this.stackEvent(stack, 'UPDATE_IN_PROGRESS', 'User Initiated');
    this.schedule(stack, () => this.runUpdate(stack, previous));
    return { StackId: stack.stackId };
  }

  // Deleting a stack that is not there (any more) succeeds, as in CloudFormation.
  private deleteStack(params: Params): XmlObject {
    const stack = this.lookUp(required(params, 'StackName'));
    if (stack === undefined || stack.status === 'DELETE_COMPLETE' || stack.status === 'DELETE_IN_PROGRESS') return {};
    const token = params.ClientRequestToken;
    if (this.claimToken(token, 'DeleteStack', stack.stackName) !== undefined) return {};
    if (token !== undefined) this.tokens.set(token, { stackId: stack.stackId, action: 'DeleteStack' });
    const retain = new Set(list(params, 'RetainResources.member'));
    this.schedule(stack, async () => {
      // A second DeleteStack may have been queued behind the first.
      if (stack.status === 'DELETE_COMPLETE') return;
      stack.token = token;
      this.stackEvent(stack, 'DELETE_IN_PROGRESS', 'User Initiated');
      await this.runDelete(stack, retain);
    });
    return {};
  }

  private describeStacks(params: Params): XmlObject {
    const name = params.StackName;
    const stacks = name === undefined ? this.all.filter((s) => s.status !== 'DELETE_COMPLETE').reverse() : [this.find(name)];
    return { Stacks: stacks.map((s) => this.stackXml(s)) };
  }

  private describeStackEvents(params: Params): XmlObject {
    const stack = this.find(required(params, 'StackName'));
    return {
      StackEvents: [...stack.events].reverse().map((e) => ({
        StackId: stack.stackId, EventId: e.eventId, StackName: stack.stackName, LogicalResourceId: e.logicalId,
        PhysicalResourceId: e.physicalId ?? '', ResourceType: e.type, Timestamp: new Date(e.at), ResourceStatus: e.status,
        ResourceStatusReason: e.reason, ResourceProperties: e.properties, ClientRequestToken: e.token,
      })),
    };
  }

  private describeStackResources(params: Params): XmlObject {
    const name = params.StackName;
    const physical = params.PhysicalResourceId;
    const stack = name !== undefined ? this.find(name)
      : this.all.find((s) => [...s.resources.values()].some((r) => r.physicalId === physical && physical !== undefined));
    if (stack === undefined) throw new ApiError('ValidationError', `Stack for ${physical ?? ''} does not exist`);
    const resources = [...stack.resources.values()].filter((r) =>
      (params.LogicalResourceId === undefined || r.logicalId === params.LogicalResourceId) && (physical === undefined || r.physicalId === physical));
    return {
      StackResources: resources.map((r) => ({
        StackName: stack.stackName, StackId: stack.stackId, LogicalResourceId: r.logicalId, PhysicalResourceId: r.physicalId,
        ResourceType: r.type, Timestamp: new Date(r.updatedAt), ResourceStatus: r.status, ResourceStatusReason: r.reason,
        DriftInformation: { StackResourceDriftStatus: 'NOT_CHECKED' },
      })),
    };
  }

  private listStacks(params: Params): XmlObject {
    const filter = list(params, 'StackStatusFilter.member');
    const stacks = [...this.all].reverse().filter((s) => filter.length === 0 || filter.includes(s.status));
    return {
      StackSummaries: stacks.map((s) => ({
        StackId: s.stackId, StackName: s.stackName, TemplateDescription: s.template.description, CreationTime: new Date(s.createdAt),
        LastUpdatedTime: s.updatedAt === undefined ? undefined : new Date(s.updatedAt),
        DeletionTime: s.deletedAt === undefined ? undefined : new Date(s.deletedAt),
        StackStatus: s.status, StackStatusReason: s.reason, DriftInformation: { StackDriftStatus: 'NOT_CHECKED' },
      })),
    };
  }

  private stackXml(stack: StackRecord): XmlObject {
    return {
      StackId: stack.stackId,
      StackName: stack.stackName,
      Description: stack.template.description,
      Parameters: Object.entries(stack.template.parameters).map(([ParameterKey, ParameterValue]) => ({ ParameterKey, ParameterValue })),
      CreationTime: new Date(stack.createdAt),
      DeletionTime: stack.deletedAt === undefined ? undefined : new Date(stack.deletedAt),
      LastUpdatedTime: stack.updatedAt === undefined ? undefined : new Date(stack.updatedAt),
      RollbackConfiguration: {},
      StackStatus: stack.status,
      StackStatusReason: stack.reason,
      DisableRollback: stack.onFailure === 'DO_NOTHING',
      NotificationARNs: [],
      Capabilities: stack.capabilities,
      Outputs: stack.outputs.map((o) => ({ OutputKey: o.key, OutputValue: o.value, Description: o.description })),
      Tags: Object.entries(stack.tags).map(([Key, Value]) => ({ Key, Value })),
      EnableTerminationProtection: false,
      DriftInformation: { StackDriftStatus: 'NOT_CHECKED' },
    };
  }

  private checkCapabilities(template: PreparedTemplate, capabilities: string[]): void {
    if (template.transforms.includes(LANGUAGE_EXTENSIONS) && !capabilities.includes('CAPABILITY_AUTO_EXPAND')) {
      throw new ApiError('InsufficientCapabilitiesException', 'Requires capabilities : [CAPABILITY_AUTO_EXPAND]');
    }
  }

  // --- background operations ---------------------------------------------------------------

  private schedule(stack: StackRecord, operation: () => Promise<void>): void {
    stack.work = stack.work.then(async () => {
      if (this.closed) return;
      try {
        await operation();
      } catch (error) {
        // Only a bug or close() gets here; leave the stack in a state a poller stops at.
        const status = stack.status.replace(/_IN_PROGRESS$/, '_FAILED');
        this.stackEvent(stack, status, (error as Error).message);
      }
    });
  }

  private async step(): Promise<void> {
    if (this.closed) throw new Error('the AWS double was closed');
    await sleep(this.stepMs);
  }

  private event(stack: StackRecord, event: Omit<StackEvent, 'eventId' | 'at' | 'token'>): void {
    stack.events.push({ ...event, eventId: randomUUID(), at: Date.now(), token: stack.token });
  }

  private stackEvent(stack: StackRecord, status: string, reason?: string): void {
    stack.status = status;
    stack.reason = reason;
    if (status === 'DELETE_COMPLETE') stack.deletedAt = Date.now();
    this.event(stack, { logicalId: stack.stackName, physicalId: stack.stackId, type: 'AWS::CloudFormation::Stack', status, reason });
  }

  private resourceEvent(stack: StackRecord, resource: ResourceState, status: string, reason?: string, properties?: string): void {
    resource.status = status;
    resource.reason = reason;
    resource.updatedAt = Date.now();
    this.event(stack, { logicalId: resource.logicalId, physicalId: resource.physicalId, type: resource.type, status, reason, properties });
  }

  private context(stack: StackRecord): EvaluationContext {
    return {
      parameters: parameterValues(stack.template),
      pseudo: {
        'AWS::StackName': stack.stackName, 'AWS::StackId': stack.stackId, 'AWS::Region': this.inventory.region,
        'AWS::AccountId': ACCOUNT_ID, 'AWS::Partition': 'aws', 'AWS::URLSuffix': 'amazonaws.com',
      },
      physicalId: (logicalId) => {
        const physicalId = stack.resources.get(logicalId)?.physicalId;
        if (physicalId === undefined) throw new ResourceFailure(`Resource ${logicalId} has no physical id yet`);
        return physicalId;
      },
      attribute: (logicalId, name) => this.attribute(stack, logicalId, name),
    };
  }

  private attribute(stack: StackRecord, logicalId: string, name: string): string {
    const resource = stack.resources.get(logicalId);
    if (resource?.physicalId === undefined) throw new ResourceFailure(`Resource ${logicalId} has no physical id yet`);
    if (resource.type !== INSTANCE) return `${resource.physicalId}.${name}`;
    const record = this.inventory.get(resource.physicalId);
    const instance = record?.instance;
    const region = this.inventory.region;
    const values: Record<string, string | undefined> = {
      PrivateIp: instance?.privateIp, PublicIp: instance?.publicIp, AvailabilityZone: `${region}a`, InstanceId: instance?.instanceId,
      PrivateDnsName: instance === undefined ? undefined : `ip-${instance.privateIp.replaceAll('.', '-')}.${region === 'us-east-1' ? 'ec2.internal' : `${region}.compute.internal`}`,
      PublicDnsName: '',
    };
    const value = values[name];
    if (value === undefined) throw new ResourceFailure(`Attribute ${name} of ${logicalId} is not available`);
    return value;
  }

  private instanceTags(stack: StackRecord, logicalId: string, properties: JsonObject): Record<string, string> {
    return {
      ...stack.tags,
      ...tagList(properties.Tags),
      'aws:cloudformation:stack-name': stack.stackName,
      'aws:cloudformation:stack-id': stack.stackId,
      'aws:cloudformation:logical-id': logicalId,
    };
  }

  /** Makes the physical resource; for an instance that means launched and reported running. */
  private async makePhysical(stack: StackRecord, logicalId: string, type: string, properties: JsonObject): Promise<string> {
    const fault = this.control.takeFault('CreateStack:resource', { StackName: stack.stackName, LogicalResourceId: logicalId, ResourceType: type });
    if (fault !== undefined) throw new ResourceFailure(fault.code);
    if (type !== INSTANCE) return `${stack.stackName}-${logicalId}-${awsId('x').slice(2, 14).toUpperCase()}`;
    const interfaces = Array.isArray(properties.NetworkInterfaces) ? properties.NetworkInterfaces as JsonObject[] : [];
    const firstInterface = interfaces[0] ?? {};
    const subnetId = properties.SubnetId ?? firstInterface.SubnetId;
    const associate = firstInterface.AssociatePublicIpAddress;
    const market = properties.InstanceMarketOptions;
    let instanceId: string;
    try {
      const [record] = this.inventory.launch({
        imageId: String(properties.ImageId ?? ''),
        instanceType: String(properties.InstanceType ?? 'm1.small'),
        minCount: 1, maxCount: 1,
        subnetId: subnetId === undefined || subnetId === null ? undefined : String(subnetId),
        securityGroupIds: [...stringList(properties.SecurityGroupIds), ...stringList(firstInterface.GroupSet)],
        keyName: properties.KeyName === undefined || properties.KeyName === null ? undefined : String(properties.KeyName),
        tags: this.instanceTags(stack, logicalId, properties),
        spot: market !== null && typeof market === 'object' && !Array.isArray(market) && market.MarketType === 'spot',
        publicIp: associate === undefined ? subnetId === undefined : String(associate) === 'true',
        stackName: stack.stackName,
      });
      instanceId = record?.instance.instanceId ?? '';
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      throw new ResourceFailure(`${error.message} (Service: Ec2, Status Code: ${error.status}, Request ID: ${randomUUID()}) (SDK Attempt Count: 1)`);
    }
    const record = this.inventory.get(instanceId);
    while (record?.instance.state === 'pending') await this.step();
    if (record?.instance.state !== 'running') {
      throw new ResourceFailure(`Instance ${instanceId} failed to stabilize. Current state: ${record?.instance.state ?? 'unknown'}. Reason: ${record?.stateReason?.message ?? 'unknown'}`);
    }
    return instanceId;
  }

  private async removePhysical(stack: StackRecord, resource: ResourceState): Promise<void> {
    const fault = this.control.takeFault('DeleteStack:resource', { StackName: stack.stackName, LogicalResourceId: resource.logicalId, ResourceType: resource.type });
    if (fault !== undefined) throw new ResourceFailure(fault.code);
    if (resource.type !== INSTANCE || resource.physicalId === undefined) return;
    const record = this.inventory.get(resource.physicalId);
    if (record === undefined) return;
    this.inventory.terminate(resource.physicalId);
    while (record.instance.state !== 'terminated') await this.step();
  }

  /** One resource from nothing to CREATE_COMPLETE (or UPDATE_COMPLETE when it replaces another). */
  private async createResource(stack: StackRecord, logicalId: string, verb: 'CREATE' | 'UPDATE', reason?: string): Promise<ResourceState> {
    const definition = stack.template.resources[logicalId];
    if (definition === undefined) throw new Error(`no resource ${logicalId}`);
    const resource: ResourceState = { logicalId, type: definition.Type, status: `${verb}_IN_PROGRESS`, updatedAt: Date.now() };
    stack.resources.set(logicalId, resource);
    await this.step();
    this.resourceEvent(stack, resource, `${verb}_IN_PROGRESS`, reason, JSON.stringify(definition.Properties));
    try {
      const resolved = evaluate(definition.Properties, this.context(stack)) as JsonObject;
      resource.resolved = resolved;
      resource.physicalId = await this.makePhysical(stack, logicalId, definition.Type, resolved);
    } catch (error) {
      if (!(error instanceof ResourceFailure) && !(error instanceof ApiError)) throw error;
      // An instance that launched but never came up is still a physical resource to clean up.
      resource.physicalId ??= this.inventory.all().find((r) => r.instance.stackName === stack.stackName && r.instance.tags['aws:cloudformation:logical-id'] === logicalId && r.instance.state !== 'terminated')?.instance.instanceId;
      this.resourceEvent(stack, resource, `${verb}_FAILED`, error.message);
      throw error;
    }
    this.resourceEvent(stack, resource, `${verb}_IN_PROGRESS`, 'Resource creation Initiated');
    await this.step();
    this.resourceEvent(stack, resource, `${verb}_COMPLETE`);
    return resource;
  }

  /** Deletes one physical resource, leaving DELETE_COMPLETE or DELETE_FAILED; false when it failed. */
  private async deleteResource(stack: StackRecord, resource: ResourceState): Promise<boolean> {
    await this.step();
    this.resourceEvent(stack, resource, 'DELETE_IN_PROGRESS');
    try {
      await this.removePhysical(stack, resource);
    } catch (error) {
      if (!(error instanceof ResourceFailure)) throw error;
      this.resourceEvent(stack, resource, 'DELETE_FAILED', error.message);
      return false;
    }
    this.resourceEvent(stack, resource, 'DELETE_COMPLETE');
    return true;
  }

  /** Runs waves in order, each wave in parallel; stops starting new waves after a failure. */
  private async inWaves(waves: string[][], work: (logicalId: string) => Promise<boolean>): Promise<string[]> {
    const failed: string[] = [];
    for (const wave of waves) {
      const results = await Promise.all(wave.map(async (id) => ({ id, ok: await work(id) })));
      failed.push(...results.filter((r) => !r.ok).map((r) => r.id));
      if (failed.length > 0) break;
    }
    return failed;
  }

  private async tryCreate(stack: StackRecord, logicalId: string, verb: 'CREATE' | 'UPDATE', reason?: string): Promise<boolean> {
    try {
      await this.createResource(stack, logicalId, verb, reason);
      return true;
    } catch (error) {
      if (error instanceof ResourceFailure || error instanceof ApiError) return false;
      throw error;
    }
  }

  /** Deletes the given resources in reverse dependency order; the logical ids that would not go. */
  private async deleteAll(stack: StackRecord, resources: ResourceState[], retain: Set<string> = new Set()): Promise<string[]> {
    const definitions = Object.fromEntries(resources.map((r) => [r.logicalId, stack.template.resources[r.logicalId] ?? { Type: r.type, Properties: {}, DependsOn: [] }]));
    const waves = dependencyWaves(definitions).reverse();
    const byId = new Map(resources.map((r) => [r.logicalId, r]));
    const failed: string[] = [];
    for (const wave of waves) {
      const results = await Promise.all(wave.map(async (id) => {
        const resource = byId.get(id);
        if (resource === undefined) return true;
        if (retain.has(id)) {
          this.resourceEvent(stack, resource, 'DELETE_SKIPPED');
          return true;
        }
        return this.deleteResource(stack, resource);
      }));
      wave.forEach((id, i) => { if (results[i] === false) failed.push(id); });
    }
    return failed;
  }

  private computeOutputs(stack: StackRecord): void {
    const context = this.context(stack);
    stack.outputs = Object.entries(stack.template.outputs).flatMap(([key, output]) => {
      try {
        const value = evaluate(output.Value, context);
        return [{ key, value: Array.isArray(value) ? value.join(',') : String(value), description: output.Description }];
      } catch {
        return [];
      }
    });
  }

  private async runCreate(stack: StackRecord): Promise<void> {
    const failed = await this.inWaves(dependencyWaves(stack.template.resources), (id) => this.tryCreate(stack, id, 'CREATE'));
    if (failed.length === 0) {
      this.computeOutputs(stack);
      await this.step();
      this.stackEvent(stack, 'CREATE_COMPLETE');
      return;
    }
    const reason = `The following resource(s) failed to create: [${failed.join(', ')}]. `;
    if (stack.onFailure === 'DO_NOTHING') {
      this.stackEvent(stack, 'CREATE_FAILED', reason);
      return;
    }
    this.stackEvent(stack, 'ROLLBACK_IN_PROGRESS', `${reason}Rollback requested by user.`);
    const made = [...stack.resources.values()].filter((r) => r.physicalId !== undefined);
    const stuck = await this.deleteAll(stack, made);
    await this.step();
    if (stuck.length > 0) {
      this.stackEvent(stack, 'ROLLBACK_FAILED', `The following resource(s) failed to delete: [${stuck.join(', ')}]. `);
      return;
    }
    this.stackEvent(stack, 'ROLLBACK_COMPLETE');
    if (stack.onFailure === 'DELETE') {
      this.stackEvent(stack, 'DELETE_IN_PROGRESS');
      await this.runDelete(stack, new Set());
    }
  }

  private async runDelete(stack: StackRecord, retain: Set<string>): Promise<void> {
    const present = [...stack.resources.values()].filter((r) => r.physicalId !== undefined && r.status !== 'DELETE_COMPLETE' && r.status !== 'DELETE_SKIPPED');
    const stuck = await this.deleteAll(stack, present, retain);
    await this.step();
    if (stuck.length > 0) {
      this.stackEvent(stack, 'DELETE_FAILED', `The following resource(s) failed to delete: [${stuck.join(', ')}]. `);
      return;
    }
    this.stackEvent(stack, 'DELETE_COMPLETE');
  }

  /**
   * Brings the stack's resources in line with its new template: new logical ids are created,
   * changed instances updated in place (tags) or replaced, and what the template dropped (or what
   * was replaced) is deleted in the cleanup phase. A failure rolls back to the previous template.
   */
  private async runUpdate(stack: StackRecord, previous: { template: PreparedTemplate; body: string; tags: Record<string, string> }): Promise<void> {
    const before = new Map([...stack.resources].map(([id, r]) => [id, { ...r }]));
    const made: ResourceState[] = [];
    const replaced: ResourceState[] = [];
    const retagged: string[] = [];

    const update = async (logicalId: string): Promise<boolean> => {
      const definition = stack.template.resources[logicalId];
      const existing = stack.resources.get(logicalId);
      if (definition === undefined) return true;
      if (existing?.physicalId === undefined) {
        const ok = await this.tryCreate(stack, logicalId, 'CREATE');
        const resource = stack.resources.get(logicalId);
        if (resource !== undefined) made.push(resource);
        return ok;
      }
      let resolved: JsonObject;
      try {
        resolved = evaluate(definition.Properties, this.context(stack)) as JsonObject;
      } catch (error) {
        if (!(error instanceof ResourceFailure) && !(error instanceof ApiError)) throw error;
        this.resourceEvent(stack, existing, 'UPDATE_FAILED', error.message);
        return false;
      }
      const withoutTags = (p: JsonObject | undefined): JsonObject => Object.fromEntries(Object.entries(p ?? {}).filter(([k]) => k !== 'Tags'));
      const needsReplacement = existing.type !== definition.Type || (existing.type === INSTANCE && !sameJson(withoutTags(resolved), withoutTags(existing.resolved)));
      if (needsReplacement) {
        const ok = await this.tryCreate(stack, logicalId, 'UPDATE', 'Requested update requires the creation of a new physical resource; hence creating one.');
        const resource = stack.resources.get(logicalId);
        if (resource !== undefined) made.push(resource);
        replaced.push(existing);
        return ok;
      }
      const tagsChanged = existing.type === INSTANCE && (!sameJson(resolved.Tags, existing.resolved?.Tags) || !sameJson(stack.tags, previous.tags));
      if (!tagsChanged && sameJson(resolved, existing.resolved)) return true;
      await this.step();
      this.resourceEvent(stack, existing, 'UPDATE_IN_PROGRESS', undefined, JSON.stringify(definition.Properties));
      if (existing.type === INSTANCE) {
        this.inventory.replaceTags(existing.physicalId, this.instanceTags(stack, logicalId, resolved));
        retagged.push(logicalId);
      }
      existing.resolved = resolved;
      this.resourceEvent(stack, existing, 'UPDATE_COMPLETE');
      return true;
    };

    const failed = await this.inWaves(dependencyWaves(stack.template.resources), update);
    if (failed.length > 0) {
      this.stackEvent(stack, 'UPDATE_ROLLBACK_IN_PROGRESS', `The following resource(s) failed to update: [${failed.join(', ')}]. `);
      Object.assign(stack, { template: previous.template, body: previous.body, tags: previous.tags });
      for (const logicalId of retagged) {
        const old = before.get(logicalId);
        if (old?.physicalId === undefined) continue;
        this.inventory.replaceTags(old.physicalId, this.instanceTags(stack, logicalId, old.resolved ?? {}));
        stack.resources.set(logicalId, old);
        this.resourceEvent(stack, old, 'UPDATE_COMPLETE');
      }
      for (const old of replaced) {
        stack.resources.set(old.logicalId, old);
        this.resourceEvent(stack, old, 'UPDATE_COMPLETE');
      }
      this.stackEvent(stack, 'UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS');
      await this.deleteAll(stack, made.filter((r) => r.physicalId !== undefined));
      for (const resource of made) if (!before.has(resource.logicalId)) stack.resources.delete(resource.logicalId);
      await this.step();
      this.stackEvent(stack, 'UPDATE_ROLLBACK_COMPLETE');
      return;
    }
    this.stackEvent(stack, 'UPDATE_COMPLETE_CLEANUP_IN_PROGRESS');
    const dropped = [...stack.resources.values()].filter((r) => !(r.logicalId in stack.template.resources));
    // A failed cleanup delete does not fail the update (CloudFormation only reports it).
    await this.deleteAll(stack, [...replaced, ...dropped].filter((r) => r.physicalId !== undefined));
    for (const resource of dropped) stack.resources.delete(resource.logicalId);
    this.computeOutputs(stack);
    await this.step();
    this.stackEvent(stack, 'UPDATE_COMPLETE');
  }
}
