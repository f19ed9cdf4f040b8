// The OpenStack part of a cluster spec. providerOptions are strings on the wire: lists are
// comma-separated, booleans 'true' or 'false'. Every bad option is named, all at once, before
// anything is recorded; whether the flavor, image and network exist is asked of the cloud in the
// pre-flight (quota.ts), which names those fields too.
import { InvalidRequestError, type FieldError } from '../../domain/errors';
import type { ClusterSpec } from '../../domain/types';
import { quote } from '../../domain/validation';

export interface OpenStackOptions {
  /** The clouds.yaml entry (OS_CLOUD-style name) the cluster lives in. */
  cloud: string;
  /** Flavor name or id. */
  flavor: string;
  /** Glance image name or id. */
  image: string;
  /** 'none' (no network), 'auto' (the project's auto-allocated one) or a Neutron network's name or id. */
  network: string;
  /** A key pair of the user's own, added to the nodes besides the cluster's key; else the cluster's pair. */
  keyName?: string;
  securityGroups: string[];
  /** A floating IP per node, which the service reaches it at. */
  floatingIp: boolean;
  /** One Heat stack (OS::Heat::ResourceGroup) for the nodes instead of one server create each. */
  template: boolean;
  sshUser: string;
  /** A cluster that failed to come up keeps its servers, for someone to look at. */
  keepOnFailure: boolean;
}

export const OPENSTACK_OPTION_KEYS = [
  'cloud', 'flavor', 'image', 'network', 'keyName', 'securityGroups', 'floatingIp', 'template', 'sshUser', 'keepOnFailure',
] as const;

// A clouds.yaml key: nothing a path or a shell would read twice.
const CLOUD_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
// Names of flavors, images, networks, groups and key pairs: printable, no control characters or commas.
const RESOURCE_NAME = /^[^\x00-\x1f\x7f,]{1,255}$/;
const SSH_USER = /^[a-z_][a-z0-9_-]{0,31}$/;
const MAX_SECURITY_GROUPS = 10;
const DEFAULT_SSH_USER = 'ubuntu';

const fieldOf = (name: string): string => `spec.providerOptions.${name}`;

/** Reads and checks the options; cloud falls back to defaultCloud (the service's OPENSTACK_CLOUD or OS_CLOUD). */
export function parseOpenStackOptions(spec: ClusterSpec, defaultCloud?: string): { options?: OpenStackOptions; errors: FieldError[] } {
  const raw = spec.providerOptions ?? {};
  const errors: FieldError[] = [];
  const fail = (name: string, message: string): void => {
    errors.push({ field: fieldOf(name), message });
  };
  const known = new Set<string>(OPENSTACK_OPTION_KEYS);
  for (const key of Object.keys(raw)) {
    if (!known.has(key)) fail(key, `is not an OpenStack option (known: ${OPENSTACK_OPTION_KEYS.join(', ')})`);
  }

  let cloud = '';
  const givenCloud = raw.cloud ?? defaultCloud;
  if (givenCloud === undefined || givenCloud.trim() === '') {
    fail('cloud', 'is required: the name of a cloud in clouds.yaml (the service has no default: OPENSTACK_CLOUD and OS_CLOUD are not set)');
  } else if (!CLOUD_NAME.test(givenCloud)) {
    fail('cloud', `${quote(givenCloud)} is not a clouds.yaml cloud name (letters, digits, '_', '.', '-', at most 64)`);
  } else {
    cloud = givenCloud;
  }

  const name = (key: 'flavor' | 'image', what: string): string => {
    const value = raw[key]?.trim();
    if (value === undefined || value === '') fail(key, `is required: ${what}`);
    else if (!RESOURCE_NAME.test(value)) fail(key, `${quote(value)} is not a name or id (1 to 255 printable characters, no commas)`);
    else return value;
    return '';
  };
  const flavor = name('flavor', 'a flavor name or id, such as m3.small');
  const image = name('image', 'an image name or id, such as Featured-Ubuntu22');

  let network = 'auto';
  if (raw.network !== undefined) {
    const value = raw.network.trim();
    if (!RESOURCE_NAME.test(value)) fail('network', `${quote(raw.network)} is not a network name or id, 'auto' or 'none'`);
    else network = value;
  }

  let keyName: string | undefined;
  if (raw.keyName !== undefined) {
    if (!RESOURCE_NAME.test(raw.keyName)) fail('keyName', `${quote(raw.keyName)} is not a key pair name`);
    else keyName = raw.keyName;
  }

  const securityGroups: string[] = [];
  if (raw.securityGroups !== undefined && raw.securityGroups.trim() !== '') {
    const items = raw.securityGroups.split(',').map((item) => item.trim());
    if (items.length > MAX_SECURITY_GROUPS) fail('securityGroups', `lists ${items.length}; at most ${MAX_SECURITY_GROUPS}`);
    else {
      items.forEach((item, i) => {
        if (item === '') fail('securityGroups', `element ${i + 1} is empty (a stray comma?)`);
        else if (!RESOURCE_NAME.test(item)) fail('securityGroups', `${quote(item)} is not a security group name`);
        else if (securityGroups.includes(item)) fail('securityGroups', `${quote(item)} is listed twice`);
        else securityGroups.push(item);
      });
    }
  }

  let sshUser = DEFAULT_SSH_USER;
  if (raw.sshUser !== undefined) {
    if (!SSH_USER.test(raw.sshUser)) fail('sshUser', `${quote(raw.sshUser)} is not a user name (a lower-case letter or _, then up to 31 of a-z, 0-9, _ and -)`);
    else sshUser = raw.sshUser;
  }

  const flag = (key: (typeof OPENSTACK_OPTION_KEYS)[number], fallback: boolean): boolean => {
    const value = raw[key];
    if (value === undefined) return fallback;
    if (value === 'true') return true;
    if (value === 'false') return false;
    fail(key, `must be 'true' or 'false' (got ${quote(value)})`);
    return fallback;
  };
  const floatingIp = flag('floatingIp', false);
  const template = flag('template', false);
  const keepOnFailure = flag('keepOnFailure', false);

  if (floatingIp && (network === 'none' || network === 'auto')) {
    fail('floatingIp', `needs a network of the project's own to attach the address to; network is '${network}'`);
  }
  if (floatingIp && template) {
    fail('floatingIp', "is not available with template=true (the stack's servers are reached at their fixed addresses)");
  }

  if (errors.length > 0) return { errors };
  return { options: { cloud, flavor, image, network, keyName, securityGroups, floatingIp, template, sshUser, keepOnFailure }, errors };
}

/** The options of a spec that passed validation; throws every field error otherwise. */
export function openStackOptionsOf(spec: ClusterSpec, defaultCloud?: string): OpenStackOptions {
  const { options, errors } = parseOpenStackOptions(spec, defaultCloud);
  if (!options) throw new InvalidRequestError(errors);
  return options;
}
