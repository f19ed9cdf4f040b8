// Finding the cloud: clouds.yaml on the search path (first file wins), secure.yaml merged over it,
// OS_CLIENT_CONFIG_FILE in front, OS_CLOUD or an argument naming the cloud, the OS_* variables when
// none is named; every bad or missing key named, and no secret in any message. The directories are
// temporary ones handed in as options; the real ~ and /etc are never read.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { inspect } from 'node:util';
import {
  configCandidates, loadCloudConfig, OpenStackConfigError, toProviderError, type ConfigSearchOptions,
} from '../../src/providers/openstack/client/index';

let root: string;
let dirs: { cwd: string; home: string; system: string; xdg: string };

beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'os-config-'));
  dirs = { cwd: path.join(root, 'cwd'), home: path.join(root, 'home'), system: path.join(root, 'etc-openstack'), xdg: path.join(root, 'xdg') };
  for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true });
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

function write(file: string, text: string): string {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

const userDir = (): string => path.join(dirs.home, '.config', 'openstack');

function options(env: Record<string, string> = {}, extra: Partial<ConfigSearchOptions> = {}): ConfigSearchOptions {
  return { cwd: dirs.cwd, homeDir: dirs.home, systemDir: dirs.system, env, ...extra };
}

/** A password cloud whose auth_url tells which file it came from. */
function cloudsYaml(tag: string, extra = ''): string {
  return `clouds:
  devstack:
    auth:
      auth_url: http://${tag}:5000/v3
      username: demo
      password: pw-${tag}
      user_domain_name: Default
      project_name: demo
      project_domain_id: default
    region_name: RegionOne
${extra}`;
}

function caught(fn: () => unknown): OpenStackConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(OpenStackConfigError);
    return error as OpenStackConfigError;
  }
  throw new Error('expected an OpenStackConfigError');
}

function expectNoSecret(error: unknown, secrets: readonly string[]): void {
  const views = [String(error), JSON.stringify(error), inspect(error), JSON.stringify(toProviderError(error))];
  for (const secret of secrets) for (const view of views) expect(view).not.toContain(secret);
}

describe('search order', () => {
  test('current directory, then ~/.config/openstack, then /etc/openstack: the first file found wins', () => {
    write(path.join(dirs.system, 'clouds.yaml'), cloudsYaml('system'));
    expect(loadCloudConfig(options({ OS_CLOUD: 'devstack' })).credentials.authUrl).toBe('http://system:5000/v3');
    write(path.join(userDir(), 'clouds.yaml'), cloudsYaml('user'));
    expect(loadCloudConfig(options({ OS_CLOUD: 'devstack' })).credentials.authUrl).toBe('http://user:5000/v3');
    write(path.join(dirs.cwd, 'clouds.yaml'), cloudsYaml('cwd'));
    const config = loadCloudConfig(options({ OS_CLOUD: 'devstack' }));
    expect(config.credentials.authUrl).toBe('http://cwd:5000/v3');
    expect(config.source).toBe(`cloud 'devstack' in ${path.join(dirs.cwd, 'clouds.yaml')}`);
  });

  test('XDG_CONFIG_HOME/openstack comes before ~/.config/openstack; .yml and .json are read too', () => {
    write(path.join(userDir(), 'clouds.yaml'), cloudsYaml('user'));
    write(path.join(dirs.xdg, 'openstack', 'clouds.yml'), cloudsYaml('xdg'));
    expect(loadCloudConfig(options({ OS_CLOUD: 'devstack', XDG_CONFIG_HOME: dirs.xdg })).credentials.authUrl).toBe('http://xdg:5000/v3');
    write(path.join(dirs.cwd, 'clouds.json'), JSON.stringify({
      clouds: { devstack: { auth: { auth_url: 'http://json:5000', user_id: 'u1', password: 'p', project_id: 1234 } } },
    }));
    const fromJson = loadCloudConfig(options({ OS_CLOUD: 'devstack', XDG_CONFIG_HOME: dirs.xdg }));
    expect(fromJson.credentials).toMatchObject({ authUrl: 'http://json:5000', userId: 'u1', projectId: '1234' });
  });

  test('OS_CLIENT_CONFIG_FILE goes in front of the search path', () => {
    write(path.join(dirs.cwd, 'clouds.yaml'), cloudsYaml('cwd'));
    const elsewhere = write(path.join(root, 'mine.yaml'), cloudsYaml('override'));
    expect(loadCloudConfig(options({ OS_CLOUD: 'devstack', OS_CLIENT_CONFIG_FILE: elsewhere })).credentials.authUrl).toBe('http://override:5000/v3');
    expect(configCandidates('clouds', options({ OS_CLIENT_CONFIG_FILE: elsewhere })).slice(0, 3))
      .toEqual([elsewhere, path.join(dirs.cwd, 'clouds.yaml'), path.join(dirs.cwd, 'clouds.yml')]);
  });

  test('the cloud argument beats OS_CLOUD', () => {
    write(path.join(dirs.cwd, 'clouds.yaml'), `${cloudsYaml('cwd')}  other:
    auth: {auth_url: 'http://other:5000', user_id: u2, password: p2, project_id: p}
`);
    expect(loadCloudConfig(options({ OS_CLOUD: 'devstack' }, { cloud: 'other' })).credentials).toMatchObject({ authUrl: 'http://other:5000', userId: 'u2' });
  });
});

describe('secure.yaml and the environment', () => {
  test('secure.yaml (first found, anywhere on the path) is merged over the cloud', () => {
    write(path.join(dirs.cwd, 'clouds.yaml'), `clouds:
  devstack:
    auth:
      auth_url: http://cwd:5000/v3
      username: demo
      user_domain_name: Default
      project_name: demo
      project_domain_name: Default
    interface: internal
`);
    write(path.join(userDir(), 'secure.yaml'), `clouds:
  devstack:
    auth:
      password: "0123"
    compute_api_version: 2.10
`);
    const config = loadCloudConfig(options({ OS_CLOUD: 'devstack' }));
    expect(config.credentials).toEqual({
      method: 'password', authUrl: 'http://cwd:5000/v3', username: 'demo', userDomainName: 'Default', userDomainId: undefined, userId: undefined,
      password: '0123', projectName: 'demo', projectDomainName: 'Default', projectDomainId: undefined, projectId: undefined,
    });
    // Read as text: "2.10" stays 2.10, not the number 2.1.
    expect(config.computeMicroversion).toBe('2.10');
    expect(config.interface).toBe('internal');
    expect(config.source).toBe(`cloud 'devstack' in ${path.join(dirs.cwd, 'clouds.yaml')} + ${path.join(userDir(), 'secure.yaml')}`);
  });

  test('no cloud named: the OS_* variables', () => {
    const config = loadCloudConfig(options({
      OS_AUTH_URL: 'http://env:5000/v3', OS_USERNAME: 'admin', OS_PASSWORD: 'secret-env', OS_USER_DOMAIN_ID: 'default',
      OS_PROJECT_NAME: 'admin', OS_PROJECT_DOMAIN_ID: 'default', OS_REGION_NAME: 'RegionTwo', OS_INTERFACE: 'publicURL',
      OS_COMPUTE_API_VERSION: '2.60', OS_IDENTITY_API_VERSION: '3',
    }));
    expect(config).toMatchObject({
      source: 'OS_* environment', regionName: 'RegionTwo', interface: 'public', computeMicroversion: '2.60',
      credentials: { method: 'password', authUrl: 'http://env:5000/v3', username: 'admin', password: 'secret-env', userDomainId: 'default', projectName: 'admin', projectDomainId: 'default' },
    });
  });

  test('a named cloud ignores the OS_* variables', () => {
    write(path.join(dirs.cwd, 'clouds.yaml'), cloudsYaml('cwd'));
    const config = loadCloudConfig(options({ OS_CLOUD: 'devstack', OS_AUTH_URL: 'http://env:5000/v3', OS_PASSWORD: 'env-pw' }));
    expect(config.credentials).toMatchObject({ authUrl: 'http://cwd:5000/v3', password: 'pw-cwd' });
  });

  test('application credentials from the environment, by id or by name and user', () => {
    expect(loadCloudConfig(options({
      OS_AUTH_URL: 'http://env:5000', OS_AUTH_TYPE: 'v3applicationcredential', OS_APPLICATION_CREDENTIAL_ID: 'ac1', OS_APPLICATION_CREDENTIAL_SECRET: 's3cret-ac',
    })).credentials).toEqual({ method: 'application_credential', authUrl: 'http://env:5000', secret: 's3cret-ac', id: 'ac1' });
    expect(loadCloudConfig(options({
      OS_AUTH_URL: 'http://env:5000', OS_APPLICATION_CREDENTIAL_NAME: 'monitoring', OS_APPLICATION_CREDENTIAL_SECRET: 's3cret-ac', OS_USER_ID: 'u1',
    })).credentials).toMatchObject({ method: 'application_credential', name: 'monitoring', userId: 'u1' });
  });

  test('application credentials from clouds.yaml, with region list, endpoint override', () => {
    write(path.join(dirs.cwd, 'clouds.yaml'), `clouds:
  ac:
    auth_type: v3applicationcredential
    auth:
      auth_url: http://ac:5000/v3
      application_credential_id: 423f19a4ac1e4f48bbb4180756e6eb6c
      application_credential_secret: rEaqvJka48mpv
    regions:
      - name: RegionTwo
      - RegionThree
    orchestration_endpoint_override: http://heat.local:8004/v1/p
`);
    expect(loadCloudConfig(options({}, { cloud: 'ac' }))).toMatchObject({
      credentials: { method: 'application_credential', id: '423f19a4ac1e4f48bbb4180756e6eb6c', secret: 'rEaqvJka48mpv' },
      regionName: 'RegionTwo', endpointOverrides: { orchestration: 'http://heat.local:8004/v1/p' },
    });
  });
});

describe('bad or missing configuration', () => {
  test('nothing configured names OS_CLOUD', () => {
    expect(caught(() => loadCloudConfig(options())).key).toBe('OS_CLOUD');
  });

  test('a named cloud with no clouds.yaml anywhere, or not in it', () => {
    const none = caught(() => loadCloudConfig(options({ OS_CLOUD: 'devstack' })));
    expect(none.key).toBe('clouds.yaml');
    expect(none.message).toContain(dirs.system);
    write(path.join(dirs.cwd, 'clouds.yaml'), cloudsYaml('cwd'));
    expect(caught(() => loadCloudConfig(options({ OS_CLOUD: 'prod' }))).key).toBe('clouds.prod');
  });

  test.each([
    ['auth.password', 'password: pw-cwd', ''],
    ['auth.auth_url', 'auth_url: http://cwd:5000/v3', ''],
    ['auth.user_domain_name or auth.user_domain_id', 'user_domain_name: Default', ''],
    ['auth.project_domain_name or auth.project_domain_id', 'project_domain_id: default', ''],
    ['auth.project_name or auth.project_id', 'project_name: demo', ''],
    ['auth.auth_url', 'auth_url: http://cwd:5000/v3', 'auth_url: not a url'],
    ['auth.auth_url', 'auth_url: http://cwd:5000/v3', 'auth_url: http://demo:pw-cwd@cwd:5000/v3'],
    ['auth_type', 'region_name: RegionOne', 'region_name: RegionOne\n    auth_type: token'],
    ['interface', 'region_name: RegionOne', 'region_name: RegionOne\n    interface: sideways'],
    ['identity_api_version', 'region_name: RegionOne', 'region_name: RegionOne\n    identity_api_version: 2'],
    ['compute_api_version', 'region_name: RegionOne', 'region_name: RegionOne\n    compute_api_version: latest'],
  ])('%s: named, and no password in the message', (key, line, replacement) => {
    write(path.join(dirs.cwd, 'clouds.yaml'), cloudsYaml('cwd').replace(line, replacement));
    const error = caught(() => loadCloudConfig(options({ OS_CLOUD: 'devstack' })));
    expect(error.key).toBe(key);
    expect(error.message).toContain(key);
    expect(error.message).toContain("cloud 'devstack'");
    expectNoSecret(error, ['pw-cwd']);
  });

  test('environment keys are named as variables', () => {
    const error = caught(() => loadCloudConfig(options({ OS_AUTH_URL: 'http://env:5000', OS_USERNAME: 'admin', OS_USER_DOMAIN_NAME: 'Default', OS_PROJECT_ID: 'p' })));
    expect(error.key).toBe('OS_PASSWORD');
    expect(error.message).toBe('OS_* environment: OS_PASSWORD is missing (password auth)');
    const ac = caught(() => loadCloudConfig(options({ OS_AUTH_URL: 'http://env:5000', OS_APPLICATION_CREDENTIAL_SECRET: 'shh-secret' })));
    expect(ac.key).toBe('OS_APPLICATION_CREDENTIAL_ID or OS_APPLICATION_CREDENTIAL_NAME');
    expectNoSecret(ac, ['shh-secret']);
  });

  test('a file that does not parse: the place, not the file\'s text', () => {
    write(path.join(dirs.cwd, 'clouds.yaml'), 'clouds:\n  devstack:\n    auth:\n      password: super-secret-pw\n     bad: [indent\n');
    const error = caught(() => loadCloudConfig(options({ OS_CLOUD: 'devstack' })));
    expect(error.key).toBe(path.join(dirs.cwd, 'clouds.yaml'));
    expect(error.message).toBe(`${path.join(dirs.cwd, 'clouds.yaml')} does not parse at line 5, column 1 (BAD_INDENT)`);
    expectNoSecret(error, ['super-secret-pw']);
    expect(toProviderError(error)).toMatchObject({ category: 'auth', code: 'ConfigError' });
  });
});
