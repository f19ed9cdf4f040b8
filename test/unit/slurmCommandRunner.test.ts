// LocalCommandRunner, the runner the Slurm adapter uses on this machine: argv only, a clean
// environment, exit codes as results, and a timeout that does not wait for grandchildren.
import { LocalCommandRunner, CommandError } from '../../src/exec/commandRunner';

const runner = new LocalCommandRunner();

describe('LocalCommandRunner', () => {
  it('passes argv without a shell and stdin as given', async () => {
    expect(await runner.run(['printf', '%s|', '$(id)', 'a b', '*'])).toEqual({ stdout: '$(id)|a b|*|', stderr: '', exitCode: 0 });
    expect((await runner.run(['cat'], { input: 'line\n' })).stdout).toBe('line\n');
  });

  it('gives the child a base environment plus what is asked, never the service secrets', async () => {
    process.env.MS_TEST_SECRET = 'do-not-leak';
    try {
      const result = await runner.run(['sh', '-c', 'printf "%s|%s|%s" "$MS_TEST_SECRET" "$FOO" "$PATH"'], { env: { FOO: 'bar' } });
      expect(result.stdout).toBe(`|bar|${process.env.PATH}`);
    } finally {
      delete process.env.MS_TEST_SECRET;
    }
  });

  it('returns non-zero exits and signals (128+N) as results', async () => {
    expect((await runner.run(['sh', '-c', 'echo e >&2; exit 4'])).exitCode).toBe(4);
    expect((await runner.run(['sh', '-c', 'kill -TERM $$'])).exitCode).toBe(143);
  });

  it('rejects a missing program and a timeout; the timeout kills the whole process group at once', async () => {
    await expect(runner.run(['/no/such/program'])).rejects.toMatchObject({ failure: 'spawn' });
    const started = Date.now();
    const error = await runner.run(['sh', '-c', 'sleep 30 & sleep 30'], { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandError);
    expect(error).toMatchObject({ failure: 'timeout' });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('reads bytes as latin1 when asked, one char per byte', async () => {
    const result = await runner.run(['printf', 'ü\\n'], { encoding: 'latin1' });
    expect(result.stdout.length).toBe(3);
    expect(Buffer.from(result.stdout, 'latin1').toString('utf8')).toBe('ü\n');
  });
});
