// Gateway SSH keys: an ECDSA P-256 pair per gateway, made on first use. The public half in
// OpenSSH's authorized_keys format is what operators install on static hosts; the private half
// (PKCS#8 PEM, which OpenSSH reads) is sealed before it reaches the database.
import { generateKeyPairSync } from 'node:crypto';

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
