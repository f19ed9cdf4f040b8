// The Slurm cluster kind: playbooks/slurm.yml builds it, slurm_teardown.yml undoes it, app.yml
// installs applications, sinfo + srun prove it, and SlurmScheduler runs its jobs.
import { CLUSTER_CAPABILITIES } from '../../domain/capabilities';
import type { FieldError } from '../../domain/errors';
import type { Cluster, ClusterNode, ClusterSpec } from '../../domain/types';
import type { CommandRunner } from '../../exec/commandRunner';
import type { Logger } from '../../log';
import type { Scheduler } from '../../schedulers/scheduler';
import { SlurmScheduler } from '../../schedulers/slurm';
import type { ClusterKindDriver, VerifyResult } from '../kind';
import { leavingInventory, slurmInventory } from './inventory';
import { slurmNodeName } from './nodeName';
import { clusterOptionErrors, slurmExtraVars } from './options';
import { verifySlurm, type SlurmVerifyOptions } from './verify';

export interface SlurmKindOptions {
  log: Logger;
  verify?: SlurmVerifyOptions;
}

export class SlurmKind implements ClusterKindDriver {
  readonly kind = 'SLURM' as const;
  readonly capabilities = CLUSTER_CAPABILITIES.SLURM;
  readonly playbooks = { configure: 'slurm.yml', teardown: 'slurm_teardown.yml', application: 'app.yml' };

  constructor(private readonly options: SlurmKindOptions) {}

  validate(spec: ClusterSpec): FieldError[] {
    return [...clusterOptionErrors(spec), ...sameNodeNameErrors(spec)];
  }

  inventory(cluster: Cluster) {
    return slurmInventory(cluster);
  }

  leavingInventory(cluster: Cluster, leaving: readonly ClusterNode[]) {
    return leavingInventory(cluster, leaving);
  }

  extraVars(cluster: Cluster): Record<string, unknown> {
    return slurmExtraVars(cluster);
  }

  drainVars(leaving: readonly ClusterNode[]): Record<string, unknown> {
    // slurm.yml, run without these nodes in the inventory, drains them while slurmctld and slurm.conf
    // still list them and waits for their jobs to end, before it writes the slurm.conf without them.
    return { slurm_drain_nodes: leaving.map((n) => slurmNodeName(n)) };
  }

  verify(cluster: Cluster, controller: CommandRunner): Promise<VerifyResult> {
    return verifySlurm(cluster, controller, this.options.verify);
  }

  scheduler(_cluster: Cluster, controller: CommandRunner): Scheduler {
    return new SlurmScheduler({ runner: controller, log: this.options.log });
  }
}

/** At most this many hosts are named; the rest are counted (a reply stays small). */
const NAMED_HOSTS = 5;

/**
 * Two hosts that would become one Slurm node: the node name is the address with every character
 * but letters, digits and "-" made "-" (so 10.0.0.1 and 10-0-0-1 collide), and Slurm does not tell
 * node names apart by case. (A host listed twice is refused by request validation already.)
 */
function sameNodeNameErrors(spec: ClusterSpec): FieldError[] {
  const errors: FieldError[] = [];
  const seen = new Map<string, number>();
  let more = 0;
  (spec.hosts ?? []).forEach((host, i) => {
    const name = slurmNodeName(host).toLowerCase();
    const first = seen.get(name);
    if (first === undefined) {
      seen.set(name, i);
    } else if ((spec.hosts ?? [])[first].address.toLowerCase() !== host.address.toLowerCase()) {
      if (errors.length >= NAMED_HOSTS) {
        more += 1;
        return;
      }
      errors.push({
        field: `spec.hosts[${i}].address`,
        message: `${JSON.stringify(host.address.slice(0, 40))} would be the same Slurm node as hosts[${first}] (node name ${JSON.stringify(slurmNodeName(host))})`,
      });
    }
  });
  if (more > 0) errors.push({ field: 'spec.hosts', message: `and ${more.toLocaleString('en-US')} more hosts that share a Slurm node name` });
  return errors;
}
