// Shared reading of answers: the wrapper key every OpenStack body puts its payload under, and the
// "next" links that page through long lists.
import { OpenStackError, type OpenStackService } from './errors';
import type { HttpResponse, Query } from './http';

type JsonObject = Record<string, unknown>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function badResponse(service: OpenStackService, response: HttpResponse, what: string): OpenStackError {
  return new OpenStackError({
    service, category: 'transient', status: response.status, code: 'BadResponse',
    path: new URL(response.url).pathname, message: `the answer has no ${what}`,
  });
}

/**
 * The object under `key` ({"server": {...}} -> {...}). The payload is taken to have the fields the
 * API reference documents for it; only its presence and kind are checked here.
 */
export function objectAt<T>(service: OpenStackService, response: HttpResponse, key: string): T {
  const body = response.body;
  if (!isObject(body) || !isObject(body[key])) throw badResponse(service, response, `"${key}" object`);
  return body[key] as T;
}

/** The list under `key` ({"servers": [...]} -> [...]). */
export function listAt<T>(service: OpenStackService, response: HttpResponse, key: string): T[] {
  const body = response.body;
  if (!isObject(body) || !Array.isArray(body[key])) throw badResponse(service, response, `"${key}" list`);
  return body[key] as T[];
}

export interface Link {
  href: string;
  rel: string;
}

/** The href of the rel="next" entry of a links list (Nova's servers_links, Neutron's networks_links). */
export function nextHref(links: unknown): string | undefined {
  if (!Array.isArray(links)) return undefined;
  const next = links.find((link): link is Link => isObject(link) && link.rel === 'next' && typeof link.href === 'string');
  return next?.href;
}

/**
 * The query of the next page. Only the next link's query (marker, limit and the filters) is used,
 * on our own endpoint: services build the link's host from their own settings, which behind a proxy
 * is often not the address the client reached them at.
 */
export function nextPageQuery(href: string | undefined, current: Query): Query | undefined {
  if (href === undefined) return undefined;
  const params = new URL(href, 'http://next.invalid/').searchParams;
  if (params.size === 0) return undefined;
  const next: Record<string, string | readonly string[] | number | boolean | undefined> = { ...current };
  for (const key of new Set(params.keys())) {
    const values = params.getAll(key);
    next[key] = values.length === 1 ? values[0] : values;
  }
  // A link that does not move the marker would page forever.
  return JSON.stringify(next) === JSON.stringify(current) ? undefined : next;
}

/** Upper bound on pages of one list: a service that keeps sending "next" must not keep us forever. */
export const MAX_PAGES = 500;

/** Every page of a list, following next links from the first query. */
export async function allPages<T>(
  first: Query,
  page: (query: Query) => Promise<{ items: T[]; next: string | undefined }>,
): Promise<T[]> {
  const items: T[] = [];
  let query: Query | undefined = first;
  for (let count = 0; query !== undefined && count < MAX_PAGES; count++) {
    const result = await page(query);
    items.push(...result.items);
    query = result.items.length === 0 ? undefined : nextPageQuery(result.next, query);
  }
  return items;
}

/** A path segment from a name or id that may hold characters with a meaning in URLs. */
export function segment(value: string): string {
  return encodeURIComponent(value);
}

/** A look-up by name that found several: the caller must use the id. */
export function ambiguousName(service: OpenStackService, what: string, name: string, count: number): OpenStackError {
  return new OpenStackError({ service, category: 'bad_request', code: 'AmbiguousName', message: `${count} ${what}s are named "${name}"; use the id` });
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** OpenStack ids are UUIDs (with or without dashes); names may be anything, including that. */
export function looksLikeUuid(value: string): boolean {
  return UUID.test(value);
}
