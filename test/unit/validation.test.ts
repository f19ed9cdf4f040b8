import { InvalidRequestError } from '../../src/domain/errors';
import {
  ELEMENT_ERRORS_LISTED, isHostAddress, LIMITS, validateApplicationSpec, validateClusterSpec, validateIds, validateJobSpec,
  type RawJobSpec,
} from '../../src/domain/validation';

const good: RawJobSpec = { jobName: 'hello', parallelism: 'SERIAL', command: ['/bin/echo', 'hi'] };

function errorOf(fn: () => unknown): InvalidRequestError {
  try {
    fn();
  } catch (error) {
    if (error instanceof InvalidRequestError) return error;
    throw error;
  }
  throw new Error('expected an InvalidRequestError');
}

function fieldsOf(fn: () => unknown): string[] {
  return errorOf(fn).fieldErrors.map((e) => e.field);
}

describe('validateJobSpec', () => {
  it('accepts a plain serial job and drops unset fields', () => {
    const spec = validateJobSpec({ ...good, taskId: undefined });
    expect(spec).toEqual(good);
    expect('taskId' in spec).toBe(false);
  });

  it('reports every bad field at once, each by name', () => {
    const fields = fieldsOf(() => validateJobSpec({
      jobName: '  ', parallelism: 'MPI', command: [], nodeCount: -2, wallTimeLimit: 0,
      totalPhysicalMemory: 1.5, workingDir: 'relative/../dir', environment: { 'BAD-NAME': 'x' },
    }));
    expect(fields).toEqual(expect.arrayContaining([
      'spec.jobName', 'spec.command', 'spec.nodeCount', 'spec.wallTimeLimit', 'spec.totalPhysicalMemory',
      'spec.totalCPUCount', 'spec.workingDir', 'spec.environment["BAD-NAME"]',
    ]));
  });

  it('requires totalCPUCount for MPI jobs only', () => {
    expect(fieldsOf(() => validateJobSpec({ ...good, parallelism: 'MPI' }))).toEqual(['spec.totalCPUCount']);
    expect(validateJobSpec({ ...good, parallelism: 'MPI', totalCPUCount: 2 }).parallelism).toBe('MPI');
  });

  it('rejects an unknown enum value by name', () => {
    expect(() => validateJobSpec({ ...good, parallelism: '42' })).toThrow(/spec\.parallelism: unknown value "42"/);
  });

  it('rejects strings over their limits and NUL characters', () => {
    const fields = fieldsOf(() => validateJobSpec({
      ...good, jobName: 'x'.repeat(257), command: ['/bin/echo', 'a\u0000b'], clientToken: 't'.repeat(129),
    }));
    expect(fields).toEqual(['spec.jobName', 'spec.command[1]', 'spec.clientToken']);
  });

  it('rejects more nodes than cpus, and a multi-node serial job', () => {
    expect(fieldsOf(() => validateJobSpec({ ...good, parallelism: 'MPI', totalCPUCount: 2, nodeCount: 3 })))
      .toEqual(['spec.nodeCount']);
    expect(fieldsOf(() => validateJobSpec({ ...good, nodeCount: 2 }))).toEqual(['spec.nodeCount']);
  });
});

describe('validateClusterSpec', () => {
  const cluster = { name: 'c1', kind: 'SLURM', provider: 'STATIC', hosts: [{ address: 'localhost' }] };

  it('accepts a static localhost cluster', () => {
    expect(validateClusterSpec(cluster).hosts).toEqual([{ address: 'localhost' }]);
  });

  it('names every bad host field', () => {
    const fields = fieldsOf(() => validateClusterSpec({
      ...cluster,
      hosts: [{ address: 'bad host!' }, { address: '10.0.0.1', sshPort: 70000, roles: ['boss'] }, { address: '10.0.0.1' }],
    }));
    expect(fields).toEqual(['spec.hosts[0].address', 'spec.hosts[1].sshPort', 'spec.hosts[1].roles[0]', 'spec.hosts[2].address']);
  });

  it('needs hosts for STATIC and refuses them for cloud providers', () => {
    expect(fieldsOf(() => validateClusterSpec({ ...cluster, hosts: [] }))).toEqual(['spec.hosts']);
    expect(fieldsOf(() => validateClusterSpec({ ...cluster, provider: 'EC2' }))).toEqual(['spec.hosts']);
  });

  it('rejects unknown kinds and providers and a negative worker count', () => {
    expect(fieldsOf(() => validateClusterSpec({ ...cluster, kind: '7', provider: '0', workerCount: -1 })))
      .toEqual(['spec.kind', 'spec.provider', 'spec.workerCount']);
  });
});

describe('isHostAddress', () => {
  it.each(['localhost', 'node-1.example.org', '10.213.0.11', '::1', 'fe80::1'])('accepts %s', (address) => {
    expect(isHostAddress(address)).toBe(true);
  });
  it.each(['', 'a b', '-lead.example', 'x'.repeat(64), '999.1.1.1', 'host;rm -rf /', '$(id)', 'fe80::1%eth0', 'fe80::1%25eth0'])('rejects %s', (address) => {
    expect(isHostAddress(address)).toBe(false);
  });
});

describe('error size: lists over their limit and many bad elements', () => {
  it('refuses a command of a million arguments with one error, checking none of them', () => {
    const error = errorOf(() => validateJobSpec({ ...good, command: Array.from({ length: 1_000_000 }, () => 'a\u0000') }));
    expect(error.fieldErrors).toEqual([{ field: 'spec.command', message: 'has more than 1024 arguments (1,000,000)' }]);
  });

  it(`names at most ${ELEMENT_ERRORS_LISTED} bad elements of a list and counts the rest`, () => {
    const error = errorOf(() => validateJobSpec({ ...good, command: ['/bin/echo', ...Array.from({ length: 1000 }, () => 'x\u0000')] }));
    expect(error.fieldErrors.map((e) => e.field)).toEqual([
      'spec.command[1]', 'spec.command[2]', 'spec.command[3]', 'spec.command[4]', 'spec.command[5]', 'spec.command',
    ]);
    expect(error.fieldErrors[5].message).toBe('and 995 more errors in its elements');
    expect(error.message.length).toBeLessThan(600);
  });

  it('counts errors of nested fields against the outer list (hosts, their roles)', () => {
    const hosts = Array.from({ length: 1000 }, (_, i) => ({ address: `bad host ${i}`, roles: ['boss', 'chief'] }));
    const error = errorOf(() => validateClusterSpec({ name: 'c', kind: 'SLURM', provider: 'STATIC', hosts }));
    expect(error.fieldErrors).toHaveLength(ELEMENT_ERRORS_LISTED + 1);
    expect(error.fieldErrors.at(-1)).toEqual({ field: 'spec.hosts', message: 'and 2,995 more errors in its elements' });
    expect(error.message.length).toBeLessThan(1000);
  });

  it('refuses an environment over its entry limit with one error, and caps bad entries', () => {
    const huge = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`BAD-${i}`, 'x']));
    expect(errorOf(() => validateJobSpec({ ...good, environment: huge })).fieldErrors)
      .toEqual([{ field: 'spec.environment', message: 'has more than 256 entries (100,000)' }]);
    const bad = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`BAD-${i}`, 'x']));
    expect(fieldsOf(() => validateJobSpec({ ...good, environment: bad }))).toHaveLength(ELEMENT_ERRORS_LISTED + 1);
  });

  it('refuses a million ids with one error', () => {
    const error = errorOf(() => validateIds('jobIds', Array.from({ length: 1_000_000 }, () => '')));
    expect(error.fieldErrors).toEqual([{ field: 'jobIds', message: 'has more than 1000 ids (1,000,000)' }]);
  });

  it('cuts echoed values short', () => {
    const error = errorOf(() => validateJobSpec({ ...good, environment: { [`${'A'.repeat(10_000)}-`]: 'x' } }));
    expect(error.message.length).toBeLessThan(300);
    expect(error.fieldErrors[0].field).toContain('(10001 characters)');
  });

  it('bounds application lists and their nested argv lists', () => {
    const app = { name: 'a', installCommands: [Array.from({ length: 5000 }, () => 'x')] };
    expect(errorOf(() => validateApplicationSpec(app)).fieldErrors)
      .toEqual([{ field: 'app.installCommands[0]', message: 'has more than 1024 arguments (5,000)' }]);
    expect(fieldsOf(() => validateApplicationSpec({ name: 'a', debPackages: Array.from({ length: 10_000 }, () => 'Bad!') })))
      .toEqual(['app.debPackages']);
  });
});

describe('input that can never run is refused at request time', () => {
  it.each(['CCM', 'CRAY_MPI'])('refuses %s parallelism, which no cluster kind runs', (parallelism) => {
    const error = errorOf(() => validateJobSpec({ ...good, parallelism, totalCPUCount: 4 }));
    expect(error.fieldErrors.map((e) => e.field)).toEqual(['spec.parallelism']);
    expect(error.message).toContain('SLURM runs SERIAL, OPENMP, MPI, OPENMP_MPI');
  });

  it('accepts a relative workingDir and refuses "..", "~" and backslashes', () => {
    expect(validateJobSpec({ ...good, workingDir: 'runs/today' }).workingDir).toBe('runs/today');
    expect(validateJobSpec({ ...good, workingDir: '/scratch/runs' }).workingDir).toBe('/scratch/runs');
    for (const workingDir of ['..', 'a/../b', '/scratch/../etc', '~', '~root/x', '/scratch/a\\b']) {
      expect(fieldsOf(() => validateJobSpec({ ...good, workingDir }))).toEqual(['spec.workingDir']);
    }
  });

  it('refuses an environment name longer than 128 characters', () => {
    expect(validateJobSpec({ ...good, environment: { [`A${'_'.repeat(127)}`]: 'x' } }).environment).toBeDefined();
    expect(fieldsOf(() => validateJobSpec({ ...good, environment: { [`A${'_'.repeat(128)}`]: 'x' } })))
      .toEqual([`spec.environment["A${'_'.repeat(39)}"... (129 characters)]`]);
  });

  it('refuses a command and environment that together exceed the bytes a program may start with', () => {
    const arg = 'x'.repeat(LIMITS.argLength);
    const command = ['/bin/echo', ...Array.from({ length: 40 }, () => arg)];
    expect(validateJobSpec({ ...good, command }).command).toHaveLength(41);
    const environment = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`V${i}`, arg]));
    const error = errorOf(() => validateJobSpec({ ...good, command, environment }));
    expect(error.fieldErrors.map((e) => e.field)).toEqual(['spec.command']);
    // 10 + 40 * 16,385 for argv; 10 * (2 + 16,386) + 20 * (3 + 16,386) for NAME=value pairs
    expect(error.message).toContain('together take 1,147,070 bytes to start the program, over the 1,048,576 allowed');
  });

  it('refuses a link-local IPv6 address with a zone', () => {
    const error = errorOf(() => validateClusterSpec({ name: 'c', kind: 'SLURM', provider: 'STATIC', hosts: [{ address: 'fe80::1%eth0' }] }));
    expect(error.fieldErrors.map((e) => e.field)).toEqual(['spec.hosts[0].address']);
    expect(error.message).toContain('zone');
  });

  it('refuses a host listed twice, whatever its case', () => {
    const error = errorOf(() => validateClusterSpec({
      name: 'c', kind: 'SLURM', provider: 'STATIC', hosts: [{ address: 'node.a' }, { address: 'NODE.A' }],
    }));
    expect(error.fieldErrors).toEqual([{ field: 'spec.hosts[1].address', message: expect.stringContaining('listed twice') }]);
  });
});

describe('environment names that steer the scheduler or the MPI launcher', () => {
  const refused = ['SLURM_NTASKS', 'slurm_ntasks', 'SBATCH_ACCOUNT', 'SRUN_CPUS_PER_TASK', 'SALLOC_PARTITION', '_SLURM_SPANK_OPTION_x',
    'OMPI_MCA_orte_default_hostfile', 'OPAL_PREFIX', 'PRTE_MCA_x', 'PMIX_RANK', 'PMI_SIZE', 'PMI2_x', 'HYDRA_HOST_FILE', 'I_MPI_PIN',
    'MPICH_x', 'MPIR_CVAR_x', 'MPIEXEC_TIMEOUT', 'MV2_x'];

  it.each(refused)('refuses %s in a job environment', (name) => {
    const error = errorOf(() => validateJobSpec({ ...good, environment: { [name]: '1000' } }));
    expect(error.fieldErrors).toEqual([{ field: `spec.environment[${JSON.stringify(name)}]`, message: expect.stringContaining('is reserved') }]);
  });

  it.each(refused)('refuses %s in an application environment', (name) => {
    expect(fieldsOf(() => validateApplicationSpec({ name: 'a', debPackages: ['hello'], environment: { [name]: '1' } })))
      .toEqual([`app.environment[${JSON.stringify(name)}]`]);
  });

  it('accepts the variables jobs set for themselves', () => {
    const environment = { OMP_NUM_THREADS: '4', LD_LIBRARY_PATH: '/opt/lib', SLURMY: 'x', MY_SLURM_NOTE: 'x', PATH: '/bin' };
    expect(validateJobSpec({ ...good, environment }).environment).toEqual(environment);
  });

  it('bounds the environment an application adds to every job', () => {
    const environment = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`V${i}`, 'x'.repeat(LIMITS.envValueLength)]));
    expect(errorOf(() => validateApplicationSpec({ name: 'a', debPackages: ['hello'], environment })).fieldErrors)
      .toEqual([{ field: 'app.environment', message: expect.stringContaining('over the 262,144 an application may add') }]);
  });
});
