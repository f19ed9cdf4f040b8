/*
 * Types shared with Apache Airavata 0.21, kept wire-compatible with it:
 * the same field ids, types and explicit enum values as Airavata's own IDL.
 * Only facts of the wire carry over; the file is ours.
 */

namespace java org.apache.airavata.metascheduler.base
namespace py airavata.metascheduler.base
namespace js airavata.metascheduler.base

/** Sentinel Airavata uses for ids the server assigns. */
const string DEFAULT_ID = "DO_NOT_SET_AT_CLIENTS"

struct AuthzToken {
  1: required string accessToken,
  2: optional map<string, string> claimsMap
}

enum AiravataErrorType {
  UNKNOWN = 0,
  PERMISSION_DENIED = 1,
  INTERNAL_ERROR = 2,
  AUTHENTICATION_FAILURE = 3,
  INVALID_AUTHORIZATION = 4,
  AUTHORIZATION_EXPIRED = 5,
  UNKNOWN_GATEWAY_ID = 6,
  UNSUPPORTED_OPERATION = 7
}

exception InvalidRequestException {
  1: required string message
}

exception AuthorizationException {
  1: required string message
}

exception AiravataClientException {
  1: required AiravataErrorType airavataErrorType,
  2: optional string parameter
}

exception AiravataSystemException {
  1: required AiravataErrorType airavataErrorType,
  2: optional string message
}

enum JobState {
  SUBMITTED = 0,
  QUEUED = 1,
  ACTIVE = 2,
  COMPLETE = 3,
  CANCELED = 4,
  FAILED = 5,
  SUSPENDED = 6,
  UNKNOWN = 7,
  NON_CRITICAL_FAIL = 8
}

struct JobStatus {
  1: required JobState jobState,
  2: optional i64 timeOfStateChange,
  3: optional string reason,
  4: optional string statusId
}

struct JobModel {
  1: required string jobId,
  2: required string taskId,
  3: required string processId,
  4: required string jobDescription,
  5: optional i64 creationTime,
  6: optional list<JobStatus> jobStatuses,
  7: optional string computeResourceConsumed,
  8: optional string jobName,
  9: optional string workingDir,
  10: optional string stdOut,
  11: optional string stdErr,
  12: optional i32 exitCode
}

enum ApplicationParallelismType {
  SERIAL = 0,
  MPI = 1,
  OPENMP = 2,
  OPENMP_MPI = 3,
  CCM = 4,
  CRAY_MPI = 5
}

enum ResourceJobManagerType {
  FORK = 0,
  PBS = 1,
  SLURM = 2,
  LSF = 3,
  UGE = 4,
  CLOUD = 5,
  AIRAVATA_CUSTOM = 6,
  HTCONDOR = 7
}

/** Job-status messages toward Airavata's monitor (status_exchange). */
struct JobIdentifier {
  1: required string jobId,
  2: required string taskId,
  3: required string processId,
  4: required string experimentId,
  5: required string gatewayId
}

struct JobStatusChangeEvent {
  1: required JobState state,
  2: required JobIdentifier jobIdentity
}

enum MessageLevel {
  INFO = 0,
  DEBUG = 1,
  ERROR = 2,
  ACK = 3
}

enum MessageType {
  EXPERIMENT = 0,
  EXPERIMENT_CANCEL = 1,
  TASK = 2,
  PROCESS = 3,
  JOB = 4,
  LAUNCHPROCESS = 5,
  TERMINATEPROCESS = 6,
  PROCESSOUTPUT = 7,
  DB_EVENT = 8,
  INTERMEDIATE_OUTPUTS = 9
}

struct Message {
  1: required binary event,
  2: required string messageId = DEFAULT_ID,
  3: required MessageType messageType,
  4: optional i64 updatedTime,
  5: optional MessageLevel messageLevel
}
