// What a job's environment (and an application's, which jobs inherit) may hold, and how many bytes a
// job's program and environment take when it is started.
//
// The batch script exports the job's variables and then starts the program, for MPI jobs through
// `mpirun -np "$SLURM_NTASKS"`. A job that set SLURM_NTASKS=1000 would start a thousand ranks on an
// allocation of four; SBATCH_*, OMPI_* or PMI* variables would retarget the launcher the same way.
// Every name the scheduler or an MPI launcher reads is therefore the service's to set, not the job's.

/**
 * Name prefixes the scheduler and MPI launchers read, compared without regard to case and to
 * leading underscores (Slurm passes SPANK plugin options as _SLURM_SPANK_OPTION_*). Linux names are
 * case-sensitive and the tools read the upper-case forms, but refusing every spelling costs no real
 * job anything and leaves nothing to argue about.
 */
export const RESERVED_ENVIRONMENT_PREFIXES: readonly { prefix: string; owner: string }[] = [
  // Slurm: its commands read SBATCH_/SRUN_/SALLOC_/SCRUN_ options, and tasks read SLURM_* layout.
  { prefix: 'SLURM_', owner: 'Slurm' },
  { prefix: 'SBATCH_', owner: 'Slurm' },
  { prefix: 'SRUN_', owner: 'Slurm' },
  { prefix: 'SALLOC_', owner: 'Slurm' },
  { prefix: 'SCRUN_', owner: 'Slurm' },
  { prefix: 'SPANK_', owner: 'Slurm' },
  // PMI, PMI2 and PMIx: rank, size and the launcher's rendezvous.
  { prefix: 'PMI', owner: 'the PMI process manager interface' },
  // Open MPI and its runtimes (ORTE before 5.0, PRRTE since).
  { prefix: 'OMPI_', owner: 'Open MPI' },
  { prefix: 'OPAL_', owner: 'Open MPI' },
  { prefix: 'ORTE_', owner: 'Open MPI' },
  { prefix: 'PRTE_', owner: 'Open MPI (PRRTE)' },
  { prefix: 'PRRTE_', owner: 'Open MPI (PRRTE)' },
  // MPICH and its Hydra launcher; Cray MPICH uses the same names.
  { prefix: 'MPICH_', owner: 'MPICH' },
  { prefix: 'MPIR_', owner: 'MPICH' },
  { prefix: 'MPIEXEC_', owner: 'MPICH' },
  { prefix: 'HYDRA_', owner: 'MPICH (Hydra)' },
  // Intel MPI, MVAPICH2/MVAPICH-Plus, and HPE Cray's PALS launcher.
  { prefix: 'I_MPI_', owner: 'Intel MPI' },
  { prefix: 'MV2_', owner: 'MVAPICH' },
  { prefix: 'MVP_', owner: 'MVAPICH' },
  { prefix: 'PALS_', owner: 'Cray PALS' },
];

/** Why a variable name is the scheduler's or launcher's to set; undefined when a job may set it. */
export function reservedEnvironmentName(name: string): string | undefined {
  const normalized = name.replace(/^_+/, '').toUpperCase();
  const reserved = RESERVED_ENVIRONMENT_PREFIXES.find(({ prefix }) => normalized.startsWith(prefix));
  if (!reserved) return undefined;
  return `is reserved: ${reserved.prefix}* variables steer ${reserved.owner}, which the service sets up from the job's spec`;
}

/**
 * The bytes execve needs for argv and environment: each string with its NUL, a variable as
 * NAME=value. What Linux checks against ARG_MAX (a quarter of the stack limit, 2 MiB by default).
 */
export function execBytes(argv: readonly string[], environment: Record<string, string> = {}): number {
  let bytes = 0;
  for (const arg of argv) bytes += Buffer.byteLength(arg, 'utf8') + 1;
  for (const [name, value] of Object.entries(environment)) bytes += environmentBytes(name, value);
  return bytes;
}

export function environmentBytes(name: string, value: string): number {
  return Buffer.byteLength(name, 'utf8') + 1 + Buffer.byteLength(value, 'utf8') + 1;
}
