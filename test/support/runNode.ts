// A compiled program (a benchmark) run the way an operator runs it: its own Node process, with
// the environment given, its output collected.
import { spawn } from 'node:child_process';
import { ROOT } from './serviceProcess';

export interface NodeRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runNode(file: string, args: string[], env: Record<string, string | undefined>): Promise<NodeRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
