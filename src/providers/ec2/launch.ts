// Buying one node's instance: RunInstances for one instance, walking a ladder of requests when EC2
// has no capacity (spot before on-demand, then the next instance type, then the next subnet). Each
// rung has its own ClientToken attempt number, so a rerun after a crash repeats exactly the request
// it made before and EC2 answers with the instance that request bought.
import { RunInstancesCommand, type _InstanceType, type EC2Client, type RunInstancesCommandInput } from '@aws-sdk/client-ec2';
import type { Cluster, ClusterNode } from '../../domain/types';
import { ProviderError } from '../provider';
import { Interrupted } from '../pause';
import { asProviderError, withBackoff } from './errors';
import { isLive, viewOf, type CallContext, type InstanceView } from './instances';
import type { Ec2Options } from './options';
import { clientTokenFor, keyPairName, resourceTags, shortId } from './tags';

export type Market = 'spot' | 'on-demand';

export interface LaunchRequest {
  instanceType: string;
  subnetId?: string;
  market: Market;
  /** The rung's place in the ladder: its ClientToken attempt number. */
  index: number;
}

/** Times a node gets a fresh set of tokens after EC2 says its earlier instance was terminated. */
const MAX_ROUNDS = 5;

/** Every request worth making for a node, best first. */
export function launchLadder(options: Ec2Options): LaunchRequest[] {
  const subnets: (string | undefined)[] = options.subnetIds.length > 0 ? options.subnetIds : [undefined];
  const markets: Market[] = options.spot ? ['spot', 'on-demand'] : ['on-demand'];
  const ladder: LaunchRequest[] = [];
  for (const subnetId of subnets) {
    for (const instanceType of options.instanceTypes) {
      for (const market of markets) ladder.push({ instanceType, subnetId, market, index: ladder.length });
    }
  }
  return ladder;
}

function rungKey(request: LaunchRequest): string {
  return `${request.market}/${request.subnetId ?? ''}/${request.instanceType}`;
}

function where(request: LaunchRequest): string {
  return request.subnetId === undefined ? request.instanceType : `${request.instanceType} in ${request.subnetId}`;
}

/**
 * What one acquire call learns across its nodes: a rung that had no capacity for one node is not
 * tried for the others, and each notice is given once, not once per node.
 */
export class LaunchState {
  private readonly exhausted = new Set<string>();
  private readonly noted = new Set<string>();
  /** The last capacity failure any node met: what a node that finds every rung exhausted reports. */
  lastFailure?: ProviderError;

  constructor(readonly ladder: readonly LaunchRequest[], private readonly note?: (m: string) => Promise<void>) {}

  isExhausted(request: LaunchRequest): boolean {
    return this.exhausted.has(rungKey(request));
  }

  markExhausted(request: LaunchRequest): void {
    this.exhausted.add(rungKey(request));
  }

  /** The next rung after `index` still worth trying. */
  nextAfter(index: number): LaunchRequest | undefined {
    return this.ladder.slice(index + 1).find((r) => !this.isExhausted(r));
  }

  async noteOnce(message: string): Promise<void> {
    if (this.noted.has(message)) return;
    this.noted.add(message);
    await this.note?.(message);
  }
}

export function runInstancesInput(
  cluster: Cluster, node: ClusterNode, options: Ec2Options, request: LaunchRequest, token: string,
): RunInstancesCommandInput {
  const tags = resourceTags(cluster, node);
  const input: RunInstancesCommandInput = {
    ImageId: options.imageId,
    InstanceType: request.instanceType as _InstanceType,
    MinCount: 1,
    MaxCount: 1,
    KeyName: keyPairName(cluster.clusterId),
    ClientToken: token,
    TagSpecifications: [{ ResourceType: 'instance', Tags: tags }, { ResourceType: 'volume', Tags: tags }],
    // IMDSv2 only: a job on the node cannot read the instance's credentials with a plain GET.
    MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
  };
  if (options.publicIp) {
    // A public address whatever the subnet's default; security groups then belong to the interface.
    input.NetworkInterfaces = [{
      DeviceIndex: 0,
      AssociatePublicIpAddress: true,
      DeleteOnTermination: true,
      SubnetId: request.subnetId,
      Groups: options.securityGroupIds.length > 0 ? options.securityGroupIds : undefined,
    }];
  } else {
    input.SubnetId = request.subnetId;
    if (options.securityGroupIds.length > 0) input.SecurityGroupIds = options.securityGroupIds;
  }
  if (request.market === 'spot') {
    input.InstanceMarketOptions = { MarketType: 'spot', SpotOptions: { SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate' } };
  }
  return input;
}

/**
 * Buys the node's instance, going down the ladder on capacity errors (spot also on a spot quota),
 * saying each change through the context. Any other error ends it as a ProviderError.
 */
export async function launchNode(
  ec2: EC2Client, cluster: Cluster, node: ClusterNode, options: Ec2Options, state: LaunchState, context: CallContext,
): Promise<InstanceView> {
  const { ladder } = state;
  let round = 0;
  for (let i = 0; i < ladder.length; i++) {
    const request = ladder[i];
    if (state.isExhausted(request)) continue;
    const token = clientTokenFor(cluster.clusterId, node.nodeId, round * ladder.length + request.index);
    try {
      const out = await withBackoff(`RunInstances ${where(request)} for node ${shortId(node.nodeId)}`,
        () => ec2.send(new RunInstancesCommand(runInstancesInput(cluster, node, options, request, token)), { abortSignal: context.signal }),
        context);
      const instance = out.Instances?.[0];
      if (instance?.InstanceId === undefined) throw new ProviderError('transient', 'RunInstances answered without an instance', 'NoInstance');
      const view = viewOf(instance);
      if (isLive(view) || round + 1 >= MAX_ROUNDS) return view;
      // The token's earlier instance, already ended (EC2 may also say IdempotentInstanceTerminated).
      round++;
      i--;
    } catch (error) {
      // Cut short by the service stopping: no EC2 failure, the step runs again after the restart.
      if (error instanceof Interrupted) throw error;
      const failure = asProviderError(error);
      if (failure.code === 'IdempotentInstanceTerminated' && round + 1 < MAX_ROUNDS) {
        // This token's instance is gone (interrupted, or released before): a new token buys anew.
        round++;
        i--;
        continue;
      }
      const spotFallback = request.market === 'spot' && (failure.category === 'capacity' || failure.category === 'quota');
      if (!spotFallback && failure.category !== 'capacity') throw failure;
      state.lastFailure = failure;
      state.markExhausted(request);
      const next = state.nextAfter(request.index);
      const why = `(${failure.code ?? failure.category})`;
      if (spotFallback && next?.market === 'on-demand' && next.instanceType === request.instanceType && next.subnetId === request.subnetId) {
        await state.noteOnce(`spot capacity unavailable for ${where(request)} ${why}: on-demand instead`);
      } else if (next !== undefined) {
        const market = next.market === 'spot' ? ' (spot)' : '';
        await state.noteOnce(`no ${request.market} capacity for ${where(request)} ${why}: trying ${where(next)}${market}`);
      }
    }
  }
  const tried = [...new Set(ladder.map(where))].join(', ');
  const last = state.lastFailure;
  throw new ProviderError('capacity',
    `no capacity for node ${shortId(node.nodeId)}: tried ${tried}${last ? `; last: ${last.code ?? ''} ${last.message}` : ''}`,
    last?.code ?? 'InsufficientInstanceCapacity');
}
