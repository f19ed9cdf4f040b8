// The Debian packages the service runs programs from, read from scripts/runtime-packages: the list
// `npm start` and `npm test` install from, so the service checks for exactly what they install.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

export interface RuntimePackage {
  /** The Debian package's name. */
  name: string;
  /** The programs it puts on PATH that the service runs, itself or through ansible-runner. */
  programs: readonly string[];
}

/** scripts/runtime-packages, whether this module runs from src/ (tests) or dist/src/ (the service). */
export const RUNTIME_PACKAGES_FILE = path.resolve(__dirname,
  __dirname.includes(`${path.sep}dist${path.sep}`) ? '../../../scripts/runtime-packages' : '../../scripts/runtime-packages');

/** One entry a line: the package, then its programs; `#` starts a comment. */
export function parseRuntimePackages(text: string): RuntimePackage[] {
  const packages: RuntimePackage[] = [];
  for (const line of text.split('\n')) {
    const [name, ...programs] = line.replace(/#.*/, '').split(/\s+/).filter((word) => word !== '');
    if (name !== undefined) packages.push({ name, programs });
  }
  return packages;
}

export function readRuntimePackages(file: string = RUNTIME_PACKAGES_FILE): RuntimePackage[] {
  return parseRuntimePackages(readFileSync(file, 'utf8'));
}
