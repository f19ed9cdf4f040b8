// Pre-flight, before anything is recorded: do the flavor, image and network exist, and does the
// project have room (Nova's instances, cores and RAM; Neutron's ports and floating IPs)? A refusal
// names the limit. A check the cloud will not answer (down, not allowed to look) is no refusal:
// the create itself will tell.
import type { FieldError } from '../../domain/errors';
import { ProviderError, type QuotaCheck } from '../provider';
import { OpenStackConfigError, toProviderError, type NetworkChoice, type NovaFlavor, type OpenStackClient } from './client/index';
import type { OpenStackOptions } from './options';
import { guarded } from './servers';

/** The cloud's own ids for what the options name. */
export interface CloudRefs {
  flavor: NovaFlavor;
  imageId: string;
  networks: 'none' | 'auto' | NetworkChoice[];
}

const field = (name: string): string => `spec.providerOptions.${name}`;

/** Looks the flavor, image, network, security groups and key pair up; each one missing is named. */
export async function resolveRefs(client: OpenStackClient, options: OpenStackOptions): Promise<{ refs?: CloudRefs; invalid: FieldError[] }> {
  const invalid: FieldError[] = [];
  const [flavor, image, network] = await Promise.all([
    guarded(() => client.nova.findFlavor(options.flavor)),
    guarded(() => client.glance.findImage(options.image)),
    options.network === 'none' || options.network === 'auto' ? Promise.resolve(undefined) : guarded(() => client.neutron.findNetwork(options.network)),
  ]);
  if (flavor === undefined) invalid.push({ field: field('flavor'), message: `cloud '${options.cloud}' has no flavor ${JSON.stringify(options.flavor)}` });
  if (image === undefined) invalid.push({ field: field('image'), message: `cloud '${options.cloud}' has no image ${JSON.stringify(options.image)}` });
  else if (image.status !== 'active') invalid.push({ field: field('image'), message: `image ${JSON.stringify(options.image)} is ${image.status}, not active` });
  const named = options.network !== 'none' && options.network !== 'auto';
  if (named && network === undefined) invalid.push({ field: field('network'), message: `cloud '${options.cloud}' has no network ${JSON.stringify(options.network)}` });
  if (options.securityGroups.length > 0) {
    const known = new Set((await guarded(() => client.neutron.listSecurityGroups())).map((g) => g.name));
    const missing = options.securityGroups.filter((name) => !known.has(name));
    if (missing.length > 0) invalid.push({ field: field('securityGroups'), message: `cloud '${options.cloud}' has no security group ${missing.map((m) => JSON.stringify(m)).join(', ')}` });
  }
  if (options.keyName !== undefined && await guarded(() => client.nova.getKeyPair(options.keyName as string)) === undefined) {
    invalid.push({ field: field('keyName'), message: `cloud '${options.cloud}' has no key pair ${JSON.stringify(options.keyName)} for this user` });
  }
  if (invalid.length > 0 || flavor === undefined || image === undefined) return { invalid };
  const networks = named ? [{ uuid: (network as { id: string }).id }] : options.network as 'none' | 'auto';
  return { refs: { flavor, imageId: image.id, networks }, invalid };
}

/** resolveRefs for a create already accepted: something missing now is the cloud's change, said plainly. */
export async function requireRefs(client: OpenStackClient, options: OpenStackOptions): Promise<CloudRefs> {
  const { refs, invalid } = await resolveRefs(client, options);
  if (refs === undefined) throw new ProviderError('bad_request', invalid.map((e) => `${e.field}: ${e.message}`).join('; '), 'NotFound');
  return refs;
}

/** Room for `nodes` more servers of the options' flavor in the project. */
export async function checkProjectQuota(client: () => OpenStackClient, options: OpenStackOptions, nodes: number): Promise<QuotaCheck> {
  const needed: Record<string, number> = { instances: nodes };
  let cloud: OpenStackClient;
  try {
    cloud = client();
  } catch (error) {
    if (error instanceof OpenStackConfigError || error instanceof ProviderError) return { needed, errors: [], invalid: [{ field: field('cloud'), message: error.message }] };
    throw error;
  }
  try {
    const { refs, invalid } = await resolveRefs(cloud, options);
    if (refs === undefined) return { needed, errors: [], invalid };
    needed.cores = nodes * refs.flavor.vcpus;
    needed.ram = nodes * refs.flavor.ram;
    const errors: FieldError[] = [];
    const available: Record<string, number> = {};
    const limits = await guarded(() => cloud.nova.getLimits());
    const compute: Array<[string, number, number, string]> = [
      ['instances', limits.maxTotalInstances, limits.totalInstancesUsed, 'instance(s)'],
      ['cores', limits.maxTotalCores, limits.totalCoresUsed, `core(s) (${nodes} x ${refs.flavor.vcpus} of flavor ${refs.flavor.name})`],
      ['ram', limits.maxTotalRAMSize, limits.totalRAMUsed, `MB of RAM (${nodes} x ${refs.flavor.ram} of flavor ${refs.flavor.name})`],
    ];
    for (const [name, limit, used, unit] of compute) refuseOver(name, needed[name], limit, used, unit, 'Nova', available, errors);
    const neutronNeeds: Array<[string, number, string]> = [];
    if (Array.isArray(refs.networks)) neutronNeeds.push(['port', nodes, 'port(s)']);
    if (options.floatingIp) neutronNeeds.push(['floatingip', nodes, 'floating IP(s)']);
    if (neutronNeeds.length > 0) {
      const quotas = await guarded(() => cloud.neutron.getQuota());
      for (const [name, count, unit] of neutronNeeds) {
        needed[name] = count;
        const quota = quotas[name];
        if (quota !== undefined) refuseOver(name, count, quota.limit, (quota.used ?? 0) + (quota.reserved ?? 0), unit, 'Neutron', available, errors);
      }
    }
    return { needed, available, errors };
  } catch (error) {
    const failure = toProviderError(error);
    if (failure.category === 'auth') return { needed, errors: [], invalid: [{ field: field('cloud'), message: `cloud '${options.cloud}': ${failure.message}` }] };
    return { needed, errors: [] };
  }
}

/** -1 is unlimited. */
function refuseOver(
  name: string, wanted: number, limit: number, used: number, unit: string, service: string, available: Record<string, number>, errors: FieldError[],
): void {
  if (limit < 0) return;
  const left = Math.max(0, limit - used);
  available[name] = left;
  if (wanted > left) {
    errors.push({
      field: 'spec.workerCount',
      message: `needs ${wanted} ${unit} but the project's ${service} quota '${name}' is ${limit} with ${used} in use: ${left} available`,
    });
  }
}
