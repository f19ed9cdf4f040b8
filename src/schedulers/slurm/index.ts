// The Slurm adapter: SlurmScheduler, and the pure parts it is built from (for unit tests).
export { SlurmScheduler, SlurmCommandError, parseSbatchOutput, DEFAULT_JOBCOMP_LOG, type SlurmSchedulerOptions } from './slurmScheduler';
export { shellQuote } from './shellQuote';
export {
  renderBatchScript, sbatchArguments, scriptPath, slurmJobName, slurmOutputPath, taskLayout, assertJobId,
  type SbatchOptions,
} from './batchScript';
export { parseSqueue, squeueArgv, newMarker, type SqueueEntry } from './squeue';
export { parseJobcompRecord, splitJobcompRecords, JobcompReader, type JobcompRecord, type JobcompReaderOptions } from './jobcomp';
export { mapSlurmState, slurmStateWord, exitCodeFromSlurm, parseSlurmTime, isEnded } from './states';
export { chooseStatus, statusFromJobcomp, statusFromSqueue } from './jobStatus';
export { sinfoNodesArgv, parseSinfoNodes, judgeNode, type SinfoNode, type NodeVerdict } from './nodeStates';
