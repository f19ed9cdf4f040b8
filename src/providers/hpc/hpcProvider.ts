// HPC_PILOT: an HPC system we neither own nor configure (a Comet- or Expanse-like machine behind a
// login host), registered with createCluster. Nothing is bought and nothing is released: the
// cluster is the login host, reached over SSH as the site account, and the site's own Slurm runs
// the jobs (SiteSlurmDriver). Pilots, placeholder jobs holding nodes of such a system, are
// requested with provisionResources (src/workflows/pilotWork.ts).
import type { FieldError } from '../../domain/errors';
import type { Cluster, ClusterKind, ClusterNode, ClusterSpec } from '../../domain/types';
import type { ClusterKindDriver } from '../../kinds/kind';
import type { AcquiredNode, NodeDescription, OwnedResource, PlannedNode, Provider, QuotaCheck, ReleaseProof } from '../provider';
import { parseHpcOptions } from './options';
import { SiteSlurmDriver, type SiteDriverOptions } from './siteDriver';

export class HpcProvider implements Provider {
  readonly type = 'HPC_PILOT' as const;
  readonly buysNodes = false;
  private readonly slurm: SiteSlurmDriver;

  constructor(options: SiteDriverOptions) {
    this.slurm = new SiteSlurmDriver(options);
  }

  /** (Request validation already requires exactly one host, the login host, with its sshUser.) */
  validate(spec: ClusterSpec): FieldError[] {
    const errors = [...parseHpcOptions(spec).errors];
    if (spec.kind !== 'SLURM') errors.push({ field: 'spec.kind', message: `an HPC_PILOT system runs its site's Slurm; kind ${spec.kind} is not supported there` });
    if (spec.workerCount !== undefined) errors.push({ field: 'spec.workerCount', message: "an HPC system's nodes are the site's; it takes no workerCount" });
    const roles = spec.hosts?.[0]?.roles;
    if (roles && roles.length > 0) errors.push({ field: 'spec.hosts[0].roles', message: 'the login host takes no roles' });
    return errors;
  }

  siteDriver(kind: ClusterKind): ClusterKindDriver | undefined {
    return kind === 'SLURM' ? this.slurm : undefined;
  }

  plan(spec: ClusterSpec): PlannedNode[] {
    const login = spec.hosts?.[0];
    if (!login) return [];
    return [{ address: login.address, roles: ['controller'], state: 'REQUESTED', sshUser: login.sshUser, sshPort: login.sshPort }];
  }

  async checkQuota(): Promise<QuotaCheck> {
    // The site's allocation is the site's to enforce; sbatch --test-only proves the account at registration.
    return { needed: {}, errors: [] };
  }

  async acquire(_cluster: Cluster, nodes: readonly ClusterNode[]): Promise<AcquiredNode[]> {
    return nodes.map((node) => ({ nodeId: node.nodeId, address: node.address }));
  }

  async describe(cluster: Cluster): Promise<NodeDescription[]> {
    return cluster.nodes.map((node) => ({ nodeId: node.nodeId, state: 'running', address: node.address }));
  }

  async release(_cluster: Cluster, nodes: readonly ClusterNode[]): Promise<ReleaseProof[]> {
    return nodes.map((node) => ({ nodeId: node.nodeId, proof: `HPC login host ${node.address}: unregistered; nothing at the site was ours to remove` }));
  }

  async listOwned(): Promise<OwnedResource[]> {
    return [];
  }
}
