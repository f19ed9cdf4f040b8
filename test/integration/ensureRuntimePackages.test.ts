// scripts/ensure-runtime-packages, which `npm start` runs first: as root it installs only the
// missing runtime packages (nothing, quickly, when none is); as another user a missing one refuses
// the start in one line with exit 2. A list file with one extra package no machine has stands in for
// a missing package, and an apt-get of the test's own, first on PATH, records whether it was called:
// nothing is installed or removed on this machine. Runs as root, like the rest of the suite.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseRuntimePackages, readRuntimePackages, RUNTIME_PACKAGES_FILE } from '../../src/startup/runtimePackages';
import { ROOT } from '../support/serviceProcess';

const SCRIPT = path.join(ROOT, 'scripts/ensure-runtime-packages');
const ABSENT = 'ms-test-no-such-package';

interface Sandbox {
  dir: string;
  /** Every apt-get call, one line each: DEBIAN_FRONTEND, then the arguments. */
  aptCalls(): string[];
  /** scripts/runtime-packages plus the given lines. */
  listWith(...lines: string[]): string;
  /** PATH with the recording apt-get first. */
  searchPath: string;
}

/** A directory any user can read and write, with the recording apt-get in it. */
function sandbox(): Sandbox {
  const dir = mkdtempSync(path.join(tmpdir(), 'ms-ensure-'));
  chmodSync(dir, 0o777);
  const log = path.join(dir, 'apt-get.log');
  writeFileSync(path.join(dir, 'apt-get'), `#!/bin/sh\necho "$DEBIAN_FRONTEND $*" >> '${log}'\n`, { mode: 0o755 });
  return {
    dir,
    aptCalls: () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter((line) => line !== '') : []),
    listWith: (...lines) => {
      const file = path.join(dir, 'packages');
      writeFileSync(file, `${readFileSync(RUNTIME_PACKAGES_FILE, 'utf8')}${lines.join('\n')}\n`, { mode: 0o644 });
      return file;
    },
    searchPath: `${dir}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin`,
  };
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the script with only the environment given; as `nobody` when asked. */
function ensure(options: { env: Record<string, string>; list?: string; asNobody?: boolean }): Run {
  const env = Object.entries(options.env).map(([name, value]) => `${name}=${value}`);
  const command = ['env', '-i', ...env, 'bash', SCRIPT, ...(options.list ? [options.list] : [])];
  const argv = options.asNobody ? ['runuser', '-u', 'nobody', '--', ...command] : command;
  const started = Date.now();
  const result = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 60_000, cwd: '/' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, ms: Date.now() - started };
}

describe('scripts/ensure-runtime-packages', () => {
  it('reads the same packages from scripts/runtime-packages as the service does', () => {
    const listed = spawnSync('bash', ['-c', 'source scripts/debian-packages.sh && package_list scripts/runtime-packages'], { cwd: ROOT, encoding: 'utf8' });
    expect(listed.status).toBe(0);
    expect(listed.stdout.split('\n').filter((line) => line !== '')).toEqual(readRuntimePackages().map((pkg) => pkg.name));
    expect(readRuntimePackages().map((pkg) => pkg.name)).toEqual(['ansible-core', 'python3-ansible-runner', 'openssh-client', 'util-linux']);
  });

  it('as root with every package installed: exits 0 at once, silent, without apt-get', () => {
    const box = sandbox();
    const run = ensure({ env: { PATH: box.searchPath } });
    expect(run).toMatchObject({ status: 0, stdout: '', stderr: '' });
    expect(run.ms).toBeLessThan(5_000);
    expect(box.aptCalls()).toEqual([]);
  });

  it('as root with a package missing: one apt-get update, then an install of that package only', () => {
    const box = sandbox();
    const policyBefore = existsSync('/usr/sbin/policy-rc.d');
    const run = ensure({ env: { PATH: box.searchPath }, list: box.listWith(ABSENT) });
    expect(run.status).toBe(0);
    expect(run.stderr).toBe(`ensure-runtime-packages: installing ${ABSENT}\n`);
    expect(box.aptCalls()).toEqual([
      'noninteractive update -qq',
      `noninteractive install -y -qq --no-install-recommends ${ABSENT}`,
    ]);
    // A policy-rc.d the script made for the install is gone with it; one that was there stays.
    expect(existsSync('/usr/sbin/policy-rc.d')).toBe(policyBefore);
  });

  it('not root with a package missing: refuses in one line naming it and the apt-get command, exit 2', () => {
    const box = sandbox();
    const run = ensure({ env: { PATH: box.searchPath }, list: box.listWith(ABSENT), asNobody: true });
    expect(run).toMatchObject({
      status: 2,
      stdout: '',
      stderr: `airavata-metascheduler: refusing to start: missing Debian packages ${ABSENT}; `
        + `install them as root: apt-get update && apt-get install -y --no-install-recommends ${ABSENT}\n`,
    });
    expect(box.aptCalls()).toEqual([]);
  });

  it('not root: a package whose programs are all on PATH anyway counts as there', () => {
    const box = sandbox();
    writeFileSync(path.join(box.dir, 'ms-test-program'), '#!/bin/sh\n', { mode: 0o755 });
    const list = box.listWith(`${ABSENT} ms-test-program`);
    expect(ensure({ env: { PATH: box.searchPath }, list, asNobody: true })).toMatchObject({ status: 0, stdout: '', stderr: '' });
    // Without that program on PATH, the same list refuses.
    expect(ensure({ env: { PATH: '/usr/bin:/bin' }, list, asNobody: true }).status).toBe(2);
  });

  it('not root, API-only replica (BACKGROUND_WORKERS=off): nothing is required', () => {
    const box = sandbox();
    const run = ensure({ env: { PATH: box.searchPath, BACKGROUND_WORKERS: 'off' }, list: box.listWith(ABSENT), asNobody: true });
    expect(run).toMatchObject({ status: 0, stdout: '', stderr: '' });
  });

  it('fails, not passes, when its list cannot be read', () => {
    const run = ensure({ env: { PATH: '/usr/bin:/bin' }, list: '/nonexistent-ms-dir/packages' });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('/nonexistent-ms-dir/packages');
  });
});

describe('the list parsers agree on comments', () => {
  it('a commented-out package is no package for either', () => {
    const text = '# ignored\nkept prog # why\n#gone prog\n';
    const file = path.join(sandbox().dir, 'packages');
    writeFileSync(file, text);
    const listed = spawnSync('bash', ['-c', 'source scripts/debian-packages.sh && package_list "$1"', 'bash', file], { cwd: ROOT, encoding: 'utf8' });
    expect(listed.stdout).toBe('kept\n');
    expect(parseRuntimePackages(text).map((pkg) => pkg.name)).toEqual(['kept']);
  });
});
