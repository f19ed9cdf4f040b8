// Apache's Python and Java clients (stubs from thrift-idl/ by Apache's compiler) against the service
// process, over each transport: a small call split into two reads at every byte boundary, and a call
// of just over 1 MiB followed by another on the same connection. The scenarios are
// test/interop/python/transport_scenario.py and test/interop/java/TransportScenario.java.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { mintHs256Token } from '../../src/auth/mintToken';
import { LIMITS } from '../../src/domain/validation';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { ROOT, sharedSecretsKeyFile, startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { TEST_SECRET } from '../support/tokens';
import { run } from './java/slurmSession';

jest.setTimeout(5 * 60_000);

// Debian's interpreter: python3-thrift installs for it, whatever python3 comes first on PATH.
const PYTHON = '/usr/bin/python3';
const JARS = ['thrift.jar', 'slf4j-api.jar', 'slf4j-nop.jar'].map((jar) => path.join('/usr/share/java', jar));

function javaSources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) return javaSources(file);
    return name.endsWith('.java') ? [file] : [];
  });
}

async function generate(language: 'py' | 'java:generated_annotations=suppress', out: string): Promise<void> {
  const gen = await run('thrift', ['-r', '--gen', language, '-I', 'thrift-idl', '-out', out, 'thrift-idl/metascheduler.thrift'], { cwd: ROOT, timeoutMs: 60_000 });
  if (gen.status !== 0) throw new Error(`thrift --gen ${language} failed:\n${gen.stdout}${gen.stderr}`);
}

async function buildPython(): Promise<string> {
  const probe = await run(PYTHON, ['-c', 'import thrift'], { timeoutMs: 30_000 });
  if (probe.status !== 0) throw new Error(`${PYTHON} cannot import thrift: install python3-thrift (scripts/bootstrap does)`);
  const stubs = mkdtempSync(path.join(tmpdir(), 'ms-pystubs-'));
  await generate('py', stubs);
  return stubs;
}

async function buildJava(): Promise<string> {
  const missing = JARS.filter((jar) => !existsSync(jar));
  if (missing.length > 0) throw new Error(`missing ${missing.join(', ')}: apt-get install libthrift-java libslf4j-java`);
  const work = mkdtempSync(path.join(tmpdir(), 'ms-java-'));
  const stubs = path.join(work, 'gen-java');
  const classes = path.join(work, 'classes');
  mkdirSync(stubs);
  mkdirSync(classes);
  // generated_annotations=suppress: no @javax.annotation.Generated, which JDK 11+ no longer ships.
  await generate('java:generated_annotations=suppress', stubs);
  const sources = [...javaSources(stubs), path.join(__dirname, 'java/TransportScenario.java')];
  const javac = await run('javac', ['-nowarn', '-encoding', 'UTF-8', '-d', classes, '-cp', JARS.join(':'), ...sources], { timeoutMs: 5 * 60_000 });
  if (javac.status !== 0) throw new Error(`javac failed:\n${javac.stdout}${javac.stderr}`);
  return classes;
}

describe('Apache clients with calls arriving in several reads', () => {
  let database: TestDatabase;
  let pythonStubs: string;
  let javaClasses: string;
  beforeAll(async () => {
    database = await createTestDatabase({ migrate: false });
    [pythonStubs, javaClasses] = await Promise.all([buildPython(), buildJava()]);
  });
  afterAll(async () => {
    await database.drop();
  });

  // Both transports' services run on the one database, as replicas do: with one key.
  const secretsKeyFile = sharedSecretsKeyFile();

  describe.each(['buffered', 'framed'] as const)('over %s transport', (transport) => {
    let service: ServiceProcess;
    let env: NodeJS.ProcessEnv;
    beforeAll(async () => {
      service = await startServiceProcess({
        DATABASE_URL: database.url, THRIFT_PORT: '0', THRIFT_TRANSPORT: transport, AUTH_HS256_SECRET: TEST_SECRET,
        DATA_DIR: mkdtempSync(path.join(tmpdir(), 'ms-transport-data-')), SECRETS_KEY_FILE: secretsKeyFile,
      });
      env = {
        PATH: process.env.PATH, GATEWAY: 'interop-transport',
        TOKEN: await mintHs256Token({ secret: TEST_SECRET, gatewayId: 'interop-transport', userName: 'interop', ttlSeconds: 600 }),
        EXEC_BYTES: String(LIMITS.execBytes), ARG_LENGTH: String(LIMITS.argLength),
      };
    });
    afterAll(async () => {
      service.child.kill('SIGTERM');
      expect(await service.exited).toBe(0);
    });

    it('Python', async () => {
      const result = await run(PYTHON, [path.join(__dirname, 'python/transport_scenario.py'), pythonStubs, '127.0.0.1', String(service.port), transport], { env, timeoutMs: 120_000 });
      if (result.status !== 0) throw new Error(`Python scenario failed (${result.status ?? result.signal}):\n${result.stdout}\n${result.stderr}`);
      expect(result.stdout).toMatch(new RegExp(`^python transport \\(${transport}\\): 5 checks passed$`, 'm'));
    });

    it('Java', async () => {
      const result = await run('java', ['-cp', [javaClasses, ...JARS].join(':'), 'TransportScenario', '127.0.0.1', String(service.port), transport], { env, timeoutMs: 120_000 });
      if (result.status !== 0) throw new Error(`Java scenario failed (${result.status ?? result.signal}):\n${result.stdout}\n${result.stderr}`);
      expect(result.stdout).toMatch(new RegExp(`^java transport \\(${transport}\\): 5 checks passed$`, 'm'));
    });
  });
});
