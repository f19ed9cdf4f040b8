// Which host addresses lead to this machine: every spelling an outside probe tried, and the names
// and interface addresses of the machine itself (a fake probe stands in for the resolver).
import { hostname } from 'node:os';
import { addressBytes, isThisMachine, mayUseThisMachine, systemProbe, type ThisMachineProbe } from '../../src/net/thisMachine';
import { gatewayAccount, gatewayRoot, resolveWorkingDir } from '../../src/domain/gatewayAccount';

const probe: ThisMachineProbe = {
  resolve: async (name) => ({
    'vm.example': ['127.0.1.1'],
    'rebind.example': ['203.0.113.9', '::1'],
    'mine.example': ['10.9.8.7'],
    '0x7f.1': ['127.0.0.1'],
    'elsewhere.example': ['203.0.113.10'],
  } as Record<string, string[]>)[name] ?? [],
  ownNames: () => ['vm'],
  ownAddresses: () => ['127.0.0.1', '::1', '10.9.8.7', 'fe80::1'],
};

describe('isThisMachine', () => {
  it.each([
    'localhost', 'LOCALHOST', 'localhost.', 'LocalHost..', 'foo.localhost', 'vm', 'VM', 'vm.',
    '127.0.0.1', '127.1.2.3', '0.0.0.0', '0.1.2.3', '::1', '0:0:0:0:0:0:0:1', '::', '[::1]',
    '::ffff:127.0.0.1', '::ffff:7f00:1', '::127.0.0.1', '::ffff:0.0.0.0', '::ffff:10.9.8.7',
    '10.9.8.7', 'fe80::1', 'fe80::1%eth0', 'vm.example', 'rebind.example', 'mine.example', '0x7f.1',
  ])('%s is this machine', async (address) => {
    await expect(isThisMachine(address, probe)).resolves.toBe(true);
  });

  it.each(['10.9.8.8', '203.0.113.10', 'elsewhere.example', 'unknown.example', '2001:db8::1', '::ffff:203.0.113.10', '::ffff:10.9.8.8'])(
    '%s is not', async (address) => {
      await expect(isThisMachine(address, probe)).resolves.toBe(false);
    });

  it("knows this machine's own name and addresses with the system resolver", async () => {
    await expect(isThisMachine(hostname(), systemProbe)).resolves.toBe(true);
    await expect(isThisMachine(hostname().toUpperCase(), systemProbe)).resolves.toBe(true);
    const own = systemProbe.ownAddresses();
    expect(own.length).toBeGreaterThan(0);
    for (const address of own) await expect(isThisMachine(address, systemProbe)).resolves.toBe(true);
    await expect(isThisMachine('192.0.2.1', systemProbe)).resolves.toBe(false);
  });

  it('parses address literals to bytes', () => {
    expect(addressBytes('::ffff:1.2.3.4')).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 1, 2, 3, 4]);
    expect(addressBytes('1::')).toEqual([0, 1, ...Array<number>(14).fill(0)]);
    expect(addressBytes('not-an-address')).toBeUndefined();
  });

  it('lets only the gateways the operator listed use this machine', () => {
    expect(mayUseThisMachine([], 'a')).toBe(false);
    expect(mayUseThisMachine(['a', 'b'], 'b')).toBe(true);
    expect(mayUseThisMachine(['a'], 'c')).toBe(false);
    expect(mayUseThisMachine('*', 'anyone')).toBe(true);
  });
});

describe('gateway accounts and job directories', () => {
  it('derives one stable, unprivileged account per gateway', () => {
    const a = gatewayAccount('seagrid');
    expect(a).toEqual(gatewayAccount('seagrid'));
    expect(a.name).toMatch(/^ms-seagrid-[0-9a-f]{8}$/);
    expect(a.uid).toBeGreaterThanOrEqual(2_000_000);
    expect(gatewayAccount('SeaGrid').name).not.toBe(a.name);
    expect(gatewayAccount('SeaGrid').uid).not.toBe(a.uid);
    const odd = gatewayAccount('../../etc/passwd; rm -rf / ' + 'x'.repeat(300));
    expect(odd.name).toMatch(/^ms-[a-z0-9-]{1,16}-[0-9a-f]{8}$/);
    expect(odd.name.length).toBeLessThanOrEqual(32);
    expect(gatewayAccount('').name).toMatch(/^ms-gw-[0-9a-f]{8}$/);
  });

  it('keeps every working directory inside the gateway root', () => {
    const root = gatewayRoot('/var/lib/metascheduler/jobs', 'seagrid');
    expect(resolveWorkingDir(root, 'j1', undefined)).toEqual({ dir: `${root}/j1` });
    expect(resolveWorkingDir(root, 'j1', 'runs/a')).toEqual({ dir: `${root}/runs/a` });
    expect(resolveWorkingDir(root, 'j1', `${root}/x`)).toEqual({ dir: `${root}/x` });
    for (const bad of ['/tmp/x', '../other', 'a/../../x', root, `${root}-evil/x`, '/', '.']) {
      expect(resolveWorkingDir(root, 'j1', bad)).toEqual({ error: { field: 'spec.workingDir', message: expect.stringContaining(root) } });
    }
  });
});
