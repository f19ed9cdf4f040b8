// A retried submit gets back the job its idempotency key already names, but only when it asks for
// the same thing. The same key with another request is a mistake (or a probe), and answering it
// with the first job would tell the caller its new command or size was accepted when it was not.
import type { FieldError } from './errors';
import { fingerprint } from './fingerprint';
import type { JobSpec } from './types';

/** The request the keys guard: the spec without the client token, which is one of the keys. */
export function requestOf(spec: JobSpec): Omit<JobSpec, 'clientToken'> {
  const { clientToken: _key, ...request } = spec;
  return request;
}

/** The digest stored with a job, compared when its key comes again. */
export function requestFingerprint(spec: JobSpec): string {
  return fingerprint(requestOf(spec));
}

/** The top-level fields in which two requests differ, by their canonical form. */
export function differingFields(a: object, b: object): string[] {
  const fields = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  const valueOf = (request: object, field: string): string =>
    fingerprint({ value: (request as Record<string, unknown>)[field] });
  return fields.filter((field) => valueOf(a, field) !== valueOf(b, field));
}

export interface KeyedJob {
  jobId: string;
  spec: JobSpec;
  fingerprint: string;
}

/**
 * Why a submit may not be answered with the job its key already names, or undefined when it may
 * (the same request again). Names the key that matched and the fields that changed.
 */
export function idempotencyConflict(spec: JobSpec, digest: string, existing: KeyedJob): FieldError | undefined {
  if (existing.fingerprint === digest) return undefined;
  const changed = differingFields(requestOf(spec), requestOf(existing.spec));
  const differs = changed.length > 0 ? `; it differs in ${changed.join(', ')}` : '';
  if (spec.clientToken !== undefined && existing.spec.clientToken === spec.clientToken) {
    return { field: 'spec.clientToken', message: `was already used for a different request (job ${existing.jobId}${differs})` };
  }
  return {
    field: 'spec.processId',
    message: `${JSON.stringify(spec.processId)} with taskId ${JSON.stringify(spec.taskId)} and jobName ${JSON.stringify(spec.jobName)} `
      + `already names job ${existing.jobId}, submitted with a different request${differs}. Airavata's ids name one job: `
      + 'resubmit it unchanged, or give the new job another jobName',
  };
}
