// Pre-flight vCPU check: EC2 limits running instances per family bucket in vCPUs (Service Quotas
// L-1216C47A for on-demand standard types, L-34B43A08 for standard spot requests). A cluster that
// cannot fit is refused before anything is recorded; a check that cannot be made is no refusal.
import { DescribeInstanceTypesCommand, type _InstanceType, type EC2Client } from '@aws-sdk/client-ec2';
import { GetServiceQuotaCommand, type ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import type { FieldError } from '../../domain/errors';
import type { QuotaCheck } from '../provider';
import { chunks } from '../boundedMap';
import { asProviderError, withBackoff } from './errors';
import { describeInstances } from './instances';

interface VcpuQuota {
  code: string;
  name: string;
}

export const ON_DEMAND_STANDARD: VcpuQuota = { code: 'L-1216C47A', name: 'Running On-Demand Standard instances' };
export const SPOT_STANDARD: VcpuQuota = { code: 'L-34B43A08', name: 'All Standard Spot Instance Requests' };

// The standard bucket: families A, C, D, H, I, M, R, T, Z (im4gn, is4gen among the I). Look-alikes
// with buckets of their own (dl, hpc, inf, mac, trn) have no digit after their first letter.
const STANDARD_FAMILY = /^(a|c|d|h|i|im|is|m|r|t|z)\d/;

export function isStandardType(instanceType: string): boolean {
  return STANDARD_FAMILY.test(instanceType);
}

/** Types per DescribeInstanceTypes call. */
const TYPES_PER_CALL = 100;
/** A pre-flight check answers an RPC: a short retry, not a long wait. */
const QUICK = { attempts: 2, baseMs: 200 };

export interface QuotaInputs {
  ec2: EC2Client;
  quotas: ServiceQuotasClient;
  instanceType: string;
  nodes: number;
  spot: boolean;
}

export async function checkVcpuQuota(input: QuotaInputs): Promise<QuotaCheck> {
  const { ec2, instanceType, nodes } = input;
  let wantedVcpus: number | undefined;
  try {
    wantedVcpus = (await vcpusOf(ec2, [instanceType])).get(instanceType);
  } catch (error) {
    const failure = asProviderError(error);
    if (failure.code === 'InvalidInstanceType' || (failure.code === 'InvalidParameterValue' && failure.message.includes(instanceType))) {
      return { needed: { instances: nodes }, errors: [{ field: 'spec.providerOptions.instanceTypes', message: `${instanceType}: ${failure.message}` }] };
    }
    // Not allowed to look (or EC2 not answering): the launch will tell.
    return { needed: { instances: nodes }, errors: [] };
  }
  if (wantedVcpus === undefined) return { needed: { instances: nodes }, errors: [] };
  const needed = { instances: nodes, vCPUs: nodes * wantedVcpus };
  if (!isStandardType(instanceType)) return { needed, errors: [] };

  const quota = input.spot ? SPOT_STANDARD : ON_DEMAND_STANDARD;
  const limit = await quotaValue(input.quotas, quota.code);
  if (limit === undefined) return { needed, errors: [] };
  let running: number;
  try {
    running = await runningStandardVcpus(ec2, input.spot);
  } catch {
    return { needed, errors: [] };
  }
  const available = Math.max(0, Math.floor(limit) - running);
  const errors: FieldError[] = [];
  if (needed.vCPUs > available) {
    errors.push({
      field: 'spec.workerCount',
      message: `needs ${needed.vCPUs} vCPUs of ${instanceType} but quota ${quota.code} (${quota.name}) is ${Math.floor(limit)} vCPUs `
        + `with ${running} running: ${available} available`,
    });
  }
  return { needed, available: { vCPUs: available }, errors };
}

/** The quota's applied value, or undefined when Service Quotas will not say (denied, unknown, down). */
async function quotaValue(quotas: ServiceQuotasClient, quotaCode: string): Promise<number | undefined> {
  try {
    const out = await withBackoff(`GetServiceQuota ${quotaCode}`,
      () => quotas.send(new GetServiceQuotaCommand({ ServiceCode: 'ec2', QuotaCode: quotaCode })), QUICK);
    return out.Quota?.Value;
  } catch {
    return undefined;
  }
}

/** vCPUs of the account's pending and running standard instances of one market, in this region. */
async function runningStandardVcpus(ec2: EC2Client, spot: boolean): Promise<number> {
  const instances = (await describeInstances(ec2, [{ Name: 'instance-state-name', Values: ['pending', 'running'] }]))
    .filter((view) => view.spot === spot && view.instanceType !== undefined && isStandardType(view.instanceType));
  if (instances.length === 0) return 0;
  const perType = await vcpusOf(ec2, [...new Set(instances.map((view) => view.instanceType as string))]);
  return instances.reduce((sum, view) => sum + (perType.get(view.instanceType as string) ?? 0), 0);
}

async function vcpusOf(ec2: EC2Client, types: readonly string[]): Promise<Map<string, number>> {
  const vcpus = new Map<string, number>();
  for (const piece of chunks(types, TYPES_PER_CALL)) {
    let nextToken: string | undefined;
    do {
      const out = await withBackoff('DescribeInstanceTypes',
        () => ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: piece as _InstanceType[], NextToken: nextToken })), QUICK);
      for (const info of out.InstanceTypes ?? []) {
        if (info.InstanceType !== undefined && info.VCpuInfo?.DefaultVCpus !== undefined) vcpus.set(info.InstanceType, info.VCpuInfo.DefaultVCpus);
      }
      nextToken = out.NextToken || undefined;
    } while (nextToken !== undefined);
  }
  return vcpus;
}
