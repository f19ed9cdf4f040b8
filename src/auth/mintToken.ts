// Development tokens: what `airavata-ms token` prints for an operator trying the service.
import { SignJWT } from 'jose';
import { GATEWAY_CLAIM, USER_CLAIM } from './tokenVerifier';

export interface MintOptions {
  secret: string;
  gatewayId: string;
  userName: string;
  ttlSeconds: number;
  now?: number;
}

export async function mintHs256Token(options: MintOptions): Promise<string> {
  const issuedAt = Math.floor((options.now ?? Date.now()) / 1000);
  return new SignJWT({ [GATEWAY_CLAIM]: options.gatewayId, [USER_CLAIM]: options.userName })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(options.userName)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + options.ttlSeconds)
    .sign(new TextEncoder().encode(options.secret));
}
