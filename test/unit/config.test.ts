import * as path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config';

const secret = { AUTH_HS256_SECRET: 'x'.repeat(32) };

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig(secret);
    expect(config).toMatchObject({
      thriftHost: '127.0.0.1', thriftPort: 9190, thriftTransport: 'buffered', logLevel: 'info',
      dataDir: path.resolve('./.data'), databaseUrl: undefined, amqpUrl: undefined,
    });
  });

  it('refuses to start without any way to verify tokens', () => {
    expect(() => loadConfig({})).toThrow(/AUTH_HS256_SECRET, AUTH_PUBLIC_KEY_FILE, AUTH_JWKS_FILE: none is set/);
  });

  it('names every wrong setting', () => {
    try {
      loadConfig({ ...secret, THRIFT_PORT: 'abc', THRIFT_TRANSPORT: 'http', LOG_LEVEL: 'loud', DATABASE_URL: 'mysql://x' });
      throw new Error('expected ConfigError');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const names = (error as ConfigError).problems.map((p) => p.split(':')[0]);
      expect(names).toEqual(['DATABASE_URL', 'THRIFT_PORT', 'THRIFT_TRANSPORT', 'LOG_LEVEL']);
    }
  });

  it('rejects a short HS256 secret', () => {
    expect(() => loadConfig({ AUTH_HS256_SECRET: 'short' })).toThrow(/at least 32 bytes/);
  });

  it('takes framed transport and a port', () => {
    expect(loadConfig({ ...secret, THRIFT_TRANSPORT: 'framed', THRIFT_PORT: '9999' }))
      .toMatchObject({ thriftTransport: 'framed', thriftPort: 9999 });
  });

  it('limits Thrift connections: idle timeout, count and message size, with their defaults', () => {
    expect(loadConfig(secret)).toMatchObject({
      thriftIdleTimeoutMs: 60_000, thriftMaxConnections: 1024, thriftMaxMessageBytes: 16 * 1024 * 1024,
    });
    expect(loadConfig({
      ...secret, THRIFT_IDLE_TIMEOUT_MS: '5000', THRIFT_MAX_CONNECTIONS: '10', THRIFT_MAX_MESSAGE_BYTES: '65536',
    })).toMatchObject({ thriftIdleTimeoutMs: 5000, thriftMaxConnections: 10, thriftMaxMessageBytes: 65536 });
    try {
      loadConfig({ ...secret, THRIFT_IDLE_TIMEOUT_MS: '-1', THRIFT_MAX_CONNECTIONS: '0', THRIFT_MAX_MESSAGE_BYTES: '1MiB' });
      throw new Error('expected ConfigError');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems.map((p) => p.split(':')[0]))
        .toEqual(['THRIFT_IDLE_TIMEOUT_MS', 'THRIFT_MAX_CONNECTIONS', 'THRIFT_MAX_MESSAGE_BYTES']);
    }
  });
});
