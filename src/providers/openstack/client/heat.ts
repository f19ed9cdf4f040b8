// Heat (orchestration v1): stacks created from a template, watched through their events and
// resources, updated (a new template, or new parameters only), deleted. Heat's URLs are per
// project (the catalog's ".../v1/<project_id>") and name a stack by name and id together.
import { categorize, OpenStackError } from './errors';
import type { HttpResponse, Query } from './http';
import type { OpenStackSession, ServiceCall } from './session';
import { allPages, isObject, listAt, nextHref, objectAt, segment } from './wire';

// ---------------------------------------------------------------------------------------------
// Wire shapes

export interface StackRef {
  stack_name: string;
  id: string;
}

export interface StackOutput {
  output_key: string;
  output_value: unknown;
  description?: string;
  output_error?: string;
}

export interface HeatStack extends StackRef {
  /** "<ACTION>_<STATE>", e.g. CREATE_IN_PROGRESS, UPDATE_FAILED; see stackStatus. */
  stack_status: string;
  stack_status_reason: string | null;
  creation_time: string;
  updated_time: string | null;
  deletion_time?: string | null;
  description?: string;
  parameters?: Record<string, string>;
  outputs?: StackOutput[];
  tags: string[] | null;
  timeout_mins: number | null;
  disable_rollback?: boolean;
  parent?: string | null;
  links?: Array<{ href: string; rel: string }>;
}

export interface HeatEvent {
  id: string;
  event_time: string;
  resource_name: string;
  logical_resource_id: string;
  physical_resource_id: string | null;
  resource_status: string;
  resource_status_reason: string | null;
  links?: Array<{ href: string; rel: string }>;
}

export interface HeatResource {
  resource_name: string;
  logical_resource_id: string;
  physical_resource_id: string;
  resource_type: string;
  resource_status: string;
  resource_status_reason: string | null;
  creation_time?: string;
  updated_time: string;
  required_by?: string[];
  parent_resource?: string;
  links?: Array<{ href: string; rel: string }>;
}

/** A HOT template as an object, or its text (YAML or JSON), which Heat parses itself. */
export type Template = Readonly<Record<string, unknown>> | string;

/** Heat reads strings, numbers and booleans, lists (comma_delimited_list) and objects (json). */
export type ParameterValue = string | number | boolean | readonly string[] | Readonly<Record<string, unknown>>;

export interface StackInput {
  template: Template;
  parameters?: Readonly<Record<string, ParameterValue>>;
  timeoutMins?: number;
  tags?: readonly string[];
  /** Files the template refers to by name (nested templates), name -> content. */
  files?: Readonly<Record<string, string>>;
  environment?: Readonly<Record<string, unknown>> | string;
  disableRollback?: boolean;
}

export interface EventQuery {
  /** "desc" for the newest first. Heat's default is the oldest first. */
  sortDir?: 'asc' | 'desc';
  /** Events after this one's id, in the sort order. */
  marker?: string;
  limit?: number;
  resourceName?: string;
  /** Also the events of nested stacks this deep (a ResourceGroup's members are one level down). */
  nestedDepth?: number;
}

// ---------------------------------------------------------------------------------------------
// Status

export type StackState = 'IN_PROGRESS' | 'COMPLETE' | 'FAILED';

/** CREATE_IN_PROGRESS -> {action: CREATE, state: IN_PROGRESS}. Also for resource and event statuses. */
export function stackStatus(status: string): { action: string; state: StackState | undefined } {
  const match = /^(.*)_(IN_PROGRESS|COMPLETE|FAILED)$/.exec(status);
  return match === null ? { action: status, state: undefined } : { action: match[1], state: match[2] as StackState };
}

// Heat prefixes a resource's failure with the exception's name: "NotFound: Subnet ... could not be found".
const BAD_REQUEST_REASON = /^(NotFound|BadRequest|StackValidationFailed|InvalidTemplate\w*|Invalid\w*|PropertyUnspecifiedError|EntityNotFound|Forbidden)\b/;

/** Why a stack (or a resource, from its event) failed, as an error of the right category. */
export function stackFailure(what: string, reason: string | null): OpenStackError {
  const message = `${what}: ${reason ?? 'failed without a reason'}`;
  const text = reason ?? '';
  const code = /^([A-Za-z]+):/.exec(text)?.[1];
  const byText = categorize({ code, message: text });
  // categorize reads capacity and quota from the text; a known client-side fault is bad_request,
  // and anything else (the engine, a service timing out) may go better on another try.
  const category = byText === 'transient' && BAD_REQUEST_REASON.test(text) ? 'bad_request' : byText;
  return new OpenStackError({ service: 'orchestration', category, code, message });
}

// ---------------------------------------------------------------------------------------------
// The client

export class HeatClient {
  constructor(private readonly session: OpenStackSession) {}

  /** Starts creating the stack; watch it with getStack and listEvents. */
  async createStack(name: string, input: StackInput): Promise<StackRef> {
    // Not sent again after a lost connection: the second would be refused as a duplicate name
    // while the first goes on. The caller looks the stack up by name instead.
    const response = await this.call({ method: 'POST', path: '/stacks', json: { stack_name: name, ...stackBody(input) } });
    const stack = objectAt<{ id: string }>('orchestration', response, 'stack');
    return { stack_name: name, id: stack.id };
  }

  /** The stack by name, id or both; undefined when Heat does not know it. */
  async getStack(stack: string | StackRef): Promise<HeatStack | undefined> {
    if (typeof stack !== 'string') {
      const response = await this.call({ method: 'GET', path: stackPath(stack), accept: [404] });
      return response.status === 404 ? undefined : objectAt<HeatStack>('orchestration', response, 'stack');
    }
    // By name (or id) alone Heat answers 302 to the stack's canonical /stacks/<name>/<id>.
    const response = await this.call({ method: 'GET', path: `/stacks/${segment(stack)}`, accept: [404, 301, 302, 303, 307] });
    if (response.status === 404) return undefined;
    if (response.status < 300) return objectAt<HeatStack>('orchestration', response, 'stack');
    const ref = stackRefFromLocation(response.headers.get('location'));
    if (ref === undefined) {
      throw new OpenStackError({
        service: 'orchestration', category: 'transient', status: response.status, code: 'BadRedirect',
        message: `Heat redirected the look-up of stack "${stack}" without a usable Location`,
      });
    }
    return this.getStack(ref);
  }

  /** Stacks of this project, filtered by name or by tags (all of them). */
  async listStacks(filter: { name?: string; tags?: readonly string[] } = {}): Promise<HeatStack[]> {
    const first: Query = { stack_name: filter.name, tags: filter.tags?.join(',') };
    return allPages<HeatStack>(first, async (query) => {
      const response = await this.call({ method: 'GET', path: '/stacks', query });
      const links = isObject(response.body) ? response.body.links : undefined;
      return { items: listAt<HeatStack>('orchestration', response, 'stacks'), next: nextHref(links) };
    });
  }

  /** One page of the stack's events. */
  async listEvents(stack: StackRef, query: EventQuery = {}): Promise<HeatEvent[]> {
    const response = await this.call({
      method: 'GET', path: `${stackPath(stack)}/events`,
      query: {
        sort_dir: query.sortDir, marker: query.marker, limit: query.limit,
        resource_name: query.resourceName, nested_depth: query.nestedDepth,
      },
    });
    return listAt<HeatEvent>('orchestration', response, 'events');
  }

  /** Every event after the one last seen (all of them without one), oldest first, page by page. */
  async eventsSince(stack: StackRef, lastSeenId?: string, options: { pageSize?: number; nestedDepth?: number } = {}): Promise<HeatEvent[]> {
    const pageSize = options.pageSize ?? 100;
    const events: HeatEvent[] = [];
    let marker = lastSeenId;
    for (let pages = 0; pages < 1000; pages++) {
      const page = await this.listEvents(stack, { sortDir: 'asc', marker, limit: pageSize, nestedDepth: options.nestedDepth });
      events.push(...page);
      if (page.length < pageSize) break;
      marker = page[page.length - 1].id;
    }
    return events;
  }

  async listResources(stack: StackRef, options: { nestedDepth?: number } = {}): Promise<HeatResource[]> {
    const response = await this.call({ method: 'GET', path: `${stackPath(stack)}/resources`, query: { nested_depth: options.nestedDepth } });
    return listAt<HeatResource>('orchestration', response, 'resources');
  }

  /** Starts an update to a new template (and parameters). */
  async updateStack(stack: StackRef, input: StackInput): Promise<void> {
    // A PUT, but a second one would meet the first in progress (409): not sent again once it may have arrived.
    await this.call({ method: 'PUT', path: stackPath(stack), json: stackBody(input), resendable: false });
  }

  /** Starts an update of parameters (or timeout, tags) only; the stack keeps its template. */
  async patchStack(stack: StackRef, input: { parameters?: StackInput['parameters']; timeoutMins?: number; tags?: readonly string[]; clearParameters?: readonly string[] }): Promise<void> {
    await this.call({
      method: 'PATCH', path: stackPath(stack),
      json: { parameters: input.parameters, timeout_mins: input.timeoutMins, tags: input.tags?.join(','), clear_parameters: input.clearParameters },
    });
  }

  /** Starts deleting; true when Heat took it, false when the stack was already gone. */
  async deleteStack(stack: StackRef): Promise<boolean> {
    const response = await this.call({ method: 'DELETE', path: stackPath(stack), accept: [404] });
    return response.status !== 404;
  }

  private call(call: ServiceCall): Promise<HttpResponse> {
    return this.session.call('orchestration', call);
  }
}

function stackPath(stack: StackRef): string {
  return `/stacks/${segment(stack.stack_name)}/${segment(stack.id)}`;
}

function stackBody(input: StackInput): Record<string, unknown> {
  return {
    template: input.template,
    parameters: input.parameters,
    timeout_mins: input.timeoutMins,
    // Heat takes tags as one comma-separated string.
    tags: input.tags?.join(','),
    files: input.files,
    environment: input.environment,
    disable_rollback: input.disableRollback,
  };
}

/** The name and id from a Location ".../stacks/<name>/<id>"; only these are used, on our own endpoint. */
export function stackRefFromLocation(location: string | null): StackRef | undefined {
  if (location === null) return undefined;
  const path = new URL(location, 'http://location.invalid/').pathname;
  const match = /\/stacks\/([^/]+)\/([^/]+)\/?$/.exec(path);
  if (match === null) return undefined;
  return { stack_name: decodeURIComponent(match[1]), id: decodeURIComponent(match[2]) };
}
