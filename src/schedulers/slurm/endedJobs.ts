// Where a Slurm cluster's final states come from once squeue has forgotten a job. On clusters we
// build it is the job completion log our playbook turns on; on an HPC system we do not own it is
// sacct when the site keeps accounting, else the exit-status file each of our scripts writes.
import type { NativeJobStatus, TrackedJob } from '../scheduler';
import { slurmJobName } from './batchScript';
import { statusFromJobcomp } from './jobStatus';
import type { JobcompReader } from './jobcomp';

export interface EndedJobs {
  /** Reads what is new about these jobs (a log reader reads the whole log's new part). */
  refresh(jobs: readonly TrackedJob[]): Promise<void>;
  /** The final status of one of our native jobs, when it has ended and that is known. */
  status(job: TrackedJob): NativeJobStatus | undefined;
  /** Ended native jobs carrying these ids of ours (refresh first), oldest first. */
  found(jobIds: readonly string[]): Promise<Map<string, string>>;
  /** The job is listed by squeue (a source counting missing jobs starts again). */
  seen?(jobId: string): void;
  /** Neither squeue nor this source knows the job: a final status once it has been lost long enough. */
  unaccounted?(job: TrackedJob): NativeJobStatus | undefined;
}

/** The job completion log (jobcomp/filetxt) of a cluster we configured. */
export class JobcompEnded implements EndedJobs {
  constructor(private readonly reader: JobcompReader) {}

  async refresh(): Promise<void> {
    await this.reader.refresh();
  }

  status(job: TrackedJob): NativeJobStatus | undefined {
    const record = this.reader.get(job.nativeJobId);
    // Both the id and the name must match: ids start again at 1 on a rebuilt cluster.
    return record?.name === slurmJobName(job.jobId) ? statusFromJobcomp(job.jobId, record) : undefined;
  }

  async found(jobIds: readonly string[]): Promise<Map<string, string>> {
    await this.reader.refresh();
    const byName = new Map(jobIds.map((id) => [slurmJobName(id), id]));
    const found = new Map<string, string>();
    // Oldest to newest: the latest job of a name wins.
    for (const record of this.reader.all()) {
      const jobId = byName.get(record.name);
      if (jobId !== undefined) found.set(jobId, record.nativeJobId);
    }
    return found;
  }
}
