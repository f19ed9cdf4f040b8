// Providers by ProviderType. The composition root registers what this service can provision.
import type { ProviderType } from '../domain/types';
import { DriverRegistry } from '../drivers/registry';
import type { Provider } from './provider';
import { Ec2Provider } from './ec2/ec2Provider';
import { CloudFormationStacks } from './ec2/stack';
import { OpenStackProvider } from './openstack/openstackProvider';
import { HpcProvider } from './hpc/hpcProvider';
import { StaticProvider } from './static/staticProvider';
import { createLogger, type Logger } from '../log';

export type ProviderRegistry = DriverRegistry<ProviderType, Provider>;

export function providerRegistry(): ProviderRegistry {
  return new DriverRegistry<ProviderType, Provider>('provider', 'spec.provider');
}

export interface ProviderSettings {
  /** AWS_REGION: EC2 clusters whose providerOptions name no region use it. */
  awsRegion?: string;
  ec2PollIntervalMs?: number;
  /** OPENSTACK_CLOUD: OpenStack clusters whose providerOptions name no cloud use it. */
  openstackCloud?: string;
  openstackPollIntervalMs?: number;
  /** Tests only: the server metadata entry that holds a node's address. */
  openstackAddressMetadataKey?: string;
  /** HPC systems: where their scheduler logs, and how long a job may vanish without a record. */
  hpc?: { log: Logger; missingGraceMs?: number };
}

/** The providers this version carries. */
export function defaultProviders(settings: ProviderSettings = {}): ProviderRegistry {
  return providerRegistry()
    .register('STATIC', new StaticProvider())
    .register('EC2', new Ec2Provider({
      defaultRegion: settings.awsRegion, pollIntervalMs: settings.ec2PollIntervalMs, stack: new CloudFormationStacks({ pollIntervalMs: settings.ec2PollIntervalMs }),
    }))
    .register('OPENSTACK', new OpenStackProvider({
      defaultCloud: settings.openstackCloud, pollIntervalMs: settings.openstackPollIntervalMs, addressMetadataKey: settings.openstackAddressMetadataKey,
    }))
    .register('HPC_PILOT', new HpcProvider(settings.hpc ?? { log: createLogger('silent') }));
}
