// Providers by ProviderType. The composition root registers what this service can provision.
import type { ProviderType } from '../domain/types';
import { DriverRegistry } from '../drivers/registry';
import type { Provider } from './provider';
import { Ec2Provider } from './ec2/ec2Provider';
import { CloudFormationStacks } from './ec2/stack';
import { StaticProvider } from './static/staticProvider';

export type ProviderRegistry = DriverRegistry<ProviderType, Provider>;

export function providerRegistry(): ProviderRegistry {
  return new DriverRegistry<ProviderType, Provider>('provider', 'spec.provider');
}

export interface ProviderSettings {
  /** AWS_REGION: EC2 clusters whose providerOptions name no region use it. */
  awsRegion?: string;
  ec2PollIntervalMs?: number;
}

/** The providers this version carries. */
export function defaultProviders(settings: ProviderSettings = {}): ProviderRegistry {
  return providerRegistry()
    .register('STATIC', new StaticProvider())
    .register('EC2', new Ec2Provider({
      defaultRegion: settings.awsRegion, pollIntervalMs: settings.ec2PollIntervalMs, stack: new CloudFormationStacks({ pollIntervalMs: settings.ec2PollIntervalMs }),
    }));
}
