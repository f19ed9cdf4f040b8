// SSH keys the service signs in with. Gateways: an ECDSA P-256 pair each, made on first use; the
// public half in OpenSSH's authorized_keys format is what operators install on static hosts; the
// private half (PKCS#8 PEM, which OpenSSH reads) is sealed before it reaches the database. Cloud
// clusters: an RSA pair each (below), whose public half the provider imports.
import { generateKeyPair, generateKeyPairSync, type KeyObject } from 'node:crypto';

function sshString(data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  return Buffer.concat([length, data]);
}

export interface SshKeyPair {
  publicKey: string;
  privateKeyPem: string;
}

export function generateSshKeyPair(comment: string): SshKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x as string, 'base64url'), Buffer.from(jwk.y as string, 'base64url')]);
  const blob = Buffer.concat([
    sshString(Buffer.from('ecdsa-sha2-nistp256')), sshString(Buffer.from('nistp256')), sshString(point),
  ]);
  return {
    publicKey: `ecdsa-sha2-nistp256 ${blob.toString('base64')} ${comment}`,
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/** An SSH mpint: big-endian, with a zero byte in front when the top bit is set (it is unsigned). */
function sshMpint(unsigned: Buffer): Buffer {
  let start = 0;
  while (start < unsigned.length - 1 && unsigned[start] === 0) start += 1;
  const trimmed = unsigned.subarray(start);
  return sshString((trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

/**
 * An RSA 3072 pair, for clouds that import only RSA or Ed25519 keys (EC2's ImportKeyPair refuses
 * ECDSA). The private half is PKCS#1 PEM, which both OpenSSH (Ansible) and ssh2 read.
 */
export async function generateRsaSshKeyPair(comment: string): Promise<SshKeyPair> {
  const { publicKey, privateKey } = await new Promise<{ publicKey: KeyObject; privateKey: KeyObject }>((resolve, reject) => {
    generateKeyPair('rsa', { modulusLength: 3072 }, (error, pub, priv) => (error ? reject(error) : resolve({ publicKey: pub, privateKey: priv })));
  });
  const jwk = publicKey.export({ format: 'jwk' });
  const blob = Buffer.concat([
    sshString(Buffer.from('ssh-rsa')), sshMpint(Buffer.from(jwk.e as string, 'base64url')), sshMpint(Buffer.from(jwk.n as string, 'base64url')),
  ]);
  return {
    publicKey: `ssh-rsa ${blob.toString('base64')} ${comment}`,
    privateKeyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
  };
}
