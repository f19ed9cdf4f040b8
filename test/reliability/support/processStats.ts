// What the kernel says about a process from outside it: resident memory (all of it, and the
// anonymous part, where a JavaScript heap and native buffers live), its peak, threads, and its open
// file descriptors by kind. Linux /proc only; the service exposes no heap figure of its own.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface ProcessStats {
  rssKb: number;
  rssAnonKb: number;
  hwmKb: number;
  threads: number;
  fds: number;
  sockets: number;
  pipes: number;
  /** anon_inode descriptors: eventfd, epoll, timerfd, signalfd. */
  anon: number;
  files: number;
}

function statusField(status: string, name: string): number {
  const match = new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status);
  if (!match) throw new Error(`/proc status has no ${name} field`);
  return Number(match[1]);
}

/** Reads /proc/<pid>; throws when the process is gone (a soak must notice its service died). */
export function processStats(pid: number): ProcessStats {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const stats: ProcessStats = {
    rssKb: statusField(status, 'VmRSS'),
    rssAnonKb: statusField(status, 'RssAnon'),
    hwmKb: statusField(status, 'VmHWM'),
    threads: statusField(status, 'Threads'),
    fds: 0, sockets: 0, pipes: 0, anon: 0, files: 0,
  };
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed between the listing and the look
    }
    stats.fds += 1;
    if (target.startsWith('socket:')) stats.sockets += 1;
    else if (target.startsWith('pipe:')) stats.pipes += 1;
    else if (target.startsWith('anon_inode:')) stats.anon += 1;
    else stats.files += 1;
  }
  return stats;
}
