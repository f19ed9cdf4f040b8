// Template mode: a cluster's servers are the members of one Heat stack (templates/openstack-cluster.yaml,
// an OS::Heat::ResourceGroup). The stack is named after the cluster, so a rerun after a crash finds
// it instead of making a second one; growing and shrinking change the group's count, naming the
// members to remove. Members are Nova servers with the cluster's metadata; once the stack is
// complete each is given the node id it serves, so everything else treats them like single servers.
import { readFileSync } from 'node:fs';
import type { Cluster, ClusterNode } from '../../domain/types';
import { ProviderError, type OwnedResource, type ReleaseProof } from '../provider';
import { pause } from '../pause';
import { templateFile } from '../templates';
import {
  OpenStackError, stackFailure, stackStatus, toProviderError, type HeatEvent, type HeatStack, type NovaServer, type OpenStackClient, type StackRef,
} from './client/index';
import { clusterOfStackTags, clusterStackTag, META_MEMBER, META_NODE, stackName, STACK_TAG } from './metadata';
import type { OpenStackOptions } from './options';
import type { CloudRefs } from './quota';
import { byNode, clusterServers, guarded, isLive, type CallContext, type WaitTiming } from './servers';

const TEMPLATE = 'openstack-cluster.yaml';
/** Heat's own limit for one operation; the service's wait is timing.waitTimeoutMs. */
const STACK_TIMEOUT_MINUTES = 60;

let templateText: string | undefined;
function template(): string {
  templateText ??= readFileSync(templateFile(TEMPLATE), 'utf8');
  return templateText;
}

export class HeatStacks {
  constructor(private readonly timing: WaitTiming) {}

  /** Makes the stack hold one member per node of `serving`, and gives each member its node. */
  async acquire(
    client: OpenStackClient, cluster: Cluster, options: OpenStackOptions, refs: CloudRefs, keyName: string, userData: string,
    serving: readonly ClusterNode[], context: CallContext,
  ): Promise<Map<string, NovaServer>> {
    const name = stackName(cluster.clusterId);
    let stack = await this.settled(client, await guarded(() => client.heat.getStack(name)), context);
    if (stack !== undefined && stackStatus(stack.stack_status).action === 'CREATE' && stackStatus(stack.stack_status).state === 'FAILED') {
      await context.note?.(`stack ${name} is ${stack.stack_status}: deleting it to make it again`);
      await this.deleteAndWait(client, stack, context);
      stack = undefined;
    }
    if (stack === undefined) {
      await context.note?.(`stack ${name}: creating ${serving.length} server(s)`);
      const parameters = {
        count: serving.length, flavor: refs.flavor.id, image: refs.imageId, key_name: keyName, network: options.network,
        security_groups: options.securityGroups, name_prefix: `ms-${cluster.name}`.slice(0, 200), cluster_id: cluster.clusterId,
        gateway_id: cluster.gatewayId, user_data: userData,
      };
      let ref: StackRef;
      try {
        ref = await client.heat.createStack(name, {
          template: template(), parameters, tags: [STACK_TAG, clusterStackTag(cluster.clusterId)], timeoutMins: STACK_TIMEOUT_MINUTES, disableRollback: true,
        });
      } catch (error) {
        // 409: the same step, run again after a crash, finds the stack its first run started.
        const existing = error instanceof OpenStackError && error.status === 409 ? await guarded(() => client.heat.getStack(name)) : undefined;
        if (existing === undefined) throw toProviderError(error);
        ref = existing;
      }
      await this.follow(client, ref, 'CREATE', context, undefined);
    } else if (Number(stack.parameters?.count) !== serving.length) {
      const from = Number(stack.parameters?.count);
      const since = await this.lastEventId(client, stack);
      await context.note?.(`stack ${name}: ${from} -> ${serving.length} server(s)`);
      await guarded(() => client.heat.patchStack(stack as HeatStack, { parameters: { count: serving.length } }));
      await this.follow(client, stack, 'UPDATE', context, since);
    }
    return this.assign(client, cluster, serving, context);
  }

  /** Shrinks the stack to `remaining`, removing exactly the members of `leaving`; proof for each of them. */
  async release(
    client: OpenStackClient, cluster: Cluster, remaining: readonly ClusterNode[], leaving: readonly ClusterNode[], context: CallContext,
  ): Promise<ReleaseProof[]> {
    const name = stackName(cluster.clusterId);
    const stack = await this.settled(client, await guarded(() => client.heat.getStack(name)), context);
    const perNode = byNode(await clusterServers(client.nova, cluster.clusterId));
    const members = leaving.flatMap((node) => (perNode.get(node.nodeId) ?? []).map((s) => s.metadata?.[META_MEMBER]))
      .filter((m): m is string => m !== undefined);
    if (stack !== undefined && (members.length > 0 || Number(stack.parameters?.count) !== remaining.length)) {
      const since = await this.lastEventId(client, stack);
      await context.note?.(`stack ${name}: removing member(s) ${members.join(', ') || '(none)'}, ${remaining.length} server(s) stay`);
      await guarded(() => client.heat.patchStack(stack, {
        parameters: { count: remaining.length, removal_policies: JSON.stringify([{ resource_list: members }]) },
      }));
      await this.follow(client, stack, 'UPDATE', context, since);
    }
    const proofs: ReleaseProof[] = [];
    for (const node of leaving) {
      const servers = perNode.get(node.nodeId) ?? [];
      if (servers.length === 0) {
        proofs.push({ nodeId: node.nodeId, providerResourceId: node.providerResourceId, proof: 'no server of the stack served it' });
        continue;
      }
      const still: string[] = [];
      for (const server of servers) {
        const now = await guarded(() => client.nova.getServer(server.id));
        if (now !== undefined && isLive(now)) still.push(server.id);
      }
      if (still.length > 0) throw new ProviderError('transient', `stack ${name} was updated but server(s) ${still.join(', ')} of node ${node.nodeId} are still there`, 'StillThere');
      proofs.push({
        nodeId: node.nodeId, providerResourceId: servers[0].id,
        proof: `member ${servers[0].metadata?.[META_MEMBER] ?? '?'} removed from stack ${name}: server ${servers.map((s) => s.id).join(', ')} gone (Nova answers 404)`,
      });
    }
    return proofs;
  }

  /** Deletes the cluster's stack and waits until Heat no longer lists it; proof strings. */
  async deleteStack(client: OpenStackClient, clusterId: string, context: CallContext): Promise<string[]> {
    const name = stackName(clusterId);
    const stack = await guarded(() => client.heat.getStack(name));
    if (stack === undefined) return [`stack ${name} was not there`];
    return [await this.deleteAndWait(client, stack, context)];
  }

  /** Stacks tagged as ours, whatever cluster they were for. */
  async listStacks(client: OpenStackClient, scope: string): Promise<OwnedResource[]> {
    const stacks = await guarded(() => client.heat.listStacks({ tags: [STACK_TAG] }));
    return stacks.map((stack) => {
      const clusterId = clusterOfStackTags(stack.tags);
      return {
        providerResourceId: `${stack.stack_name}/${stack.id}`, resourceType: 'stack', scope, clusterId, live: true,
        description: `stack ${stack.stack_name} (${stack.stack_status}) of cluster ${clusterId ?? '?'} in cloud ${scope}`,
      };
    });
  }

  async deleteOwnedStack(client: OpenStackClient, resource: OwnedResource): Promise<string> {
    const [stack_name, id] = resource.providerResourceId.split('/');
    const stack = await guarded(() => client.heat.getStack({ stack_name, id }));
    if (stack === undefined || stack.stack_status === 'DELETE_COMPLETE') return `stack ${resource.providerResourceId} is gone`;
    return this.deleteAndWait(client, stack, {});
  }

  /** Members without a node get the nodes without a server, lowest member index first. */
  private async assign(client: OpenStackClient, cluster: Cluster, serving: readonly ClusterNode[], context: CallContext): Promise<Map<string, NovaServer>> {
    const servers = (await clusterServers(client.nova, cluster.clusterId)).filter(isLive);
    const perNode = byNode(servers);
    const result = new Map<string, NovaServer>();
    for (const node of serving) {
      const own = perNode.get(node.nodeId)?.[0];
      if (own) result.set(node.nodeId, own);
    }
    const free = servers.filter((s) => s.metadata?.[META_NODE] === undefined && s.metadata?.[META_MEMBER] !== undefined)
      .sort((a, b) => Number(a.metadata?.[META_MEMBER]) - Number(b.metadata?.[META_MEMBER]));
    const waiting = serving.filter((node) => !result.has(node.nodeId));
    if (free.length < waiting.length) {
      throw new ProviderError('transient', `stack ${stackName(cluster.clusterId)} has ${free.length} unassigned member(s) for ${waiting.length} node(s)`, 'StackShort');
    }
    for (const [i, node] of waiting.entries()) {
      const server = free[i];
      await guarded(() => client.nova.updateServerMetadata(server.id, { [META_NODE]: node.nodeId }));
      result.set(node.nodeId, { ...server, metadata: { ...server.metadata, [META_NODE]: node.nodeId } });
    }
    if (waiting.length > 0) await context.note?.(`stack members ${waiting.map((n, i) => `${free[i].metadata?.[META_MEMBER]}=${free[i].id}`).join(', ')} assigned to their nodes`);
    return result;
  }

  /**
   * Nova merges metadata by reading, changing and saving the server's whole set: a write to the
   * same server at the same moment (another tool tagging it while it boots) can undo ours. Once the
   * members are up, the assignment is read back and written again until every member carries its
   * node.
   */
  async confirmNodes(
    client: OpenStackClient, cluster: Cluster, assigned: readonly ClusterNode[], result: ReadonlyMap<string, NovaServer>, context: CallContext,
  ): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const now = new Map((await clusterServers(client.nova, cluster.clusterId)).map((s) => [s.id, s]));
      const lost = assigned.filter((node) => {
        const server = result.get(node.nodeId);
        return server !== undefined && now.get(server.id)?.metadata?.[META_NODE] !== node.nodeId;
      });
      if (lost.length === 0) return;
      for (const node of lost) {
        const server = result.get(node.nodeId) as NovaServer;
        await guarded(() => client.nova.updateServerMetadata(server.id, { [META_NODE]: node.nodeId }));
      }
      await pause(this.timing.pollIntervalMs, context.signal, `confirming stack members' nodes on ${stackName(cluster.clusterId)}`);
    }
    throw new ProviderError('transient', `stack ${stackName(cluster.clusterId)}: a member's node assignment keeps being overwritten`, 'StackAssign');
  }

  /** Waits out an operation in progress (a rerun after a crash meets the first run's); the stack after it. */
  private async settled(client: OpenStackClient, stack: HeatStack | undefined, context: CallContext): Promise<HeatStack | undefined> {
    if (stack === undefined || stackStatus(stack.stack_status).state !== 'IN_PROGRESS') return stack;
    await context.note?.(`stack ${stack.stack_name} is ${stack.stack_status}: waiting for it`);
    const deadline = Date.now() + this.timing.waitTimeoutMs;
    let current: HeatStack | undefined = stack;
    while (current !== undefined && stackStatus(current.stack_status).state === 'IN_PROGRESS') {
      if (Date.now() > deadline) throw new ProviderError('transient', `stack ${stack.stack_name} stayed ${current.stack_status}`, 'StackBusy');
      await pause(this.timing.pollIntervalMs, context.signal, `waiting for stack ${stack.stack_name}`);
      current = await guarded(() => client.heat.getStack(stack));
    }
    return current?.stack_status === 'DELETE_COMPLETE' ? undefined : current;
  }

  private async lastEventId(client: OpenStackClient, stack: StackRef): Promise<string | undefined> {
    const newest = await guarded(() => client.heat.listEvents(stack, { sortDir: 'desc', limit: 1, nestedDepth: 1 }));
    return newest[0]?.id;
  }

  /**
   * Follows an operation until it ends: every new event is a cluster event; a FAILED end throws the
   * reason of the resource that failed (a member's "No valid host was found" is capacity).
   */
  private async follow(client: OpenStackClient, stack: StackRef, action: string, context: CallContext, since: string | undefined): Promise<HeatStack> {
    const deadline = Date.now() + this.timing.waitTimeoutMs;
    let lastSeen = since;
    const failures: HeatEvent[] = [];
    for (;;) {
      const events = await guarded(() => client.heat.eventsSince(stack, lastSeen, { nestedDepth: 1 }));
      for (const event of events) {
        lastSeen = event.id;
        await context.note?.(`stack: ${event.resource_name} ${event.resource_status}${event.resource_status_reason ? `: ${event.resource_status_reason}` : ''}`);
        if (stackStatus(event.resource_status).state === 'FAILED' && event.resource_name !== stack.stack_name) failures.push(event);
      }
      const now = await guarded(() => client.heat.getStack(stack));
      if (now === undefined) throw new ProviderError('transient', `stack ${stack.stack_name} vanished during its ${action}`, 'StackGone');
      const status = stackStatus(now.stack_status);
      if (status.state === 'COMPLETE' && status.action === action) return now;
      if (status.state === 'FAILED' || (status.state === 'COMPLETE' && status.action !== action)) {
        // The innermost failure explains most: a member server's fault rather than the group's summary.
        const failed = failures.find((e) => !/ResourceGroup|Stack/.test(e.resource_status_reason ?? '')) ?? failures[0];
        throw toProviderError(failed
          ? stackFailure(`stack ${now.stack_name} ${now.stack_status}: resource ${failed.resource_name}`, failed.resource_status_reason)
          : stackFailure(`stack ${now.stack_name} ${now.stack_status}`, now.stack_status_reason));
      }
      if (Date.now() > deadline) throw new ProviderError('transient', `stack ${stack.stack_name} still ${now.stack_status} after ${Math.round(this.timing.waitTimeoutMs / 1000)} s`, 'StackTimeout');
      await pause(this.timing.pollIntervalMs, context.signal, `waiting for stack ${stack.stack_name}`);
    }
  }

  private async deleteAndWait(client: OpenStackClient, stack: HeatStack, context: CallContext): Promise<string> {
    const since = await this.lastEventId(client, stack);
    await guarded(() => client.heat.deleteStack(stack));
    await context.note?.(`stack ${stack.stack_name}: deleting`);
    try {
      await this.follow(client, stack, 'DELETE', context, since);
    } catch (error) {
      if (!(error instanceof ProviderError && error.code === 'StackGone')) throw error;
    }
    return `stack ${stack.stack_name} (${stack.id}) deleted: Heat shows it DELETE_COMPLETE`;
  }
}
