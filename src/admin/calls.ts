/** GET /api/calls, /api/calls/{requestId}, /api/stats: the call log, one call explained, and traffic over time. */
import { parseDuration } from '../config/units.js';
import { explainCall } from '../diagnose/explain.js';
import type { CallFilter, CallStore } from '../observe/store-api.js';
import { AdminError, type AdminContext, type AdminRouter } from './router.js';
import { callBody, callsBody, errorBody, statsBody } from './schemas.js';

const TIME_HELP = 'epoch ms, an ISO 8601 date, or a duration ago (15m)';

/**
 * The node filter (`node=`): a fleet's call log filters by it; a single gateway's log holds only
 * its own node's calls, so another node's name matches nothing.
 */
function otherNode(ctx: AdminContext, node: string | undefined): boolean {
  return node !== undefined && !ctx.gateway.fleet && node !== ctx.gateway.node;
}

function needStore(ctx: AdminContext): CallStore {
  if (!ctx.gateway.store) throw new AdminError('UNAVAILABLE', 'no call log is kept on this gateway (storage.enabled is false), so calls and stats cannot be queried');
  return ctx.gateway.store;
}

/** A point in time: epoch ms, an ISO date, or a duration meaning "that long ago". */
function parseTime(name: string, text: string | null, now: number): number | undefined {
  if (text === null || text === '') return undefined;
  if (/^\d+$/.test(text)) return Number(text);
  const ago = parseDuration(text);
  if (ago !== undefined) return now - ago;
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new AdminError('BAD_REQUEST', `${name}=${text} is not a time (${TIME_HELP})`);
  return t;
}

function parseInteger(name: string, text: string | null, min: number, max: number): number | undefined {
  if (text === null || text === '') return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new AdminError('BAD_REQUEST', `${name}=${text} must be an integer from ${min} to ${max}`);
  return n;
}

export function register(router: AdminRouter, ctx: AdminContext): void {
  router.get(
    '/api/calls',
    {
      summary: 'Calls from the call log, newest first',
      query: { node: 'node id (a fleet: the node that served the call)', route: 'route name', upstream: 'upstream name', code: 'failure code (UPSTREAM_RESPONSE_TIMEOUT...)', status: 'HTTP status', since: TIME_HELP, until: TIME_HELP, limit: '1..1000, default 100' },
      responses: { 200: callsBody, 400: errorBody, 401: errorBody, 503: errorBody },
    },
    async ({ query }) => {
      const store = needStore(ctx);
      const now = Date.now();
      const filter: CallFilter = {};
      for (const key of ['route', 'upstream', 'code', 'node'] as const) {
        const v = query.get(key);
        if (v) filter[key] = v;
      }
      const status = parseInteger('status', query.get('status'), 100, 599);
      if (status !== undefined) filter.status = status;
      const since = parseTime('since', query.get('since'), now);
      if (since !== undefined) filter.since = since;
      const until = parseTime('until', query.get('until'), now);
      if (until !== undefined) filter.until = until;
      filter.limit = parseInteger('limit', query.get('limit'), 1, 1000) ?? 100;
      return otherNode(ctx, filter.node) ? { calls: [] } : { calls: await store.query(filter) };
    },
  );

  router.get(
    '/api/calls/{requestId}',
    { summary: 'One call with its explanation (attempts, phase timings, classification, remedy, similar failures)', responses: { 200: callBody, 401: errorBody, 404: errorBody, 503: errorBody } },
    async ({ params }) => {
      const store = needStore(ctx);
      const found = await explainCall(store, params['requestId']!);
      if (!found) throw new AdminError('NOT_FOUND', `no call ${params['requestId']} in the call log (calls are written within 200 ms; older ones are pruned by storage.retention)`);
      const { call, ...explanation } = found;
      return { call, explanation };
    },
  );

  router.get(
    '/api/stats',
    {
      summary: 'Requests, errors by failure code and latency percentiles per time bucket, and the top failing routes',
      query: { since: `${TIME_HELP}; default 15m`, until: `${TIME_HELP}; default now`, bucket: 'bucket width: a duration (10s) or ms; default 10s', route: 'only this route', upstream: 'only this upstream', node: 'only calls this node served' },
      responses: { 200: statsBody, 400: errorBody, 401: errorBody, 503: errorBody },
    },
    async ({ query }) => {
      const store = needStore(ctx);
      const now = Date.now();
      const since = parseTime('since', query.get('since'), now) ?? now - 15 * 60_000;
      const until = parseTime('until', query.get('until'), now) ?? now;
      const b = query.get('bucket');
      const bucket = b ? (/^\d+$/.test(b) ? Number(b) : parseDuration(b)) : 10_000;
      if (bucket === undefined || bucket < 1000) throw new AdminError('BAD_REQUEST', `bucket=${b} must be a duration of at least 1s (10s, 1m) or ms`);
      if (until <= since) throw new AdminError('BAD_REQUEST', 'since must be before until');
      if ((until - since) / bucket > 2000) throw new AdminError('BAD_REQUEST', `${Math.ceil((until - since) / bucket)} buckets is too many (at most 2000): widen bucket or shorten the range`);
      const node = query.get('node') || undefined;
      const q = { since, until, bucket, route: query.get('route') || undefined, upstream: query.get('upstream') || undefined, node };
      return store.stats(otherNode(ctx, node) ? { ...q, until: since } : q);
    },
  );
}
