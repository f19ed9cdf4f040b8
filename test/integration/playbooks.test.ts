// Our playbooks are lint-clean (Debian's ansible-lint, production profile) and parse.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
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

  it('defines every variable a role names after itself in its defaults (or registers or sets it)', () => {
    const roles = readdirSync(path.join(PLAYBOOK_DIR, 'roles'));
    const undefinedVars: string[] = [];
    for (const role of roles) {
      const dir = path.join(PLAYBOOK_DIR, 'roles', role);
      const text = (sub: string) => (existsSync(path.join(dir, sub))
        ? readdirSync(path.join(dir, sub)).map((f) => readFileSync(path.join(dir, sub, f), 'utf8')).join('\n') : '');
      const defaults = text('defaults');
      const body = `${text('tasks')}\n${text('templates')}\n${text('handlers')}`;
      const own = new RegExp(`\\b${role}_[a-z0-9_]+\\b`, 'g');
      const defined = new Set([
        ...[...defaults.matchAll(/^([a-z0-9_]+):/gm)].map((m) => m[1]),
        ...[...body.matchAll(/register:\s*([a-z0-9_]+)/g)].map((m) => m[1]),
        ...[...body.matchAll(/^\s+([a-z0-9_]+):\s*(?:>-|"|\||\S)/gm)].map((m) => m[1]).filter((name) => name.startsWith(`${role}_`)),
      ]);
      for (const name of new Set(body.match(own) ?? [])) if (!defined.has(name)) undefinedVars.push(`${role}: ${name}`);
      expect(defaults.length).toBeGreaterThan(0);
    }
    expect(undefinedVars).toEqual([]);
  });
});
