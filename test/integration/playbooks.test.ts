// Our playbooks are lint-clean (Debian's ansible-lint, production profile) and parse.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { PLAYBOOK_DIR } from '../../src/app';

jest.setTimeout(5 * 60_000);

describe('playbooks/', () => {
  it('passes ansible-lint', () => {
    const lint = spawnSync('ansible-lint', ['--offline', '--nocolor', path.basename(PLAYBOOK_DIR)], {
      cwd: path.dirname(PLAYBOOK_DIR), encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' },
    });
    if (lint.error) throw new Error(`ansible-lint could not run (${lint.error.message}): install it (scripts/bootstrap does)`);
    const summary = /Passed with \w+ profile: 0 failure\(s\), 0 warning\(s\) on (\d+) files/.exec(`${lint.stdout}\n${lint.stderr}`);
    expect(summary).not.toBeNull();
    // every playbook, role task file, handler, default and meta file was looked at
    expect(Number(summary?.[1])).toBeGreaterThanOrEqual(30);
    expect(lint.status).toBe(0);
  });

  it.each(readdirSync(PLAYBOOK_DIR).filter((f) => f.endsWith('.yml')))('%s passes ansible-playbook --syntax-check', (file) => {
    const check = spawnSync('ansible-playbook', ['--syntax-check', '-i', 'localhost,', file], { cwd: PLAYBOOK_DIR, encoding: 'utf8' });
    expect(`${check.stdout}${check.stderr}`).toContain(`playbook: ${file}`);
    expect(check.status).toBe(0);
  });

  it('puts every role tunable in its defaults', () => {
    const roles = readdirSync(path.join(PLAYBOOK_DIR, 'roles'));
    for (const role of roles) expect(readdirSync(path.join(PLAYBOOK_DIR, 'roles', role))).toContain('defaults');
  });
});
