// The submit-many program run in real bash, with a stand-in sbatch on PATH that records the argv it
// got (real Slurm runs it in test/integration/batchDispatch.test.ts): hostile values travel as
// data, each job gets its directory, its script byte for byte and one line back, whatever fails
// for one job stays with that job, and input cut inside a record runs nothing.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  encodeSubmitRecords, MKDIR_FAILED, parseSubmitLines, SUBMIT_MANY_AS_ACCOUNT, WRITE_FAILED, type SubmitRecord,
} from '../../src/schedulers/slurm/batchSubmit';

const HOSTILE = ["'; touch pwned; '", '$(touch pwned)', '`touch pwned`', 'new\nline', '  spaced  ', '', '*', '-n', '\t', 'ünï ✓', '\\'];

let dir: string;
let bin: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'ms-batch-submit-'));
  bin = path.join(dir, 'bin');
  mkdirSync(bin);
  // Records its argv NUL-separated under its job's name; refuses a job whose name says so.
  writeFileSync(path.join(bin, 'sbatch'), [
    '#!/bin/bash',
    'name=${2#--job-name=}',
    'printf "%s\\0" "$@" > "$LOG_DIR/$name.argv"',
    'case $name in refuse*) echo "sbatch: error: invalid partition" >&2; echo "second line" >&2; exit 1 ;; esac',
    'echo "$((1000 + ${name#job}))"',
    '',
  ].join('\n'));
  chmodSync(path.join(bin, 'sbatch'), 0o755);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function record(name: string, workingDir: string, extra: string[] = []): SubmitRecord {
  const scriptPath = path.join(workingDir, `.ms-${name}.sbatch`);
  return {
    jobId: name, workingDir, scriptPath,
    sbatchArgs: ['--parsable', `--job-name=${name}`, ...extra, scriptPath],
    script: `#!/bin/bash\n# ${name}\nprintf '%s\\n' ${HOSTILE.map((h) => `'${h.replace(/'/g, `'\\''`)}'`).join(' ')}\n`,
  };
}

function runProgram(input: string): { status: number | null; stdout: string } {
  const result = spawnSync('bash', ['-c', SUBMIT_MANY_AS_ACCOUNT, 'ms-submit-many'], {
    input, cwd: dir, encoding: 'utf8', env: { PATH: `${bin}:/usr/bin:/bin`, LOG_DIR: dir },
  });
  return { status: result.status, stdout: result.stdout };
}

describe('the submit-many program', () => {
  it('makes each directory, writes each script byte for byte, passes argv literally and prints one line per job', () => {
    const records = [1, 2, 3, 4, 5].map((i) => record(`job${i}`, path.join(dir, `wd ${i} $(touch pwned) 'q'`, 'deeper'), HOSTILE.map((h) => `--comment=${h}`)));
    const { status, stdout } = runProgram(encodeSubmitRecords(records));
    expect(status).toBe(0);
    const lines = parseSubmitLines(stdout, new Set(records.map((r) => r.jobId)));
    expect([...lines.entries()].sort()).toEqual(records.map((r, i) => [r.jobId, { status: 0, message: String(1001 + i) }]));
    for (const r of records) {
      expect(readFileSync(r.scriptPath, 'utf8')).toBe(r.script);
      expect(readFileSync(path.join(dir, `${r.jobId}.argv`), 'utf8')).toBe(r.sbatchArgs.map((a) => `${a}\0`).join(''));
      // The script itself runs as written.
      expect(execFileSync('bash', [r.scriptPath], { encoding: 'utf8' })).toBe(HOSTILE.map((h) => `${h}\n`).join(''));
    }
    expect(existsSync(path.join(dir, 'pwned'))).toBe(false);
  });

  it("keeps each job's failure to that job: a directory it cannot make, a script it cannot write, sbatch's refusal", () => {
    writeFileSync(path.join(dir, 'a-file'), 'not a directory');
    const noDir = record('nodir', path.join(dir, 'a-file', 'sub'));
    // Its script path lies in a directory nobody made.
    const noScript = { ...record('noscript', path.join(dir, 'has-dir')), scriptPath: path.join(dir, 'has-dir', 'missing-dir', 'x.sbatch') };
    const refused = record('refuse1', path.join(dir, 'ok-refused'));
    const fine = record('job9', path.join(dir, 'ok-fine'));
    const { status, stdout } = runProgram(encodeSubmitRecords([noDir, noScript, refused, fine]));
    expect(status).toBe(0);
    const lines = parseSubmitLines(stdout, new Set(['nodir', 'noscript', 'refuse1', 'job9']));
    expect(lines.get('nodir')).toEqual({ status: MKDIR_FAILED, message: expect.stringContaining('Not a directory') });
    expect(lines.get('noscript')).toEqual({ status: WRITE_FAILED, message: expect.stringContaining('No such file or directory') });
    // sbatch's own status, and what it printed on one line.
    expect(lines.get('refuse1')).toEqual({ status: 1, message: 'sbatch: error: invalid partition second line' });
    expect(lines.get('job9')).toEqual({ status: 0, message: '1009' });
    expect(existsSync(path.join(dir, 'nodir.argv'))).toBe(false);
  });

  it('runs nothing when the input ends inside a record', () => {
    const whole = encodeSubmitRecords([record('cut1', path.join(dir, 'cut1')), record('cut2', path.join(dir, 'cut2'))]);
    const { status, stdout } = runProgram(whole.slice(0, whole.length - 10));
    expect(status).toBe(92);
    expect(stdout).toBe('');
    expect(existsSync(path.join(dir, 'cut1.argv'))).toBe(false);
  });

  it('refuses to frame a value holding NUL, and reads only lines naming jobs of the batch', () => {
    expect(() => encodeSubmitRecords([{ ...record('nul', dir), script: 'a\0b' }])).toThrow(/NUL/);
    const lines = parseSubmitLines('a\t0\t1\nstranger\t0\t2\nbroken line\nb\tx\t3\na\t0\t9\n', new Set(['a', 'b']));
    expect([...lines]).toEqual([['a', { status: 0, message: '1' }]]);
  });
});
