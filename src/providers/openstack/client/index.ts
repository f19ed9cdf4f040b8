// The OpenStack client the OPENSTACK provider builds on: one session (one token, one HTTP policy)
// shared by a client per service. Only what the provider uses is here.
import { loadCloudConfig, type CloudConfig, type ConfigSearchOptions } from './config';
import { GlanceClient } from './glance';
import { HeatClient } from './heat';
import { NeutronClient } from './neutron';
import { DEFAULT_COMPUTE_MICROVERSION, NovaClient } from './nova';
import { OpenStackSession, type SessionOptions } from './session';

export interface OpenStackClientOptions extends SessionOptions {
  /** Compute microversion; else the cloud config's compute_api_version, else 2.37. */
  computeMicroversion?: string;
}

export class OpenStackClient {
  readonly session: OpenStackSession;
  readonly nova: NovaClient;
  readonly glance: GlanceClient;
  readonly neutron: NeutronClient;
  readonly heat: HeatClient;

  constructor(readonly config: CloudConfig, options: OpenStackClientOptions = {}) {
    this.session = new OpenStackSession(config, options);
    this.nova = new NovaClient(this.session, options.computeMicroversion ?? config.computeMicroversion ?? DEFAULT_COMPUTE_MICROVERSION);
    this.glance = new GlanceClient(this.session);
    this.neutron = new NeutronClient(this.session);
    this.heat = new HeatClient(this.session);
  }

  /** A client for the cloud the environment names (clouds.yaml + OS_CLOUD, or OS_* variables). */
  static fromEnvironment(search: ConfigSearchOptions = {}, options: OpenStackClientOptions = {}): OpenStackClient {
    return new OpenStackClient(loadCloudConfig(search), options);
  }
}

export * from './config';
export * from './errors';
export * from './glance';
export * from './heat';
export * from './http';
export * from './keystone';
export * from './neutron';
export * from './nova';
export * from './session';
export { nextPageQuery } from './wire';
