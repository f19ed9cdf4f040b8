// One client per clouds.yaml entry, made on first use and kept: its token is reused until it is
// about to expire. A cloud the configuration does not have is the operator's to fix (auth category).
import { ProviderError } from '../provider';
import { loadCloudConfig, OpenStackClient, OpenStackConfigError } from './client/index';

export type CloudClients = (cloud: string) => OpenStackClient;

export function cloudClients(): CloudClients {
  const clients = new Map<string, OpenStackClient>();
  return (cloud) => {
    let client = clients.get(cloud);
    if (client === undefined) {
      try {
        client = new OpenStackClient(loadCloudConfig({ cloud }));
      } catch (error) {
        if (error instanceof OpenStackConfigError) throw new ProviderError('auth', `cloud '${cloud}': ${error.message}`, 'ConfigError');
        throw error;
      }
      clients.set(cloud, client);
    }
    return client;
  };
}
