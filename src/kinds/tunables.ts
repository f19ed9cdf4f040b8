// A kind's clusterOptions are a closed table of tunables, each with the pattern its value must
// match: anything else is refused at createCluster, every bad option named.
import type { FieldError } from '../domain/errors';
import type { ClusterSpec } from '../domain/types';

export function tunableErrors(
  tunables: Readonly<Record<string, RegExp>>, spec: Pick<ClusterSpec, 'clusterOptions'>, prefix = 'spec.clusterOptions',
): FieldError[] {
  const errors: FieldError[] = [];
  for (const [key, value] of Object.entries(spec.clusterOptions ?? {})) {
    const pattern = Object.hasOwn(tunables, key) ? tunables[key] : undefined;
    if (!pattern) {
      errors.push({ field: `${prefix}[${JSON.stringify(key)}]`, message: `unknown option; known: ${Object.keys(tunables).join(', ')}` });
    } else if (!pattern.test(value)) {
      errors.push({ field: `${prefix}[${JSON.stringify(key)}]`, message: `must match ${pattern.source}` });
    }
  }
  return errors;
}
