// The service's logger. Secrets never reach a log line: every field that can carry one is redacted
// by name, wherever it sits in the logged object.
import pino, { type Logger } from 'pino';
import type { LogLevel } from './config';

export type { Logger };

/** Field names whose values are replaced by "[redacted]" at any depth we log. */
export const SECRET_FIELDS = [
  'accessToken', 'authzToken', 'token', 'password', 'secret', 'privateKey', 'authorization',
  'AUTH_HS256_SECRET', 'DATABASE_URL', 'connectionString', 'amqpUrl', 'kafkaRestUrl', 'databaseUrl',
];

function redactPaths(): string[] {
  const paths: string[] = [];
  for (const field of SECRET_FIELDS) paths.push(field, `*.${field}`, `*.*.${field}`);
  return paths;
}

export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    { level, redact: { paths: redactPaths(), censor: '[redacted]' }, base: { service: 'airavata-metascheduler' } },
    destination,
  );
}

/** Replaces the password of a connection URL, for messages that must name the database. */
export function maskUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '[unparseable url]';
  }
}
