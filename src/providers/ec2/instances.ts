// Reading, waiting for and terminating EC2 instances. Lookups go by tag (what a crashed step bought
// but never recorded is found too) and by instance-id filter (which, unlike InstanceIds, does not
// fail the whole call when one id is unknown).
import {
  DescribeInstancesCommand, StartInstancesCommand, TerminateInstancesCommand, type EC2Client, type Filter, type Instance,
} from '@aws-sdk/client-ec2';
import { ProviderError, type ProviderErrorCategory } from '../provider';
import { asProviderError, withBackoff } from './errors';
import { chunks } from '../boundedMap';
import { pause } from '../pause';
import { TAG_CLUSTER, TAG_NODE, tagValue } from './tags';

/** What a call may say along the way and when it must stop waiting. */
export interface CallContext {
  note?: (message: string) => Promise<void>;
  signal?: AbortSignal;
}

export interface WaitTiming {
  pollIntervalMs: number;
  waitTimeoutMs: number;
}

/** One instance as this provider sees it. */
export interface InstanceView {
  instanceId: string;
  state: string;
  clusterId?: string;
  nodeId?: string;
  instanceType?: string;
  publicIp?: string;
  privateIp?: string;
  spot: boolean;
  stateReason?: { code?: string; message?: string };
}

/** Filter values per call: EC2 takes up to 200 values in one filter. */
const FILTER_VALUES = 200;
/** Instance ids per TerminateInstances / DescribeInstances(InstanceIds) call. */
const IDS_PER_CALL = 500;

export function viewOf(instance: Instance): InstanceView {
  return {
    instanceId: instance.InstanceId ?? '',
    state: instance.State?.Name ?? 'unknown',
    clusterId: tagValue(instance.Tags, TAG_CLUSTER),
    nodeId: tagValue(instance.Tags, TAG_NODE),
    instanceType: instance.InstanceType,
    publicIp: instance.PublicIpAddress || undefined,
    privateIp: instance.PrivateIpAddress || undefined,
    spot: instance.InstanceLifecycle === 'spot',
    stateReason: instance.StateReason ? { code: instance.StateReason.Code, message: instance.StateReason.Message } : undefined,
  };
}

/** Still there and costing (or about to): what a rerun reuses instead of buying again. */
export function isLive(view: Pick<InstanceView, 'state'>): boolean {
  return view.state !== 'terminated' && view.state !== 'shutting-down';
}

/** Every instance matching the filters, all pages (an empty NextToken is the last page). */
export async function describeInstances(ec2: EC2Client, filters: Filter[], context: CallContext = {}): Promise<InstanceView[]> {
  const views: InstanceView[] = [];
  let nextToken: string | undefined;
  do {
    const page = await withBackoff('DescribeInstances',
      () => ec2.send(new DescribeInstancesCommand({ Filters: filters, NextToken: nextToken, MaxResults: 1000 }), { abortSignal: context.signal }),
      context);
    for (const reservation of page.Reservations ?? []) for (const instance of reservation.Instances ?? []) views.push(viewOf(instance));
    nextToken = page.NextToken || undefined;
  } while (nextToken !== undefined);
  return views;
}

/** Every instance tagged with the cluster, whatever its state. */
export function clusterInstances(ec2: EC2Client, clusterId: string, context: CallContext = {}): Promise<InstanceView[]> {
  return describeInstances(ec2, [{ Name: `tag:${TAG_CLUSTER}`, Values: [clusterId] }], context);
}

/** Instances by id; ids EC2 no longer lists are simply absent. */
export async function instancesById(ec2: EC2Client, ids: readonly string[], context: CallContext = {}): Promise<InstanceView[]> {
  const views: InstanceView[] = [];
  for (const piece of chunks(ids, FILTER_VALUES)) {
    views.push(...await describeInstances(ec2, [{ Name: 'instance-id', Values: piece }], context));
  }
  return views;
}

/** A node's instances by tag, grouped by node id. */
export function byNode(views: readonly InstanceView[]): Map<string, InstanceView[]> {
  const grouped = new Map<string, InstanceView[]>();
  for (const view of views) {
    if (view.nodeId === undefined) continue;
    const list = grouped.get(view.nodeId) ?? [];
    list.push(view);
    grouped.set(view.nodeId, list);
  }
  return grouped;
}

const PREFERENCE = ['running', 'pending', 'stopping', 'stopped'];

/** The node's instance worth keeping (running over pending over stopped); undefined if none is live. */
export function bestLive(views: readonly InstanceView[] | undefined): InstanceView | undefined {
  const live = (views ?? []).filter(isLive);
  live.sort((a, b) => rank(a.state) - rank(b.state));
  return live[0];
}

function rank(state: string): number {
  const i = PREFERENCE.indexOf(state);
  return i < 0 ? PREFERENCE.length : i;
}

export function addressOf(view: InstanceView, publicIp: boolean): string | undefined {
  return publicIp ? view.publicIp : view.privateIp;
}

/**
 * Polls (one DescribeInstances per poll for all ids still waited for) until each instance runs and
 * has the address the cluster will use. EC2 may not list an instance for a moment after launch
 * (InvalidInstanceID.NotFound): that is a poll to repeat. An instance that ends meanwhile fails
 * the wait with its state reason. A stopped one (a rerun found it so) is started.
 */
export async function waitUntilRunning(
  ec2: EC2Client, ids: readonly string[], publicIp: boolean, timing: WaitTiming, context: CallContext = {},
): Promise<Map<string, InstanceView>> {
  const ready = new Map<string, InstanceView>();
  const started = new Set<string>();
  let waiting = [...new Set(ids)];
  const deadline = Date.now() + timing.waitTimeoutMs;
  let last = new Map<string, string>();
  for (;;) {
    const seen = await describeByIds(ec2, waiting, context);
    if (seen !== undefined) {
      last = new Map(seen.map((v) => [v.instanceId, v.state]));
      for (const view of seen) {
        if (view.state === 'running' && addressOf(view, publicIp) !== undefined) ready.set(view.instanceId, view);
        else if (!isLive(view)) throw endedWhileWaiting(view);
        else if (view.state === 'stopped' && !started.has(view.instanceId)) {
          started.add(view.instanceId);
          await context.note?.(`instance ${view.instanceId} was stopped: starting it`);
          await withBackoff('StartInstances',
            () => ec2.send(new StartInstancesCommand({ InstanceIds: [view.instanceId] }), { abortSignal: context.signal }), context);
        }
      }
      waiting = waiting.filter((id) => !ready.has(id));
    }
    if (waiting.length === 0) return ready;
    if (Date.now() >= deadline) {
      const states = waiting.map((id) => `${id} ${last.get(id) ?? 'not listed yet'}`).join(', ');
      const why = publicIp ? ' (or running without a public address)' : '';
      throw new ProviderError('transient',
        `instances not running${why} after ${Math.round(timing.waitTimeoutMs / 1000)} s: ${states}`, 'WaitTimeout');
    }
    await pause(timing.pollIntervalMs, context.signal, 'waiting for instances to run');
  }
}

/** DescribeInstances by InstanceIds; undefined when EC2 does not list one of them yet. */
async function describeByIds(ec2: EC2Client, ids: readonly string[], context: CallContext): Promise<InstanceView[] | undefined> {
  const views: InstanceView[] = [];
  for (const piece of chunks(ids, IDS_PER_CALL)) {
    try {
      const out = await withBackoff('DescribeInstances',
        () => ec2.send(new DescribeInstancesCommand({ InstanceIds: piece }), { abortSignal: context.signal }), context);
      for (const reservation of out.Reservations ?? []) for (const instance of reservation.Instances ?? []) views.push(viewOf(instance));
    } catch (error) {
      if (asProviderError(error).code === 'InvalidInstanceID.NotFound') return undefined;
      throw error;
    }
  }
  return views;
}

/** Why an instance we waited for is gone, as a ProviderError the workflow can act on. */
function endedWhileWaiting(view: InstanceView): ProviderError {
  const code = view.stateReason?.code;
  const reason = view.stateReason?.message ?? code ?? 'no reason given';
  return new ProviderError(categoryOfStateReason(code), `instance ${view.instanceId} went ${view.state} while starting: ${reason}`, code);
}

/** State reason codes (Server.InsufficientInstanceCapacity, Server.SpotInstanceTermination, Client.VolumeLimitExceeded...). */
export function categoryOfStateReason(code: string | undefined): ProviderErrorCategory {
  if (code === undefined) return 'transient';
  if (/InsufficientInstanceCapacity|Spot/.test(code)) return 'capacity';
  if (/LimitExceeded/.test(code)) return 'quota';
  if (/InvalidSnapshot|NotFound/.test(code)) return 'bad_request';
  return 'transient';
}

export interface Termination {
  instanceId: string;
  /** The state the instance was in when we asked (terminated: it was gone already). */
  was: string;
  /** When we saw it terminated. */
  at: Date;
}

/** Terminates the instances and waits until EC2 reports each terminated (or no longer lists it). */
export async function terminateAndWait(
  ec2: EC2Client, views: readonly InstanceView[], timing: WaitTiming, context: CallContext = {},
): Promise<Map<string, Termination>> {
  const was = new Map(views.map((v) => [v.instanceId, v.state]));
  const toEnd = views.filter((v) => v.state !== 'terminated').map((v) => v.instanceId);
  await requestTermination(ec2, toEnd, context);
  const done = new Map<string, Termination>();
  for (const view of views) if (view.state === 'terminated') done.set(view.instanceId, { instanceId: view.instanceId, was: 'terminated', at: new Date() });
  let waiting = toEnd;
  const deadline = Date.now() + timing.waitTimeoutMs;
  while (waiting.length > 0) {
    const seen = new Map((await instancesById(ec2, waiting, context)).map((v) => [v.instanceId, v]));
    for (const id of waiting) {
      const state = seen.get(id)?.state;
      if (state === undefined || state === 'terminated') done.set(id, { instanceId: id, was: was.get(id) ?? 'unknown', at: new Date() });
    }
    waiting = waiting.filter((id) => !done.has(id));
    if (waiting.length === 0) break;
    if (Date.now() >= deadline) {
      throw new ProviderError('transient',
        `instances not terminated after ${Math.round(timing.waitTimeoutMs / 1000)} s: ${waiting.map((id) => `${id} ${seen.get(id)?.state}`).join(', ')}`,
        'WaitTimeout');
    }
    await pause(timing.pollIntervalMs, context.signal, 'waiting for instances to terminate');
  }
  return done;
}

/** Asks EC2 to terminate the instances, without waiting. Ids EC2 does not know are skipped. */
export async function requestTermination(ec2: EC2Client, ids: readonly string[], context: CallContext = {}): Promise<void> {
  for (const piece of chunks(ids, IDS_PER_CALL)) {
    try {
      await withBackoff('TerminateInstances',
        () => ec2.send(new TerminateInstancesCommand({ InstanceIds: piece }), { abortSignal: context.signal }), context);
    } catch (error) {
      // One id already gone fails the call: end the others one by one.
      if (asProviderError(error).code !== 'InvalidInstanceID.NotFound') throw error;
      for (const id of piece) await terminateOne(ec2, id, context);
    }
  }
}

async function terminateOne(ec2: EC2Client, instanceId: string, context: CallContext): Promise<void> {
  try {
    await withBackoff('TerminateInstances',
      () => ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }), { abortSignal: context.signal }), context);
  } catch (error) {
    if (asProviderError(error).code !== 'InvalidInstanceID.NotFound') throw error;
  }
}

/** Proof that an instance no longer costs anything. */
export function terminationProof(termination: Termination): string {
  return `instance ${termination.instanceId} terminated at ${termination.at.toISOString()} (was ${termination.was})`;
}
