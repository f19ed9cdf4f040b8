import { EC2ServiceException } from '@aws-sdk/client-ec2';
import { ProviderError } from '../../src/providers/provider';
import { asProviderError, withBackoff } from '../../src/providers/ec2/errors';
import { Interrupted } from '../../src/providers/pause';

/** An EC2 error as the SDK raises it: the generic service exception named by the <Code>. */
function ec2Error(code: string, message: string, status: number): EC2ServiceException {
  return new EC2ServiceException({
    name: code, message, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status, requestId: 'req-1' },
  });
}

describe('asProviderError', () => {
  it.each([
    ['RequestLimitExceeded', 503, 'throttled'],
    ['Throttling', 400, 'throttled'],
    ['ThrottlingException', 400, 'throttled'],
    ['TooManyRequestsException', 400, 'throttled'],
    ['InsufficientInstanceCapacity', 500, 'capacity'],
    ['InsufficientHostCapacity', 500, 'capacity'],
    ['InsufficientAddressCapacity', 500, 'capacity'],
    ['InsufficientCapacity', 500, 'capacity'],
    ['SpotMaxPriceTooLow', 400, 'capacity'],
    ['MaxSpotInstanceCountExceeded', 400, 'capacity'],
    ['Unsupported', 400, 'capacity'],
    ['InstanceLimitExceeded', 400, 'quota'],
    ['VcpuLimitExceeded', 400, 'quota'],
    ['AddressLimitExceeded', 400, 'quota'],
    ['LimitExceededException', 400, 'quota'],
    ['AuthFailure', 401, 'auth'],
    ['UnauthorizedOperation', 403, 'auth'],
    ['AccessDenied', 403, 'auth'],
    ['AccessDeniedException', 400, 'auth'],
    ['InvalidClientTokenId', 403, 'auth'],
    ['ExpiredToken', 400, 'auth'],
    ['SignatureDoesNotMatch', 403, 'auth'],
    ['InvalidParameterValue', 400, 'bad_request'],
    ['InvalidAMIID.NotFound', 400, 'bad_request'],
    ['InvalidSubnetID.NotFound', 400, 'bad_request'],
    ['MissingParameter', 400, 'bad_request'],
    ['ValidationError', 400, 'bad_request'],
    ['IdempotentParameterMismatch', 400, 'bad_request'],
    ['SomethingNobodyKnows', 400, 'bad_request'],
    ['InternalError', 500, 'transient'],
    ['Unavailable', 503, 'transient'],
    ['SomethingNobodyKnows', 502, 'transient'],
  ])('%s (HTTP %i) is %s, with the AWS code and message', (code, status, category) => {
    const error = asProviderError(ec2Error(code, `the message of ${code}`, status));
    expect(error).toBeInstanceOf(ProviderError);
    expect(error.category).toBe(category);
    expect(error.code).toBe(code);
    expect(error.message).toBe(`the message of ${code}`);
  });

  it('takes a socket failure for a transient one, named by its errno code', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    const error = asProviderError(refused);
    expect(error.category).toBe('transient');
    expect(error.code).toBe('ECONNREFUSED');
    expect(error.retryable).toBe(true);
  });

  it('calls missing credentials an auth failure', () => {
    const missing = Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
    expect(asProviderError(missing).category).toBe('auth');
  });

  it('leaves a ProviderError as it is', () => {
    const original = new ProviderError('capacity', 'none left', 'InsufficientInstanceCapacity');
    expect(asProviderError(original)).toBe(original);
  });

  it('keeps access key ids and the secret key out of the message', () => {
    const saved = process.env.AWS_SECRET_ACCESS_KEY;
    process.env.AWS_SECRET_ACCESS_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    try {
      const error = asProviderError(ec2Error('SignatureDoesNotMatch',
        'Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/ec2 computed with wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 403));
      expect(error.message).not.toContain('AKIAIOSFODNN7EXAMPLE');
      expect(error.message).not.toContain('wJalrXUtnFEMI');
      expect(error.message).toContain('Credential=');
    } finally {
      if (saved === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
      else process.env.AWS_SECRET_ACCESS_KEY = saved;
    }
  });
});

describe('withBackoff', () => {
  const fast = { baseMs: 1, maxMs: 5 };

  it('retries throttling and passing faults, saying so, then returns the answer', async () => {
    const failures = [ec2Error('RequestLimitExceeded', 'Request limit exceeded.', 503), ec2Error('InternalError', 'oops', 500)];
    let calls = 0;
    const notes: string[] = [];
    const answer = await withBackoff('RunInstances', async () => {
      calls++;
      const failure = failures.shift();
      if (failure) throw failure;
      return 'i-0123';
    }, { ...fast, note: async (m) => { notes.push(m); } });
    expect(answer).toBe('i-0123');
    expect(calls).toBe(3);
    expect(notes).toHaveLength(2);
    expect(notes[0]).toMatch(/^RunInstances: throttled \(RequestLimitExceeded: Request limit exceeded\.\); retrying in \d+ ms \(attempt 2 of 5\)$/);
  });

  it('gives up after the bounded number of attempts with the last error as a ProviderError', async () => {
    let calls = 0;
    const failure = await withBackoff('DescribeInstances', async () => {
      calls++;
      throw ec2Error('RequestLimitExceeded', 'Request limit exceeded.', 503);
    }, { ...fast, attempts: 3 }).catch((e: unknown) => e);
    expect(calls).toBe(3);
    expect(failure).toBeInstanceOf(ProviderError);
    expect((failure as ProviderError).category).toBe('throttled');
  });

  it('does not retry what no retry cures', async () => {
    let calls = 0;
    const failure = await withBackoff('RunInstances', async () => {
      calls++;
      throw ec2Error('VcpuLimitExceeded', 'You have requested more vCPU capacity than your current vCPU limit of 32 allows', 400);
    }, fast).catch((e: unknown) => e);
    expect(calls).toBe(1);
    expect((failure as ProviderError).category).toBe('quota');
    expect((failure as ProviderError).code).toBe('VcpuLimitExceeded');
  });

  it('stops waiting when the service stops, without calling again', async () => {
    const controller = new AbortController();
    let calls = 0;
    const waiting = withBackoff('RunInstances', async () => {
      calls++;
      controller.abort();
      throw ec2Error('RequestLimitExceeded', 'Request limit exceeded.', 503);
    }, { baseMs: 60_000, maxMs: 60_000, signal: controller.signal }).catch((e: unknown) => e);
    const failure = await waiting;
    expect(failure).toBeInstanceOf(Interrupted);
    expect(calls).toBe(1);
  });
});
