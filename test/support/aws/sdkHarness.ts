// The real SDK clients pointed at a fresh AWS double the way the service is pointed at AWS: through
// the environment (AWS_ENDPOINT_URL, region, credentials), which stopSdkHarness puts back.
import { generateKeyPairSync } from 'node:crypto';
import { createAwsClients, destroyAwsClients, type AwsClients } from '../../../src/providers/ec2/clients';
import type { ProvisionContext } from '../../../src/providers/provider';
import { startAwsDouble, type AwsDouble, type AwsDoubleOptions } from './double';

export interface SdkHarness {
  double: AwsDouble;
  clients: AwsClients;
  /** What the provider said through context.note, in order. */
  notes: string[];
  context: ProvisionContext;
  savedEnv: NodeJS.ProcessEnv;
}

/** An OpenSSH ed25519 public key line, as the workflow hands a provider. */
export function testSshPublicKey(comment: string): string {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url');
  const field = (b: Buffer): Buffer => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return `ssh-ed25519 ${Buffer.concat([field(Buffer.from('ssh-ed25519')), field(raw)]).toString('base64')} ${comment}`;
}

export async function startSdkHarness(options: AwsDoubleOptions, comment: string): Promise<SdkHarness> {
  const savedEnv = { ...process.env };
  const double = await startAwsDouble(options);
  Object.assign(process.env, double.env);
  delete process.env.AWS_PROFILE;
  const notes: string[] = [];
  return {
    double, notes, savedEnv,
    clients: createAwsClients(double.env.AWS_REGION),
    context: { sshPublicKey: testSshPublicKey(comment), note: async (m) => { notes.push(m); } },
  };
}

export async function stopSdkHarness(harness: SdkHarness | undefined): Promise<void> {
  if (!harness) return;
  destroyAwsClients(harness.clients);
  await harness.double.close();
  for (const key of Object.keys(process.env)) if (!(key in harness.savedEnv)) delete process.env[key];
  Object.assign(process.env, harness.savedEnv);
}
