// Service Quotas (awsJson1_1): GetServiceQuota answers with the Quota object shaped like the
// aws-cli example for ec2 / L-1216C47A; values come from the double's options.
import { ApiError, required, type Params } from './wire';

export type JsonValue = string | number | boolean | null | undefined | JsonValue[] | { [key: string]: JsonValue };
export type QuotasHandler = (params: Params) => { [key: string]: JsonValue };

const QUOTA_NAMES: Record<string, string> = {
  'L-1216C47A': 'Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances',
  'L-34B43A08': 'All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests',
};

const SERVICE_NAMES: Record<string, string> = {
  ec2: 'Amazon Elastic Compute Cloud (Amazon EC2)',
  cloudformation: 'AWS CloudFormation',
};

export function quotasHandlers(region: string, quotas: Record<string, number>): Record<string, QuotasHandler> {
  const quota = (params: Params): { [key: string]: JsonValue } => {
    const serviceCode = required(params, 'ServiceCode');
    const quotaCode = required(params, 'QuotaCode');
    const value = quotas[quotaCode];
    if (value === undefined) throw new ApiError('NoSuchResourceException', `The request failed because the specified quota ${quotaCode} does not exist for service ${serviceCode}.`);
    const isVcpuQuota = quotaCode in QUOTA_NAMES;
    return {
      Quota: {
        ServiceCode: serviceCode,
        ServiceName: SERVICE_NAMES[serviceCode] ?? serviceCode,
        QuotaArn: `arn:aws:servicequotas:${region}:123456789012:${serviceCode}/${quotaCode}`,
        QuotaCode: quotaCode,
        QuotaName: QUOTA_NAMES[quotaCode] ?? `Quota ${quotaCode}`,
        Value: value,
        Unit: 'None',
        Adjustable: true,
        GlobalQuota: false,
        UsageMetric: isVcpuQuota ? {
          MetricNamespace: 'AWS/Usage',
          MetricName: 'ResourceCount',
          MetricDimensions: {
            Class: quotaCode === 'L-34B43A08' ? 'Standard/Spot' : 'Standard/OnDemand',
            Resource: 'vCPU',
            Service: 'EC2',
            Type: 'Resource',
          },
          MetricStatisticRecommendation: 'Maximum',
        } : undefined,
      },
    };
  };
  return { GetServiceQuota: quota, GetAWSDefaultServiceQuota: quota };
}
