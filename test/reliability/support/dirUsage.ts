// How much a directory tree holds (bytes of regular files and how many), walked with lstat so a
// symbolic link is counted as itself; entries removed during the walk are skipped, as the service
// rotates its Ansible run dirs while we look.
import { lstatSync, readdirSync } from 'node:fs';
import * as path from 'node:path';

export interface DirUsage {
  bytes: number;
  files: number;
}

export function dirUsage(dir: string): DirUsage {
  const usage: DirUsage = { bytes: 0, files: 0 };
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return usage;
  }
  for (const name of names) {
    const entry = path.join(dir, name);
    try {
      const stat = lstatSync(entry);
      if (stat.isDirectory()) {
        const inner = dirUsage(entry);
        usage.bytes += inner.bytes;
        usage.files += inner.files;
      } else {
        usage.bytes += stat.size;
        usage.files += 1;
      }
    } catch {
      // gone meanwhile
    }
  }
  return usage;
}

export interface RunDirsUsage extends DirUsage {
  /** Run dirs (immediate subdirectories) present now. */
  runs: number;
  /** The largest single run dir now. */
  largestRunBytes: number;
}

/** The service's Ansible run dirs: `<root>/<run>/...`, one private data dir per playbook run. */
export function runDirsUsage(root: string): RunDirsUsage {
  const usage: RunDirsUsage = { bytes: 0, files: 0, runs: 0, largestRunBytes: 0 };
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return usage;
  }
  for (const name of names) {
    const entry = path.join(root, name);
    try {
      if (!lstatSync(entry).isDirectory()) continue;
    } catch {
      continue;
    }
    const run = dirUsage(entry);
    usage.runs += 1;
    usage.bytes += run.bytes;
    usage.files += run.files;
    usage.largestRunBytes = Math.max(usage.largestRunBytes, run.bytes);
  }
  return usage;
}
