// The service as a process on a machine without ansible-runner: it refuses to start, exit 2 and one
// line, instead of starting and failing every cluster build later; an API-only replica, which runs
// no playbook, still starts.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { readRuntimePackages } from '../../src/startup/runtimePackages';
import { createTestDatabase } from '../support/database';
import { startServiceProcess } from '../support/serviceProcess';
import { TEST_SECRET } from '../support/tokens';

/** A PATH of one directory with an executable stand-in for every runtime program but ansible-runner. */
function pathWithoutAnsibleRunner(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'ms-bin-'));
  const programs = readRuntimePackages().flatMap((pkg) => pkg.programs).filter((program) => program !== 'ansible-runner');
  expect(programs).toEqual(expect.arrayContaining(['ansible-playbook', 'ssh', 'runuser']));
  for (const program of programs) writeFileSync(path.join(dir, program), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  return dir;
}

describe('service process without ansible-runner on PATH', () => {
  it('refuses to start with exit 2 and one line naming the program and its Debian package', async () => {
    const started = startServiceProcess({
      PATH: pathWithoutAnsibleRunner(), AUTH_HS256_SECRET: TEST_SECRET, THRIFT_PORT: '0',
      DATA_DIR: mkdtempSync(path.join(tmpdir(), 'ms-noansible-')),
    });
    const error = await started.then((service) => {
      service.child.kill('SIGKILL');
      return new Error('the service started');
    }, (refused: Error) => refused);
    const match = /^service exited \((\d+)\) before listening:\n([\s\S]*)$/.exec(error.message);
    expect(match?.[1]).toBe('2');
    expect(match?.[2]).toBe('airavata-metascheduler: refusing to start: programs not on PATH: ansible-runner '
      + '(Debian package python3-ansible-runner); install as root: apt-get update && apt-get install -y --no-install-recommends python3-ansible-runner\n');
  });

  it('starts as an API-only replica (BACKGROUND_WORKERS=off), which runs no playbook', async () => {
    const database = await createTestDatabase({ migrate: false });
    try {
      const service = await startServiceProcess({
        PATH: pathWithoutAnsibleRunner(), BACKGROUND_WORKERS: 'off', DATABASE_URL: database.url,
        AUTH_HS256_SECRET: TEST_SECRET, THRIFT_PORT: '0', DATA_DIR: mkdtempSync(path.join(tmpdir(), 'ms-apionly-')),
      });
      expect(service.port).toBeGreaterThan(0);
      service.child.kill('SIGTERM');
      expect(await service.exited).toBe(0);
    } finally {
      await database.drop();
    }
  });
});
