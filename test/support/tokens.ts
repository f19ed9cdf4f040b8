// Tokens and AuthzTokens for tests, signed with the test secret the service is started with.
import { mintHs256Token } from '../../src/auth/mintToken';
import { base } from '../../src/rpc/wire';

export const TEST_SECRET = 'test-secret-0123456789abcdef-0123456789';

export async function authz(gatewayId: string, userName = 'alice', claimedGateway = gatewayId, ttlSeconds = 3600): Promise<base.AuthzToken> {
  const accessToken = await mintHs256Token({ secret: TEST_SECRET, gatewayId, userName, ttlSeconds });
  return new base.AuthzToken({ accessToken, claimsMap: new Map([['gatewayID', claimedGateway], ['userName', userName]]) });
}
