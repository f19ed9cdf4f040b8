#!/usr/bin/env node
// `npm test` after the build: the test files in two lanes that share nothing, run at the same time,
// each lane one file at a time (jest --runInBand).
//   - main:  everything else. Several of its files build clusters on this machine's one Slurm, one
//            stops and restarts RabbitMQ, the benchmarks measure: they must not overlap.
//   - cloud: the EC2 files. Their clusters live on test hosts of their own bridges (msbr5, msbr6),
//            their AWS is an in-process double, their databases their own; nothing on this machine's
//            Slurm or RabbitMQ. Most of their time is spent waiting on instances and playbooks.
// Each lane has its own jest process (and its own Postgres when DATABASE_URL is unset). Every line
// is prefixed with its lane; the run fails when either lane fails. Extra arguments go to both lanes.
'use strict';
const { spawn } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');

const ROOT = path.resolve(__dirname, '..');
const JEST = path.join(ROOT, 'node_modules', 'jest', 'bin', 'jest.js');
const CLOUD = 'test/integration/(ec2[A-Za-z]*|awsDouble|cloudWorkflow|benchProvision)\\.test\\.ts$';

const lanes = [
  { name: 'main ', args: ['--runInBand', '--testPathIgnorePatterns', CLOUD] },
  { name: 'cloud', args: ['--runInBand', '--testPathPattern', CLOUD] },
];

function run(lane, extra) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [JEST, ...lane.args, ...extra], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let summary = '';
    for (const stream of [child.stdout, child.stderr]) {
      readline.createInterface({ input: stream }).on('line', (line) => {
        if (/^(Tests|Test Suites):/.test(line)) summary += `[${lane.name}] ${line}\n`;
        process.stdout.write(`[${lane.name}] ${line}\n`);
      });
    }
    child.on('close', (code, signal) => resolve({ lane, code: code ?? 1, signal, summary }));
  });
}

async function main() {
  const extra = process.argv.slice(2);
  const started = Date.now();
  const results = await Promise.all(lanes.map((lane) => run(lane, extra)));
  process.stdout.write(`\n== test lanes (${Math.round((Date.now() - started) / 1000)} s)\n`);
  for (const result of results) {
    process.stdout.write(result.summary || `[${result.lane.name}] no summary (exit ${result.code}${result.signal ? `, ${result.signal}` : ''})\n`);
  }
  process.exit(results.every((r) => r.code === 0) ? 0 : 1);
}

main().catch((error) => {
  process.stderr.write(`run-tests: ${error.stack ?? error}\n`);
  process.exit(1);
});
