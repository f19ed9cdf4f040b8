// The three Thrift services' handlers. Each call authenticates first, then hands the domain
// service plain values; the generated IHandler types make tsc fail on a missing call or a wrong
// result type.
import type { TokenVerifier } from '../auth/tokenVerifier';
import { InvalidRequestError, NotFoundError, UnsupportedError } from '../domain/errors';
import type { Caller } from '../domain/types';
import { PROVIDER_TYPES } from '../domain/types';
import { validateId } from '../domain/validation';
import type { ClusterService } from '../services/clusterService';
import type { GatewayKeys } from '../services/gatewayKeys';
import type { JobService } from '../services/jobService';
import type { ProvisioningService } from '../services/provisioningService';
import type { Db } from '../store/db';
import {
  fromInt64, toRawApplicationSpec, toRawClusterSpec, toRawJobSpec, toWireAllocation, toWireCluster, toWireClusterEvent, toWireJobHandle,
  toWireJobModel,
} from './convert';
import { base, ms } from './wire';

export interface HandlerDeps {
  verifier: TokenVerifier;
  gatewayKeys: GatewayKeys;
  jobs: JobService;
  clusters: ClusterService;
  provisioning: ProvisioningService;
  db: Db;
}

function authenticator(verifier: TokenVerifier): (token: base.AuthzToken | undefined) => Promise<Caller> {
  return (token) => verifier.verify(token?.accessToken, token?.claimsMap);
}

const getAPIVersion = (): string => ms.METASCHEDULER_API_VERSION;

export function jobHandler(deps: HandlerDeps): ms.JobService.IHandler {
  const auth = authenticator(deps.verifier);
  return {
    getAPIVersion,
    submitJob: async (token, spec) => {
      const caller = await auth(token);
      if (!spec) throw InvalidRequestError.of('spec', 'is required');
      return toWireJobHandle(await deps.jobs.submit(caller, toRawJobSpec(spec)));
    },
    getJob: async (token, jobId) => toWireJobModel(await deps.jobs.get(await auth(token), jobId)),
    getJobs: async (token, jobIds) => {
      const caller = await auth(token);
      return (await deps.jobs.getMany(caller, jobIds ?? [])).map(toWireJobModel);
    },
    cancelJob: async (token, jobId) => deps.jobs.cancel(await auth(token), jobId),
    listJobs: async (token, clusterId, limit) =>
      (await deps.jobs.list(await auth(token), clusterId ?? undefined, limit ?? undefined)).map(toWireJobModel),
  };
}

export function clusterHandler(deps: HandlerDeps): ms.ClusterService.IHandler {
  const auth = authenticator(deps.verifier);
  return {
    getAPIVersion,
    createCluster: async (token, spec) => {
      const caller = await auth(token);
      if (!spec) throw InvalidRequestError.of('spec', 'is required');
      return deps.clusters.create(caller, toRawClusterSpec(spec));
    },
    getCluster: async (token, clusterId) => toWireCluster(await deps.clusters.get(await auth(token), clusterId)),
    listClusters: async (token) => (await deps.clusters.list(await auth(token))).map(toWireCluster),
    getClusterEvents: async (token, clusterId, afterSeq) => {
      const caller = await auth(token);
      const events = await deps.clusters.events(caller, clusterId, fromInt64(afterSeq));
      return events.map(toWireClusterEvent);
    },
    scaleCluster: async (token, clusterId, workerCount) => deps.clusters.scale(await auth(token), clusterId, workerCount),
    deleteCluster: async (token, clusterId) => deps.clusters.delete(await auth(token), clusterId),
    installApplication: async (token, clusterId, app) => {
      const caller = await auth(token);
      if (!app) throw InvalidRequestError.of('app', 'is required');
      return deps.clusters.installApplication(caller, clusterId, toRawApplicationSpec(app));
    },
    getGatewaySSHPublicKey: async (token) => deps.gatewayKeys.publicKey((await auth(token)).gatewayId),
  };
}

export function provisioningHandler(deps: HandlerDeps): ms.ProvisioningService.IHandler {
  const auth = authenticator(deps.verifier);
  return {
    getAPIVersion,
    provisionResources: async (token, request) => {
      const caller = await auth(token);
      if (!request) throw InvalidRequestError.of('request', 'is required');
      return deps.provisioning.provision(caller, {
        provider: ms.ProviderType[request.provider] ?? String(request.provider),
        count: request.count,
        ...(request.providerOptions ? { providerOptions: Object.fromEntries(request.providerOptions) } : {}),
        ...(request.clientToken !== undefined ? { clientToken: request.clientToken } : {}),
      });
    },
    getAllocation: async (token, allocationId) => {
      const caller = await auth(token);
      validateId('allocationId', allocationId);
      return toWireAllocation(await deps.provisioning.get(caller, allocationId));
    },
    listAllocations: async (token) => {
      const caller = await auth(token);
      return (await deps.provisioning.list(caller)).map(toWireAllocation);
    },
    releaseResources: async (token, allocationId) => {
      const caller = await auth(token);
      validateId('allocationId', allocationId);
      await deps.provisioning.release(caller, allocationId);
    },
  };
}
