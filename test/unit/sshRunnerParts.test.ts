// The pure parts of the SSH runner: the remote command line (checked by running it through a real
// sh here), host key fingerprints, the error kinds, channel slots, the pid line on stderr and the
// key conversion ssh2 needs. The runner itself is tested against real sshds in
// test/integration/sshRunner.test.ts.
import { spawnSync } from 'node:child_process';
import { utils as ssh2Utils } from 'ssh2';
import { CommandError } from '../../src/exec/commandRunner';
import { CommandOutput, StderrWithPid } from '../../src/exec/commandOutput';
import { fingerprintHostKey, normalizeHost, preferredHostKeyAlgorithms } from '../../src/exec/hostKeys';
import { remoteCommandLine, RemoteCommandLineError } from '../../src/exec/remoteCommandLine';
import { Slots } from '../../src/exec/slots';
import { classifySsh2Error, HostKeyChangedError, sshCommandError, SshCommandError, SshLinkError } from '../../src/exec/sshErrors';
import { ssh2PrivateKey } from '../../src/exec/sshPrivateKey';
import { generateSshKeyPair } from '../../src/secrets/sshKeys';

/** What `sh -c LINE` does with the line, as sshd's login shell would. */
function viaShell(line: string, shell = 'sh'): { stdout: string; stderr: string; status: number | null } {
  // stdin not a socket (node's default pipes are): bash would take itself for a remote shell
  // daemon's child and read ~/.bashrc, as it does under sshd.
  const result = spawnSync(shell, ['-c', line], {
    encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { stdout: result.stdout, stderr: result.stderr, status: result.status };
}

describe('remoteCommandLine', () => {
  it('quotes every element and execs the command', () => {
    expect(remoteCommandLine(['printf', '%s', "it's"])).toBe(`exec 'printf' '%s' 'it'\\''s'`);
    expect(remoteCommandLine(['ls'], { cwd: '/tmp', env: { A: 'x y' } })).toBe(`cd -- '/tmp' && export A='x y' && exec 'ls'`);
  });

  it.each(['sh', 'bash'])('survives hostile arguments, cwd and env through a real %s', (shell) => {
    const hostile = [`it's`, '"dq"', '$(echo pwned)', '`echo pwned`', '; echo pwned', 'a\nb', '  two  spaces ', '*', '~', '$HOME', '\\', '', '-n', '#c', '!!'];
    const out = viaShell(remoteCommandLine(['printf', '[%s]\\n', ...hostile]), shell);
    expect(out).toEqual({ stdout: hostile.map((arg) => `[${arg}]\n`).join(''), stderr: '', status: 0 });
    const env = viaShell(remoteCommandLine(['sh', '-c', 'printf %s "$V"; pwd'], { cwd: '/', env: { V: "$(x) 'q' `y`" } }), shell);
    expect(env.stdout).toBe("$(x) 'q' `y`/\n");
  });

  it('stops the line when the directory cannot be entered', () => {
    const out = viaShell(remoteCommandLine(['echo', 'ran'], { cwd: '/no/such/dir' }));
    expect(out.stdout).toBe('');
    expect(out.status).not.toBe(0);
  });

  it('prints the pid line first, with the pid the command then has', () => {
    const out = viaShell(remoteCommandLine(['sh', '-c', 'echo $$'], { pidMarker: 'MARK' }));
    const match = /^MARK (\d+)\n$/.exec(out.stderr);
    expect(match).not.toBeNull();
    expect(out.stdout).toBe(`${match?.[1]}\n`); // exec: the command kept the shell's pid
  });

  it('refuses what no shell word can carry', () => {
    expect(() => remoteCommandLine([])).toThrow(RemoteCommandLineError);
    expect(() => remoteCommandLine([''])).toThrow(RemoteCommandLineError);
    expect(() => remoteCommandLine(['echo', 'a\0b'])).toThrow(RemoteCommandLineError);
    expect(() => remoteCommandLine(['true'], { env: { 'A;B': 'x' } })).toThrow(/not an environment variable name/);
    expect(() => remoteCommandLine(['true'], { env: { '1A': 'x' } })).toThrow(RemoteCommandLineError);
  });
});

describe('host key fingerprints', () => {
  // Keys made with ssh-keygen; the fingerprints are what `ssh-keygen -l` printed for them.
  const cases = [
    ['ssh-ed25519', 'AAAAC3NzaC1lZDI1NTE5AAAAICWF56ialcEJsANIMuNefqB4dc5bee4YVXg1HhGbJfja', 'SHA256:xitlH9hjiaty5rA1+CrZ7d2OFQRdTVEap/uGcEGX6dE'],
    ['ecdsa-sha2-nistp256',
      'AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBNgVDchI+KvPdhUMQEOpMcRMkB4LXOiCKTKuHe7Dqj2sfCrJA0AAs7iPUkGaB7jPfRwfctEc2lRPlaLIojl6nEM=',
      'SHA256:I6vuPRtGAeDHMH0aRbXE5OMob1C5DjMt1/8VLGnadMs'],
  ] as const;

  it.each(cases)('gives %s keys the fingerprint OpenSSH prints', (keyType, blob, fingerprint) => {
    expect(fingerprintHostKey(Buffer.from(blob, 'base64'))).toEqual({ keyType, fingerprint });
  });

  it('refuses blobs that are not SSH keys', () => {
    expect(() => fingerprintHostKey(Buffer.alloc(2))).toThrow();
    expect(() => fingerprintHostKey(Buffer.from([0, 0, 0, 9, 0x61]))).toThrow(/length/);
    expect(() => fingerprintHostKey(Buffer.from([0, 0, 0, 2, 0x20, 0x0a]))).toThrow(/key type/);
  });

  it('asks first for the algorithms of the pinned key type', () => {
    expect(preferredHostKeyAlgorithms('ssh-ed25519')).toEqual(['ssh-ed25519']);
    expect(preferredHostKeyAlgorithms('ssh-rsa')).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
    expect(preferredHostKeyAlgorithms('x-unknown')).toEqual([]);
    expect(normalizeHost(' Node1.Example.ORG ')).toBe('node1.example.org');
  });
});

describe('SSH errors', () => {
  const mismatch = {
    host: '10.0.0.5', port: 2222,
    pinned: { keyType: 'ssh-ed25519', fingerprint: 'SHA256:old' },
    presented: { keyType: 'ssh-ed25519', fingerprint: 'SHA256:new' },
  };

  it('makes a changed host key a CommandError of its own kind that names the host and both keys', () => {
    const error = sshCommandError(new SshLinkError('hostKey', 'x', mismatch), ['true'], false);
    expect(error).toBeInstanceOf(HostKeyChangedError);
    expect(error).toBeInstanceOf(CommandError);
    expect(error).toMatchObject({ failure: 'spawn', reason: 'hostKey', transient: false, host: '10.0.0.5', port: 2222 });
    expect(error.message).toMatch(/10\.0\.0\.5:2222.*SHA256:old.*SHA256:new/);
  });

  it('marks only network and local failures transient', () => {
    const transient = (reason: 'network' | 'local' | 'auth' | 'protocol' | 'closed') => new SshCommandError(reason, ['x'], 'm', false).transient;
    expect([transient('network'), transient('local'), transient('auth'), transient('protocol'), transient('closed')])
      .toEqual([true, true, false, false, false]);
  });

  it('sorts ssh2 errors by their level', () => {
    const err = (message: string, level?: string) => Object.assign(new Error(message), { level });
    expect(classifySsh2Error(err('connect ECONNREFUSED', 'client-socket'))).toBe('network');
    expect(classifySsh2Error(err('Timed out while waiting for handshake', 'client-timeout'))).toBe('network');
    expect(classifySsh2Error(err('getaddrinfo ENOTFOUND', 'client-dns'))).toBe('network');
    expect(classifySsh2Error(err('All configured authentication methods failed', 'client-authentication'))).toBe('auth');
    expect(classifySsh2Error(err('Connection lost before handshake', 'protocol'))).toBe('network');
    expect(classifySsh2Error(err('Handshake failed: no matching key exchange algorithm', 'handshake'))).toBe('protocol');
  });
});

describe('Slots', () => {
  it('lets `limit` holders in and the rest in order, each release once', async () => {
    const slots = new Slots(2);
    const first = await slots.acquire();
    const second = await slots.acquire();
    const order: number[] = [];
    const third = slots.acquire().then((release) => { order.push(3); return release; });
    const fourth = slots.acquire().then((release) => { order.push(4); return release; });
    await Promise.resolve();
    expect(order).toEqual([]);
    first();
    first(); // twice: still only one slot freed
    const releaseThird = await third;
    expect(order).toEqual([3]);
    expect(slots.inUse).toBe(2);
    second();
    (await fourth)();
    releaseThird();
    expect(slots.inUse).toBe(0);
  });

  it('drops a waiter that gives up, and turns all waiters away on refuseWaiting', async () => {
    const slots = new Slots(1);
    const held = await slots.acquire();
    const controller = new AbortController();
    const abandoned = slots.acquire(controller.signal);
    controller.abort('timeout');
    await expect(abandoned).rejects.toBe('timeout');
    const refused = slots.acquire();
    slots.refuseWaiting(new Error('closed'));
    await expect(refused).rejects.toThrow('closed');
    held();
    expect(slots.inUse).toBe(0);
    expect(() => new Slots(0)).toThrow();
  });
});

describe('command output', () => {
  it('keeps bytes up to the limit and says when past it', () => {
    const out = new CommandOutput(4);
    expect(out.push(Buffer.from('abcd'))).toBe(true);
    expect(out.push(Buffer.from('e'))).toBe(false);
    expect(new CommandOutput(10).text('latin1')).toBe('');
  });

  it('takes the pid line out of stderr, even split across chunks and after startup noise', () => {
    const pids: number[] = [];
    const err = new StderrWithPid(100, 'ms-ssh-pid-abc', (pid) => pids.push(pid));
    for (const chunk of ['motd from .bashrc\nms-ssh-p', 'id-abc 4242', '\nreal stderr\n']) expect(err.push(Buffer.from(chunk))).toBe(true);
    expect(pids).toEqual([4242]);
    expect(err.text('utf8')).toBe('motd from .bashrc\nreal stderr\n');
  });

  it('does not count the pid line against the limit, and leaves stderr alone without one', () => {
    const err = new StderrWithPid(5, 'M', () => undefined);
    expect(err.push(Buffer.from('M 99\nabcde'))).toBe(true);
    expect(err.push(Buffer.from('f'))).toBe(false);
    const plain = new StderrWithPid(100, 'M', () => { throw new Error('no pid line here'); });
    plain.push(Buffer.from('Mx 12\n'));
    expect(plain.text('utf8')).toBe('Mx 12\n');
  });
});

describe('ssh2PrivateKey', () => {
  it('turns a gateway key (PKCS#8) into a PEM ssh2 reads, with the same public key', () => {
    const pair = generateSshKeyPair('test');
    expect(ssh2Utils.parseKey(pair.privateKeyPem)).toBeInstanceOf(Error); // why the conversion exists
    const parsed = ssh2Utils.parseKey(ssh2PrivateKey(pair.privateKeyPem));
    if (parsed instanceof Error) throw parsed;
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    expect(key.getPublicSSH().toString('base64')).toBe(pair.publicKey.split(' ')[1]);
  });

  it('passes other formats through untouched', () => {
    const openssh = '-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n';
    expect(ssh2PrivateKey(openssh)).toBe(openssh);
  });
});
