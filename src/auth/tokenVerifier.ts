// Verifies the JWT in every call's AuthzToken and turns it into the Caller whose gateway scopes the
// call. Keys come from configuration: an HS256 secret, a PEM public key (RS256 or ES256), a JWKS file.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { AuthConfig } from '../config';
import { UnauthorizedError } from '../domain/errors';
import type { Caller } from '../domain/types';

/** The claim naming the caller's gateway, in the token and in AuthzToken.claimsMap alike. */
export const GATEWAY_CLAIM = 'gatewayID';
export const USER_CLAIM = 'userName';

type Algorithm = 'HS256' | 'RS256' | 'ES256';

interface CachedCaller {
  caller: Caller;
  expiresAtMs: number;
}

// A verified token is remembered until it expires, so a busy client does not pay for a signature
// check on every call. Bounded: when full, the cache starts again.
const CACHE_LIMIT = 10_000;

export class TokenVerifier {
  private readonly cache = new Map<string, CachedCaller>();

  private constructor(
    private readonly getKey: JWTVerifyGetKey,
    private readonly algorithms: Algorithm[],
    private readonly now: () => number,
  ) {}

  /** Builds a verifier from configuration; throws with the setting's name when a key cannot be read. */
  static fromConfig(auth: AuthConfig, now: () => number = Date.now): TokenVerifier {
    const keys = new Map<Algorithm, Uint8Array | KeyObject>();
    let jwks: JWTVerifyGetKey | undefined;
    if (auth.hs256Secret) keys.set('HS256', new TextEncoder().encode(auth.hs256Secret));
    if (auth.publicKeyFile) {
      let key: KeyObject;
      try {
        key = createPublicKey(readFileSync(auth.publicKeyFile));
      } catch (error) {
        throw new Error(`AUTH_PUBLIC_KEY_FILE: cannot read a PEM public key from ${auth.publicKeyFile}: ${(error as Error).message}`);
      }
      if (key.asymmetricKeyType === 'rsa') keys.set('RS256', key);
      else if (key.asymmetricKeyType === 'ec') keys.set('ES256', key);
      else throw new Error(`AUTH_PUBLIC_KEY_FILE: key type ${key.asymmetricKeyType ?? 'unknown'} is neither RSA nor EC`);
    }
    if (auth.jwksFile) {
      try {
        jwks = createLocalJWKSet(JSON.parse(readFileSync(auth.jwksFile, 'utf8')));
      } catch (error) {
        throw new Error(`AUTH_JWKS_FILE: cannot read a JSON Web Key Set from ${auth.jwksFile}: ${(error as Error).message}`);
      }
    }
    const algorithms: Algorithm[] = [...keys.keys()];
    if (jwks) for (const alg of ['RS256', 'ES256'] as const) if (!algorithms.includes(alg)) algorithms.push(alg);
    const getKey: JWTVerifyGetKey = async (header, token) => {
      const alg = header.alg as Algorithm;
      const direct = keys.get(alg);
      // A JWKS, when configured, answers for asymmetric tokens with a kid or none of our own key.
      if (direct && (!jwks || !header.kid || alg === 'HS256')) return direct;
      if (jwks) return jwks(header, token);
      throw new UnauthorizedError('invalid', `no key is configured for ${alg} tokens`);
    };
    return new TokenVerifier(getKey, algorithms, now);
  }

  /** Establishes the caller, or throws UnauthorizedError saying why not. */
  async verify(accessToken: string | undefined, claimsMap: Map<string, string> | Record<string, string> | undefined): Promise<Caller> {
    if (!accessToken) throw new UnauthorizedError('missing', 'authzToken.accessToken is missing');
    const claimedGateway = claimsMap instanceof Map ? claimsMap.get(GATEWAY_CLAIM) : claimsMap?.[GATEWAY_CLAIM];
    const nowMs = this.now();
    let entry = this.cache.get(accessToken);
    if (entry && entry.expiresAtMs <= nowMs) {
      this.cache.delete(accessToken);
      entry = undefined;
    }
    if (!entry) {
      entry = await this.verifySignature(accessToken, nowMs);
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(accessToken, entry);
    }
    if (claimedGateway !== entry.caller.gatewayId) {
      throw new UnauthorizedError(
        'gateway-mismatch',
        `authzToken.claimsMap.${GATEWAY_CLAIM} does not match the gateway of the token`,
      );
    }
    return entry.caller;
  }

  private async verifySignature(accessToken: string, nowMs: number): Promise<CachedCaller> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(accessToken, this.getKey, {
        algorithms: this.algorithms,
        requiredClaims: ['exp'],
        currentDate: new Date(nowMs),
      }));
    } catch (error) {
      if (error instanceof UnauthorizedError) throw error;
      if (error instanceof joseErrors.JWTExpired) throw new UnauthorizedError('expired', 'the access token has expired');
      // jose's messages name the failed check without echoing the token.
      const detail = error instanceof joseErrors.JOSEError ? error.message : 'malformed token';
      throw new UnauthorizedError('invalid', `the access token was rejected: ${detail}`);
    }
    const gatewayId = payload[GATEWAY_CLAIM];
    if (typeof gatewayId !== 'string' || gatewayId === '') {
      throw new UnauthorizedError('invalid', `the access token carries no ${GATEWAY_CLAIM} claim`);
    }
    const userClaim = payload[USER_CLAIM] ?? payload.sub;
    const userName = typeof userClaim === 'string' && userClaim !== '' ? userClaim : 'unknown';
    return { caller: { gatewayId, userName }, expiresAtMs: (payload.exp as number) * 1000 };
  }
}
