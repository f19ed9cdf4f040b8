// Which clusterOptions a Slurm cluster takes, and how they reach the playbook. Only tunables named here
// pass (as the role defaults of the same name); anything else is refused at createCluster.
import type { FieldError } from '../../domain/errors';
import type { Cluster, ClusterSpec } from '../../domain/types';
import { tunableErrors } from '../tunables';

const IPV4 = '((25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.){3}(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const CIDR = `${IPV4}/(3[0-2]|[12]?\\d)`;

const SLURM_TUNABLES: Record<string, RegExp> = {
  slurm_partition_name: /^[A-Za-z0-9_.-]{1,64}$/,
  slurm_partition_max_time: /^(INFINITE|UNLIMITED|\d{1,7}|\d+-\d{1,2}(:\d{2}){0,2})$/,
  slurm_min_job_age: /^\d{1,6}$/,
  // Jobs slurmctld holds at once (live, plus ended ones for MinJobAge); Slurm's default is 10000.
  slurm_max_job_count: /^[1-9]\d{0,6}$/,
  slurm_def_mem_per_cpu: /^\d{1,7}$/,
  slurm_mem_reserve_mb: /^\d{1,7}$/,
  slurm_return_to_service: /^[0-2]$/,
  slurm_proctrack_type: /^proctrack\/[a-z_]{1,32}$/,
  slurm_task_plugin: /^task\/[a-z_,/]{1,64}$/,
  slurm_select_type_parameters: /^[A-Za-z_,]{1,64}$/,
  slurm_slurmd_timeout: /^\d{1,6}$/,
  // Networks Open MPI may use between nodes (the openmpi role writes them system-wide).
  openmpi_tcp_networks: new RegExp(`^${CIDR}(,${CIDR}){0,15}$`),
  // The address other hosts reach slurmctld at: the controller host's slurm_node_addr (not an extra var).
  slurm_controller_addr: new RegExp(`^${IPV4}$`),
};

/** Options that become host vars of one host rather than extra vars of every run. */
const HOST_OPTIONS: ReadonlySet<string> = new Set(['slurm_controller_addr']);

export function clusterOptionErrors(spec: Pick<ClusterSpec, 'clusterOptions'>, prefix = 'spec.clusterOptions'): FieldError[] {
  return tunableErrors(SLURM_TUNABLES, spec, prefix);
}

/** The Slurm kind's extra vars: the cluster's Slurm name and the tunables it was given. */
export function slurmExtraVars(cluster: Cluster): Record<string, unknown> {
  const vars: Record<string, unknown> = {
    slurm_cluster_name: cluster.name.toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 32) || 'metascheduler',
  };
  for (const [key, value] of Object.entries(cluster.spec.clusterOptions ?? {})) {
    if (Object.hasOwn(SLURM_TUNABLES, key) && !HOST_OPTIONS.has(key)) vars[key] = /^\d+$/.test(value) ? Number(value) : value;
  }
  return vars;
}
