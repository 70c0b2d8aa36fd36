// Fault injection for tests, driven through `server.faults`: fail chosen requests with a status code (409,
// 429 with Retry-After, 500, 503…), add latency, drop open watches, or expire history so that watches and
// continues from older resourceVersions get 410 Expired, as after an etcd compaction.
import { ApiServerError, type StatusReason } from './errors.js';

export interface RequestAttributes {
  method: string;
  path: string;
  verb: string;
  group?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

export interface FaultMatch {
  verb?: string | string[];
  group?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  /** Matches when the URL path starts with this. */
  pathPrefix?: string;
}

export interface FaultRule {
  match?: FaultMatch;
  /** Answer with this HTTP status (409, 429, 500, 503, …) instead of serving the request. */
  status?: number;
  message?: string;
  /** For 429/503: seconds in Retry-After and details.retryAfterSeconds. */
  retryAfterSeconds?: number;
  /** Delay before the request is served (or failed). */
  latencyMs?: number;
  /** How many matching requests the rule applies to; unlimited if absent. */
  times?: number;
}

export interface FaultHandle {
  /** Requests the rule has applied to so far. */
  readonly hits: number;
  remove(): void;
}

const REASONS: Record<number, StatusReason> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  410: 'Gone',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

interface ActiveRule {
  rule: FaultRule;
  hits: number;
}

function matches(m: FaultMatch | undefined, a: RequestAttributes): boolean {
  if (!m) return true;
  if (m.verb !== undefined && !(Array.isArray(m.verb) ? m.verb : [m.verb]).includes(a.verb)) return false;
  if (m.group !== undefined && m.group !== a.group) return false;
  if (m.resource !== undefined && m.resource !== a.resource) return false;
  if (m.subresource !== undefined && m.subresource !== a.subresource) return false;
  if (m.namespace !== undefined && m.namespace !== a.namespace) return false;
  if (m.name !== undefined && m.name !== a.name) return false;
  if (m.pathPrefix !== undefined && !a.path.startsWith(m.pathPrefix)) return false;
  return true;
}

export interface WatchControl {
  /** Closes matching open watch streams (clients see the stream end and re-watch). */
  drop(match?: FaultMatch): number;
  /** Compacts history and sends an ERROR 410 Expired event to every open watch, then closes it. */
  expire(): number;
}

export class Faults {
  private readonly rules = new Set<ActiveRule>();

  constructor(private readonly watches: WatchControl) {}

  /** Adds a rule; matching requests are delayed and/or failed until `times` runs out or it is removed. */
  inject(rule: FaultRule): FaultHandle {
    const active: ActiveRule = { rule, hits: 0 };
    this.rules.add(active);
    return {
      get hits() {
        return active.hits;
      },
      remove: () => this.rules.delete(active),
    };
  }

  /** Fails the next `times` matching requests with `status`. */
  failNext(status: number, match?: FaultMatch, times = 1, message?: string): FaultHandle {
    return this.inject({ status, times, ...(match ? { match } : {}), ...(message ? { message } : {}) });
  }

  /** Delays every matching request by `ms`. */
  addLatency(ms: number, match?: FaultMatch): FaultHandle {
    return this.inject({ latencyMs: ms, ...(match ? { match } : {}) });
  }

  dropWatches(match?: FaultMatch): number {
    return this.watches.drop(match);
  }

  /** Forces 410: history is compacted, open watches get an ERROR 410 event and are closed. */
  expireHistory(): number {
    return this.watches.expire();
  }

  clear(): void {
    this.rules.clear();
  }

  /** Applies matching rules to a request: waits, then throws the injected error if any. */
  async apply(a: RequestAttributes): Promise<void> {
    let failure: ApiServerError | undefined;
    let delay = 0;
    for (const active of [...this.rules]) {
      if (!matches(active.rule.match, a)) continue;
      active.hits++;
      if (active.rule.times !== undefined && active.hits >= active.rule.times) this.rules.delete(active);
      delay = Math.max(delay, active.rule.latencyMs ?? 0);
      if (active.rule.status !== undefined && !failure) failure = injectedError(active.rule, a);
    }
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    if (failure) throw failure;
  }
}

function injectedError(rule: FaultRule, a: RequestAttributes): ApiServerError {
  const status = rule.status ?? 500;
  const reason = REASONS[status] ?? 'InternalError';
  const details: { name?: string; group?: string; kind?: string; retryAfterSeconds?: number; causes?: { reason: string; message: string }[] } = {};
  if (a.name) details.name = a.name;
  if (a.resource) {
    details.group = a.group ?? '';
    details.kind = a.resource;
  }
  let message = rule.message;
  if (status === 429) {
    message ??= 'Too many requests, please try again later.';
    details.retryAfterSeconds = rule.retryAfterSeconds ?? 1;
  } else if (status === 500) {
    message ??= 'Internal error occurred: injected fault';
    details.causes = [{ reason: 'UnexpectedServerResponse', message: 'injected fault' }];
  } else if (status === 409) {
    const res = a.group ? `${a.resource}.${a.group}` : a.resource;
    message ??= `Operation cannot be fulfilled on ${res} "${a.name ?? ''}": the object has been modified; please apply your changes to the latest version and try again`;
  } else if (status === 503 && rule.retryAfterSeconds !== undefined) details.retryAfterSeconds = rule.retryAfterSeconds;
  return new ApiServerError(reason, status, message ?? `injected ${status}`, Object.keys(details).length ? details : undefined);
}
