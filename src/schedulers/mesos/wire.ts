// Reading JSON answers without trusting their shape: each reader takes what it needs, checks its
// type, and says which field of which answer was wrong when a vital one is missing.
import { MesosApiError, type MesosService } from './errors';

export type JsonObject = Record<string, unknown>;

export interface WireContext {
  service: MesosService;
  method: string;
  path: string;
}

export function badAnswer(context: WireContext, what: string): MesosApiError {
  return new MesosApiError({ ...context, code: 'BadResponse', apiMessage: `unexpected answer: ${what}` });
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function objectOf(value: unknown, context: WireContext, what: string): JsonObject {
  if (!isObject(value)) throw badAnswer(context, `${what} is not an object`);
  return value;
}

export function arrayOf(value: unknown, context: WireContext, what: string): unknown[] {
  if (!Array.isArray(value)) throw badAnswer(context, `${what} is not an array`);
  return value;
}

export function requiredString(o: JsonObject, key: string, context: WireContext, what: string): string {
  const value = o[key];
  if (typeof value !== 'string') throw badAnswer(context, `${what}.${key} is not a string`);
  return value;
}

export function optionalString(o: JsonObject, key: string): string | undefined {
  const value = o[key];
  return typeof value === 'string' ? value : undefined;
}

export function optionalNumber(o: JsonObject, key: string): number | undefined {
  const value = o[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

export function optionalBoolean(o: JsonObject, key: string): boolean | undefined {
  const value = o[key];
  return typeof value === 'boolean' ? value : undefined;
}

/** A map of strings (labels); other values are left out. */
export function stringMap(value: unknown): Record<string, string> {
  const map: Record<string, string> = {};
  if (!isObject(value)) return map;
  for (const [key, item] of Object.entries(value)) if (typeof item === 'string') map[key] = item;
  return map;
}

/** The objects of an optional array; an absent array is empty, items that are not objects are left out. */
export function objects(value: unknown): JsonObject[] {
  return Array.isArray(value) ? value.filter(isObject) : [];
}

/** A path segment of ours, encoded (ids are checked before they get here; this is the last guard). */
export function segment(value: string): string {
  return encodeURIComponent(value);
}
