// Which Slurm daemons run on this machine itself. Test hosts (scripts/test-ssh-host) run their own
// slurmctld and slurmd in their own network and mount namespaces, and the process table is shared:
// only processes in this process's namespaces are this machine's Slurm.
import { spawnSync } from 'node:child_process';

export function slurmDaemonsHere(): string[] {
  return ['slurmctld', 'slurmd'].filter((name) =>
    spawnSync('pgrep', ['-x', '--ns', String(process.pid), '--nslist', 'net,mnt', name]).status === 0);
}
