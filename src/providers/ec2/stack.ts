// Template mode: every instance of a cluster lives in one CloudFormation stack, made from our own
// template (templates/ec2-cluster.json: one AWS::EC2::Instance per id in its NodeIds parameter).
// Acquiring and releasing set NodeIds and wait for CloudFormation to make the instances match, so a
// step run twice finds the stack already as asked and changes nothing. The stack's events are the
// cluster's progress; a failed resource's reason becomes the cluster's failure.
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  CreateStackCommand, DeleteStackCommand, DescribeStackEventsCommand, DescribeStackResourcesCommand, DescribeStacksCommand,
  ListStacksCommand, StackStatus, UpdateStackCommand, type CloudFormationClient, type Parameter, type Stack, type StackEvent,
} from '@aws-sdk/client-cloudformation';
import type { Cluster, ClusterNode } from '../../domain/types';
import { ProviderError, type AcquiredNode, type OwnedResource, type ProviderErrorCategory, type ProvisionContext, type ReleaseProof } from '../provider';
import { awsClientsFor, type AwsClients } from './clients';
import { asProviderError, categoryOf, withBackoff } from './errors';
import { addressOf, instancesById, terminateAndWait, terminationProof, waitUntilRunning, type CallContext, type WaitTiming } from './instances';
import { deleteKeyPair, ensureKeyPair } from './keyPairs';
import type { Ec2Options } from './options';
import { pause } from '../pause';
import { templateFile } from '../templates';
import type { StackDriver } from './stackDriver';
import { keyPairName, resourceTags, TAG_CLUSTER, TAG_GATEWAY, tagValue } from './tags';

export interface CloudFormationStacksOptions {
  clients?: (region: string) => AwsClients;
  /** Between two looks at a stack in progress (5 s). */
  pollIntervalMs?: number;
  /** Longest wait for one stack operation (30 min). */
  waitTimeoutMs?: number;
}

const STACK_PREFIX = 'metascheduler-';
const TEMPLATE_FILE = 'ec2-cluster.json';
const INSTANCE_TYPE = 'AWS::EC2::Instance';
const STACK_TYPE = 'AWS::CloudFormation::Stack';
/** Re-reads of the stack before converge gives up on a stack that keeps changing under it. */
const MAX_ROUNDS = 6;
/** Pages of events read back to find where the stack's last operation began. */
const MAX_EVENT_PAGES = 20;

export function stackNameOf(clusterId: string): string {
  return `${STACK_PREFIX}${clusterId}`;
}

/** The logical id the template gives a node's instance: `Node&{NodeId}` keeps letters and digits only. */
export function logicalIdOf(nodeId: string): string {
  return `Node${nodeId.replace(/[^A-Za-z0-9]/g, '')}`;
}

/** The template (templates/ec2-cluster.json). */
export function templatePath(): string {
  return templateFile(TEMPLATE_FILE);
}

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const isObject = (value: Json | undefined): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

let loadedTemplate: JsonObject | undefined;

function fullTemplate(): JsonObject {
  if (loadedTemplate === undefined) {
    const parsed = JSON.parse(readFileSync(templatePath(), 'utf8')) as Json;
    if (!isObject(parsed)) throw new ProviderError('bad_request', `the cluster stack template ${templatePath()} is not a JSON object`);
    loadedTemplate = parsed;
  }
  return loadedTemplate;
}

export interface StackTemplate {
  body: string;
  parameterNames: string[];
}

/**
 * The template for these options. A subnet or security groups left to AWS's defaults drop their
 * parameter and every property that only refers to it: the usual Conditions + AWS::NoValue would
 * do the same, but a template without conditions runs on more engines (our test double among them).
 */
export function templateFor(options: Pick<Ec2Options, 'subnetIds' | 'securityGroupIds'>): StackTemplate {
  const dropped: string[] = [];
  if (options.subnetIds.length === 0) dropped.push('SubnetId');
  if (options.securityGroupIds.length === 0) dropped.push('SecurityGroupIds');
  const specialised = withoutParameters(fullTemplate(), dropped);
  const parameters = isObject(specialised.Parameters) ? specialised.Parameters : {};
  return { body: JSON.stringify(specialised), parameterNames: Object.keys(parameters) };
}

function withoutParameters(template: JsonObject, names: readonly string[]): JsonObject {
  if (names.length === 0) return template;
  const refersToDropped = (value: Json): boolean =>
    isObject(value) && Object.keys(value).length === 1 && typeof value.Ref === 'string' && names.includes(value.Ref);
  const strip = (value: Json): Json => {
    if (Array.isArray(value)) return value.map(strip);
    if (!isObject(value)) return value;
    return Object.fromEntries(Object.entries(value).filter(([, inner]) => !refersToDropped(inner)).map(([key, inner]) => [key, strip(inner)]));
  };
  const parameters = isObject(template.Parameters) ? template.Parameters : {};
  return {
    ...template,
    Parameters: Object.fromEntries(Object.entries(parameters).filter(([name]) => !names.includes(name))),
    Resources: strip(template.Resources ?? {}),
  };
}

// ---- stack statuses ----

const inProgress = (status: string | undefined): boolean => status !== undefined && status.endsWith('_IN_PROGRESS');

/** A stack in these holds its resources and takes an update. */
const UPDATABLE = new Set<string>([
  StackStatus.CREATE_COMPLETE, StackStatus.UPDATE_COMPLETE, StackStatus.UPDATE_ROLLBACK_COMPLETE,
  StackStatus.IMPORT_COMPLETE, StackStatus.IMPORT_ROLLBACK_COMPLETE,
]);

/** A stack in these can only be deleted (ROLLBACK_COMPLETE: its create failed and was undone). */
const ONLY_DELETABLE = new Set<string>([
  StackStatus.ROLLBACK_COMPLETE, StackStatus.ROLLBACK_FAILED, StackStatus.CREATE_FAILED, StackStatus.DELETE_FAILED,
]);

// ---- failure reasons ----

// Codes that say a failure passes by itself; any other code categoryOf does not know is no evidence.
const TRANSIENT_CODES = new Set(['InternalError', 'InternalFailure', 'ServiceUnavailable', 'ServiceUnavailableException', 'RequestTimeout']);

const REASON_PATTERNS: [RegExp, ProviderErrorCategory][] = [
  [/\b(insufficient|sufficient)\b.{0,80}?\bcapacity\b/i, 'capacity'],
  [/rate exceeded|throttl/i, 'throttled'],
  [/limit|quota/i, 'quota'],
  [/not authori[sz]ed|access denied|permission/i, 'auth'],
  [/status code: 5\d\d|internal (server )?(error|failure)|service unavailable|timed out/i, 'transient'],
];

/**
 * What a resource's ResourceStatusReason says about the failure: an AWS error code inside it
 * ("... (Service: Ec2, Status Code: 500 ...) ... InsufficientInstanceCapacity"), else its words.
 */
export function classifyReason(reason: string, fallback: ProviderErrorCategory): { category: ProviderErrorCategory; code?: string } {
  // "Server.InsufficientInstanceCapacity" is tried whole, then part by part.
  for (const word of reason.match(/\b[A-Z][A-Za-z0-9]*(?:\.[A-Za-z0-9]+)*/g) ?? []) {
    for (const code of [word, ...word.split('.')]) {
      const category = categoryOf(code, undefined, undefined);
      if (category !== 'transient' || TRANSIENT_CODES.has(code)) return { category, code };
    }
  }
  for (const [pattern, category] of REASON_PATTERNS) if (pattern.test(reason)) return { category };
  return { category: fallback };
}

const isStackItself = (event: StackEvent): boolean => event.ResourceType === STACK_TYPE;

/** The failure an operation's events (oldest first) point to: the first resource that failed for a reason of its own. */
export function failedResource(events: readonly StackEvent[]): StackEvent | undefined {
  const failed = events.filter((e) => !isStackItself(e) && (e.ResourceStatus ?? '').endsWith('_FAILED'));
  // The resources CloudFormation stopped because another failed say "Resource creation cancelled".
  return failed.find((e) => !/cancel/i.test(e.ResourceStatusReason ?? '')) ?? failed[0];
}

// ---- the driver ----

/** One call's view of a stack: which client, which names, which node a logical id stands for. */
interface StackCall {
  cfn: CloudFormationClient;
  stackName: string;
  nodesByLogicalId: Map<string, string>;
  context: CallContext;
}

/** What the stack is for; `create`: make the stack when there is none (release never does). */
interface StackPlan {
  cluster: Cluster;
  options: Ec2Options;
  create: boolean;
}

export class CloudFormationStacks implements StackDriver {
  private readonly clients: (region: string) => AwsClients;
  private readonly timing: WaitTiming;

  constructor(options: CloudFormationStacksOptions = {}) {
    this.clients = options.clients ?? awsClientsFor;
    this.timing = { pollIntervalMs: options.pollIntervalMs ?? 5000, waitTimeoutMs: options.waitTimeoutMs ?? 30 * 60_000 };
  }

  async acquire(cluster: Cluster, options: Ec2Options, serving: readonly ClusterNode[], context: ProvisionContext): Promise<AcquiredNode[]> {
    if (serving.length === 0) return [];
    const { cloudFormation, ec2 } = this.clients(options.region);
    await ensureKeyPair(ec2, cluster, context.sshPublicKey, context);
    if (options.spot) {
      // AWS::EC2::Instance has no market option; the spot option's own fallback is on-demand.
      await context.note('template mode buys on-demand instances: a stack\'s AWS::EC2::Instance takes no spot market option');
    }
    const call = this.callFor(cloudFormation, cluster, serving, context);
    const stack = await this.converge(call, nodeIdsOf(serving), { cluster, options, create: true });
    if (stack?.StackId === undefined) throw new ProviderError('transient', `stack ${call.stackName} vanished while it was being made`);

    const physical = await instanceIdsOf(call, stack.StackId);
    const ids = serving.map((node) => {
      const id = physical.get(logicalIdOf(node.nodeId));
      if (id === undefined) {
        throw new ProviderError('transient', `stack ${call.stackName} is ${stack.StackStatus} but holds no instance ${logicalIdOf(node.nodeId)} for node ${node.nodeId}`);
      }
      return id;
    });
    const views = new Map((await instancesById(ec2, ids, context)).map((view) => [view.instanceId, view]));
    for (const [i, id] of ids.entries()) {
      const view = views.get(id);
      if (options.publicIp && view?.state === 'running' && view.publicIp === undefined) {
        // Waiting would not help: EC2 gives the address at launch or never.
        throw new ProviderError('bad_request',
          `instance ${id} of node ${serving[i].nodeId} runs without the public address the stack asked for `
          + '(a subnet or VPC without an internet gateway? publicIp=false uses the private address)', 'NoPublicAddress');
      }
    }
    const notReady = ids.filter((id) => {
      const view = views.get(id);
      return !(view?.state === 'running' && addressOf(view, options.publicIp) !== undefined);
    });
    const ready = await waitUntilRunning(ec2, notReady, options.publicIp, this.timing, context);
    return serving.map((node, i) => {
      const view = ready.get(ids[i]) ?? views.get(ids[i]);
      return { nodeId: node.nodeId, address: (view && addressOf(view, options.publicIp)) ?? '', providerResourceId: ids[i] };
    });
  }

  async release(
    cluster: Cluster, options: Ec2Options, remaining: readonly ClusterNode[], leaving: readonly ClusterNode[],
    given?: Pick<ProvisionContext, 'note' | 'signal'>,
  ): Promise<ReleaseProof[]> {
    if (leaving.length === 0) return [];
    const context: CallContext = given ?? {};
    const { cloudFormation, ec2 } = this.clients(options.region);
    const call = this.callFor(cloudFormation, cluster, [...remaining, ...leaving], context);
    const before = await describeStack(call, call.stackName);
    // The instance ids come from the stack before it changes; a node it never held may have a recorded one.
    const physical = before?.StackId === undefined ? new Map<string, string>() : await instanceIdsOf(call, before.StackId);
    const instanceOf = new Map(leaving.map((node) => [node.nodeId, physical.get(logicalIdOf(node.nodeId)) ?? node.providerResourceId]));

    let stackProof: string;
    if (remaining.length === 0) {
      stackProof = await this.deleteAndWait(call, call.stackName);
    } else {
      const after = await this.converge(call, nodeIdsOf(remaining), { cluster, options, create: false });
      stackProof = after === undefined ? `stack ${call.stackName} is gone` : `stack ${call.stackName} ${after.StackStatus} without them`;
    }

    const ids = [...new Set([...instanceOf.values()].filter((id): id is string => id !== undefined))];
    // CloudFormation deleted them; anything it left running (a stack that never held the node) ends here.
    const views = await instancesById(ec2, ids, context);
    const ended = await terminateAndWait(ec2, views, this.timing, context);
    return leaving.map((node) => {
      const id = instanceOf.get(node.nodeId);
      if (id === undefined) return { nodeId: node.nodeId, proof: `${stackProof}; node ${node.nodeId} never had an instance` };
      const termination = ended.get(id);
      const proof = termination ? terminationProof(termination) : `instance ${id} is gone (EC2 no longer lists it)`;
      return { nodeId: node.nodeId, providerResourceId: id, proof: `${stackProof}; ${proof}` };
    });
  }

  async deleteStack(cluster: Cluster, options: Ec2Options, given?: Pick<ProvisionContext, 'note' | 'signal'>): Promise<string[]> {
    const context: CallContext = given ?? {};
    const { cloudFormation, ec2 } = this.clients(options.region);
    const call = this.callFor(cloudFormation, cluster, cluster.nodes, context);
    const proofs = [await this.deleteAndWait(call, call.stackName)];
    const keyName = keyPairName(cluster.clusterId);
    proofs.push(await deleteKeyPair(ec2, keyName, context) ? `key pair ${keyName} deleted` : `key pair ${keyName} was not there`);
    return proofs;
  }

  async listStacks(region: string): Promise<OwnedResource[]> {
    const { cloudFormation } = this.clients(region);
    const call: StackCall = { cfn: cloudFormation, stackName: '', nodesByLogicalId: new Map(), context: {} };
    const statuses = Object.values(StackStatus).filter((status) => status !== StackStatus.DELETE_COMPLETE);
    const owned: OwnedResource[] = [];
    let nextToken: string | undefined;
    do {
      const page = await withBackoff('ListStacks',
        () => cloudFormation.send(new ListStacksCommand({ StackStatusFilter: statuses, NextToken: nextToken })));
      for (const summary of page.StackSummaries ?? []) {
        if (summary.StackId === undefined || !summary.StackName?.startsWith(STACK_PREFIX)) continue;
        if (summary.StackStatus === StackStatus.DELETE_COMPLETE) continue;
        // Only DescribeStacks tells the tags: a stack named like ours without our tag is someone else's.
        const stack = await describeStack(call, summary.StackId);
        const clusterId = tagValue(stack?.Tags, TAG_CLUSTER);
        if (stack === undefined || clusterId === undefined) continue;
        owned.push({
          providerResourceId: summary.StackId, resourceType: 'stack', scope: region, clusterId, live: true,
          description: `stack ${summary.StackName} (${stack.StackStatus ?? summary.StackStatus}) of cluster ${clusterId} in ${region}`,
        });
      }
      nextToken = page.NextToken || undefined;
    } while (nextToken !== undefined);
    return owned;
  }

  async deleteOwnedStack(resource: OwnedResource): Promise<string> {
    const { cloudFormation } = this.clients(resource.scope);
    const call: StackCall = { cfn: cloudFormation, stackName: resource.providerResourceId, nodesByLogicalId: new Map(), context: {} };
    return this.deleteAndWait(call, resource.providerResourceId);
  }

  private callFor(cfn: CloudFormationClient, cluster: Cluster, nodes: readonly ClusterNode[], context: CallContext): StackCall {
    return {
      cfn, stackName: stackNameOf(cluster.clusterId), context,
      nodesByLogicalId: new Map(nodes.map((node) => [logicalIdOf(node.nodeId), node.nodeId])),
    };
  }

  /**
   * Brings the stack to hold exactly `nodeIds`: creates it (when the plan says so), waits out an
   * operation in flight, clears a stack that can only be deleted, or updates NodeIds. Returns the
   * settled stack; undefined when there is none and none was to be made.
   */
  private async converge(call: StackCall, nodeIds: string[], plan: StackPlan): Promise<Stack | undefined> {
    const wanted = nodeIds.join(',');
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const stack = await describeStack(call, call.stackName);
      if (stack?.StackId === undefined) {
        if (!plan.create) return undefined;
        const created = await this.create(call, nodeIds, plan, round > 0);
        if (created !== undefined) return created;
        continue;
      }
      const status = stack.StackStatus ?? '';
      if (inProgress(status)) {
        await call.context.note?.(`stack ${call.stackName} is ${status}: waiting for it`);
        const follower = new EventFollower(call, stack.StackId);
        await follower.skipHistory();
        await this.settle(call, stack.StackId, follower);
        continue;
      }
      if (ONLY_DELETABLE.has(status)) {
        if (!plan.create) return stack;
        await call.context.note?.(`stack ${call.stackName} is ${status}, which can only be deleted: deleting it to make it again`);
        await this.deleteAndWait(call, stack.StackId);
        continue;
      }
      if (!UPDATABLE.has(status)) {
        throw new ProviderError('bad_request',
          `stack ${call.stackName} is ${status}${stack.StackStatusReason ? ` (${stack.StackStatusReason})` : ''}: `
          + 'it takes no update until someone continues or cancels its rollback', status);
      }
      if (currentNodeIds(stack) === wanted) return stack;
      const updated = await this.update(call, stack, nodeIds, plan);
      if (updated !== undefined) return updated;
    }
    throw new ProviderError('transient', `stack ${call.stackName} kept changing while it was brought to ${nodeIds.length} node(s)`, 'StackBusy');
  }

  /**
   * CreateStack and its wait; undefined when the caller should look again: a stack of the name
   * turned up meanwhile, or the token named an earlier stack that is gone.
   */
  private async create(call: StackCall, nodeIds: string[], plan: StackPlan, again: boolean): Promise<Stack | undefined> {
    const { cluster, options } = plan;
    const values = parameterValues(cluster, options, nodeIds);
    const { body, parameterNames } = templateFor(options);
    // The same cluster and node set give the same token, so the SDK's and our own retries are one
    // request; a token CloudFormation already spent on an earlier stack of this name takes a fresh one.
    const requestToken = again ? token('create', cluster.clusterId, nodeIds.join(','), randomUUID()) : token('create', cluster.clusterId, nodeIds.join(','));
    let stackId: string | undefined;
    try {
      const out = await withBackoff('CreateStack', () => call.cfn.send(new CreateStackCommand({
        StackName: call.stackName,
        TemplateBody: body,
        Parameters: parameterNames.map((name) => ({ ParameterKey: name, ParameterValue: values[name] })),
        Tags: resourceTags(cluster),
        // AWS::LanguageExtensions is a macro: creating straight from the template (no change set) acknowledges it.
        Capabilities: ['CAPABILITY_AUTO_EXPAND'],
        ClientRequestToken: requestToken,
      }), { abortSignal: call.context.signal }), call.context);
      stackId = out.StackId;
    } catch (error) {
      const code = asProviderError(error).code;
      if (code === 'AlreadyExistsException' || code === 'TokenAlreadyExistsException') return undefined;
      throw error;
    }
    if (stackId === undefined) return undefined;
    await call.context.note?.(`stack ${call.stackName}: creating ${nodeIds.length} instance(s)`);
    const follower = new EventFollower(call, stackId);
    const final = await this.settle(call, stackId, follower);
    if (final === undefined) return undefined;
    if (final.StackStatus === StackStatus.CREATE_COMPLETE) return final;
    throw await this.operationFailure(call, stackId, final, 'capacity');
  }

  /** UpdateStack to the new node set and its wait; undefined when the stack changed under us. */
  private async update(call: StackCall, stack: Stack, nodeIds: string[], plan: StackPlan): Promise<Stack | undefined> {
    const stackId = stack.StackId ?? call.stackName;
    const follower = new EventFollower(call, stackId);
    const newest = await follower.skipHistory();
    const kept = new Set((stack.Parameters ?? []).map((p) => p.ParameterKey));
    const fresh = parameterValues(plan.cluster, plan.options, nodeIds);
    const { body, parameterNames } = templateFor(plan.options);
    // Every other parameter as the stack has it: a changed image or type would replace running instances.
    const parameters: Parameter[] = parameterNames.map((name) => (name !== 'NodeIds' && kept.has(name)
      ? { ParameterKey: name, UsePreviousValue: true }
      : { ParameterKey: name, ParameterValue: fresh[name] }));
    const from = currentNodeIds(stack).split(',').filter((id) => id !== '').length;
    try {
      await withBackoff('UpdateStack', () => call.cfn.send(new UpdateStackCommand({
        StackName: stackId,
        // The template itself, not UsePreviousTemplate: CloudFormation keeps a transformed template's
        // expansion, which would not repeat the loop for a new NodeIds.
        TemplateBody: body,
        Parameters: parameters,
        Capabilities: ['CAPABILITY_AUTO_EXPAND'],
        ClientRequestToken: token('update', stackId, newest ?? '', nodeIds.join(',')),
      }), { abortSignal: call.context.signal }), call.context);
    } catch (error) {
      const failure = asProviderError(error);
      if (failure.code === 'ValidationError' && /no updates are to be performed/i.test(failure.message)) return stack;
      if (failure.code === 'TokenAlreadyExistsException') return undefined;
      // Another operation began between our look and our update.
      if (failure.code === 'ValidationError' && /IN_PROGRESS state/i.test(failure.message)) return undefined;
      throw error;
    }
    await call.context.note?.(`stack ${call.stackName}: ${from} -> ${nodeIds.length} instance(s)`);
    const final = await this.settle(call, stackId, follower);
    if (final?.StackStatus === StackStatus.UPDATE_COMPLETE) return final;
    throw await this.operationFailure(call, stackId, final, 'capacity');
  }

  /** Deletes the stack (name or id) and waits for DELETE_COMPLETE; the proof. */
  private async deleteAndWait(call: StackCall, stackRef: string): Promise<string> {
    let stack = await describeStack(call, stackRef);
    if (stack?.StackId === undefined) return `stack ${stackRef} is gone (CloudFormation lists no such stack): already deleted`;
    const stackId = stack.StackId;
    const name = stack.StackName ?? call.stackName;
    const follower = new EventFollower(call, stackId);
    let newest = await follower.skipHistory();
    if (inProgress(stack.StackStatus) && stack.StackStatus !== StackStatus.DELETE_IN_PROGRESS) {
      await call.context.note?.(`stack ${name} is ${stack.StackStatus}: waiting for it before deleting it`);
      stack = await this.settle(call, stackId, follower);
      if (stack === undefined) return `stack ${name} (${stackId}) deleted: DELETE_COMPLETE`;
      newest = await follower.skipHistory();
    }
    if (stack.StackStatus !== StackStatus.DELETE_IN_PROGRESS) {
      try {
        await withBackoff('DeleteStack', () => call.cfn.send(new DeleteStackCommand({
          StackName: stackId, ClientRequestToken: token('delete', stackId, newest ?? ''),
        }), { abortSignal: call.context.signal }), call.context);
      } catch (error) {
        if (asProviderError(error).code !== 'TokenAlreadyExistsException') throw error;
      }
      await call.context.note?.(`stack ${name}: deleting`);
    }
    const final = await this.settle(call, stackId, follower);
    if (final === undefined) return `stack ${name} (${stackId}) deleted: DELETE_COMPLETE`;
    throw await this.operationFailure(call, stackId, final, 'transient');
  }

  /** Waits while the stack is in progress, noting each new event; the settled stack, undefined once deleted. */
  private async settle(call: StackCall, stackId: string, follower: EventFollower): Promise<Stack | undefined> {
    const deadline = Date.now() + this.timing.waitTimeoutMs;
    for (;;) {
      const stack = await describeStack(call, stackId);
      // After the look at the stack, so the events up to its settled status are all noted.
      await follower.poll();
      if (stack === undefined || !inProgress(stack.StackStatus)) return stack;
      if (Date.now() >= deadline) {
        throw new ProviderError('transient',
          `stack ${call.stackName} still ${stack.StackStatus} after ${Math.round(this.timing.waitTimeoutMs / 1000)} s`, 'WaitTimeout');
      }
      await pause(this.timing.pollIntervalMs, call.context.signal, `waiting for stack ${call.stackName}`);
    }
  }

  /** The ProviderError for an operation that ended other than asked, from the resource that failed in it. */
  private async operationFailure(
    call: StackCall, stackId: string, final: Stack | undefined, fallback: ProviderErrorCategory,
  ): Promise<ProviderError> {
    const status = final?.StackStatus ?? 'gone';
    const name = final?.StackName ?? call.stackName;
    const failed = failedResource(await lastOperationEvents(call, stackId));
    if (failed === undefined) {
      const reason = final?.StackStatusReason ?? 'no resource says why';
      return new ProviderError(classifyReason(reason, fallback).category, `stack ${name} ended ${status}: ${reason}`, status);
    }
    const logicalId = failed.LogicalResourceId ?? '?';
    const reason = failed.ResourceStatusReason ?? 'no reason given';
    const { category, code } = classifyReason(reason, fallback);
    const node = call.nodesByLogicalId.get(logicalId);
    const what = `${logicalId}${node ? ` (node ${node})` : ''}${failed.PhysicalResourceId ? ` [${failed.PhysicalResourceId}]` : ''}`;
    return new ProviderError(category, `stack ${name} ended ${status}: ${what} ${failed.ResourceStatus}: ${reason}`,
      `${logicalId}: ${code ?? failed.ResourceStatus ?? 'failed'}`);
  }
}

/**
 * Notes a stack's events as they come, each once, oldest first. DescribeStackEvents lists newest
 * first, so each look pages back until an event already seen.
 */
class EventFollower {
  private readonly seen = new Set<string>();

  constructor(private readonly call: StackCall, private readonly stackId: string) {}

  /** Marks what the stack did so far as history, not this operation's; the newest event's id. */
  async skipHistory(): Promise<string | undefined> {
    const page = await this.page(undefined);
    for (const event of page.events) this.seen.add(eventKey(event));
    return page.events[0]?.EventId;
  }

  async poll(): Promise<void> {
    const fresh: StackEvent[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    reading: do {
      const page = await this.page(nextToken);
      for (const event of page.events) {
        if (this.seen.has(eventKey(event))) break reading;
        fresh.push(event);
      }
      nextToken = page.nextToken;
    } while (nextToken !== undefined && ++pages < MAX_EVENT_PAGES);
    for (const event of fresh.reverse()) {
      this.seen.add(eventKey(event));
      await this.call.context.note?.(`stack: ${describeEvent(event)}`);
    }
  }

  private async page(nextToken: string | undefined): Promise<{ events: StackEvent[]; nextToken?: string }> {
    return eventsPage(this.call, this.stackId, nextToken);
  }
}

async function eventsPage(call: StackCall, stackId: string, nextToken: string | undefined): Promise<{ events: StackEvent[]; nextToken?: string }> {
  try {
    const out = await withBackoff('DescribeStackEvents',
      () => call.cfn.send(new DescribeStackEventsCommand({ StackName: stackId, NextToken: nextToken }), { abortSignal: call.context.signal }),
      call.context);
    return { events: out.StackEvents ?? [], nextToken: out.NextToken || undefined };
  } catch (error) {
    if (isMissingStack(error)) return { events: [] };
    throw error;
  }
}

/** The events of the stack's last operation, oldest first: back to where the stack itself began it. */
async function lastOperationEvents(call: StackCall, stackId: string): Promise<StackEvent[]> {
  const events: StackEvent[] = [];
  let nextToken: string | undefined;
  let pages = 0;
  reading: do {
    const page = await eventsPage(call, stackId, nextToken);
    for (const event of page.events) {
      events.push(event);
      if (isStackItself(event) && isOperationStart(event.ResourceStatus)) break reading;
    }
    nextToken = page.nextToken;
  } while (nextToken !== undefined && ++pages < MAX_EVENT_PAGES);
  return events.reverse();
}

const OPERATION_STARTS = new Set<string>([StackStatus.CREATE_IN_PROGRESS, StackStatus.UPDATE_IN_PROGRESS, StackStatus.DELETE_IN_PROGRESS, StackStatus.IMPORT_IN_PROGRESS]);
const isOperationStart = (status: string | undefined): boolean => status !== undefined && OPERATION_STARTS.has(status);

const eventKey = (event: StackEvent): string =>
  event.EventId ?? `${event.LogicalResourceId}|${event.ResourceStatus}|${event.Timestamp?.toISOString()}`;

/** "Node1a2b... CREATE_COMPLETE", with the reason when there is one. */
export function describeEvent(event: StackEvent): string {
  const reason = event.ResourceStatusReason ? `: ${event.ResourceStatusReason}` : '';
  return `${event.LogicalResourceId ?? '?'} ${event.ResourceStatus ?? '?'}${reason}`;
}

/** The stack by name or id; undefined when CloudFormation has none (or only a deleted one). */
async function describeStack(call: StackCall, stackRef: string): Promise<Stack | undefined> {
  try {
    const out = await withBackoff('DescribeStacks',
      () => call.cfn.send(new DescribeStacksCommand({ StackName: stackRef }), { abortSignal: call.context.signal }), call.context);
    const stack = out.Stacks?.[0];
    return stack === undefined || stack.StackStatus === StackStatus.DELETE_COMPLETE ? undefined : stack;
  } catch (error) {
    if (isMissingStack(error)) return undefined;
    throw error;
  }
}

/** DescribeStacks on a missing stack answers ValidationError "Stack with id X does not exist". */
function isMissingStack(error: unknown): boolean {
  const failure = asProviderError(error);
  return failure.code === 'StackNotFoundException' || (failure.code === 'ValidationError' && /does not exist/i.test(failure.message));
}

/** Logical id -> instance id of the stack's instances. */
async function instanceIdsOf(call: StackCall, stackId: string): Promise<Map<string, string>> {
  const out = await withBackoff('DescribeStackResources',
    () => call.cfn.send(new DescribeStackResourcesCommand({ StackName: stackId }), { abortSignal: call.context.signal }), call.context);
  const ids = new Map<string, string>();
  for (const resource of out.StackResources ?? []) {
    if (resource.ResourceType === INSTANCE_TYPE && resource.LogicalResourceId && resource.PhysicalResourceId) {
      ids.set(resource.LogicalResourceId, resource.PhysicalResourceId);
    }
  }
  return ids;
}

/** Sorted, so the same set always reads the same (tokens, the comparison with the stack's). */
function nodeIdsOf(nodes: readonly ClusterNode[]): string[] {
  return [...new Set(nodes.map((node) => node.nodeId))].sort();
}

function currentNodeIds(stack: Stack): string {
  const value = stack.Parameters?.find((p) => p.ParameterKey === 'NodeIds')?.ParameterValue ?? '';
  return value.split(',').map((id) => id.trim()).filter((id) => id !== '').sort().join(',');
}

/** Every parameter's value for these options (templateFor leaves out those of an empty subnet or group list). */
function parameterValues(cluster: Cluster, options: Ec2Options, nodeIds: readonly string[]): Record<string, string> {
  const tags = resourceTags(cluster);
  return {
    ImageId: options.imageId,
    InstanceType: options.instanceTypes[0] ?? '',
    SubnetId: options.subnetIds[0] ?? '',
    SecurityGroupIds: options.securityGroupIds.join(','),
    AssociatePublicIp: String(options.publicIp),
    KeyName: keyPairName(cluster.clusterId),
    NodeIds: nodeIds.join(','),
    ClusterId: cluster.clusterId,
    GatewayId: tagValue(tags, TAG_GATEWAY) ?? cluster.gatewayId,
    // The Name tag ("ms-<name>-<node id>") must stay within EC2's 256 characters.
    ClusterName: cluster.name.slice(0, 200),
  };
}

/** A ClientRequestToken: letters, digits and dashes, at most 128; the same inputs give the same token. */
function token(kind: string, ...parts: string[]): string {
  return `ms-${kind}-${createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 40)}`;
}
