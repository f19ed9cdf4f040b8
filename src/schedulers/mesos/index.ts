// The Mesos adapters: MesosSchedulers (the cluster's scheduler, routing to the two below), the
// Metronome and Marathon schedulers and clients, and the HTTP layer under them.
export { MesosSchedulers, type MesosSchedulersOptions } from './mesosSchedulers';
export { MesosHttpClient, parseEndpoints, type BasicCredentials, type JsonRequest, type JsonResponse, type MesosHttpOptions } from './httpJson';
export { MesosApiError, type MesosErrorCode, type MesosService } from './errors';
export { DEFAULT_RESOURCES, JOB_ID_LABEL, mesosName, taskCommand, type TaskResources } from './task';
export { MetronomeClient } from '../metronome/client';
export {
  MetronomeScheduler, metronomeJobId, metronomeJobSpec, metronomeNativeId, metronomeRunState, metronomeRunStatus,
  parseMetronomeNativeId, type MetronomeSchedulerOptions,
} from '../metronome/metronomeScheduler';
export { MarathonClient, appHealth } from '../marathon/client';
export {
  MarathonScheduler, marathonAppDefinition, marathonAppId, marathonAppStatus, marathonNativeId, parseMarathonNativeId,
  type MarathonSchedulerOptions,
} from '../marathon/marathonScheduler';
