// The EC2 part of a cluster spec: providerOptions are strings on the wire, so lists are
// comma-separated and booleans are 'true' or 'false'. Every bad option is named, all at once,
// before anything is recorded or bought.
import { InvalidRequestError, type FieldError } from '../../domain/errors';
import type { ClusterSpec } from '../../domain/types';
import { quote } from '../../domain/validation';

export interface Ec2Options {
  region: string;
  imageId: string;
  /** In order of preference: the next one is tried when EC2 has no capacity for the one before. */
  instanceTypes: string[];
  /** In order of preference; empty: the region's default VPC and subnet. */
  subnetIds: string[];
  /** Empty: the VPC's default security group. */
  securityGroupIds: string[];
  sshUser: string;
  /** Nodes are reached at their public address (true) or their private one (false). */
  publicIp: boolean;
  /** Spot instances first, on-demand where spot has no capacity. */
  spot: boolean;
  /** Nodes bought as one CloudFormation stack instead of one RunInstances each. */
  template: boolean;
  /** A cluster that failed to come up keeps its instances, for someone to look at. */
  keepOnFailure: boolean;
}

const IMAGE_ID = /^ami-[0-9a-f]{8,17}$/;
const SUBNET_ID = /^subnet-[0-9a-f]{8,17}$/;
const SECURITY_GROUP_ID = /^sg-[0-9a-f]{8,17}$/;
// Family (t3, m5d, u-6tb1, mac2-m2pro), a dot, a size (micro, 2xlarge, metal-48xl).
const INSTANCE_TYPE = /^[a-z][a-z0-9-]{0,24}\.[a-z0-9-]{1,24}$/;
// us-east-1, eu-central-2, us-gov-west-1, cn-northwest-1, us-isob-east-1.
const REGION = /^[a-z]{2}(-[a-z]+){1,3}-\d{1,2}$/;
// A POSIX account name an AMI's cloud-init would create; nothing a shell or ssh would read twice.
const SSH_USER = /^[a-z_][a-z0-9_-]{0,31}$/;

/** EC2 allows 5 security groups per network interface by default; the lists stay short. */
const MAX_INSTANCE_TYPES = 10;
const MAX_SUBNETS = 16;
const MAX_SECURITY_GROUPS = 5;

const DEFAULT_SSH_USER = 'ec2-user';

const KNOWN_KEYS = [
  'region', 'imageId', 'instanceTypes', 'subnetIds', 'securityGroupIds', 'sshUser', 'publicIp', 'spot', 'template',
  'keepOnFailure',
] as const;

const fieldOf = (name: string): string => `spec.providerOptions.${name}`;

/** Reads and checks the EC2 options; region falls back to defaultRegion (the service's AWS_REGION). */
export function parseEc2Options(spec: ClusterSpec, defaultRegion?: string): { options?: Ec2Options; errors: FieldError[] } {
  const raw = spec.providerOptions ?? {};
  const errors: FieldError[] = [];
  const fail = (name: string, message: string): void => {
    errors.push({ field: fieldOf(name), message });
  };
  const known = new Set<string>(KNOWN_KEYS);
  for (const key of Object.keys(raw)) {
    if (!known.has(key)) fail(key, `is not an EC2 option (known: ${KNOWN_KEYS.join(', ')})`);
  }

  const region = readRegion(raw.region, defaultRegion, (m) => fail('region', m));

  let imageId = '';
  if (raw.imageId === undefined || raw.imageId.trim() === '') fail('imageId', 'is required (an AMI id such as ami-0123456789abcdef0)');
  else if (!IMAGE_ID.test(raw.imageId.trim())) fail('imageId', `${quote(raw.imageId)} is not an AMI id (ami- and 8 to 17 hex digits)`);
  else imageId = raw.imageId.trim();

  const instanceTypes = readList(raw.instanceTypes, 'instanceTypes', {
    required: true, max: MAX_INSTANCE_TYPES, pattern: INSTANCE_TYPE, what: 'an instance type such as t3.micro',
  }, fail);
  const subnetIds = readList(raw.subnetIds, 'subnetIds', {
    required: false, max: MAX_SUBNETS, pattern: SUBNET_ID, what: 'a subnet id (subnet- and 8 to 17 hex digits)',
  }, fail);
  const securityGroupIds = readList(raw.securityGroupIds, 'securityGroupIds', {
    required: false, max: MAX_SECURITY_GROUPS, pattern: SECURITY_GROUP_ID, what: 'a security group id (sg- and 8 to 17 hex digits)',
  }, fail);

  let sshUser = DEFAULT_SSH_USER;
  if (raw.sshUser !== undefined) {
    if (!SSH_USER.test(raw.sshUser)) {
      fail('sshUser', `${quote(raw.sshUser)} is not a user name (a lower-case letter or _, then up to 31 of a-z, 0-9, _ and -)`);
    } else {
      sshUser = raw.sshUser;
    }
  }

  const flag = (name: (typeof KNOWN_KEYS)[number], fallback: boolean): boolean => {
    const value = raw[name];
    if (value === undefined) return fallback;
    if (value === 'true') return true;
    if (value === 'false') return false;
    fail(name, `must be 'true' or 'false' (got ${quote(value)})`);
    return fallback;
  };
  const publicIp = flag('publicIp', true);
  const spot = flag('spot', false);
  const template = flag('template', false);
  const keepOnFailure = flag('keepOnFailure', false);

  if (errors.length > 0 || region === undefined) return { errors };
  return {
    options: { region, imageId, instanceTypes, subnetIds, securityGroupIds, sshUser, publicIp, spot, template, keepOnFailure },
    errors,
  };
}

/** The options of a spec that passed validation; throws every field error otherwise. */
export function ec2OptionsOf(spec: ClusterSpec, defaultRegion?: string): Ec2Options {
  const { options, errors } = parseEc2Options(spec, defaultRegion);
  if (!options) throw new InvalidRequestError(errors);
  return options;
}

function readRegion(value: string | undefined, defaultRegion: string | undefined, fail: (m: string) => void): string | undefined {
  if (value !== undefined) {
    if (REGION.test(value)) return value;
    fail(`${quote(value)} is not an AWS region (such as us-east-1)`);
    return undefined;
  }
  if (defaultRegion !== undefined && defaultRegion !== '') {
    if (REGION.test(defaultRegion)) return defaultRegion;
    fail(`is not given and the service's default region ${quote(defaultRegion)} (AWS_REGION) is not an AWS region`);
    return undefined;
  }
  fail('is required: the service has no default region (AWS_REGION is not set)');
  return undefined;
}

interface ListRule {
  required: boolean;
  max: number;
  pattern: RegExp;
  what: string;
}

/** 'a, b,c' -> ['a', 'b', 'c']; each element checked, duplicates and empty elements refused. */
function readList(value: string | undefined, name: string, rule: ListRule, fail: (name: string, m: string) => void): string[] {
  if (value === undefined || value.trim() === '') {
    if (rule.required) fail(name, `is required: one or more of ${rule.what}, comma-separated`);
    return [];
  }
  const items = value.split(',').map((item) => item.trim());
  if (items.length > rule.max) {
    fail(name, `lists ${items.length}; at most ${rule.max}`);
    return [];
  }
  const seen = new Set<string>();
  let ok = true;
  items.forEach((item, i) => {
    if (item === '') {
      fail(name, `element ${i + 1} is empty (a stray comma?)`);
      ok = false;
    } else if (!rule.pattern.test(item)) {
      fail(name, `${quote(item)} is not ${rule.what}`);
      ok = false;
    } else if (seen.has(item)) {
      fail(name, `${quote(item)} is listed twice`);
      ok = false;
    }
    seen.add(item);
  });
  return ok ? items : [];
}
