// Providers by ProviderType. The composition root registers what this service can provision.
import type { ProviderType } from '../domain/types';
import { DriverRegistry } from '../drivers/registry';
import type { Provider } from './provider';
import { StaticProvider } from './static/staticProvider';

export type ProviderRegistry = DriverRegistry<ProviderType, Provider>;

export function providerRegistry(): ProviderRegistry {
  return new DriverRegistry<ProviderType, Provider>('provider', 'spec.provider');
}

/** The providers this version carries. */
export function defaultProviders(): ProviderRegistry {
  return providerRegistry().register('STATIC', new StaticProvider());
}
