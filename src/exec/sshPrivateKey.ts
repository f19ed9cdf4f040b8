// The gateway's private key in a form ssh2 can read. Gateway keys are stored as PKCS#8 PEM
// ("BEGIN PRIVATE KEY", what src/secrets/sshKeys.ts makes and OpenSSH reads), but ssh2's parser
// reads only OpenSSH's own format and the older per-algorithm PEMs ("BEGIN EC PRIVATE KEY",
// "BEGIN RSA PRIVATE KEY"). The conversion happens in memory: the key is never written to a file
// or put on a command line.
import { createPrivateKey } from 'node:crypto';

export function ssh2PrivateKey(text: string): string {
  if (!/-----BEGIN PRIVATE KEY-----/.test(text)) return text;
  const key = createPrivateKey({ key: text, format: 'pem' });
  switch (key.asymmetricKeyType) {
    case 'ec':
      return key.export({ type: 'sec1', format: 'pem' }).toString();
    case 'rsa':
      return key.export({ type: 'pkcs1', format: 'pem' }).toString();
    default:
      throw new Error(`a PKCS#8 ${key.asymmetricKeyType ?? 'unknown'} key cannot be given to ssh2; store it in OpenSSH format`);
  }
}
