// The one import of the generated stubs: everything in src/ that needs a wire type gets it here.
export * as ms from '../../gen-ts/airavata/metascheduler';
export * as base from '../../gen-ts/airavata/metascheduler/base';
