// Slurm on an HPC system we do not own: the site's own Slurm, used as it is, over one SSH
// connection to the login host as the site account. Nothing is built, so no playbook ever runs:
// the proof is proveSite, and the scheduler submits as that account (no runuser: we are it),
// charges the allocation, loads the site's modules, keeps job directories in the account's
// scratch, asks squeue about our own jobs only, and reads final states from sacct or from the
// exit record each script writes.
import { CLUSTER_CAPABILITIES } from '../../domain/capabilities';
import { choosePartition, needsOf } from '../../domain/placement';
import type { FieldError } from '../../domain/errors';
import type { Cluster, ClusterNode, ClusterSpec } from '../../domain/types';
import type { CommandRunner } from '../../exec/commandRunner';
import type { ClusterKindDriver, VerifyResult } from '../../kinds/kind';
import type { Logger } from '../../log';
import type { Scheduler } from '../../schedulers/scheduler';
import { SlurmScheduler } from '../../schedulers/slurm';
import { SiteEnded } from '../../schedulers/slurm/siteEnded';
import { parseHpcOptions, siteJobRoot, siteStatusDir, type HpcOptions } from './options';
import { proveSite } from './siteProof';

export interface SiteDriverOptions {
  log: Logger;
  /** How long a job may be missing from the site's queue with no record before it is reported lost. */
  missingGraceMs?: number;
}

/** Why a playbook can never run on an HPC system (the workflow never asks: see Provider.siteDriver). */
const NO_PLAYBOOK = 'the site configures its own Slurm; the service runs no playbook there';

export class SiteSlurmDriver implements ClusterKindDriver {
  readonly kind = 'SLURM' as const;
  readonly capabilities = CLUSTER_CAPABILITIES.SLURM;
  readonly playbooks = { configure: NO_PLAYBOOK, teardown: NO_PLAYBOOK, application: NO_PLAYBOOK };

  constructor(private readonly options: SiteDriverOptions) {}

  validate(spec: ClusterSpec): FieldError[] {
    return Object.keys(spec.clusterOptions ?? {}).map((key) => ({
      field: `spec.clusterOptions[${JSON.stringify(key.slice(0, 40))}]`, message: 'an HPC system is configured by its site; it takes no clusterOptions',
    }));
  }

  inventory(): never {
    throw new Error(NO_PLAYBOOK);
  }

  leavingInventory(): never {
    throw new Error(NO_PLAYBOOK);
  }

  extraVars(): Record<string, unknown> {
    return {};
  }

  drainVars(_leaving: readonly ClusterNode[]): Record<string, unknown> {
    return {};
  }

  verify(cluster: Cluster, login: CommandRunner): Promise<VerifyResult> {
    return proveSite(optionsOf(cluster), login, loginAddress(cluster));
  }

  scheduler(cluster: Cluster, login: CommandRunner): Scheduler {
    const options = optionsOf(cluster);
    const ended = new SiteEnded({
      runner: login, log: this.options.log, statusDir: siteStatusDir(options), accounting: cluster.site?.accounting ?? false,
      timeoutMs: 60_000, ...(this.options.missingGraceMs === undefined ? {} : { missingGraceMs: this.options.missingGraceMs }),
    });
    return new SlurmScheduler({
      runner: login,
      log: this.options.log,
      switchUser: false,
      defaultPartition: options.partitions[0],
      sbatchExtra: options.account ? [`--account=${options.account}`] : [],
      ownJobsOnly: true,
      jobRoot: siteJobRoot(options),
      ended,
      cancelMarker: (nativeJobId) => ended.cancelMarker(nativeJobId),
      // The partition placement judged the job by: the best fit among the proven ones.
      partitionFor: (job) => (cluster.site
        ? choosePartition({ clusterId: cluster.clusterId, name: cluster.name, kind: cluster.kind, nodes: [], busyCpus: 0, partitions: cluster.site.partitions }, needsOf(job.spec))?.name
        : undefined),
      site: { modules: options.modules, environment: options.environment, exitFile: (jobId) => ended.exitFile(jobId) },
    });
  }
}

export function optionsOf(cluster: Pick<Cluster, 'spec'>): HpcOptions {
  const { options, errors } = parseHpcOptions(cluster.spec);
  // The spec was validated when it was recorded; a stored spec that no longer parses is a bug.
  if (!options) throw new Error(`stored HPC options do not parse: ${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`);
  return options;
}

function loginAddress(cluster: Cluster): string {
  return cluster.spec.hosts?.[0]?.address ?? cluster.nodes[0]?.address ?? 'login host';
}
