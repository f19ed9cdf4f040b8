// The cloud to talk to, found the way the openstack CLI and SDK find it, so an operator's existing
// setup works unchanged: a named cloud (argument, else OS_CLOUD) from the first clouds.yaml on the
// search path with the first secure.yaml merged over it, or, when no cloud is named, the OS_*
// variables of an openrc file. Only Keystone v3 password and application-credential auth are read.
import { existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { OpenStackConfigError } from './errors';

export type EndpointInterface = 'public' | 'internal' | 'admin';

export interface PasswordCredentials {
  method: 'password';
  authUrl: string;
  password: string;
  userId?: string;
  username?: string;
  userDomainId?: string;
  userDomainName?: string;
  projectId?: string;
  projectName?: string;
  projectDomainId?: string;
  projectDomainName?: string;
}

export interface ApplicationCredentials {
  method: 'application_credential';
  authUrl: string;
  secret: string;
  id?: string;
  name?: string;
  /** The credential's owner; needed with a name, since names are unique per user only. */
  userId?: string;
  username?: string;
  userDomainId?: string;
  userDomainName?: string;
}

export type Credentials = PasswordCredentials | ApplicationCredentials;

export interface CloudConfig {
  /** Where this came from, for messages: "cloud 'devstack' in /home/u/.config/openstack/clouds.yaml" or "OS_* environment". */
  source: string;
  cloudName?: string;
  credentials: Credentials;
  regionName?: string;
  interface: EndpointInterface;
  /** compute_api_version / OS_COMPUTE_API_VERSION, when set. */
  computeMicroversion?: string;
  /** "<service type>_endpoint_override" keys: used instead of the catalog's URL for that service. */
  endpointOverrides: Record<string, string>;
}

export interface ConfigSearchOptions {
  /** The cloud's name in clouds.yaml; OS_CLOUD when absent. */
  cloud?: string;
  /** process.env when absent. */
  env?: Readonly<Record<string, string | undefined>>;
  /** The first directory searched; process.cwd() when absent. */
  cwd?: string;
  /** For ~/.config/openstack; os.homedir() when absent. */
  homeDir?: string;
  /** The system-wide directory; /etc/openstack when absent. */
  systemDir?: string;
}

// ---------------------------------------------------------------------------------------------
// Finding the files

const FILE_SUFFIXES = ['.yaml', '.yml', '.json'];

/** Directories searched, first match wins: current directory, the user's config dir(s), the system's. */
export function configSearchDirs(options: ConfigSearchOptions = {}): string[] {
  const env = options.env ?? process.env;
  const home = options.homeDir ?? os.homedir();
  const dirs = [options.cwd ?? process.cwd()];
  const xdg = env.XDG_CONFIG_HOME;
  if (xdg !== undefined && xdg !== '') dirs.push(path.join(xdg, 'openstack'));
  dirs.push(path.join(home, '.config', 'openstack'));
  dirs.push(options.systemDir ?? '/etc/openstack');
  return [...new Set(dirs)];
}

/** Candidate files for one base name ("clouds", "secure"), the override variable's file first. */
export function configCandidates(base: 'clouds' | 'secure', options: ConfigSearchOptions = {}): string[] {
  const env = options.env ?? process.env;
  const override = env[base === 'clouds' ? 'OS_CLIENT_CONFIG_FILE' : 'OS_CLIENT_SECURE_FILE'];
  const files = configSearchDirs(options).flatMap((dir) => FILE_SUFFIXES.map((suffix) => path.join(dir, base + suffix)));
  return override !== undefined && override !== '' ? [override, ...files] : files;
}

function firstExisting(files: readonly string[]): string | undefined {
  return files.find((file) => existsSync(file));
}

type YamlMap = Record<string, unknown>;

function isMap(value: unknown): value is YamlMap {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readConfigFile(file: string): YamlMap {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    throw new OpenStackConfigError(file, `cannot read ${file}: ${typeof code === 'string' ? code : 'unreadable'}`);
  }
  let doc: unknown;
  try {
    // The failsafe schema keeps every scalar a string: a password "0123" or "no", a project id of
    // digits or a microversion "2.10" must not become a number or a boolean on the way.
    doc = parseYaml(text, { schema: 'failsafe' });
  } catch (error) {
    // Only where and why (yaml's error code): its message goes on to quote the file, which holds passwords.
    throw new OpenStackConfigError(file, `${file} does not parse${parsePlace(error)}`);
  }
  if (doc === null || doc === undefined || doc === '') return {};
  if (!isMap(doc)) throw new OpenStackConfigError(file, `${file}: must be a mapping with a "clouds" key`);
  return doc;
}

function parsePlace(error: unknown): string {
  if (typeof error !== 'object' || error === null) return '';
  const { code, linePos } = error as { code?: unknown; linePos?: Array<{ line?: unknown; col?: unknown }> };
  const at = Array.isArray(linePos) && typeof linePos[0]?.line === 'number' ? ` at line ${linePos[0].line}, column ${String(linePos[0].col)}` : '';
  return `${at}${typeof code === 'string' ? ` (${code})` : ''}`;
}

function mergeDeep(base: YamlMap, over: YamlMap): YamlMap {
  const out: YamlMap = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] = isMap(current) && isMap(value) ? mergeDeep(current, value) : value;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reading the fields

/** One setting and its names in clouds.yaml (a path under the cloud) and in the environment. */
interface Field {
  yaml: string;
  env: string;
}

const FIELDS = {
  authType: { yaml: 'auth_type', env: 'OS_AUTH_TYPE' },
  authUrl: { yaml: 'auth.auth_url', env: 'OS_AUTH_URL' },
  username: { yaml: 'auth.username', env: 'OS_USERNAME' },
  userId: { yaml: 'auth.user_id', env: 'OS_USER_ID' },
  password: { yaml: 'auth.password', env: 'OS_PASSWORD' },
  userDomainName: { yaml: 'auth.user_domain_name', env: 'OS_USER_DOMAIN_NAME' },
  userDomainId: { yaml: 'auth.user_domain_id', env: 'OS_USER_DOMAIN_ID' },
  projectName: { yaml: 'auth.project_name', env: 'OS_PROJECT_NAME' },
  projectId: { yaml: 'auth.project_id', env: 'OS_PROJECT_ID' },
  projectDomainName: { yaml: 'auth.project_domain_name', env: 'OS_PROJECT_DOMAIN_NAME' },
  projectDomainId: { yaml: 'auth.project_domain_id', env: 'OS_PROJECT_DOMAIN_ID' },
  appCredentialId: { yaml: 'auth.application_credential_id', env: 'OS_APPLICATION_CREDENTIAL_ID' },
  appCredentialName: { yaml: 'auth.application_credential_name', env: 'OS_APPLICATION_CREDENTIAL_NAME' },
  appCredentialSecret: { yaml: 'auth.application_credential_secret', env: 'OS_APPLICATION_CREDENTIAL_SECRET' },
  regionName: { yaml: 'region_name', env: 'OS_REGION_NAME' },
  interface: { yaml: 'interface', env: 'OS_INTERFACE' },
  identityApiVersion: { yaml: 'identity_api_version', env: 'OS_IDENTITY_API_VERSION' },
  computeApiVersion: { yaml: 'compute_api_version', env: 'OS_COMPUTE_API_VERSION' },
} satisfies Record<string, Field>;

type FieldName = keyof typeof FIELDS;

/** Reads settings from one place, and names them the way that place does. */
interface SettingSource {
  /** For messages: "cloud 'x' in /path/clouds.yaml". */
  where: string;
  get(field: FieldName): string | undefined;
  keyOf(field: FieldName): string;
}

function scalar(value: unknown): string | undefined {
  // JSON files (clouds.json) can hold numbers and booleans; YAML is read as strings already.
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

function yamlSource(cloud: YamlMap, where: string): SettingSource {
  const at = (dotted: string): unknown => dotted.split('.').reduce<unknown>((node, key) => (isMap(node) ? node[key] : undefined), cloud);
  return {
    where,
    get: (field) => {
      const key = FIELDS[field].yaml;
      const value = scalar(at(key));
      if (value !== undefined) return value;
      // Older files say "tenant"; "endpoint_type" is the older name of "interface".
      if (field === 'projectName') return scalar(at('auth.tenant_name'));
      if (field === 'projectId') return scalar(at('auth.tenant_id'));
      if (field === 'interface') return scalar(at('endpoint_type'));
      if (field === 'regionName') return firstRegion(cloud.regions);
      return undefined;
    },
    keyOf: (field) => FIELDS[field].yaml,
  };
}

// clouds.yaml may list "regions" (names or {name: ...}) instead of one region_name; the first is the default.
function firstRegion(regions: unknown): string | undefined {
  if (!Array.isArray(regions) || regions.length === 0) return undefined;
  const first: unknown = regions[0];
  return isMap(first) ? scalar(first.name) : scalar(first);
}

function envSource(env: Readonly<Record<string, string | undefined>>): SettingSource {
  return {
    where: 'OS_* environment',
    get: (field) => {
      const value = scalar(env[FIELDS[field].env]);
      if (value !== undefined) return value;
      if (field === 'interface') return scalar(env.OS_ENDPOINT_TYPE);
      return undefined;
    },
    keyOf: (field) => FIELDS[field].env,
  };
}

function missing(source: SettingSource, key: string, why: string): OpenStackConfigError {
  return new OpenStackConfigError(key, `${source.where}: ${key} is missing (${why})`);
}

function required(source: SettingSource, field: FieldName, why: string): string {
  const value = source.get(field);
  if (value === undefined) throw missing(source, source.keyOf(field), why);
  return value;
}

function authMethodOf(source: SettingSource): Credentials['method'] {
  const type = source.get('authType');
  if (type === undefined) return source.get('appCredentialSecret') !== undefined ? 'application_credential' : 'password';
  const normalized = type.toLowerCase().replace(/[-_]/g, '');
  if (normalized === 'password' || normalized === 'v3password') return 'password';
  if (normalized === 'v3applicationcredential' || normalized === 'applicationcredential') return 'application_credential';
  // The auth type names no secret, so it may be quoted back.
  throw new OpenStackConfigError(source.keyOf('authType'),
    `${source.where}: ${source.keyOf('authType')} "${type}" is not supported (password, v3password or v3applicationcredential)`);
}

function authUrlOf(source: SettingSource): string {
  const raw = required(source, 'authUrl', 'the Keystone URL');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new OpenStackConfigError(source.keyOf('authUrl'), `${source.where}: ${source.keyOf('authUrl')} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new OpenStackConfigError(source.keyOf('authUrl'), `${source.where}: ${source.keyOf('authUrl')} must be an http(s) URL`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new OpenStackConfigError(source.keyOf('authUrl'), `${source.where}: ${source.keyOf('authUrl')} must not carry credentials`);
  }
  return raw;
}

/** A user named by name needs its domain; by id it does not. */
function userOf(source: SettingSource, why: string): Pick<PasswordCredentials, 'userId' | 'username' | 'userDomainId' | 'userDomainName'> {
  const userId = source.get('userId');
  const username = source.get('username');
  if (userId === undefined && username === undefined) {
    throw missing(source, `${source.keyOf('username')} or ${source.keyOf('userId')}`, why);
  }
  const userDomainId = source.get('userDomainId');
  const userDomainName = source.get('userDomainName');
  if (userId === undefined && userDomainId === undefined && userDomainName === undefined) {
    throw missing(source, `${source.keyOf('userDomainName')} or ${source.keyOf('userDomainId')}`, 'a user given by name needs its domain');
  }
  return { userId, username, userDomainId, userDomainName };
}

function passwordCredentials(source: SettingSource): PasswordCredentials {
  const authUrl = authUrlOf(source);
  const user = userOf(source, 'the user to authenticate as');
  const password = required(source, 'password', 'password auth');
  const projectId = source.get('projectId');
  const projectName = source.get('projectName');
  if (projectId === undefined && projectName === undefined) {
    throw missing(source, `${source.keyOf('projectName')} or ${source.keyOf('projectId')}`, 'the project to work in');
  }
  const projectDomainId = source.get('projectDomainId');
  const projectDomainName = source.get('projectDomainName');
  if (projectId === undefined && projectDomainId === undefined && projectDomainName === undefined) {
    throw missing(source, `${source.keyOf('projectDomainName')} or ${source.keyOf('projectDomainId')}`, 'a project given by name needs its domain');
  }
  return { method: 'password', authUrl, password, ...user, projectId, projectName, projectDomainId, projectDomainName };
}

function applicationCredentials(source: SettingSource): ApplicationCredentials {
  const authUrl = authUrlOf(source);
  const secret = required(source, 'appCredentialSecret', 'application credential auth');
  const id = source.get('appCredentialId');
  if (id !== undefined) return { method: 'application_credential', authUrl, secret, id };
  const name = source.get('appCredentialName');
  if (name === undefined) {
    throw missing(source, `${source.keyOf('appCredentialId')} or ${source.keyOf('appCredentialName')}`, 'the application credential to use');
  }
  return { method: 'application_credential', authUrl, secret, name, ...userOf(source, 'an application credential given by name needs its user') };
}

const INTERFACES: readonly EndpointInterface[] = ['public', 'internal', 'admin'];
const MICROVERSION = /^2\.\d+$/;

function interfaceOf(source: SettingSource): EndpointInterface {
  const raw = source.get('interface');
  if (raw === undefined) return 'public';
  // The legacy spelling is "publicURL".
  const normalized = raw.replace(/URL$/i, '').toLowerCase();
  const found = INTERFACES.find((name) => name === normalized);
  if (found === undefined) {
    throw new OpenStackConfigError(source.keyOf('interface'), `${source.where}: ${source.keyOf('interface')} "${raw}" is not public, internal or admin`);
  }
  return found;
}

function settingsFrom(source: SettingSource, cloudName: string | undefined, overrides: Record<string, string>): CloudConfig {
  const identity = source.get('identityApiVersion');
  if (identity !== undefined && identity !== '3' && identity !== '3.0') {
    throw new OpenStackConfigError(source.keyOf('identityApiVersion'),
      `${source.where}: ${source.keyOf('identityApiVersion')} "${identity}" is not supported (Keystone v3 only)`);
  }
  const method = authMethodOf(source);
  const credentials = method === 'password' ? passwordCredentials(source) : applicationCredentials(source);
  const computeMicroversion = source.get('computeApiVersion');
  if (computeMicroversion !== undefined && !MICROVERSION.test(computeMicroversion)) {
    throw new OpenStackConfigError(source.keyOf('computeApiVersion'),
      `${source.where}: ${source.keyOf('computeApiVersion')} "${computeMicroversion}" is not a compute microversion like 2.37`);
  }
  return {
    source: source.where,
    cloudName,
    credentials,
    regionName: source.get('regionName'),
    interface: interfaceOf(source),
    computeMicroversion,
    endpointOverrides: overrides,
  };
}

function endpointOverridesOf(cloud: YamlMap): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(cloud)) {
    const match = /^(.+)_endpoint_override$/.exec(key);
    const url = scalar(value);
    // clouds.yaml writes service types with underscores (object_store); the catalog with dashes.
    if (match !== null && url !== undefined) out[match[1].replace(/_/g, '-')] = url;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The entry point

/** The cloud to use, from clouds.yaml (+ secure.yaml) when one is named, else from OS_* variables. */
export function loadCloudConfig(options: ConfigSearchOptions = {}): CloudConfig {
  const env = options.env ?? process.env;
  const cloudName = options.cloud ?? scalar(env.OS_CLOUD);
  if (cloudName === undefined) {
    if (scalar(env.OS_AUTH_URL) === undefined) {
      throw new OpenStackConfigError('OS_CLOUD', 'no OpenStack cloud configured: set OS_CLOUD to a cloud in clouds.yaml, or the OS_* variables (OS_AUTH_URL, ...)');
    }
    return settingsFrom(envSource(env), undefined, {});
  }

  const cloudsFile = firstExisting(configCandidates('clouds', options));
  const secureFile = firstExisting(configCandidates('secure', options));
  if (cloudsFile === undefined && secureFile === undefined) {
    throw new OpenStackConfigError('clouds.yaml',
      `cloud '${cloudName}' was asked for but no clouds.yaml was found (looked in ${configSearchDirs(options).join(', ')})`);
  }
  const entryOf = (file: string | undefined): YamlMap | undefined => {
    if (file === undefined) return undefined;
    const clouds = readConfigFile(file).clouds;
    if (clouds === undefined) return undefined;
    if (!isMap(clouds)) throw new OpenStackConfigError(`${file}: clouds`, `${file}: "clouds" must be a mapping of cloud names`);
    const entry = clouds[cloudName];
    if (entry === undefined) return undefined;
    if (!isMap(entry)) throw new OpenStackConfigError(`clouds.${cloudName}`, `${file}: clouds.${cloudName} must be a mapping`);
    return entry;
  };
  const base = entryOf(cloudsFile);
  const secure = entryOf(secureFile);
  if (base === undefined && secure === undefined) {
    throw new OpenStackConfigError(`clouds.${cloudName}`, `cloud '${cloudName}' is not in ${cloudsFile ?? secureFile}`);
  }
  const cloud = mergeDeep(base ?? {}, secure ?? {});
  const files = [cloudsFile, secure !== undefined ? secureFile : undefined].filter((f): f is string => f !== undefined);
  return settingsFrom(yamlSource(cloud, `cloud '${cloudName}' in ${files.join(' + ')}`), cloudName, endpointOverridesOf(cloud));
}
