// The service refuses to start when a program it runs for background work is not on PATH: without
// this, a start looks fine and the first cluster build ends FAILED with "spawn ansible-runner
// ENOENT". It matters to whoever runs `node dist/src/main.js` directly; `npm start` has already
// installed or checked the packages (scripts/ensure-runtime-packages). Only PATH is searched, a few
// stat calls: no subprocess is run.
import { accessSync, constants, statSync } from 'node:fs';
import * as path from 'node:path';
import { readRuntimePackages, type RuntimePackage } from './runtimePackages';

/** The PATH the Ansible bridge gives ansible-runner when the service has none. */
const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin';

export interface MissingProgram {
  program: string;
  debianPackage: string;
}

/** The one-line refusal: every missing program with its package, and the command that installs them. */
export class MissingProgramsError extends Error {
  constructor(readonly missing: readonly MissingProgram[]) {
    const named = missing.map((m) => `${m.program} (Debian package ${m.debianPackage})`).join(', ');
    const packages = [...new Set(missing.map((m) => m.debianPackage))].join(' ');
    super(`programs not on PATH: ${named}; install as root: apt-get update && apt-get install -y --no-install-recommends ${packages}`);
    this.name = 'MissingProgramsError';
  }
}

function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Whether a program name would be found by a PATH search, as spawning it would search. */
export function isOnPath(program: string, searchPath: string): boolean {
  // An empty PATH entry means the current directory, as for the shell and execvp.
  return searchPath.split(path.delimiter).some((dir) => isExecutableFile(path.join(dir === '' ? '.' : dir, program)));
}

export function missingPrograms(packages: readonly RuntimePackage[], searchPath: string): MissingProgram[] {
  return packages.flatMap((pkg) => pkg.programs
    .filter((program) => !isOnPath(program, searchPath))
    .map((program) => ({ program, debianPackage: pkg.name })));
}

/** Throws MissingProgramsError when PATH lacks any program of the runtime packages. */
export function requireRuntimePrograms(
  searchPath: string = process.env.PATH ?? DEFAULT_PATH,
  packages: readonly RuntimePackage[] = readRuntimePackages(),
): void {
  const missing = missingPrograms(packages, searchPath);
  if (missing.length > 0) throw new MissingProgramsError(missing);
}
