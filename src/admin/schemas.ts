/**
 * Response shapes of the admin API, as zod schemas: the OpenAPI document is generated from
 * them and the OpenAPI test checks real responses against that document. Objects other
 * engineers extend (targets with health and breaker state, routes with policies, calls with
 * explanations) are open (`looseObject`) so new fields flow through without a schema change.
 */
import { z } from 'zod';

export const errorBody = z.strictObject({
  error: z.strictObject({
    code: z.string().describe('BAD_REQUEST | UNAUTHORIZED | NOT_FOUND | METHOD_NOT_ALLOWED | CONFLICT | INVALID_CONFIG | UNAVAILABLE | INTERNAL'),
    message: z.string(),
    details: z.array(z.unknown()).optional(),
  }),
});

const timeouts = z.strictObject({ connect: z.number(), send: z.number(), read: z.number(), total: z.number() });

export const routesBody = z.strictObject({
  routes: z.array(
    z.looseObject({
      name: z.string(),
      upstream: z.string(),
      match: z.looseObject({ path: z.string() }),
      stripPrefix: z.string().nullable(),
      timeouts: timeouts.describe('effective timeouts in ms (route overrides applied)'),
      retries: z.looseObject({ attempts: z.number() }),
      maxBodySize: z.number(),
    }),
  ),
});

const pool = z.looseObject({ inUse: z.number(), queued: z.number(), connected: z.number(), maxConnections: z.number() });

export const upstreamsBody = z.strictObject({
  upstreams: z.array(
    z.looseObject({
      name: z.string(),
      balance: z.string(),
      activeRequests: z.number(),
      targets: z.array(
        z
          .looseObject({ id: z.string(), url: z.string(), weight: z.number(), inflight: z.number(), ewmaMs: z.number(), pool })
          .describe('live state of one target; health, ejection and breaker fields appear as the upstream reports them'),
      ),
    }),
  ),
});


const phaseTimings = z.looseObject({ dns: z.number(), connect: z.number(), tls: z.number(), send: z.number(), ttfb: z.number(), body: z.number() });

const callRecord = z.looseObject({
  requestId: z.string(),
  time: z.number(),
  route: z.string().nullable(),
  upstream: z.string().nullable(),
  consumer: z.string().nullable(),
  method: z.string(),
  path: z.string(),
  status: z.number(),
  code: z.string().nullable(),
  attempts: z.array(
    z.looseObject({
      target: z.string(),
      outcome: z.union([z.number(), z.string()]),
      phase: z.string().nullable(),
      reused: z.boolean(),
      timings: phaseTimings,
      durationMs: z.number(),
      startMs: z.number().optional().describe('when the attempt\'s first phase began, in ms since the call started'),
    }),
  ),
  durationMs: z.number(),
});

export const callsBody = z.strictObject({ calls: z.array(callRecord) });

export const callBody = z.strictObject({
  call: callRecord,
  explanation: z
    .looseObject({
      verdict: z.string(),
      headline: z.string(),
      timeline: z.array(z.looseObject({})),
      classification: z.looseObject({ code: z.string(), title: z.string(), cause: z.string(), remedy: z.string() }).nullable(),
      context: z.looseObject({ sentence: z.string() }).nullable(),
    })
    .describe('the same content as `causeway explain`: verdict, headline, attempt timeline, classification with remedy, similar failures around it'),
});

const percentile = z.number().nullable();

export const statsBody = z.looseObject({
  since: z.number(),
  until: z.number(),
  bucket: z.number(),
  buckets: z.array(z.looseObject({ t: z.number(), requests: z.number(), errors: z.number(), byCode: z.record(z.string(), z.number()), p50: percentile, p95: percentile, p99: percentile })),
  totals: z.looseObject({ requests: z.number(), errors: z.number(), byCode: z.record(z.string(), z.number()), p50: percentile, p95: percentile, p99: percentile }),
  topFailingRoutes: z.array(z.looseObject({ route: z.string(), errors: z.number(), requests: z.number() })),
  upstreamsByRoute: z
    .array(z.looseObject({ route: z.string(), upstream: z.string(), requests: z.number(), errors: z.number(), p50: percentile, p95: percentile, p99: percentile }))
    .optional()
    .describe("each route's calls by the upstream that served them: a traffic split's sides, side by side"),
});

export const alertsBody = z.strictObject({ alerts: z.array(z.looseObject({ name: z.string(), state: z.string(), summary: z.string() })) });

export const eventsBody = z.strictObject({
  events: z.array(z.looseObject({ type: z.string(), at: z.number(), reason: z.string(), upstream: z.string().optional(), target: z.string().optional() })),
});

const finding = z.strictObject({ severity: z.enum(['error', 'warning', 'info']), path: z.string(), message: z.string(), fix: z.string(), fromDefault: z.literal(true).optional() });

export const configBody = z.strictObject({
  file: z.string().nullable(),
  config: z.looseObject({}).describe('the running config, defaults applied, durations in ms, secrets replaced by "***"'),
  findings: z.array(finding),
});

export const reloadBody = z.strictObject({
  reloaded: z.literal(true),
  file: z.string(),
  summary: z.strictObject({
    routes: z.number(),
    kept: z.array(z.string()),
    changed: z.array(z.string()),
    added: z.array(z.string()),
    removed: z.array(z.string()),
    restartRequired: z.array(z.string()),
  }),
  findings: z.array(finding),
});

export const healthBody = z.strictObject({ status: z.literal('ok'), inflight: z.number(), uptimeMs: z.number() });

export const textBody = z.string();
