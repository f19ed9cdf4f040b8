// submitMany for the Mesos adapters: each job submitted on its own over HTTP (neither API takes
// several jobs in one call), a few at a time, so one slow or refused job never holds up the rest.
import { JobRefusedError, type BatchJob, type SubmitOutcome } from '../scheduler';
import { errorText } from './task';

/**
 * submit for each job, a few at a time, one outcome each in the order given; a job id given twice
 * is submitted once and both get its outcome.
 */
export async function submitEach(jobs: readonly BatchJob[], submit: (job: BatchJob) => Promise<string>, concurrency: number): Promise<SubmitOutcome[]> {
  const unique: BatchJob[] = [];
  const seen = new Set<string>();
  for (const job of jobs) {
    // The first of a job id stands for all of them.
    if (!seen.has(job.jobId)) unique.push(job);
    seen.add(job.jobId);
  }
  const outcomes = new Map<string, SubmitOutcome>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < unique.length) {
      const job = unique[next];
      next += 1;
      try {
        outcomes.set(job.jobId, { kind: 'submitted', jobId: job.jobId, nativeJobId: await submit(job) });
      } catch (error) {
        outcomes.set(job.jobId, error instanceof JobRefusedError
          ? { kind: 'refused', jobId: job.jobId, error }
          : { kind: 'failed', jobId: job.jobId, error: error instanceof Error ? error : new Error(errorText(error)) });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, unique.length) }, worker));
  return jobs.map((job) => outcomes.get(job.jobId) ?? { kind: 'failed', jobId: job.jobId, error: new Error(`job ${job.jobId} got no outcome`) });
}
