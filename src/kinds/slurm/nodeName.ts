// The Slurm node name our inventory gives a node: this machine's host name for localhost, else the
// address with every character Slurm would not take turned into "-". Request validation uses it
// too, so two hosts that would become one Slurm node are refused before anything is built.
import { hostname } from 'node:os';
import type { ClusterNode } from '../../domain/types';

export function slurmNodeName(node: Pick<ClusterNode, 'address'>): string {
  return node.address === 'localhost' ? hostname() : node.address.replace(/[^A-Za-z0-9-]/g, '-');
}
