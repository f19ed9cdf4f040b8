// EC2: nodes are instances bought per cluster. Instance mode buys one RunInstances per node;
// template mode (providerOptions.template=true) hands the nodes to a CloudFormation StackDriver.
// Everything bought carries the cluster and node ids as tags, so a rerun, release and the orphan
// sweeper find it whether or not the database recorded it.
import type { FieldError } from '../../domain/errors';
import type { Cluster, ClusterNode, ClusterSpec } from '../../domain/types';
import {
  ProviderError, type AcquiredNode, type NodeDescription, type OwnedResource, type PlannedNode, type Provider, type ProvisionContext,
  type QuotaCheck, type ReleaseProof,
} from '../provider';
import { mapSettledBounded, valuesOrThrow } from '../boundedMap';
import { atLeastOneNode, boughtNode, boughtPool, holdsResource, servingAfter, withDefaultOption } from '../serving';
import { awsClientsFor, type AwsClients } from './clients';
import {
  addressOf, bestLive, byNode, clusterInstances, describeInstances, instancesById, isLive, requestTermination, terminateAndWait,
  terminationProof, waitUntilRunning, type CallContext, type InstanceView, type WaitTiming,
} from './instances';
import { deleteKeyPair, ensureKeyPair, ourKeyPairs } from './keyPairs';
import { LaunchState, launchLadder, launchNode } from './launch';
import { ec2OptionsOf, parseEc2Options, type Ec2Options } from './options';
import { checkVcpuQuota } from './quota';
import type { StackDriver } from './stackDriver';
import { keyPairName, shortId, TAG_CLUSTER, tagValue } from './tags';

export interface Ec2ProviderOptions {
  /** The region of specs that name none (the service's AWS_REGION). */
  defaultRegion?: string;
  /** Between DescribeInstances polls while instances start or end (5 s). */
  pollIntervalMs?: number;
  /** Longest wait for instances to run or terminate (15 min). */
  waitTimeoutMs?: number;
  /** The AWS clients of a region (default: the SDK's, configured from the environment). */
  clients?: (region: string) => AwsClients;
  /** Template mode; without it, template=true is refused by validate. */
  stack?: StackDriver;
}

/** RunInstances calls in flight at once for one cluster. */
const LAUNCH_CONCURRENCY = 16;

export class Ec2Provider implements Provider {
  readonly type = 'EC2' as const;
  readonly buysNodes = true;
  private readonly defaultRegion?: string;
  private readonly timing: WaitTiming;
  private readonly clients: (region: string) => AwsClients;
  private readonly stack?: StackDriver;

  constructor(options: Ec2ProviderOptions = {}) {
    this.defaultRegion = options.defaultRegion;
    this.timing = { pollIntervalMs: options.pollIntervalMs ?? 5000, waitTimeoutMs: options.waitTimeoutMs ?? 15 * 60_000 };
    this.clients = options.clients ?? awsClientsFor;
    this.stack = options.stack;
  }

  validate(spec: ClusterSpec): FieldError[] {
    const { errors } = parseEc2Options(spec, this.defaultRegion);
    errors.push(...atLeastOneNode(spec, 'EC2'));
    if (spec.providerOptions?.template === 'true' && this.stack === undefined) {
      errors.push({
        field: 'spec.providerOptions.template',
        message: "'true' asks for a CloudFormation stack, which this service is not set up to make; leave it out for one instance per node",
      });
    }
    return errors;
  }

  /** The region is written into the spec: a later change of AWS_REGION must not lose the cluster's instances. */
  settle(spec: ClusterSpec): ClusterSpec {
    return withDefaultOption(spec, 'region', this.defaultRegion);
  }

  /** workerCount nodes (1 by default), the first also the controller; addresses come with the instances. */
  plan(spec: ClusterSpec): PlannedNode[] {
    return boughtPool(spec, this.sshUserOf(spec));
  }

  planWorker(spec: ClusterSpec): PlannedNode {
    return boughtNode(['worker'], this.sshUserOf(spec));
  }

  private sshUserOf(spec: ClusterSpec): string {
    return parseEc2Options(spec, this.defaultRegion).options?.sshUser ?? 'ec2-user';
  }

  /**
   * vCPUs of the first instance type against the account's vCPU quota and what already runs.
   * extraWorkers > 0 is a scale of a running cluster: its own instances count among the running,
   * so only the extra ones are needed.
   */
  async checkQuota(spec: ClusterSpec, extraWorkers = 0): Promise<QuotaCheck> {
    const { options, errors } = parseEc2Options(spec, this.defaultRegion);
    const nodes = extraWorkers > 0 ? extraWorkers : this.plan(spec).length;
    if (!options) return { needed: { instances: nodes }, errors };
    const { ec2, quotas } = this.clients(options.region);
    return checkVcpuQuota({ ec2, quotas, instanceType: options.instanceTypes[0], nodes, spot: options.spot });
  }

  async acquire(cluster: Cluster, nodes: readonly ClusterNode[], context: ProvisionContext): Promise<AcquiredNode[]> {
    const options = this.optionsOf(cluster);
    if (nodes.length === 0) return [];
    if (options.template) return this.requireStack().acquire(cluster, options, servingAfter(cluster, nodes), context);
    const { ec2 } = this.clients(options.region);
    await ensureKeyPair(ec2, cluster, context.sshPublicKey, context);

    // A rerun finds what the run before bought (tagged at launch) and buys only the rest.
    const found = byNode(await clusterInstances(ec2, cluster.clusterId, context));
    await this.endDuplicates(ec2, nodes, found, context);
    const reused = nodes.filter((node) => bestLive(found.get(node.nodeId)) !== undefined);
    if (reused.length > 0) await context.note(`${reused.length} of ${nodes.length} node(s) have an instance from an earlier run: kept`);

    const state = new LaunchState(launchLadder(options), context.note);
    const results = await mapSettledBounded(nodes, LAUNCH_CONCURRENCY,
      async (node) => bestLive(found.get(node.nodeId)) ?? launchNode(ec2, cluster, node, options, state, context));
    const views = valuesOrThrow(results, (error) => error instanceof ProviderError && !error.retryable);

    const notReady = views.filter((v) => !(v.state === 'running' && addressOf(v, options.publicIp) !== undefined));
    const ready = await waitUntilRunning(ec2, notReady.map((v) => v.instanceId), options.publicIp, this.timing, context);
    return nodes.map((node, i) => {
      const view = ready.get(views[i].instanceId) ?? views[i];
      return { nodeId: node.nodeId, address: addressOf(view, options.publicIp) ?? '', providerResourceId: view.instanceId };
    });
  }

  /** Two live instances for one node (a lookup that missed a fresh launch): the spare one goes. */
  private async endDuplicates(
    ec2: AwsClients['ec2'], nodes: readonly ClusterNode[], found: Map<string, InstanceView[]>, context: ProvisionContext,
  ): Promise<void> {
    const spare: string[] = [];
    for (const node of nodes) {
      const keep = bestLive(found.get(node.nodeId));
      for (const view of found.get(node.nodeId) ?? []) if (view !== keep && isLive(view)) spare.push(view.instanceId);
    }
    if (spare.length === 0) return;
    await context.note(`terminating ${spare.length} spare instance(s) bought twice for the same node: ${spare.join(', ')}`);
    await requestTermination(ec2, spare, context);
  }

  async describe(cluster: Cluster): Promise<NodeDescription[]> {
    const options = this.optionsOf(cluster);
    const { ec2 } = this.clients(options.region);
    const perNode = await this.instancesOfNodes(ec2, cluster, cluster.nodes, {});
    return cluster.nodes.map((node) => {
      const views = perNode.get(node.nodeId) ?? [];
      const best = bestLive(views);
      if (!best) return { nodeId: node.nodeId, state: 'gone', providerResourceId: node.providerResourceId ?? views[0]?.instanceId };
      return { nodeId: node.nodeId, state: describedState(best.state), address: addressOf(best, options.publicIp), providerResourceId: best.instanceId };
    });
  }

  async release(cluster: Cluster, nodes: readonly ClusterNode[], given?: Pick<ProvisionContext, 'note' | 'signal'>): Promise<ReleaseProof[]> {
    const context: CallContext = given ?? {};
    if (nodes.length === 0) return [];
    const options = this.optionsOf(cluster);
    if (options.template) {
      const leaving = new Set(nodes.map((n) => n.nodeId));
      const remaining = cluster.nodes.filter((n) => !leaving.has(n.nodeId) && holdsResource(n));
      return this.requireStack().release(cluster, options, remaining, nodes, given);
    }
    const { ec2 } = this.clients(options.region);
    const perNode = await this.instancesOfNodes(ec2, cluster, nodes, context);
    const unique = new Map<string, InstanceView>();
    for (const views of perNode.values()) for (const view of views) unique.set(view.instanceId, view);
    const ended = await terminateAndWait(ec2, [...unique.values()], this.timing, context);
    return nodes.map((node) => {
      const views = perNode.get(node.nodeId) ?? [];
      if (views.length === 0) {
        const proof = node.providerResourceId === undefined
          ? 'nothing was bought'
          : `instance ${node.providerResourceId} is gone (EC2 no longer lists it)`;
        return { nodeId: node.nodeId, providerResourceId: node.providerResourceId, proof };
      }
      const proof = views.map((view) => {
        const termination = ended.get(view.instanceId);
        return termination ? terminationProof(termination) : `instance ${view.instanceId} is gone`;
      }).join('; ');
      return { nodeId: node.nodeId, providerResourceId: node.providerResourceId ?? views[0].instanceId, proof };
    });
  }

  /** The stack (template mode), any instance still tagged with the cluster, and the key pair. */
  async releaseCluster(cluster: Cluster, given?: Pick<ProvisionContext, 'note' | 'signal'>): Promise<string[]> {
    const context: CallContext = given ?? {};
    const options = this.optionsOf(cluster);
    const proofs: string[] = [];
    if (options.template) proofs.push(...await this.requireStack().deleteStack(cluster, options, given));
    const { ec2 } = this.clients(options.region);
    const leftover = (await clusterInstances(ec2, cluster.clusterId, context)).filter(isLive);
    if (leftover.length > 0) {
      await context.note?.(`${leftover.length} instance(s) of the cluster were still there: terminating ${leftover.map((v) => v.instanceId).join(', ')}`);
      for (const termination of (await terminateAndWait(ec2, leftover, this.timing, context)).values()) proofs.push(terminationProof(termination));
    }
    const keyName = keyPairName(cluster.clusterId);
    proofs.push(await deleteKeyPair(ec2, keyName, context) ? `key pair ${keyName} deleted` : `key pair ${keyName} was not there`);
    return proofs;
  }

  scopeOf(spec: ClusterSpec): string {
    return parseEc2Options(spec, this.defaultRegion).options?.region ?? spec.providerOptions?.region ?? this.defaultRegion ?? '';
  }

  async listOwned(scopes: readonly string[]): Promise<OwnedResource[]> {
    const owned: OwnedResource[] = [];
    for (const region of new Set(scopes)) {
      const { ec2 } = this.clients(region);
      for (const view of await describeInstances(ec2, [{ Name: 'tag-key', Values: [TAG_CLUSTER] }])) {
        owned.push({
          providerResourceId: view.instanceId, resourceType: 'instance', scope: region, clusterId: view.clusterId, nodeId: view.nodeId,
          live: view.state !== 'terminated',
          description: `instance ${view.instanceId} (${view.instanceType ?? 'unknown type'}, ${view.state}) of cluster ${view.clusterId ?? '?'}`
            + `${view.nodeId ? ` node ${shortId(view.nodeId)}` : ''} in ${region}`,
        });
      }
      for (const pair of await ourKeyPairs(ec2)) {
        if (pair.KeyName === undefined) continue;
        const clusterId = tagValue(pair.Tags, TAG_CLUSTER);
        owned.push({
          providerResourceId: pair.KeyName, resourceType: 'key-pair', scope: region, clusterId, live: true,
          description: `key pair ${pair.KeyName} of cluster ${clusterId ?? '?'} in ${region}`,
        });
      }
      if (this.stack) owned.push(...await this.stack.listStacks(region));
    }
    return owned;
  }

  async releaseOwned(resource: OwnedResource): Promise<string> {
    const { ec2 } = this.clients(resource.scope);
    switch (resource.resourceType) {
      case 'instance': {
        const views = await instancesById(ec2, [resource.providerResourceId]);
        if (views.length === 0) return `instance ${resource.providerResourceId} is gone (EC2 no longer lists it)`;
        const ended = await terminateAndWait(ec2, views, this.timing);
        const termination = ended.get(resource.providerResourceId);
        return termination ? terminationProof(termination) : `instance ${resource.providerResourceId} is gone`;
      }
      case 'key-pair':
        return await deleteKeyPair(ec2, resource.providerResourceId)
          ? `key pair ${resource.providerResourceId} deleted`
          : `key pair ${resource.providerResourceId} was not there`;
      case 'stack':
        return this.requireStack().deleteOwnedStack(resource);
      default:
        throw new ProviderError('bad_request', `EC2 holds no resources of type ${JSON.stringify(resource.resourceType)}`);
    }
  }

  private optionsOf(cluster: Cluster): Ec2Options {
    return ec2OptionsOf(cluster.spec, this.defaultRegion);
  }

  private requireStack(): StackDriver {
    if (!this.stack) throw new ProviderError('bad_request', 'template mode needs CloudFormation stacks, which this service is not set up to make');
    return this.stack;
  }

  /** Each node's instances: by the node tag, and by the recorded instance id for one that lost its tags. */
  private async instancesOfNodes(
    ec2: AwsClients['ec2'], cluster: Cluster, nodes: readonly ClusterNode[], context: CallContext,
  ): Promise<Map<string, InstanceView[]>> {
    const tagged = byNode(await clusterInstances(ec2, cluster.clusterId, context));
    const seen = new Set([...tagged.values()].flat().map((v) => v.instanceId));
    const untagged = nodes.filter((n) => n.providerResourceId !== undefined && !seen.has(n.providerResourceId)).map((n) => n.providerResourceId as string);
    const byId = new Map((untagged.length > 0 ? await instancesById(ec2, untagged, context) : []).map((v) => [v.instanceId, v]));
    const perNode = new Map<string, InstanceView[]>();
    for (const node of nodes) {
      const views = [...(tagged.get(node.nodeId) ?? [])];
      const recorded = node.providerResourceId === undefined ? undefined : byId.get(node.providerResourceId);
      if (recorded) views.push(recorded);
      if (views.length > 0) perNode.set(node.nodeId, views);
    }
    return perNode;
  }
}

function describedState(state: string): NodeDescription['state'] {
  if (state === 'pending') return 'pending';
  if (state === 'running') return 'running';
  if (state === 'stopping' || state === 'stopped') return 'stopped';
  return 'gone';
}
