// Serves one recorded response body as it is, so a test can let the real SDK parse an official
// fixture and compare the result with what it makes of the double's answer to the same call.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Replay { url: string; close(): Promise<void> }

export async function replayBody(status: number, contentType: string, body: Buffer, headers: Record<string, string> = {}): Promise<Replay> {
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(status, { 'content-type': contentType, 'content-length': String(body.length), ...headers }).end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
