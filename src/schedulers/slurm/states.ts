// Slurm's job states and exit codes in our terms (docs/airavata-mapping.md, "Slurm states"). Pure.
import type { JobState } from '../../domain/types';

const STATE_MAP: Record<string, JobState> = {
  PENDING: 'QUEUED',
  REQUEUED: 'QUEUED',
  CONFIGURING: 'QUEUED',
  // Held or being requeued: waiting, from the user's point of view.
  REQUEUE_HOLD: 'QUEUED',
  REQUEUE_FED: 'QUEUED',
  RESV_DEL_HOLD: 'QUEUED',
  RUNNING: 'ACTIVE',
  COMPLETING: 'ACTIVE',
  SIGNALING: 'ACTIVE',
  STAGE_OUT: 'ACTIVE',
  RESIZING: 'ACTIVE',
  SUSPENDED: 'SUSPENDED',
  STOPPED: 'SUSPENDED',
  COMPLETED: 'COMPLETE',
  FAILED: 'FAILED',
  TIMEOUT: 'FAILED',
  NODE_FAIL: 'FAILED',
  OUT_OF_MEMORY: 'FAILED',
  BOOT_FAIL: 'FAILED',
  DEADLINE: 'FAILED',
  PREEMPTED: 'FAILED',
  SPECIAL_EXIT: 'FAILED',
  CANCELLED: 'CANCELED',
};

/** The state word: sacct and scontrol may print "CANCELLED by 0", squeue may print "CANCELLED+". */
export function slurmStateWord(raw: string): string {
  const word = raw.trim().split(/\s+/)[0] ?? '';
  return word.replace(/\+$/, '').toUpperCase();
}

/**
 * Our state for a Slurm state. COMPLETED with a non-zero exit cannot happen in Slurm (it says
 * FAILED), but if it is ever seen it is FAILED. Anything unknown is UNKNOWN, never guessed.
 */
export function mapSlurmState(raw: string, exitCode?: number): JobState {
  const state = STATE_MAP[slurmStateWord(raw)] ?? 'UNKNOWN';
  if (state === 'COMPLETE' && exitCode !== undefined && exitCode !== 0) return 'FAILED';
  return state;
}

export function isEnded(state: JobState): boolean {
  return state === 'COMPLETE' || state === 'FAILED' || state === 'CANCELED';
}

/**
 * Slurm's "X:Y" (exit status : terminating signal) as one number, shell style: a job killed by
 * signal Y reports 128+Y (as bash's $? would), else X. Undefined when it is not of that form, or
 * either part is over 255 (no wait status holds more; a longer run of digits would be Infinity).
 */
export function exitCodeFromSlurm(raw: string): number | undefined {
  const match = /^(\d+):(\d+)$/.exec(raw.trim());
  if (!match) return undefined;
  const status = Number(match[1]);
  const signal = Number(match[2]);
  if (status > 255 || signal > 255) return undefined;
  return signal !== 0 ? 128 + signal : status;
}

/**
 * Slurm's times ("2026-11-26T22:05:22") are the controller's local time, without a zone; read as
 * this process's local time (the same machine for localhost clusters). Unknown/None/N/A: undefined.
 */
export function parseSlurmTime(raw: string): number | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$/.exec(raw.trim());
  if (!match) return undefined;
  const [y, mo, d, h, mi, s] = match.slice(1).map(Number);
  const time = new Date(y, mo - 1, d, h, mi, s).getTime();
  return Number.isNaN(time) ? undefined : time;
}
