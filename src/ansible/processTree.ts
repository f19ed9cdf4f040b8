// Killing a whole ansible-runner run, grandchildren included.
//
// Why not just `kill(-pid)`: ansible-runner starts ansible-playbook through pexpect, which calls
// setsid() in the child, so ansible-playbook (and its forks, their ssh and module processes) live in
// a *different* session and process group than the ansible-runner we spawned. A SIGTERM to our group
// is enough while ansible-runner is healthy (it cancels its child and the pty hang-up takes the rest),
// but once ansible-runner is SIGKILLed its descendants are reparented to init and keep running
// (tried here: `sleep` and both ansible-playbook processes survived a `kill -KILL -<runner pgid>`).
// So before signalling we record the sessions of every descendant, and afterwards sweep every
// process still in one of them. Linux only (/proc); elsewhere it degrades to the plain group kill.
import { readdirSync, readFileSync } from 'node:fs';

interface ProcInfo {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
}

function readProc(pid: number): ProcInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may itself hold spaces or parentheses.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // rest[0] is the state (field 3), then ppid, pgrp, session.
    return { pid, ppid: Number(rest[1]), pgid: Number(rest[2]), sid: Number(rest[3]) };
  } catch {
    return undefined; // gone meanwhile, or no /proc
  }
}

function allProcesses(): ProcInfo[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const out: ProcInfo[] = [];
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const info = readProc(Number(name));
    if (info) out.push(info);
  }
  return out;
}

function signal(target: number, sig: NodeJS.Signals): void {
  try {
    process.kill(target, sig);
  } catch {
    // ESRCH: already gone. EPERM cannot happen for our own children.
  }
}

/** The sessions and process groups of a process tree, remembered so a sweep can find orphans. */
export class ProcessTree {
  private readonly sessions = new Set<number>();
  private readonly groups = new Set<number>();

  constructor(private readonly rootPid: number) {
    // The root is detached (its own session and group, both = its pid).
    this.sessions.add(rootPid);
    this.groups.add(rootPid);
  }

  /** Records the sessions and groups of every current descendant of the root. */
  snapshot(): void {
    const procs = allProcesses();
    const children = new Map<number, ProcInfo[]>();
    for (const p of procs) {
      const list = children.get(p.ppid) ?? [];
      list.push(p);
      children.set(p.ppid, list);
    }
    const stack = [this.rootPid];
    while (stack.length > 0) {
      const pid = stack.pop() as number;
      for (const child of children.get(pid) ?? []) {
        this.sessions.add(child.sid);
        this.groups.add(child.pgid);
        stack.push(child.pid);
      }
    }
  }

  /** Sends `sig` to the root's process group (ansible-runner handles SIGTERM as a cancel). */
  signalRootGroup(sig: NodeJS.Signals): void {
    signal(-this.rootPid, sig);
  }

  /**
   * SIGKILLs every recorded process group, then every process still in a recorded session (orphans
   * keep their session id after reparenting). Returns how many stragglers the session scan found.
   */
  killAll(): number {
    this.snapshot();
    for (const pgid of this.groups) signal(-pgid, 'SIGKILL');
    let stragglers = 0;
    for (const p of allProcesses()) {
      if (p.pid !== process.pid && this.sessions.has(p.sid)) {
        signal(p.pid, 'SIGKILL');
        stragglers++;
      }
    }
    return stragglers;
  }
}
