/**
 * The configuration schema: one zod schema is both the validator (with unit strings turned into
 * numbers and defaults filled in) and the source of schema/causeway.schema.json for editors.
 */
import { z } from 'zod';
import { DURATION_PATTERN, PERCENT_PATTERN, SIZE_PATTERN, parseDuration, parsePercent, parseSize } from './units.js';

const duration = z
  .string()
  .regex(new RegExp(DURATION_PATTERN), { message: 'expected a duration with a unit, like 500ms, 2s or 1m' })
  .transform((s) => parseDuration(s)!);
const size = z
  .string()
  .regex(new RegExp(SIZE_PATTERN, 'i'), { message: 'expected a size with a unit, like 512kb or 10mb' })
  .transform((s) => parseSize(s)!);
const percent = z
  .string()
  .regex(new RegExp(PERCENT_PATTERN), { message: 'expected a percentage, like 20%' })
  .refine((s) => parsePercent(s) !== undefined, { message: 'a percentage must be between 0% and 100%' })
  .transform((s) => parsePercent(s)!);
const port = z.number().int().min(0).max(65535);
const host = z.string().min(1);

const listen = z.strictObject({
  host: host.default('127.0.0.1').describe('Address to bind.'),
  port: port.default(8080),
});

const timeoutsShape = {
  connect: duration.optional().describe('TCP (+TLS) handshake, DNS included.'),
  send: duration.optional().describe('Longest time the backend may leave the request body unread.'),
  read: duration.optional().describe('Wait for response headers, then the longest silence between two body chunks.'),
  total: duration.optional().describe('The whole exchange, retries included.'),
};
/** Timeouts as written; defaults are filled in when a route's effective policy is resolved. */
const timeouts = z.strictObject(timeoutsShape);

export const RETRY_CONDITIONS = ['connect-failure', 'stale-connection', 'reset', 'response-timeout'] as const;
const retryOn = z.union([z.enum(RETRY_CONDITIONS), z.number().int().min(500).max(599)]);

const backoff = z
  .string()
  .regex(/^\d+(\.\d+)?(ms|s)\.\.\d+(\.\d+)?(ms|s)$/, { message: 'expected a range like 25ms..250ms' })
  .transform((s) => {
    const [lo, hi] = s.split('..');
    return { base: parseDuration(lo!)!, max: parseDuration(hi!)! };
  });

const attempts = z.number().int().min(1).max(10);

const retries = z.strictObject({
  attempts: attempts.default(2).describe('Tries in all, the first included (1: never retry).'),
  on: z.array(retryOn).default(['connect-failure', 'stale-connection', 'reset']).describe('When to retry: connect-failure, stale-connection, reset, response-timeout, or a 5xx status.'),
  backoff: backoff.prefault('25ms..250ms'),
  budget: percent.prefault('20%').describe('Retries at most this share of active requests.'),
});

const target = z.strictObject({
  url: z.url({ protocol: /^https?$/, message: 'expected an http:// or https:// URL' }),
  weight: z.number().int().min(1).max(1000).default(1),
});

const pool = z.strictObject({
  maxConnections: z.number().int().min(1).max(100_000).default(128),
  queueTimeout: duration.prefault('500ms'),
  maxQueue: z.number().int().min(0).max(1_000_000).default(1000),
  idleTimeout: duration.prefault('4s').describe('Keep below the backend keep-alive timeout.'),
});

const tls = z.strictObject({
  rejectUnauthorized: z.boolean().default(true),
  ca: z.string().optional().describe('PEM file with the CA that signed the backend certificate.'),
  servername: z.string().optional(),
});

export const BALANCERS = ['round-robin', 'least-connections', 'p2c-ewma', 'weighted'] as const;

const upstream = z.strictObject({
  targets: z.array(target).min(1, { message: 'an upstream needs at least one target' }),
  balance: z.enum(BALANCERS).default('round-robin'),
  timeouts: timeouts.prefault({}),
  pool: pool.prefault({}),
  retries: retries.prefault({}),
  tls: tls.prefault({}),
});

export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE'] as const;

const match = z.strictObject({
  path: z.string().regex(/^\//, { message: 'a path pattern starts with /' }),
  methods: z.array(z.enum(METHODS)).optional(),
  host: z.string().optional().describe('Host name, or *.domain for any subdomain.'),
});

const route = z.strictObject({
  name: z.string().min(1),
  match,
  upstream: z.string().min(1),
  stripPrefix: z.string().regex(/^\//, { message: 'a path prefix starts with /' }).optional(),
  preserveHost: z.boolean().default(false).describe('Send the client Host header upstream instead of the target host.'),
  timeouts: timeouts.optional(),
  // No defaults here: a key the route leaves out keeps the upstream's value.
  retries: z.strictObject({ attempts, on: z.array(retryOn), backoff, budget: percent }).partial().optional(),
  maxBodySize: size.optional(),
});

const server = z.strictObject({
  headersTimeout: duration.prefault('10s').describe('Slow-client guard: time to receive request headers.'),
  requestTimeout: duration.prefault('60s').describe('Slow-client guard: time to receive the whole request.'),
  keepAliveTimeout: duration.prefault('5s'),
  maxHeaderSize: size.prefault('16kb'),
  maxBodySize: size.prefault('10mb'),
  shutdownTimeout: duration.prefault('30s').describe('How long SIGTERM waits for in-flight requests.'),
  trustedProxies: z.array(z.string()).default([]).describe('Peers whose X-Forwarded-For is kept and appended to.'),
});

const admin = z.strictObject({
  host: host.default('127.0.0.1'),
  port: port.default(9901),
  token: z.string().optional(),
});

const errors = z.strictObject({
  expose: z.boolean().default(false).describe('Client error bodies carry the target address and a hint.'),
});

const log = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  access: z.boolean().default(true),
  file: z.string().optional().describe('Access log file; standard output when absent.'),
});

export const configSchema = z.strictObject({
  listen: listen.prefault({}),
  admin: admin.optional(),
  server: server.prefault({}),
  errors: errors.prefault({}),
  log: log.prefault({}),
  upstreams: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/), upstream),
  routes: z.array(route).default([]),
});

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type UpstreamConfig = Config['upstreams'][string];
export type RouteConfig = Config['routes'][number];
export type Timeouts = z.output<typeof timeouts>;
export type RetryPolicy = z.output<typeof retries>;
export type RetryCondition = (typeof RETRY_CONDITIONS)[number];

/** JSON Schema (draft 2020-12) of what users write. */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return { $id: 'https://causeway.dev/schema/causeway.schema.json', title: 'Causeway gateway configuration', ...schema };
}
