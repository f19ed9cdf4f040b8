// The CLI's input and error edges: spec files to Thrift structs (every problem named), flags merged
// over a job file, and every failure mapped to one line and its documented exit code.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { mergeJobDoc } from '../../src/cli/commands/jobs';
import { describeFailure } from '../../src/cli/errors';
import { CliError } from '../../src/cli/exitCodes';
import { clusterSpecFrom, jobSpecFrom, readSpecFile } from '../../src/cli/specFile';
import { base, ms } from '../../src/rpc/wire';

describe('cluster spec files', () => {
  it('reads YAML with enums by name, hosts and option maps (scalars as text)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ms-spec-'));
    const file = path.join(dir, 'c.yml');
    writeFileSync(file, 'name: c\nkind: slurm\nprovider: STATIC\nhosts:\n  - {address: h1, sshPort: 2222, roles: [controller]}\nclusterOptions:\n  slurm_min_job_age: 300\n');
    const spec = clusterSpecFrom(await readSpecFile(file), file);
    expect(spec.kind).toBe(ms.ClusterKind.SLURM);
    expect(spec.provider).toBe(ms.ProviderType.STATIC);
    expect(spec.hosts?.[0]).toMatchObject({ address: 'h1', sshPort: 2222, roles: ['controller'] });
    expect(spec.clusterOptions).toEqual(new Map([['slurm_min_job_age', '300']]));
  });

  it('names every bad field at once, with its path in the file', () => {
    const run = (): unknown => clusterSpecFrom({
      kind: 'PBS', hosts: [{ sshPort: 'x' }, 'h2'], clusterOptions: { a: { b: 1 } }, colour: 'red',
    }, 'spec file c.yaml');
    expect(run).toThrow(CliError);
    try {
      run();
    } catch (error) {
      const { exitCode, line } = describeFailure(error);
      expect(exitCode).toBe(2);
      expect(line).toMatch(/^invalid spec file c\.yaml: /);
      for (const part of [
        'colour: unknown field', 'name: is required', 'kind: unknown value "PBS"; expected one of SLURM, MESOS_MARATHON',
        'provider: is required (one of STATIC, EC2, OPENSTACK, HPC_PILOT)', 'hosts[0].address: is required',
        'hosts[0].sshPort: must be a whole number (got "x")', 'hosts[1]: must be a mapping', 'clusterOptions.a: must be a string',
      ]) expect(line).toContain(part);
    }
  });

  it('refuses files that do not parse or are not a mapping, with exit 2', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ms-spec-'));
    const broken = path.join(dir, 'broken.json');
    writeFileSync(broken, '{"name": ');
    await expect(readSpecFile(broken)).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/broken\.json does not parse/) });
    const list = path.join(dir, 'list.yaml');
    writeFileSync(list, '- a\n- b\n');
    await expect(readSpecFile(list)).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/must be a mapping/) });
  });
});

describe('job specs', () => {
  it('lets flags override the file, merges environments and names the job after its program', () => {
    const doc = mergeJobDoc(
      { jobName: 'from-file', environment: { A: '1', B: '2' }, totalCPUCount: 2, command: ['/bin/false'] },
      { name: undefined, cpus: 4, mpi: true, env: new Map([['B', 'x']]), memory: 2048 },
      ['/usr/bin/env', '-0'],
    );
    const spec = jobSpecFrom(doc, 'job spec');
    expect(spec).toMatchObject({
      jobName: 'from-file', parallelism: base.ApplicationParallelismType.MPI, totalCPUCount: 4, totalPhysicalMemory: 2048,
      command: ['/usr/bin/env', '-0'],
    });
    expect(spec.environment).toEqual(new Map([['A', '1'], ['B', 'x']]));
    expect(jobSpecFrom(mergeJobDoc(undefined, {}, ['/bin/echo', 'hi']), 'job spec')).toMatchObject({
      jobName: 'echo', parallelism: base.ApplicationParallelismType.SERIAL, command: ['/bin/echo', 'hi'],
    });
  });

  it('rejects an unknown parallelism by name', () => {
    expect(() => jobSpecFrom({ jobName: 'j', parallelism: 'GPU', command: ['x'] }, 'spec file j.yaml'))
      .toThrow(/parallelism: unknown value "GPU"; expected one of SERIAL, MPI/);
  });
});

describe('describeFailure', () => {
  it('maps each Thrift exception to its exit code and one line', () => {
    expect(describeFailure(new base.InvalidRequestException({ message: 'invalid request: spec.x: bad' })))
      .toEqual({ exitCode: 2, line: 'invalid request: spec.x: bad' });
    expect(describeFailure(new ms.NotFoundException({ message: 'job "j" not found', resourceType: 'job', resourceId: 'j' })))
      .toEqual({ exitCode: 3, line: 'not found: job "j"' });
    expect(describeFailure(new base.AuthorizationException({ message: 'the access token has expired' })))
      .toEqual({ exitCode: 4, line: 'not authorized: the access token has expired' });
    expect(describeFailure(new base.AiravataClientException({
      airavataErrorType: base.AiravataErrorType.UNSUPPORTED_OPERATION, parameter: 'scaling is not available',
    }))).toEqual({ exitCode: 1, line: 'unsupported by the service: scaling is not available' });
    expect(describeFailure(new base.AiravataSystemException({
      airavataErrorType: base.AiravataErrorType.INTERNAL_ERROR, message: 'internal error (request id r1)\nsee log',
    }))).toEqual({ exitCode: 5, line: 'service error: internal error (request id r1) see log' });
  });

  it('keeps secrets and anything shaped like a JWT out of the line', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
    const { line } = describeFailure(new Error(`bad token ${jwt} with secret hunter2-hunter2`), ['hunter2-hunter2']);
    expect(line).toBe('internal error: bad token [redacted] with secret [redacted]');
  });
});
