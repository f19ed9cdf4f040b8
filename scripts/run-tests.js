#!/usr/bin/env node
// `npm test` after the build: the test files in three lanes that share nothing, run at the same
// time, each lane one file at a time (jest --runInBand).
//   - main:  everything else. Several of its files build clusters on this machine's one Slurm, the
//            benchmarks measure: they must not overlap.
//   - cloud: files whose clusters live on test machines of their own bridges, never on this
//            machine's Slurm, and that spend most of their time waiting on servers and playbooks:
//            first EC2 (an in-process AWS double), the HPC site (scripts/test-hpc-site, its
//            own Slurm on its own machines) and the Mesos cluster (ZooKeeper on a test machine),
//            while `scripts/openstack-test-cloud up` brings the real test cloud up beside them
//            (minutes the first time: it installs and migrates; seconds when it is up already);
//            then the OpenStack files, once it is up. When `up` fails, the OpenStack part fails
//            with the script's message (the rest of the lane still runs).
//   - proof: the whole-system failure suites (FAILURE_RUNS below), bounded.
// The machine has 2 cores: a third lane of busy files (OpenStack's, tried) made every lane slower
// and the tests that wait on playbooks time out; the failure suites mostly wait, and end well
// before the other two lanes. The cloud's `up` overlaps only the first part of the cloud lane.
// (npm's pretest, scripts/bootstrap, has finished its apt-get by then; the script's own apt-get
// waits for dpkg's lock anyway.) When every lane is done, `scripts/openstack-test-cloud down` stops
// the cloud, unless KEEP_TEST_CLOUD=1 (the next run then finds it up).
// Each jest run has its own process (and its own Postgres when DATABASE_URL is unset). Every line
// is prefixed with its lane; the run fails when a lane or the cloud's stop fails. Extra arguments
// go to every jest run.
'use strict';
const { spawn } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');

const ROOT = path.resolve(__dirname, '..');
const JEST = path.join(ROOT, 'node_modules', 'jest', 'bin', 'jest.js');
const TEST_CLOUD = path.join(ROOT, 'scripts', 'openstack-test-cloud');
const EC2 = 'test/integration/(ec2[A-Za-z]*|awsDouble|cloudWorkflow|benchProvision)\\.test\\.ts$';
const OPENSTACK = 'test/integration/openstack[A-Za-z0-9]*\\.test\\.ts$';

const SITES = 'test/integration/(hpcSite|mesosCluster)\\.test\\.ts$';

const CLOUD = `(${EC2})|(${SITES})|(${OPENSTACK})`;

// Whole-system failure suites, bounded for CI (their defaults: 10 kills, a 3-minute soak, short
// outages): each on test machines of its own bridge, never this machine's Slurm, and mostly
// waiting (on kills and restarts, outages, slurmd timeouts, a job every 2 s). A lane of their own,
// beside the others. The long versions run with `npm run test:failure` and the knobs in
// RELIABILITY.md.
const FAILURE_RUNS = 'test/reliability/(crashChaos|soak|lostNodes|dependenciesDown)\\.test\\.ts$';
// The replica and SSH runner files stay in the main lane although their test machines are their
// own. Moved behind the failure suites (to even the lanes out by 3 minutes), beside the main
// lane's own cluster builds, a CI run failed one test in each, which neither reproduced alone nor
// in the next full run; in the main lane they have passed in every CI run.

/** Each lane is jest runs one after the other; a run marked needsTestCloud waits for `up`. */
const lanes = [
  { name: 'main ', runs: [{ args: ['--runInBand', '--testPathIgnorePatterns', CLOUD, FAILURE_RUNS] }] },
  { name: 'proof', runs: [{ args: ['--runInBand', '--testPathPattern', FAILURE_RUNS] }] },
  {
    name: 'cloud',
    startsTestCloud: true,
    runs: [
      { args: ['--runInBand', '--testPathPattern', `(${EC2})|(${SITES})`] },
      { args: ['--runInBand', '--testPathPattern', OPENSTACK], needsTestCloud: true },
    ],
  },
];

/** Runs a command with each output line prefixed by the lane; resolves with its exit and its last lines. */
function runPrefixed(laneName, command, args, onLine = () => {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail = [];
    for (const stream of [child.stdout, child.stderr]) {
      readline.createInterface({ input: stream }).on('line', (line) => {
        tail.push(line);
        if (tail.length > 5) tail.shift();
        onLine(line);
        process.stdout.write(`[${laneName}] ${line}\n`);
      });
    }
    child.on('error', (error) => resolve({ code: 1, signal: null, tail: [`cannot run ${command}: ${error.message}`] }));
    child.on('close', (code, signal) => resolve({ code: code ?? 1, signal, tail }));
  });
}

/** scripts/openstack-test-cloud ACTION, its lines prefixed [cloud]. */
function testCloud(action) {
  return runPrefixed('cloud', 'bash', [TEST_CLOUD, action]);
}

/** The script's own last words: its final "openstack-test-cloud: ..." line, else its last line. */
function messageOf(result) {
  const said = result.tail.filter((line) => line.startsWith('openstack-test-cloud:'));
  return said.at(-1) ?? result.tail.at(-1) ?? `exit ${result.code}${result.signal ? `, ${result.signal}` : ''}`;
}

async function runLane(lane, extra) {
  // The cloud comes up beside the lane's first runs; only the runs that need it wait for it.
  const up = lane.startsTestCloud ? testCloud('up') : undefined;
  let summary = '';
  let code = 0;
  for (const run of lane.runs) {
    if (run.needsTestCloud) {
      const result = await up;
      if (!result || result.code !== 0) {
        summary += `[${lane.name}] OpenStack files not run: scripts/openstack-test-cloud up failed: ${result ? messageOf(result) : 'not started'}\n`;
        code = 1;
        continue;
      }
    }
    let said = '';
    const jest = await runPrefixed(lane.name, process.execPath, [JEST, ...run.args, ...extra], (line) => {
      if (/^(Tests|Test Suites):/.test(line)) said += `[${lane.name}] ${line}\n`;
    });
    summary += said || `[${lane.name}] no summary (exit ${jest.code}${jest.signal ? `, ${jest.signal}` : ''})\n`;
    if (jest.code !== 0) code = jest.code;
  }
  // A lane that never needed the cloud still waits for its `up` to end before `down` runs.
  if (up) await up;
  return { lane, code, summary };
}

async function main() {
  const extra = process.argv.slice(2);
  const started = Date.now();
  const results = await Promise.all(lanes.map((lane) => runLane(lane, extra)));
  let cloudStop = '[cloud] test cloud left running (KEEP_TEST_CLOUD=1)\n';
  let cloudStopped = true;
  if (process.env.KEEP_TEST_CLOUD !== '1') {
    const down = await testCloud('down');
    cloudStopped = down.code === 0;
    cloudStop = cloudStopped ? '' : `[cloud] scripts/openstack-test-cloud down failed: ${messageOf(down)}\n`;
  }
  process.stdout.write(`\n== test lanes (${Math.round((Date.now() - started) / 1000)} s)\n`);
  for (const result of results) process.stdout.write(result.summary);
  process.stdout.write(cloudStop);
  process.exit(cloudStopped && results.every((r) => r.code === 0) ? 0 : 1);
}

main().catch((error) => {
  process.stderr.write(`run-tests: ${error.stack ?? error}\n`);
  process.exit(1);
});
