// The templates/ folder beside the sources (src/providers/...) or beside the build (dist/src/providers/...).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ProviderError } from './provider';

export function templateFile(name: string): string {
  const candidates = [path.resolve(__dirname, '../../templates', name), path.resolve(__dirname, '../../../templates', name)];
  const found = candidates.find((candidate) => existsSync(candidate));
  if (found === undefined) throw new ProviderError('bad_request', `the template ${name} is missing (looked for ${candidates.join(' and ')})`);
  return found;
}
