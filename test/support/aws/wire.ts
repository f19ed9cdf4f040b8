// What every service module shares: the error a handler throws to answer with an AWS error, and
// readers for the flattened form parameters of the Query protocols (`InstanceId.1`,
// `Filter.2.Value.1`, `Parameters.member.3.ParameterKey`).

/** Thrown by a handler; the server renders it in the protocol of the request. */
export class ApiError extends Error {
  constructor(readonly code: string, message: string, readonly status = 400) {
    super(message);
  }
}

export type Params = Record<string, string>;

// Query lists are 1-based and contiguous; reading stops at the first gap like the services do.
function indexes(params: Params, prefix: string): number[] {
  const found = new Set<number>();
  for (const key of Object.keys(params)) {
    if (!key.startsWith(prefix)) continue;
    const index = Number(key.slice(prefix.length).split('.')[0]);
    if (Number.isInteger(index) && index > 0) found.add(index);
  }
  return [...found].sort((a, b) => a - b);
}

/** Values of a flat list: `list(p, 'InstanceId')` reads InstanceId.1, InstanceId.2, ... */
export function list(params: Params, name: string): string[] {
  return indexes(params, `${name}.`).map((i) => params[`${name}.${i}`]).filter((v): v is string => v !== undefined);
}

/** Entries of a list of structures, each with its own keys relative to the entry. */
export function structs(params: Params, name: string): Params[] {
  const prefix = `${name}.`;
  return indexes(params, prefix).map((i) => {
    const entryPrefix = `${prefix}${i}.`;
    const entry: Params = {};
    for (const [key, value] of Object.entries(params)) {
      if (key.startsWith(entryPrefix)) entry[key.slice(entryPrefix.length)] = value;
    }
    return entry;
  });
}

/** A nested structure: `sub(p, 'InstanceMarketOptions')` gives { MarketType: 'spot', ... }. */
export function sub(params: Params, name: string): Params {
  const prefix = `${name}.`;
  const entry: Params = {};
  for (const [key, value] of Object.entries(params)) if (key.startsWith(prefix)) entry[key.slice(prefix.length)] = value;
  return entry;
}

/** Tag lists: EC2 `Tag.N.Key/Value`, CloudFormation `Tags.member.N.Key/Value`. */
export function tagsOf(entries: Params[]): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const entry of entries) if (entry.Key !== undefined) tags[entry.Key] = entry.Value ?? '';
  return tags;
}

export function required(params: Params, name: string): string {
  const value = params[name];
  if (value === undefined || value === '') throw new ApiError('MissingParameter', `The request must contain the parameter ${name}`);
  return value;
}

export function integer(params: Params, name: string): number | undefined {
  const value = params[name];
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isInteger(parsed)) throw new ApiError('InvalidParameterValue', `Invalid value '${value}' for ${name}`);
  return parsed;
}

/** Opaque paging tokens: the offset of the next entry, so a stale token is still well formed. */
export function encodeToken(offset: number): string {
  return Buffer.from(`offset:${offset}`).toString('base64');
}

export function decodeToken(token: string | undefined): number {
  if (token === undefined || token === '') return 0;
  const match = /^offset:(\d+)$/.exec(Buffer.from(token, 'base64').toString('utf8'));
  if (!match) throw new ApiError('InvalidParameterValue', 'Invalid value for NextToken');
  return Number(match[1]);
}
