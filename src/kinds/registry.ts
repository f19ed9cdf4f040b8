// Cluster kinds by ClusterKind. The composition root registers what this service can build.
import type { ClusterKind } from '../domain/types';
import { DriverRegistry } from '../drivers/registry';
import type { ClusterKindDriver } from './kind';
import { MesosMarathonKind, type MesosKindOptions } from './mesos_marathon/mesosMarathonKind';
import { SlurmKind, type SlurmKindOptions } from './slurm/slurmKind';

export type KindRegistry = DriverRegistry<ClusterKind, ClusterKindDriver>;

export function kindRegistry(): KindRegistry {
  return new DriverRegistry<ClusterKind, ClusterKindDriver>('cluster kind', 'spec.kind');
}

/** The kinds this version carries. */
export function defaultKinds(options: { slurm: SlurmKindOptions; mesos: MesosKindOptions }): KindRegistry {
  return kindRegistry()
    .register('SLURM', new SlurmKind(options.slurm))
    .register('MESOS_MARATHON', new MesosMarathonKind(options.mesos));
}
