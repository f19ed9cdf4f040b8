// The real OpenStack test cloud that scripts/openstack-test-cloud runs on 127.0.0.1: its clouds,
// loaded the way the service loads a cloud, and the few admin calls tests need to shape it (quotas,
// application credentials). Plain fetch against Keystone and Nova; no part of the client under test.
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { loadCloudConfig, type CloudConfig } from '../../../src/providers/openstack/client/config';
import { authRequest, selectEndpoint, tokensUrl, type CatalogService, type TokenResponse } from '../../../src/providers/openstack/client/keystone';

/** Where the script keeps its runtime files; it writes clouds.yaml there. */
export const TEST_CLOUD_DIR = process.env.OPENSTACK_TEST_CLOUD_DIR ?? '/tmp/metascheduler-openstack';
export const TEST_CLOUDS_YAML = path.join(TEST_CLOUD_DIR, 'clouds.yaml');

const NOT_UP = 'the OpenStack test cloud is not up: run scripts/openstack-test-cloud up';
const TIMEOUT_MS = 30_000;

/**
 * A cloud of the test cloud's clouds.yaml, read by the client's own loader and from nothing else:
 * test-admin (admin, project admin), test-demo (project demo: quotas raised, network test-net) or
 * test-tight (project tight: default quotas, for tests to squeeze).
 */
export function testCloudConfig(cloudName: string): CloudConfig {
  if (!existsSync(TEST_CLOUDS_YAML)) throw new Error(`${NOT_UP} (no ${TEST_CLOUDS_YAML})`);
  // Every search directory is the cloud's own, so no clouds.yaml or secure.yaml of the machine's
  // (current directory, ~/.config/openstack, /etc/openstack) mixes in.
  return loadCloudConfig({
    cloud: cloudName,
    env: { OS_CLIENT_CONFIG_FILE: TEST_CLOUDS_YAML },
    cwd: TEST_CLOUD_DIR,
    homeDir: TEST_CLOUD_DIR,
    systemDir: TEST_CLOUD_DIR,
  });
}

/** Throws, saying how to start it, unless the test cloud's Keystone answers. */
export async function requireTestCloud(): Promise<void> {
  const authUrl = testCloudConfig('test-admin').credentials.authUrl;
  let status: number;
  try {
    status = (await fetch(authUrl, { signal: AbortSignal.timeout(5_000) })).status;
  } catch (error) {
    throw new Error(`${NOT_UP} (Keystone at ${authUrl} did not answer: ${(error as Error).cause ?? (error as Error).message})`);
  }
  if (status !== 200) throw new Error(`${NOT_UP} (Keystone at ${authUrl} answered HTTP ${status})`);
}

export interface IssuedToken {
  token: string;
  userId: string;
  projectId: string;
  catalog: CatalogService[];
}

/** A project-scoped token of the cloud's user (never logged: the caller holds it). */
export async function issueToken(cloudName: string): Promise<IssuedToken> {
  const config = testCloudConfig(cloudName);
  const response = await fetch(tokensUrl(config.credentials.authUrl), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(authRequest(config.credentials)),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const token = response.headers.get('x-subject-token');
  if (response.status !== 201 || token === null) {
    throw new Error(`token for ${cloudName}: Keystone answered HTTP ${response.status}: ${await response.text()}`);
  }
  const body = (await response.json()) as TokenResponse;
  return { token, userId: body.token.user?.id ?? '', projectId: body.token.project?.id ?? '', catalog: body.token.catalog ?? [] };
}

/** A token of test-admin, project admin. */
export async function adminToken(): Promise<string> {
  return (await issueToken('test-admin')).token;
}

/** A request with a token; the reply's JSON (undefined for an empty body). Fails on an unexpected status. */
async function call(method: string, url: string, token: string, expected: number[], body?: unknown): Promise<unknown> {
  const response = await fetch(url, {
    method,
    headers: { 'X-Auth-Token': token, Accept: 'application/json', ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const text = await response.text();
  if (!expected.includes(response.status)) {
    throw new Error(`${method} ${new URL(url).pathname}: HTTP ${response.status}: ${text.slice(0, 500)}`);
  }
  return text === '' ? undefined : JSON.parse(text);
}

function keystoneUrl(pathname: string): string {
  const authUrl = testCloudConfig('test-admin').credentials.authUrl.replace(/\/+$/, '');
  return `${authUrl}${pathname}`;
}

/** The id of a project of the Default domain, by name. */
export async function projectIdOf(name: string): Promise<string> {
  const query = new URLSearchParams({ name, domain_id: 'default' });
  const reply = (await call('GET', keystoneUrl(`/projects?${query}`), await adminToken(), [200])) as { projects: Array<{ id: string }> };
  if (reply.projects.length !== 1) throw new Error(`project ${name}: ${reply.projects.length} found in the test cloud, expected 1`);
  return reply.projects[0].id;
}

export interface ComputeQuota {
  instances?: number;
  cores?: number;
  ram?: number;
}

async function quotaSetUrl(projectName: string): Promise<{ url: string; token: string }> {
  const admin = await issueToken('test-admin');
  const compute = selectEndpoint(admin.catalog, { type: 'compute', interface: 'public', region: testCloudConfig('test-admin').regionName });
  return { url: `${compute.replace(/\/+$/, '')}/os-quota-sets/${await projectIdOf(projectName)}`, token: admin.token };
}

/** Sets the project's Nova quotas (as admin); the others stay. Returns the project's quotas after. */
export async function setComputeQuota(projectName: string, quota: ComputeQuota): Promise<Required<ComputeQuota>> {
  const { url, token } = await quotaSetUrl(projectName);
  const reply = (await call('PUT', url, token, [200], { quota_set: quota })) as { quota_set: Required<ComputeQuota> };
  const { instances, cores, ram } = reply.quota_set;
  return { instances, cores, ram };
}

/** Puts the project's Nova quotas back to the cloud's defaults (10 instances, 20 cores, 50 GiB RAM). */
export async function resetComputeQuota(projectName: string): Promise<void> {
  const { url, token } = await quotaSetUrl(projectName);
  await call('DELETE', url, token, [202, 204]);
}

export interface ApplicationCredential {
  id: string;
  secret: string;
}

/** An application credential of the cloud's user for its project, made by that user. */
export async function createApplicationCredential(cloudName: string, name: string): Promise<ApplicationCredential> {
  const user = await issueToken(cloudName);
  const reply = (await call('POST', keystoneUrl(`/users/${user.userId}/application_credentials`), user.token, [201], {
    application_credential: { name, description: 'made by a meta-scheduler test' },
  })) as { application_credential: ApplicationCredential };
  return { id: reply.application_credential.id, secret: reply.application_credential.secret };
}

/** Deletes one of the user's application credentials; one already gone counts as deleted. */
export async function deleteApplicationCredential(cloudName: string, id: string): Promise<void> {
  const user = await issueToken(cloudName);
  await call('DELETE', keystoneUrl(`/users/${user.userId}/application_credentials/${id}`), user.token, [204, 404]);
}
