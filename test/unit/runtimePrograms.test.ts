// The start-up check that the programs the service runs are on PATH: found by a PATH search of
// executable files only, and a refusal naming exactly what is missing with its Debian package.
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseRuntimePackages, readRuntimePackages } from '../../src/startup/runtimePackages';
import { isOnPath, MissingProgramsError, missingPrograms, requireRuntimePrograms } from '../../src/startup/runtimePrograms';

const shipped = readRuntimePackages();
const allPrograms = shipped.flatMap((pkg) => pkg.programs);

/** A directory holding an executable stand-in for each program named. */
function binDir(programs: readonly string[]): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'ms-path-'));
  for (const program of programs) writeFileSync(path.join(dir, program), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  return dir;
}

function refusal(searchPath: string): string | undefined {
  try {
    requireRuntimePrograms(searchPath, shipped);
    return undefined;
  } catch (error) {
    if (error instanceof MissingProgramsError) return error.message;
    throw error;
  }
}

describe('the runtime package list (scripts/runtime-packages)', () => {
  it('names the programs the service spawns and the Debian package of each', () => {
    const packageOf = new Map(shipped.flatMap((pkg) => pkg.programs.map((program) => [program, pkg.name])));
    expect(packageOf.get('ansible-runner')).toBe('python3-ansible-runner');
    expect(packageOf.get('ansible-playbook')).toBe('ansible-core');
    expect(packageOf.get('ssh')).toBe('openssh-client');
    expect(packageOf.get('ssh-agent')).toBe('openssh-client');
    expect(packageOf.get('runuser')).toBe('util-linux');
  });

  it('reads the package, then its programs, skipping comments and blank lines', () => {
    expect(parseRuntimePackages('# heading\n\n  one  a b # why\ntwo\t c\nthree\n   # indented comment\n')).toEqual([
      { name: 'one', programs: ['a', 'b'] },
      { name: 'two', programs: ['c'] },
      { name: 'three', programs: [] },
    ]);
  });
});

describe('requireRuntimePrograms', () => {
  it('passes when every program is on PATH, in whichever entry', () => {
    const [first, ...rest] = allPrograms;
    const searchPath = ['/nonexistent-ms-dir', binDir([first]), binDir(rest)].join(':');
    expect(refusal(searchPath)).toBeUndefined();
  });

  it('refuses in one line naming exactly the missing program and its package', () => {
    const searchPath = binDir(allPrograms.filter((program) => program !== 'ansible-runner'));
    expect(refusal(searchPath)).toBe('programs not on PATH: ansible-runner (Debian package python3-ansible-runner); '
      + 'install as root: apt-get update && apt-get install -y --no-install-recommends python3-ansible-runner');
  });

  it('names every missing program, and each package once in the install command', () => {
    const searchPath = binDir(allPrograms.filter((program) => !['ssh', 'ssh-agent', 'runuser'].includes(program)));
    const message = refusal(searchPath) ?? '';
    expect(message).toBe('programs not on PATH: ssh (Debian package openssh-client), ssh-agent (Debian package openssh-client), '
      + 'runuser (Debian package util-linux); install as root: apt-get update && apt-get install -y --no-install-recommends openssh-client util-linux');
    expect(message).not.toContain('\n');
  });

  it('does not count a file without execute permission or a directory of that name', () => {
    const dir = binDir([]);
    writeFileSync(path.join(dir, 'ansible-runner'), '#!/bin/sh\n', { mode: 0o644 });
    chmodSync(path.join(dir, 'ansible-runner'), 0o644);
    mkdirSync(path.join(dir, 'ssh'));
    expect(isOnPath('ansible-runner', dir)).toBe(false);
    expect(isOnPath('ssh', dir)).toBe(false);
    expect(missingPrograms(shipped, dir).map((m) => m.program)).toEqual(allPrograms);
  });

  it('takes an empty PATH entry as the current directory, as a spawn would', () => {
    const dir = binDir(['ms-probe']);
    const cwd = process.cwd();
    try {
      process.chdir(dir);
      expect(isOnPath('ms-probe', '/nonexistent-ms-dir:')).toBe(true);
      expect(isOnPath('ms-probe', '/nonexistent-ms-dir')).toBe(false);
    } finally {
      process.chdir(cwd);
    }
  });
});
