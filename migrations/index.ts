// The ordered list of migrations. Listing them explicitly (rather than reading a folder) makes the
// same code run from ts-jest and from the compiled dist/ alike.
import type { Knex } from 'knex';
import * as m001 from './001_initial_schema';
import * as m002 from './002_workflows';
import * as m003 from './003_gateway_keys';
import * as m004 from './004_job_event_outbox';
import * as m005 from './005_applications';
import * as m006 from './006_dispatch_attempts';
import * as m007 from './007_outbox_parking';
import * as m008 from './008_job_spec_bytes';
import * as m009 from './009_application_prefix_unique';
import * as m010 from './010_host_keys';
import * as m011 from './011_dispatch_claims';
import * as m012 from './012_outbox_drain_lease';
import * as m013 from './013_cluster_busy_cpus';
import * as m014 from './014_jobs_cluster_updated';
import * as m015 from './015_secrets_key_check';
import * as m016 from './016_cluster_keys';
import * as m017 from './017_hpc_sites';
import * as m018 from './018_node_health';
import * as m019 from './019_cancel_requests';

export interface Migration {
  name: string;
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

export const MIGRATIONS: readonly Migration[] = [
  { name: '001_initial_schema', ...m001 },
  { name: '002_workflows', ...m002 },
  { name: '003_gateway_keys', ...m003 },
  { name: '004_job_event_outbox', ...m004 },
  { name: '005_applications', ...m005 },
  { name: '006_dispatch_attempts', ...m006 },
  { name: '007_outbox_parking', ...m007 },
  { name: '008_job_spec_bytes', ...m008 },
  { name: '009_application_prefix_unique', ...m009 },
  { name: '010_host_keys', ...m010 },
  { name: '011_dispatch_claims', ...m011 },
  { name: '012_outbox_drain_lease', ...m012 },
  { name: '013_cluster_busy_cpus', ...m013 },
  { name: '014_jobs_cluster_updated', ...m014 },
  { name: '015_secrets_key_check', ...m015 },
  { name: '016_cluster_keys', ...m016 },
  { name: '017_hpc_sites', ...m017 },
  { name: '018_node_health', ...m018 },
  { name: '019_cancel_requests', ...m019 },
];
