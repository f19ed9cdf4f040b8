// This machine's processes as /proc lists them (pid, parent, argv), for a suite that must find a
// process the service started (an ansible-runner run) and kill it from outside, as the OOM killer
// or an operator would. Linux only.
import { readdirSync, readFileSync, statSync } from 'node:fs';

export interface ProcessEntry {
  pid: number;
  ppid: number;
  argv: string[];
}

function readEntry(pid: number): ProcessEntry | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may itself hold spaces or parentheses.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((arg) => arg !== '');
    return { pid, ppid, argv };
  } catch {
    return undefined; // ended meanwhile
  }
}

export function processTable(): ProcessEntry[] {
  return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).flatMap((name) => readEntry(Number(name)) ?? []);
}

/** Every process below pid (children, their children, ...). */
export function descendantsOf(pid: number, table: ProcessEntry[] = processTable()): ProcessEntry[] {
  const found: ProcessEntry[] = [];
  const parents = new Set([pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const entry of table) {
      if (parents.has(entry.ppid) && !parents.has(entry.pid)) {
        parents.add(entry.pid);
        found.push(entry);
        grew = true;
      }
    }
  }
  return found;
}

/** Processes whose network namespace is that of the given namespace file (e.g. /run/netns/NAME). */
export function processesInNetns(nsFile: string, table: ProcessEntry[] = processTable()): ProcessEntry[] {
  // A namespace's identity is its nsfs inode: /run/netns/NAME is a bind mount of it, not a link.
  const target = statSync(nsFile);
  return table.filter((entry) => {
    try {
      const ns = statSync(`/proc/${entry.pid}/ns/net`);
      return ns.ino === target.ino && ns.dev === target.dev;
    } catch {
      return false;
    }
  });
}

/**
 * Whether the process still runs. A zombie does not: killed, only not yet reaped (an orphan waits
 * for this machine's init to reap it, which may take a while).
 */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
