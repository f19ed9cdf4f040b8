// The HTTP side of the double: one node:http server on 127.0.0.1 that tells the three protocols
// apart (X-Amz-Target for awsJson1_1, the form's Version for the two Query protocols), decodes the
// request into an action plus flat parameters and renders the outcome the way each service does.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JsonValue } from './quotas';
import { ApiError, type Params } from './wire';
import { ec2Error, ec2Success, queryError, querySuccess, type XmlObject } from './xml';

export type Service = 'ec2' | 'cloudformation' | 'servicequotas';

export interface DecodedRequest {
  service: Service;
  action: string;
  params: Params;
  /** A SigV4 Authorization header was present; signatures are not checked. */
  signed: boolean;
}

export type OutcomeResult = XmlObject | { [key: string]: JsonValue };
export type Outcome = { result: OutcomeResult } | { error: ApiError };

export interface AwsServer { url: string; close(): Promise<void> }

const VERSIONS: Record<string, Service> = { '2016-11-15': 'ec2', '2010-05-15': 'cloudformation' };
const QUOTAS_TARGET_PREFIX = 'ServiceQuotasV20190624.';

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

// JSON input is flattened to the same dotted form as Query parameters, so faults, holds and call
// records look alike for every service.
function flatten(value: JsonValue, prefix: string, into: Params): Params {
  if (Array.isArray(value)) value.forEach((v, i) => flatten(v, `${prefix}.${i + 1}`, into));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) flatten(v, prefix === '' ? k : `${prefix}.${k}`, into);
  else if (value !== undefined && value !== null) into[prefix] = String(value);
  return into;
}

function decode(request: IncomingMessage, body: string): DecodedRequest | ApiError {
  const signed = /^AWS4-HMAC-SHA256 /.test(request.headers.authorization ?? '');
  const target = request.headers['x-amz-target'];
  if (typeof target === 'string') {
    if (!target.startsWith(QUOTAS_TARGET_PREFIX)) return new ApiError('UnknownOperationException', `Unknown target ${target}`);
    let input: JsonValue;
    try { input = body === '' ? {} : (JSON.parse(body) as JsonValue); } catch { return new ApiError('SerializationException', 'Request body is not JSON'); }
    return { service: 'servicequotas', action: target.slice(QUOTAS_TARGET_PREFIX.length), params: flatten(input, '', {}), signed };
  }
  const params = Object.fromEntries(new URLSearchParams(body));
  const service = VERSIONS[params.Version ?? ''];
  const action = params.Action;
  if (service === undefined || action === undefined) return new ApiError('InvalidAction', 'The request has no known Action and Version');
  delete params.Action;
  delete params.Version;
  return { service, action, params, signed };
}

function send(response: ServerResponse, service: Service, action: string, outcome: Outcome): number {
  const requestId = randomUUID();
  const status = 'error' in outcome ? outcome.error.status : 200;
  const headers: Record<string, string> = { 'x-amzn-requestid': requestId };
  let body: string;
  if (service === 'servicequotas') {
    headers['content-type'] = 'application/x-amz-json-1.1';
    if ('error' in outcome) headers['x-amzn-errortype'] = outcome.error.code;
    body = JSON.stringify('error' in outcome ? { __type: outcome.error.code, Message: outcome.error.message } : outcome.result);
  } else if (service === 'ec2') {
    headers['content-type'] = 'text/xml;charset=UTF-8';
    headers.server = 'AmazonEC2';
    body = 'error' in outcome ? ec2Error(outcome.error.code, outcome.error.message, requestId) : ec2Success(action, requestId, outcome.result as XmlObject);
  } else {
    headers['content-type'] = 'text/xml';
    body = 'error' in outcome
      ? queryError(outcome.error.code, outcome.error.message, requestId, status)
      : querySuccess(action, requestId, outcome.result as XmlObject);
  }
  headers['content-length'] = String(Buffer.byteLength(body));
  response.writeHead(status, headers).end(body);
  return status;
}

/** Serves until closed; `handle` decides every outcome, the server only speaks the wire format. */
export async function startServer(
  handle: (request: DecodedRequest) => Promise<Outcome>,
  onUndecodable: (error: ApiError) => void,
): Promise<AwsServer> {
  const server = createServer((request, response) => {
    void (async () => {
      const body = await readBody(request);
      const decoded = decode(request, body);
      if (decoded instanceof ApiError) {
        onUndecodable(decoded);
        send(response, typeof request.headers['x-amz-target'] === 'string' ? 'servicequotas' : 'ec2', '', { error: decoded });
        return;
      }
      let outcome: Outcome;
      try {
        outcome = await handle(decoded);
      } catch (error) {
        outcome = { error: error instanceof ApiError ? error : new ApiError('InternalError', (error as Error).message, 500) };
      }
      send(response, decoded.service, decoded.action, outcome);
    })().catch((error: unknown) => {
      if (!response.headersSent) response.writeHead(500).end(String(error));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
