// What slurmctld says about each node of a cluster we built, and which of ours it counts as lost.
// Pure: the query runs on the controller (src/workflows/nodeHealth.ts), argv only, no shell.
//
// Slurm's view is the one that matters for jobs: a node slurmctld cannot reach (slurmd killed, its
// network cut, the machine rebooted without its daemons) is flagged NOT_RESPONDING ("*" after the
// state) at its next ping and set DOWN after SlurmdTimeout, and its jobs are requeued or end
// NODE_FAIL. A node an operator or Slurm drained (with a reason) takes no work either.

export interface SinfoNode {
  /** Slurm's node name (NodeName in slurm.conf). */
  name: string;
  /** %T as printed, flags included: "idle", "down*", "drained", "mixed-". */
  state: string;
  /** %E: why it is down or drained; empty when Slurm gives none ("none"). */
  reason: string;
}

/** One line per node (and partition): name, extended state, reason. The reason is last: it may hold "|". */
export function sinfoNodesArgv(): string[] {
  return ['sinfo', '--Node', '--noheader', '--format=%N|%T|%E'];
}

export function parseSinfoNodes(stdout: string): Map<string, SinfoNode> {
  const nodes = new Map<string, SinfoNode>();
  for (const line of stdout.split('\n')) {
    const parts = line.trim().split('|');
    if (parts.length < 3) continue;
    const [name, state, ...reasonParts] = parts;
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(name) || state === '') continue;
    // An operator's reason is free text: kept short and on one line.
    const reason = reasonParts.join('|').replace(/[\u0000-\u001f\u007f]/g, ' ').trim().slice(0, 200);
    // -N lists a node once per partition it is in: the first line speaks for it.
    if (!nodes.has(name.toLowerCase())) nodes.set(name.toLowerCase(), { name, state, reason: reason.toLowerCase() === 'none' ? '' : reason });
  }
  return nodes;
}

/** Base states (without flags) in which a node takes no work: down, drained or draining, failed, invalid. */
const LOST_STATES: ReadonlySet<string> = new Set(['down', 'drain', 'drained', 'draining', 'fail', 'failing', 'inval']);

/** The flag sinfo puts after the state of a node slurmctld's pings do not reach. */
const NOT_RESPONDING = '*';

/** Slurm's verdict on one node: answering, or lost and why. */
export type NodeVerdict = { lost: false; state: string } | { lost: true; state: string; reason: string };

/**
 * Our reading of one node: lost when slurmctld does not reach it (NOT_RESPONDING), when it is DOWN,
 * DRAINED/DRAINING, FAIL(ING) or INVAL, or when sinfo does not list it at all; the reason says what
 * Slurm said, with its own reason when it gave one.
 */
export function judgeNode(entry: SinfoNode | undefined): NodeVerdict {
  if (!entry) return { lost: true, state: 'missing', reason: 'not listed by sinfo' };
  const state = entry.state.toLowerCase();
  const notResponding = state.endsWith(NOT_RESPONDING);
  // Flags follow the word: * not responding, ~ # ! % power saving, $ maintenance, @ ^ reboot, - planned, + more states.
  const base = state.replace(/[*~#!%$@^+-]+$/, '');
  if (!notResponding && !LOST_STATES.has(base)) return { lost: false, state };
  const what = [base.toUpperCase(), notResponding ? 'NOT_RESPONDING' : ''].filter((w) => w !== '').join('+');
  return { lost: true, state, reason: entry.reason === '' ? `Slurm: ${what}` : `Slurm: ${what} (${entry.reason})` };
}
