// Starting a job inside a live pilot: a job step of the placeholder's allocation, launched from the
// login host with `srun --jobid=<pilot> --overlap`, so it starts at once on the nodes the pilot
// holds instead of queueing again. srun stays attached to the step for its whole life, so it runs
// detached (its own session, no terminal, surviving our SSH session); the step's id is read back
// from squeue by its name. Pure here: the program and the arguments.
import * as path from 'node:path';
import { JobRefusedError, type BatchJob } from '../scheduler';
import { assertJobId, slurmJobName, slurmOutputPath } from './batchScript';

/**
 * Run as `bash -c PROGRAM ms-step DIR SCRIPT PILOT NAME SRUN_ARG...` with the script on stdin. Makes
 * the directory (exit 90), writes the script (91), starts srun detached with MS_IN_PILOT=1 (the
 * script then records its end under the step's id), and prints the step id once squeue lists a
 * step of that name in the pilot. srun ending first: exit 94 with what it said; no step within
 * 30 s: 95. Every value is a positional parameter, only ever expanded quoted.
 */
export const LAUNCH_STEP = `
dir=$1 file=$2 pilot=$3 name=$4; shift 4
mkdir -p -- "$dir" || exit 90
cat > "$file" || exit 91
log="$dir/.ms-srun.log"
MS_IN_PILOT=1 setsid srun "$@" > "$log" 2>&1 < /dev/null &
pid=$!
for i in $(seq 1 150); do
  while IFS='|' read -r id n; do
    if [ "$n" = "$name" ]; then echo "$id"; exit 0; fi
  done < <(squeue --noheader --steps --jobs="$pilot" --format='%i|%j' 2>/dev/null)
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid"; rc=$?
    echo "srun ended at once (exit $rc): $(tail -c 500 -- "$log" | tr '\\n' ' ')" >&2
    exit 94
  fi
  sleep 0.2
done
echo "no step named $name appeared in pilot job $pilot within 30 s" >&2
exit 95
`;

export const STEP_SRUN_FAILED = 94;
export const STEP_NOT_SEEN = 95;

/** srun's arguments (after "srun") for one job in a pilot, ending with the script. */
export function stepArguments(job: BatchJob, script: string): string[] {
  assertJobId(job.jobId);
  if (!job.pilot) throw new Error(`job ${job.jobId} has no pilot`);
  if (!/^\d+$/.test(job.pilot.nativeJobId)) throw new JobRefusedError(`pilot job id ${JSON.stringify(job.pilot.nativeJobId)} is not a Slurm job id`);
  if (!path.posix.isAbsolute(job.workingDir)) throw new JobRefusedError(`working directory ${JSON.stringify(job.workingDir)} is not absolute`);
  const { spec } = job;
  if (spec.parallelism !== 'SERIAL' && spec.parallelism !== 'OPENMP') {
    throw new JobRefusedError(`a ${spec.parallelism} job cannot start inside a pilot: its jobs are single-task steps`);
  }
  const args = [
    `--jobid=${job.pilot.nativeJobId}`, '--overlap', '--nodes=1', '--ntasks=1',
    `--job-name=${slurmJobName(job.jobId)}`,
    `--chdir=${job.workingDir}`,
    `--output=${slurmOutputPath(job.workingDir, 'stdout.txt')}`,
    `--error=${slurmOutputPath(job.workingDir, 'stderr.txt')}`,
  ];
  if (spec.parallelism === 'OPENMP' && spec.totalCPUCount !== undefined) args.push(`--cpus-per-task=${spec.totalCPUCount}`);
  if (spec.wallTimeLimit !== undefined) args.push(`--time=${spec.wallTimeLimit}`);
  args.push('bash', script);
  return args;
}
