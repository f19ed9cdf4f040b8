import { canClusterMove, canJobMove, isTerminalJobState } from '../../src/domain/stateMachines';
import { JOB_STATES } from '../../src/domain/types';

describe('job state machine', () => {
  it('follows the Airavata path SUBMITTED -> QUEUED -> ACTIVE -> COMPLETE', () => {
    expect(canJobMove('SUBMITTED', 'QUEUED')).toBe(true);
    expect(canJobMove('QUEUED', 'ACTIVE')).toBe(true);
    expect(canJobMove('ACTIVE', 'COMPLETE')).toBe(true);
  });

  it('never leaves a terminal state', () => {
    for (const terminal of ['COMPLETE', 'CANCELED', 'FAILED'] as const) {
      expect(isTerminalJobState(terminal)).toBe(true);
      for (const to of JOB_STATES) expect(canJobMove(terminal, to)).toBe(false);
    }
  });

  it('does not go back from ACTIVE to SUBMITTED', () => {
    expect(canJobMove('ACTIVE', 'SUBMITTED')).toBe(false);
    expect(canJobMove('QUEUED', 'SUBMITTED')).toBe(false);
  });
});

describe('cluster state machine', () => {
  it('builds through provisioning and configuring to READY', () => {
    expect(canClusterMove('REQUESTED', 'PROVISIONING')).toBe(true);
    expect(canClusterMove('PROVISIONING', 'CONFIGURING')).toBe(true);
    expect(canClusterMove('CONFIGURING', 'READY')).toBe(true);
    expect(canClusterMove('REQUESTED', 'READY')).toBe(false);
  });

  it('lets a failed cluster be torn down, and nothing leave TERMINATED', () => {
    expect(canClusterMove('FAILED', 'TEARING_DOWN')).toBe(true);
    expect(canClusterMove('TERMINATED', 'REQUESTED')).toBe(false);
  });
});
