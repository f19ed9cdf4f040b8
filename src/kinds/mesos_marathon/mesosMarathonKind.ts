// The Mesos + Marathon cluster kind: playbooks/mesos_marathon.yml builds ZooKeeper, Mesos masters and
// agents, Marathon and Metronome; mesos_marathon_teardown.yml undoes it; app.yml installs
// applications. The proof before READY is verifyMesos. Jobs go to Metronome (BATCH: run to
// completion) or Marathon (SERVICE: kept running), over their REST APIs on the masters.
import { CLUSTER_CAPABILITIES } from '../../domain/capabilities';
import type { FieldError } from '../../domain/errors';
import type { Cluster, ClusterNode, ClusterSpec } from '../../domain/types';
import type { CommandRunner } from '../../exec/commandRunner';
import type { Logger } from '../../log';
import type { Scheduler } from '../../schedulers/scheduler';
import { MesosSchedulers } from '../../schedulers/mesos/mesosSchedulers';
import type { ClusterKindDriver, VerifyResult } from '../kind';
import { mastersOf, mesosInventory, mesosLeavingInventory } from './inventory';
import { mesosExtraVars, mesosOptionErrors, mesosPorts } from './options';
import { verifyMesos } from './verify';

export interface MesosKindOptions {
  log: Logger;
  /** Per HTTP call to Marathon or Metronome. */
  requestTimeoutMs?: number;
}

/** Masters a ZooKeeper ensemble beside them can have: an odd count, so a majority survives a loss. */
const MASTER_COUNTS = [1, 3, 5];

export class MesosMarathonKind implements ClusterKindDriver {
  readonly kind = 'MESOS_MARATHON' as const;
  readonly capabilities = CLUSTER_CAPABILITIES.MESOS_MARATHON;
  readonly playbooks = { configure: 'mesos_marathon.yml', teardown: 'mesos_marathon_teardown.yml', application: 'app.yml' };

  constructor(private readonly options: MesosKindOptions) {}

  validate(spec: ClusterSpec): FieldError[] {
    const errors = mesosOptionErrors(spec);
    const masters = (spec.hosts ?? []).filter((h) => h.roles?.includes('controller')).length;
    if (masters > 1 && !MASTER_COUNTS.includes(masters)) {
      errors.push({
        field: 'spec.hosts',
        message: `${masters} hosts have the controller role: a Mesos cluster has 1, 3 or 5 masters, each with a ZooKeeper member, so that a majority outlives a lost one`,
      });
    }
    return errors;
  }

  inventory(cluster: Cluster) {
    return mesosInventory(cluster);
  }

  leavingInventory(cluster: Cluster, leaving: readonly ClusterNode[]) {
    return mesosLeavingInventory(cluster, leaving);
  }

  extraVars(cluster: Cluster): Record<string, unknown> {
    return mesosExtraVars(cluster);
  }

  drainVars(): Record<string, unknown> {
    // Mesos has no drain that waits for batch work: a leaving agent's tasks end when it stops
    // (Metronome reports the run failed, Marathon starts the service elsewhere).
    return {};
  }

  verify(cluster: Cluster, controller: CommandRunner): Promise<VerifyResult> {
    return verifyMesos(cluster, controller);
  }

  scheduler(cluster: Cluster): Scheduler {
    const ports = mesosPorts(cluster);
    const hosts = mastersOf(cluster).map((n) => (n.address === 'localhost' ? '127.0.0.1' : n.address));
    const url = (host: string, port: number) => `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    return new MesosSchedulers({
      marathon: hosts.map((host) => url(host, ports.marathon)),
      metronome: hosts.map((host) => url(host, ports.metronome)),
      timeoutMs: this.options.requestTimeoutMs,
      log: this.options.log,
    });
  }
}
