import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { exportJWK, SignJWT, type KeyLike } from 'jose';
import { mintHs256Token } from '../../src/auth/mintToken';
import { TokenVerifier } from '../../src/auth/tokenVerifier';
import { UnauthorizedError } from '../../src/domain/errors';

const secret = 'unit-test-secret-0123456789abcdef0123';
const claims = (gateway: string) => ({ gatewayID: gateway });

async function reason(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof UnauthorizedError) return error.reason;
    throw error;
  }
  return 'accepted';
}

function signed(key: KeyLike, alg: string, payload: Record<string, unknown>, kid?: string): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg, ...(kid ? { kid } : {}) }).setIssuedAt()
    .setExpirationTime('10m').sign(key);
}

describe('TokenVerifier with an HS256 secret', () => {
  const verifier = TokenVerifier.fromConfig({ hs256Secret: secret });

  it('accepts a valid token whose claimsMap names the same gateway', async () => {
    const token = await mintHs256Token({ secret, gatewayId: 'seagrid', userName: 'ann', ttlSeconds: 60 });
    await expect(verifier.verify(token, claims('seagrid'))).resolves.toEqual({ gatewayId: 'seagrid', userName: 'ann' });
    // claimsMap arrives as a Map from the wire
    await expect(verifier.verify(token, new Map([['gatewayID', 'seagrid']]))).resolves.toMatchObject({ gatewayId: 'seagrid' });
  });

  it('rejects missing, forged, expired and mismatched tokens', async () => {
    const good = await mintHs256Token({ secret, gatewayId: 'g1', userName: 'u', ttlSeconds: 60 });
    const forged = await mintHs256Token({ secret: 'another-secret-0123456789abcdef0123', gatewayId: 'g1', userName: 'u', ttlSeconds: 60 });
    const expired = await mintHs256Token({ secret, gatewayId: 'g1', userName: 'u', ttlSeconds: 60, now: Date.now() - 3_600_000 });
    expect(await reason(verifier.verify(undefined, claims('g1')))).toBe('missing');
    expect(await reason(verifier.verify('not.a.jwt', claims('g1')))).toBe('invalid');
    expect(await reason(verifier.verify(forged, claims('g1')))).toBe('invalid');
    expect(await reason(verifier.verify(expired, claims('g1')))).toBe('expired');
    expect(await reason(verifier.verify(good, claims('g2')))).toBe('gateway-mismatch');
    expect(await reason(verifier.verify(good, undefined))).toBe('gateway-mismatch');
  });

  it('rejects a token without an expiry', async () => {
    const token = await new SignJWT({ gatewayID: 'g1' }).setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(secret));
    expect(await reason(verifier.verify(token, claims('g1')))).toBe('invalid');
  });

  it('forgets a cached token once it expires', async () => {
    let now = Date.now();
    const clocked = TokenVerifier.fromConfig({ hs256Secret: secret }, () => now);
    const token = await mintHs256Token({ secret, gatewayId: 'g1', userName: 'u', ttlSeconds: 60, now });
    expect(await reason(clocked.verify(token, claims('g1')))).toBe('accepted');
    now += 61_000;
    expect(await reason(clocked.verify(token, claims('g1')))).toBe('expired');
  });
});

describe('TokenVerifier with public keys', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ms-keys-'));

  it('verifies RS256 tokens against a PEM public key', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const file = path.join(dir, 'rsa.pem');
    writeFileSync(file, publicKey.export({ type: 'spki', format: 'pem' }));
    const verifier = TokenVerifier.fromConfig({ publicKeyFile: file });
    const token = await signed(privateKey, 'RS256', { gatewayID: 'g1', userName: 'r' });
    await expect(verifier.verify(token, claims('g1'))).resolves.toEqual({ gatewayId: 'g1', userName: 'r' });
    // an HS256 token is refused when no secret is configured (no algorithm confusion)
    const hs = await mintHs256Token({ secret, gatewayId: 'g1', userName: 'u', ttlSeconds: 60 });
    expect(await reason(verifier.verify(hs, claims('g1')))).toBe('invalid');
  });

  it('verifies ES256 tokens against a JWKS file by kid', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const file = path.join(dir, 'jwks.json');
    writeFileSync(file, JSON.stringify({ keys: [jwk] }));
    const verifier = TokenVerifier.fromConfig({ jwksFile: file });
    const token = await signed(privateKey, 'ES256', { gatewayID: 'g9' }, 'k1');
    await expect(verifier.verify(token, claims('g9'))).resolves.toMatchObject({ gatewayId: 'g9' });
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const forged = await signed(other.privateKey, 'ES256', { gatewayID: 'g9' }, 'k1');
    expect(await reason(verifier.verify(forged, claims('g9')))).toBe('invalid');
  });

  it('names the setting when a key file cannot be read', () => {
    expect(() => TokenVerifier.fromConfig({ publicKeyFile: path.join(dir, 'missing.pem') })).toThrow(/^AUTH_PUBLIC_KEY_FILE/);
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, '{not json');
    expect(() => TokenVerifier.fromConfig({ jwksFile: bad })).toThrow(/^AUTH_JWKS_FILE/);
  });
});
