// Every setting of the service, read once from the environment and checked before anything starts.
// The names are part of the service's contract (README, Configuration): acceptance checks start the service with them.
import * as path from 'node:path';

export type ThriftTransport = 'buffered' | 'framed';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface AuthConfig {
  hs256Secret?: string;
  publicKeyFile?: string;
  jwksFile?: string;
}

export interface Config {
  /** Unset: an embedded Postgres under dataDir. */
  databaseUrl?: string;
  dataDir: string;
  thriftHost: string;
  thriftPort: number;
  thriftTransport: ThriftTransport;
  /** A Thrift connection with no bytes for this long, and no call being worked on, is closed. */
  thriftIdleTimeoutMs: number;
  /** Thrift connections beyond this many are closed as soon as they are accepted. */
  thriftMaxConnections: number;
  /** The longest Thrift message (framed: frame) accepted, before any token is checked. */
  thriftMaxMessageBytes: number;
  auth: AuthConfig;
  secretsKeyFile?: string;
  amqpUrl?: string;
  /** Confluent REST proxy (v2) for Airavata's real-time monitor; unset: no Kafka records. */
  kafkaRestUrl?: string;
  /** The monitor's topic (Airavata's realtime.monitor.broker.topic); required with kafkaRestUrl. */
  kafkaTopic?: string;
  logLevel: LogLevel;
  /** Largest Postgres pool the service opens. */
  dbPoolSize: number;
  /** How long SIGTERM waits for calls in flight before closing anyway. */
  shutdownGraceMs: number;
  /**
   * Whether this process runs background work (cluster workflows, dispatch, monitoring). "off"
   * makes an API-only replica: calls are served and work is queued for replicas that run it.
   */
  backgroundWorkers: boolean;
  /** Background jobs (playbooks, dispatches, polls) run at once. */
  workerConcurrency: number;
  /** How often each cluster's live jobs are polled. */
  monitorIntervalMs: number;
  /** Longest a playbook run may take. */
  playbookTimeoutMs: number;
  /**
   * Gateways that may use this machine as a cluster host (LOCAL_CLUSTER_GATEWAYS): '*' for every
   * gateway, else the listed ids; unset or empty: none.
   */
  localClusterGateways: '*' | readonly string[];
  /** On cluster nodes, where each gateway's job root lives (JOB_ROOT/<account>). */
  jobRoot: string;
  /** How often the orphan sweeper runs (SWEEP_INTERVAL_MS). */
  sweepIntervalMs: number;
  /** SWEEP_DRY_RUN=true: the sweeper reports what it would release and releases nothing. */
  sweepDryRun: boolean;
  /** AWS regions swept besides those clusters name: AWS_REGION and SWEEP_REGIONS (comma list). */
  sweepRegions: readonly string[];
  /** The AWS region for clusters whose providerOptions name none (the SDK's AWS_REGION). */
  awsRegion: string | undefined;
  /** How often EC2 is asked whether instances are running or terminated yet (EC2_POLL_INTERVAL_MS). */
  ec2PollIntervalMs: number;
  /** Longest a bought node may take to answer SSH (NODE_REACH_TIMEOUT_MS). */
  nodeReachTimeoutMs: number;
  /** The clouds.yaml cloud for OpenStack clusters whose providerOptions name none (OPENSTACK_CLOUD, else OS_CLOUD). */
  openstackCloud: string | undefined;
  /** OpenStack clouds swept besides those clusters name: OPENSTACK_CLOUD and SWEEP_CLOUDS (comma list). */
  sweepClouds: readonly string[];
  /** How often Nova and Heat are asked whether servers and stacks are there yet (OPENSTACK_POLL_INTERVAL_MS). */
  openstackPollIntervalMs: number;
  /** HPC_MISSING_GRACE_MS: how long a job may be gone from an HPC system's queue with no record before it is reported FAILED. */
  hpcMissingGraceMs: number;
  /**
   * JOB_MISSING_GRACE_MS: how long a job on a Slurm cluster we built may be unknown to Slurm (not in
   * squeue) with no completion record before it is reported UNKNOWN.
   */
  jobMissingGraceMs: number;
  /** LIVE_OUTPUT_INTERVAL_MS: a running job's stored output tails are read again at most this often. */
  liveOutputIntervalMs: number;
  /**
   * NODE_HEALTH_INTERVAL_MS: how often a Slurm cluster we built has its node states read (sinfo on
   * the controller) to tell lost nodes; 0: never. See src/workflows/nodeHealth.ts.
   */
  nodeHealthIntervalMs: number;
  /** LIVE_OUTPUT_JOBS_PER_TICK: running jobs whose output one monitor tick reads at most (0: only once a job ended). */
  liveOutputJobsPerTick: number;
  /** Tests only: a server metadata entry whose value is the node's address (OPENSTACK_ADDRESS_METADATA_KEY). */
  openstackAddressMetadataKey: string | undefined;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

/** JOB_MISSING_GRACE_MS unless set: long enough for a completion record to trail the queue, short enough to be told. */
export const DEFAULT_JOB_MISSING_GRACE_MS = 5 * 60_000;
export const DEFAULT_LIVE_OUTPUT_INTERVAL_MS = 30_000;
/** NODE_HEALTH_INTERVAL_MS unless set: a lost node is told within this of Slurm seeing it. */
export const DEFAULT_NODE_HEALTH_INTERVAL_MS = 30_000;
export const DEFAULT_LIVE_OUTPUT_JOBS_PER_TICK = 20;

/** Where gateways' job directories live on cluster nodes unless JOB_ROOT says otherwise. */
export const DEFAULT_JOB_ROOT = '/var/lib/metascheduler/jobs';

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const TRANSPORTS: readonly ThriftTransport[] = ['buffered', 'framed'];

type Env = Record<string, string | undefined>;

/** Reads the configuration; throws ConfigError naming every wrong setting at once. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const text = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };
  const oneOf = <T extends string>(name: string, allowed: readonly T[], fallback: T): T => {
    const value = text(name);
    if (value === undefined) return fallback;
    if ((allowed as readonly string[]).includes(value)) return value as T;
    problems.push(`${name}: "${value}" is not one of ${allowed.join(', ')}`);
    return fallback;
  };
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const value = text(name);
    if (value === undefined) return fallback;
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
      problems.push(`${name}: "${value}" is not a whole number from ${min} to ${max}`);
      return fallback;
    }
    return parsed;
  };

  const databaseUrl = text('DATABASE_URL');
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL: must be a postgres:// or postgresql:// URL');
  }
  const auth: AuthConfig = {
    hs256Secret: text('AUTH_HS256_SECRET'),
    publicKeyFile: text('AUTH_PUBLIC_KEY_FILE'),
    jwksFile: text('AUTH_JWKS_FILE'),
  };
  if (!auth.hs256Secret && !auth.publicKeyFile && !auth.jwksFile) {
    problems.push(
      'AUTH_HS256_SECRET, AUTH_PUBLIC_KEY_FILE, AUTH_JWKS_FILE: none is set; tokens could not be verified',
    );
  }
  if (auth.hs256Secret !== undefined && Buffer.byteLength(auth.hs256Secret) < 32) {
    // RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.
    problems.push('AUTH_HS256_SECRET: must be at least 32 bytes long');
  }
  const amqpUrl = text('AMQP_URL');
  if (amqpUrl !== undefined && !/^amqps?:\/\//.test(amqpUrl)) {
    problems.push('AMQP_URL: must be an amqp:// or amqps:// URL');
  }
  const kafkaRestUrl = text('KAFKA_REST_URL');
  const kafkaTopic = text('KAFKA_TOPIC');
  if (kafkaRestUrl !== undefined) {
    if (!/^https?:\/\//.test(kafkaRestUrl)) problems.push('KAFKA_REST_URL: must be an http:// or https:// URL');
    if (amqpUrl === undefined) problems.push('KAFKA_REST_URL: needs AMQP_URL (job events are published only when AMQP_URL is set)');
    if (kafkaTopic === undefined) problems.push("KAFKA_TOPIC: required with KAFKA_REST_URL (Airavata's realtime.monitor.broker.topic)");
  } else if (kafkaTopic !== undefined) {
    problems.push('KAFKA_TOPIC: set without KAFKA_REST_URL');
  }

  const localGateways = text('LOCAL_CLUSTER_GATEWAYS');
  const localClusterGateways = localGateways === '*' ? '*'
    : (localGateways ?? '').split(',').map((id) => id.trim()).filter((id) => id !== '');
  if (localClusterGateways !== '*' && localClusterGateways.includes('*')) {
    problems.push('LOCAL_CLUSTER_GATEWAYS: "*" stands alone (every gateway), not in a list');
  }
  const jobRoot = text('JOB_ROOT') ?? DEFAULT_JOB_ROOT;
  if (!path.posix.isAbsolute(jobRoot) || path.posix.normalize(jobRoot) !== jobRoot || jobRoot === '/' || !/^[A-Za-z0-9_./-]+$/.test(jobRoot)) {
    problems.push('JOB_ROOT: must be a normalized absolute path other than / (letters, digits, "_", ".", "-", "/")');
  }

  const awsRegion = text('AWS_REGION') ?? text('AWS_DEFAULT_REGION');
  const regionList = (text('SWEEP_REGIONS') ?? '').split(',').map((r) => r.trim()).filter((r) => r !== '');
  for (const region of [...regionList, ...(awsRegion ? [awsRegion] : [])]) {
    if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) problems.push(`SWEEP_REGIONS / AWS_REGION: "${region}" is not an AWS region name (like us-east-1)`);
  }
  const sweepRegions = [...new Set([...(awsRegion ? [awsRegion] : []), ...regionList])];

  const openstackCloud = text('OPENSTACK_CLOUD') ?? text('OS_CLOUD');
  const cloudList = (text('SWEEP_CLOUDS') ?? '').split(',').map((c) => c.trim()).filter((c) => c !== '');
  for (const cloud of [...cloudList, ...(openstackCloud ? [openstackCloud] : [])]) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(cloud)) problems.push(`SWEEP_CLOUDS / OPENSTACK_CLOUD: "${cloud}" is not a clouds.yaml cloud name`);
  }
  const sweepClouds = [...new Set([...(openstackCloud ? [openstackCloud] : []), ...cloudList])];
  const addressKey = text('OPENSTACK_ADDRESS_METADATA_KEY');
  if (addressKey !== undefined && !/^[A-Za-z0-9_:.-]{1,255}$/.test(addressKey)) {
    problems.push('OPENSTACK_ADDRESS_METADATA_KEY: a metadata key (letters, digits, "_", ":", ".", "-")');
  }

  const config: Config = {
    databaseUrl,
    dataDir: path.resolve(text('DATA_DIR') ?? './.data'),
    thriftHost: text('THRIFT_HOST') ?? '127.0.0.1',
    thriftPort: integer('THRIFT_PORT', 9190, 0, 65535),
    thriftTransport: oneOf('THRIFT_TRANSPORT', TRANSPORTS, 'buffered'),
    thriftIdleTimeoutMs: integer('THRIFT_IDLE_TIMEOUT_MS', 60_000, 100, 24 * 3_600_000),
    thriftMaxConnections: integer('THRIFT_MAX_CONNECTIONS', 1024, 1, 1_000_000),
    // A framed transport's length is a signed 32-bit number: 1 GiB leaves it room.
    thriftMaxMessageBytes: integer('THRIFT_MAX_MESSAGE_BYTES', 16 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    auth,
    secretsKeyFile: text('SECRETS_KEY_FILE'),
    amqpUrl,
    kafkaRestUrl,
    kafkaTopic,
    logLevel: oneOf('LOG_LEVEL', LOG_LEVELS, 'info'),
    dbPoolSize: integer('DB_POOL_SIZE', 16, 1, 200),
    shutdownGraceMs: integer('SHUTDOWN_GRACE_MS', 30_000, 0, 600_000),
    backgroundWorkers: oneOf('BACKGROUND_WORKERS', ['on', 'off'] as const, 'on') === 'on',
    workerConcurrency: integer('WORKER_CONCURRENCY', 4, 1, 64),
    monitorIntervalMs: integer('MONITOR_INTERVAL_MS', 1000, 100, 600_000),
    playbookTimeoutMs: integer('PLAYBOOK_TIMEOUT_MS', 30 * 60_000, 10_000, 24 * 3_600_000),
    localClusterGateways,
    jobRoot,
    sweepIntervalMs: integer('SWEEP_INTERVAL_MS', 600_000, 1000, 7 * 24 * 3_600_000),
    sweepDryRun: oneOf('SWEEP_DRY_RUN', ['true', 'false'] as const, 'false') === 'true',
    sweepRegions,
    awsRegion,
    ec2PollIntervalMs: integer('EC2_POLL_INTERVAL_MS', 5000, 10, 600_000),
    nodeReachTimeoutMs: integer('NODE_REACH_TIMEOUT_MS', 600_000, 1000, 24 * 3_600_000),
    openstackCloud,
    sweepClouds,
    openstackPollIntervalMs: integer('OPENSTACK_POLL_INTERVAL_MS', 2000, 10, 600_000),
    hpcMissingGraceMs: integer('HPC_MISSING_GRACE_MS', 60_000, 1000, 3_600_000),
    jobMissingGraceMs: integer('JOB_MISSING_GRACE_MS', DEFAULT_JOB_MISSING_GRACE_MS, 1000, 24 * 3_600_000),
    liveOutputIntervalMs: integer('LIVE_OUTPUT_INTERVAL_MS', DEFAULT_LIVE_OUTPUT_INTERVAL_MS, 1000, 24 * 3_600_000),
    nodeHealthIntervalMs: integer('NODE_HEALTH_INTERVAL_MS', DEFAULT_NODE_HEALTH_INTERVAL_MS, 0, 24 * 3_600_000),
    liveOutputJobsPerTick: integer('LIVE_OUTPUT_JOBS_PER_TICK', DEFAULT_LIVE_OUTPUT_JOBS_PER_TICK, 0, 1000),
    openstackAddressMetadataKey: addressKey,
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
