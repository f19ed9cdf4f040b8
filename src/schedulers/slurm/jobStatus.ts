// From what squeue and the job completion log say about one job to a NativeJobStatus. Pure.
import type { NativeJobStatus } from '../scheduler';
import { NEVER_RAN_NODELIST, type JobcompRecord } from './jobcomp';
import type { SqueueEntry } from './squeue';
import { exitCodeFromSlurm, isEnded, mapSlurmState, parseSlurmTime, slurmStateWord } from './states';

/** States in which slurmctld, not the job's own exit, ended the job. */
const ENDED_BY_SLURM = new Set(['CANCELLED', 'TIMEOUT', 'DEADLINE', 'PREEMPTED', 'NODE_FAIL', 'BOOT_FAIL']);

export function statusFromSqueue(jobId: string, entry: SqueueEntry): NativeJobStatus {
  const nativeState = slurmStateWord(entry.state);
  const state = mapSlurmState(nativeState);
  const status: NativeJobStatus = { jobId, nativeJobId: entry.nativeJobId, state, nativeState };
  if (entry.reason !== '' && entry.reason !== 'None') status.reason = entry.reason;
  // For a pending job %S is only the scheduler's forecast.
  if (state === 'ACTIVE' || state === 'SUSPENDED') {
    const start = parseSlurmTime(entry.startTime);
    if (start !== undefined) status.startTime = start;
  }
  return status;
}

/**
 * A job that got no nodes (cancelled while pending: NodeList=(null)) never ran, so it has no exit
 * code and no start time; for the others the exit code follows exitCodeFromSlurm (signal -> 128+N).
 * Except ExitCode=0:0 on a job Slurm itself ended (cancelled, out of time, ...): slurmctld writes
 * the line when it ends the job, before the killed batch step reports back (seen on 22.05 for a
 * cancelled `sleep 60` and a TIMEOUT), so that 0 is not an exit status and is left out.
 */
export function statusFromJobcomp(jobId: string, record: JobcompRecord): NativeJobStatus {
  const nativeState = slurmStateWord(record.jobState);
  const ran = record.nodeList !== NEVER_RAN_NODELIST;
  const unreported = ENDED_BY_SLURM.has(nativeState) && record.exitCode === '0:0';
  const exitCode = ran && !unreported ? exitCodeFromSlurm(record.exitCode) : undefined;
  const state = mapSlurmState(nativeState, exitCode);
  const status: NativeJobStatus = { jobId, nativeJobId: record.nativeJobId, state, nativeState };
  if (exitCode !== undefined) status.exitCode = exitCode;
  if (state === 'FAILED') status.reason = `Slurm ${nativeState}, ExitCode=${record.exitCode}`;
  else if (state === 'CANCELED') status.reason = ran ? `Slurm ${nativeState}` : `Slurm ${nativeState} before it started`;
  else if (state === 'UNKNOWN') status.reason = `Slurm state ${record.jobState}`;
  const start = ran ? parseSlurmTime(record.startTime) : undefined;
  if (start !== undefined) status.startTime = start;
  const end = parseSlurmTime(record.endTime);
  if (end !== undefined) status.endTime = end;
  return status;
}

/**
 * Which source speaks for a job. squeue, while it lists the job as waiting or running, wins over a
 * completion record: the record may be from a run that was requeued, or squeue's snapshot was taken
 * just before the job ended (the record is kept, so the next poll reports the end). Once squeue
 * says COMPLETING or no longer lists the job, the completion record (with its exit code) speaks.
 */
export function chooseStatus(
  jobId: string,
  live: SqueueEntry | undefined,
  ended: JobcompRecord | undefined,
): NativeJobStatus | undefined {
  return chooseLiveOrEnded(jobId, live, ended ? statusFromJobcomp(jobId, ended) : undefined);
}

/** chooseStatus with the final status already read from wherever the cluster keeps it. */
export function chooseLiveOrEnded(jobId: string, live: SqueueEntry | undefined, ended: NativeJobStatus | undefined): NativeJobStatus | undefined {
  if (live) {
    const word = slurmStateWord(live.state);
    const liveEnded = word === 'COMPLETING' || isEnded(mapSlurmState(word));
    if (!liveEnded || !ended) {
      const status = statusFromSqueue(jobId, live);
      // Waiting again after a run that ended (NODE_FAIL, preempted): Slurm requeued it.
      if (ended && status.state === 'QUEUED') {
        const after = ended.nativeState === 'REQUEUED' ? 'requeued' : `requeued after ${ended.nativeState}`;
        status.reason = `${after}${status.reason ? `; ${status.reason}` : ''}`;
      }
      return status;
    }
    // A job Slurm ended for a lost node is logged NODE_FAIL and, when it may be requeued, listed
    // again as PENDING once its node stops completing: until squeue says which, it is as it was.
    if (word === 'COMPLETING' && ended.nativeState === 'NODE_FAIL') return statusFromSqueue(jobId, live);
  }
  return ended;
}
