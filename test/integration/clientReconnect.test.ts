// Our client against a server that closed its idle connection: the next call opens a new one.
import { connectClients } from '../../src/client/connect';
import { startTestApp, type TestApp } from '../support/app';
import { authz } from '../support/tokens';

describe('connectClients', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp('buffered', { env: { THRIFT_IDLE_TIMEOUT_MS: '500' } });
  });
  afterAll(async () => {
    await app.close();
  });

  it('opens a new connection for a call made after the server closed an idle one', async () => {
    const clients = await connectClients({ host: '127.0.0.1', port: app.port });
    try {
      const token = await authz('gw-reconnect');
      expect(await clients.cluster.listClusters(token)).toEqual([]);
      await new Promise((resolve) => setTimeout(resolve, 1500)); // the server closes it after 0.5 s
      expect(await clients.cluster.listClusters(token)).toEqual([]);
      expect(typeof (await clients.job.getAPIVersion())).toBe('string');
    } finally {
      clients.close();
    }
    await expect(clients.cluster.listClusters(await authz('gw-reconnect'))).rejects.toThrow('the client was closed');
  });
});
