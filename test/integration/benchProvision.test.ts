// bench/provision, bounded: 5 and 10 nodes against the AWS double with a little latency. It must run
// to its end and print every figure (what CI keeps); how good they are is not asserted.
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { runNode } from '../support/runNode';

jest.setTimeout(5 * 60_000);

const BENCH = path.join(path.resolve(__dirname, '../..'), 'dist/bench/provision.js');

describe('bench/provision (bounded)', () => {
  it('buys and releases 5 and 10 nodes through the provider and through a raw SDK script, and prints the table', async () => {
    expect(existsSync(BENCH)).toBe(true);
    const { code, stdout, stderr } = await runNode(BENCH, ['--nodes', '5,10', '--latency', '5-20', '--poll', '100'], process.env);
    const output = stdout + stderr;
    expect({ code, output }).toMatchObject({ code: 0 });
    const s = '\\d+\\.\\d\\d s';
    for (const nodes of [5, 10]) {
      expect(output).toMatch(new RegExp(`^${nodes} \\| ${s} \\| ${s} \\| ${s} \\| ${s} \\| \\d+\\.\\d\\d \\| ${s} \\| ${s} \\| \\d+/\\d+$`, 'm'));
    }
    expect(output).toMatch(/^orchestration \(create, no injected latency\) per node: 5: \d+\.\d ms\/node, 10: \d+\.\d ms\/node$/m);
    expect(output).toMatch(/^orchestration at 10 nodes: \d+\.\d\d s \(target <= 10 s at 100\)$/m);
  });
});
