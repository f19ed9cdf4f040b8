// gen-ts/ is committed; it must be exactly what `npm run gen` makes from thrift-idl/ today.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ROOT } from '../support/serviceProcess';

function listFiles(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const relative = path.join(prefix, entry.name);
    return entry.isDirectory() ? listFiles(path.join(dir, entry.name), relative) : [relative];
  }).sort();
}

describe('gen-ts/', () => {
  it('is up to date with thrift-idl/ (run `npm run gen` and commit if this fails)', () => {
    const fresh = path.join(mkdtempSync(path.join(tmpdir(), 'ms-gen-')), 'gen-ts');
    execFileSync(process.execPath, [path.join(ROOT, 'scripts/gen-ts.js'), fresh], { cwd: ROOT, stdio: 'pipe' });
    const committed = path.join(ROOT, 'gen-ts');
    expect(listFiles(committed)).toEqual(listFiles(fresh));
    for (const file of listFiles(fresh)) {
      const same = readFileSync(path.join(fresh, file), 'utf8') === readFileSync(path.join(committed, file), 'utf8');
      if (!same) throw new Error(`gen-ts/${file} is stale: run npm run gen`);
    }
  });

  it('compiles for Python with Apache\'s compiler too', () => {
    const out = mkdtempSync(path.join(tmpdir(), 'ms-py-'));
    execFileSync('thrift', ['-r', '--gen', 'py', '-I', 'thrift-idl', '-out', out, 'thrift-idl/metascheduler.thrift'], { cwd: ROOT });
    expect(listFiles(out)).toEqual(expect.arrayContaining([
      path.join('airavata', 'metascheduler', 'JobService.py'),
      path.join('airavata', 'metascheduler', 'base', 'ttypes.py'),
    ]));
  });
});
