/**
 * The configuration schema: one zod schema is both the validator (with unit strings turned into
 * numbers and defaults filled in) and the source of schema/causeway.schema.json for editors.
 */
import { GRPC_RETRY_NAMES } from '../grpc/status.js';
import { z } from 'zod';
import { parseCidr } from './cidr.js';
import { NOT_REWRITABLE } from '../proxy/reserved-headers.js';
import { DURATION_PATTERN, PERCENT_PATTERN, SIZE_PATTERN, parseDuration, parsePercent, parseSize } from './units.js';
import { ESCAPED_SLASH_ACTIONS, PATH_PARAMETER_ACTIONS } from '../routing/path.js';

/** The message for a value of the wrong type where a unit-bearing string is expected. */
const unitHint = (what: string) => ({ error: (iss: { input?: unknown }) => (iss.input === undefined ? undefined : `expected ${what}`) });

const duration = z
  .string(unitHint('a duration with a unit, like 500ms, 2s or 1m (a bare number has no unit)'))
  .regex(new RegExp(DURATION_PATTERN), { message: 'expected a duration with a unit, like 500ms, 2s or 1m' })
  .transform((s) => parseDuration(s)!);
const size = z
  .string(unitHint('a size with a unit, like 512kb or 10mb (a bare number has no unit)'))
  .regex(new RegExp(SIZE_PATTERN, 'i'), { message: 'expected a size with a unit, like 512kb or 10mb' })
  .transform((s) => parseSize(s)!);
const percent = z
  .string(unitHint('a percentage, like 20% (a bare number has no %)'))
  .regex(new RegExp(PERCENT_PATTERN), { message: 'expected a percentage, like 20%' })
  .refine((s) => parsePercent(s) !== undefined, { message: 'a percentage must be between 0% and 100%' })
  .transform((s) => parsePercent(s)!);
/** A growth percentage, which may exceed 100% ("200%"). */
const percentOver = z
  .string()
  .regex(new RegExp(PERCENT_PATTERN), { message: 'expected a percentage, like 200%' })
  .transform((s) => Number(s.slice(0, -1)) / 100);
const port = z.number().int().min(0).max(65535);
const host = z.string().min(1);

// ── listeners (src/edge/): TLS termination, HTTP/2, h2c ──────────────────────────────────────
// docs/edge.md documents each key.

export const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;

const certPair = z.strictObject({
  cert: z.string().min(1).describe('PEM certificate file (the leaf first, then its chain).'),
  key: z.string().min(1).describe('PEM private key file of the certificate.'),
});

const listenTls = z.strictObject({
  ...certPair.shape,
  certificates: z.array(certPair).default([]).describe('More certificates, chosen by the name the client asks for (SNI): exact names first, then wildcards.'),
  minVersion: z.enum(TLS_VERSIONS).default('TLSv1.2'),
  ciphers: z.string().optional().describe("OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are always on); node's default when absent."),
  clientCa: z.string().optional().describe('PEM file of the CA that signs client certificates: clients must present one (mTLS).'),
  clientAuth: z.enum(['required', 'optional']).default('required').describe('With clientCa: required refuses the handshake without a valid client certificate; optional asks for one and lets the request through.'),
});

const listener = z.strictObject({
  host: host.default('127.0.0.1').describe('Address to bind.'),
  port: port.default(8080),
  tls: listenTls.optional().describe('Terminate TLS on this listener.'),
  http2: z.boolean().default(true).describe('Offer HTTP/2 (ALPN h2) next to HTTP/1.1 on a TLS listener.'),
  h2c: z.boolean().default(false).describe('Accept cleartext HTTP/2 with prior knowledge next to HTTP/1.1 on a listener without tls.'),
});

/** One listener or a list; always a list once parsed. */
const listen = z
  .union([listener, z.array(listener).min(1, { message: 'listen needs at least one listener' })])
  .transform((l) => (Array.isArray(l) ? l : [l]));

const timeoutsShape = {
  connect: duration.optional().describe('TCP (+TLS) handshake, DNS included.'),
  send: duration.optional().describe('Longest time the backend may leave the request body unread.'),
  read: duration.optional().describe('Wait for response headers, then the longest silence between two body chunks.'),
  total: duration.optional().describe('The whole exchange, retries included.'),
};
/** Timeouts as written; defaults are filled in when a route's effective policy is resolved. */
const timeouts = z.strictObject(timeoutsShape);

export const RETRY_CONDITIONS = ['connect-failure', 'stale-connection', 'reset', 'response-timeout'] as const;
/** A status outside 5xx is the backend's answer, not a failure: repeating the request gets the same one. */
const notRetriable = (iss: { input?: unknown }) =>
  `${String(iss.input)} is not a 5xx status: retries.on takes 5xx statuses (500-599) and ${RETRY_CONDITIONS.join(', ')}` +
  (Number(iss.input) < 500 ? `; a ${String(iss.input).slice(0, 1)}xx is the backend's answer, and a retry would get the same one` : '');
const retryOn = z.union([
  z.enum(RETRY_CONDITIONS),
  z.number().int().min(500, { error: notRetriable }).max(599, { error: notRetriable }),
  z.enum(GRPC_RETRY_NAMES as [string, ...string[]]),
]);

const backoff = z
  .string()
  .regex(/^\d+(\.\d+)?(ms|s)\.\.\d+(\.\d+)?(ms|s)$/, { message: 'expected a range like 25ms..250ms' })
  .transform((s) => {
    const [lo, hi] = s.split('..');
    return { base: parseDuration(lo!)!, max: parseDuration(hi!)! };
  });

const attempts = z.number().int().min(1).max(10);

/**
 * Happy Eyeballs across targets (RFC 8305's connection attempt delay): a connect still pending
 * after this long is raced by one to another target. Nothing was sent, so it is safe for every
 * method; the slow connect goes on in the background and tells health what became of it.
 */
const hedgeConnect = duration.describe(
  'Race a connect still pending after this long with one to another target (at least 4x the target\'s usual connect time; 0ms: never). Needs connect-failure in on.',
);

const retries = z.strictObject({
  attempts: attempts.default(2).describe('Tries in all, the first included (1: never retry).'),
  on: z.array(retryOn).default(['connect-failure', 'stale-connection', 'reset']).describe('When to retry: connect-failure, stale-connection, reset, response-timeout, a 5xx status, or for gRPC calls a gRPC status (unavailable, resource-exhausted, ...).'),
  backoff: backoff.prefault('25ms..250ms'),
  budget: percent.prefault('20%').describe('Retries at most this share of active requests.'),
  hedgeConnect: hedgeConnect.prefault('250ms'),
});

const target = z.strictObject({
  url: z.url({ protocol: /^(https?|h2c?)$/, message: 'expected an http:// or https:// URL (h2c:// or h2:// for HTTP/2)' }),
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

const statusRange = z.union([z.number().int().min(100).max(599), z.string().regex(/^[1-5]\d\d-[1-5]\d\d$/, { message: 'expected a status like 200 or a range like 200-399' })]);

const activeHealth = z.strictObject({
  path: z.string().regex(/^\//, { message: 'a health-check path starts with /' }).default('/healthz'),
  interval: duration.prefault('2s'),
  timeout: duration.prefault('1s'),
  healthyAfter: z.number().int().min(1).max(100).default(2).describe('Consecutive passing checks that bring a target back.'),
  unhealthyAfter: z.number().int().min(1).max(100).default(3).describe('Consecutive failing checks that take a target out.'),
  expectedStatuses: z.array(statusRange).default(['200-399']),
});

const passiveHealth = z.strictObject({
  consecutiveFailures: z.number().int().min(1).max(1000).default(5).describe('Failures in a row (connect errors, resets, timeouts, 502/503/504) that eject a target.'),
  ejectFor: duration.prefault('30s').describe('First ejection length; each repeat ejection lasts this times the number of ejections.'),
  maxEjectFor: duration.prefault('5m').describe('Cap on one ejection.'),
  maxEjectedPercent: percent.prefault('50%').describe('Never eject more than this share of the targets.'),
});

const healthCheck = z.strictObject({
  active: activeHealth.optional(),
  passive: passiveHealth.optional(),
});

const circuitBreaker = z.strictObject({
  failureRate: percent.prefault('50%').describe('Open when this share of calls in the window failed.'),
  minRequests: z.number().int().min(1).max(1_000_000).default(20).describe('No decision below this many calls in the window.'),
  window: duration.prefault('10s'),
  openFor: duration.prefault('15s').describe('How long to fail fast before letting probes through.'),
  halfOpenRequests: z.number().int().min(1).max(1000).default(3).describe('Probe calls allowed while half-open; all must succeed to close.'),
});

const upstream = z.strictObject({
  targets: z.array(target).min(1, { message: 'an upstream needs at least one target' }),
  balance: z.enum(BALANCERS).default('round-robin'),
  timeouts: timeouts.prefault({}),
  pool: pool.prefault({}),
  retries: retries.prefault({}),
  tls: tls.prefault({}),
  healthCheck: healthCheck.optional(),
  circuitBreaker: circuitBreaker.optional(),
});

export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE'] as const;

const match = z.strictObject({
  path: z.string().regex(/^\//, { message: 'a path pattern starts with /' }),
  methods: z.array(z.enum(METHODS)).optional(),
  host: z.string().optional().describe('Host name, or *.domain for any subdomain.'),
});


// ── policies (routes[].auth, subscription, rateLimit, cache, faults; consumers; redis) ─────────
// Kept together: src/policies/ reads exactly these. docs/policies.md documents each key.

const consumer = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/, { message: 'a consumer name is letters, digits, ".", "_" or "-"' }),
  keys: z.array(z.string().min(16, { message: 'an API key needs at least 16 characters' })).default([]).describe('API keys (X-API-Key header or ?api_key=); kept only as SHA-256 hashes.'),
  hmac: z.array(z.strictObject({ id: z.string().min(1), secret: z.string().min(16, { message: 'an HMAC secret needs at least 16 characters' }) })).default([]),
  subscriptions: z.array(z.string()).default([]).describe('Routes this consumer is subscribed to, approved by the config itself.'),
});

export const AUTH_METHODS = ['key', 'hmac', 'jwt'] as const;

const rateLimit = z.strictObject({
  requests: z.number().int().min(1).max(1e9),
  per: duration,
  by: z
    .string()
    .regex(/^(consumer|route|ip|header:[A-Za-z0-9!#$%&'*+.^_`|~-]+)$/, { message: 'expected consumer, route, ip or header:<name>' })
    .default('consumer'),
});

const routeCache = z.strictObject({
  ttl: duration.describe('Freshness of a response that states none (no max-age, s-maxage or Expires), when `heuristic` is ttl; the most `last-modified` may give.'),
  heuristic: z
    .enum(['ttl', 'last-modified', 'none'])
    .default('ttl')
    .describe('Freshness of responses without explicit freshness: ttl (fresh for ttl), last-modified (10% of the time since Last-Modified, at most ttl) or none (stored, but revalidated before every use).'),
});

const faultPercent = z.number().min(0).max(100).default(100);
const faults = z.strictObject({
  delay: z.strictObject({ duration, percent: faultPercent }).optional(),
  abort: z
    .strictObject({ status: z.number().int().min(200).max(599).optional(), reset: z.literal(true).optional(), percent: faultPercent })
    .refine((a) => (a.status === undefined) !== (a.reset === undefined), { message: 'an abort is either a status or reset: true' })
    .optional(),
  header: z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/).optional().describe('Inject only into requests carrying this header.'),
});


// ── jwt, cors, ipRules, headers, split (src/policies/<name>/) ─────────────────────────────────

const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, { message: 'expected a header name (letters, digits and !#$%&\'*+.^_`|~-)' });

/** Signature algorithms a JWT may use. `none` is not one: an unsigned token is never accepted. */
export const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'HS256', 'HS384', 'HS512'] as const;
const isHmacAlg = (a: string) => a.startsWith('HS');

const jwtIssuer = z
  .strictObject({
    issuer: z.string().min(1).describe('The `iss` claim, exactly as the issuer writes it.'),
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).describe('Accepted `aud` values; a token must name one of them.'),
    algorithms: z.array(z.enum(JWT_ALGORITHMS)).min(1).describe('Signature algorithms accepted from this issuer (none is never one).'),
    jwksUrl: z.url({ protocol: /^https?$/, message: 'expected an http:// or https:// URL' }).optional().describe('Where the issuer publishes its public keys (JWKS).'),
    keys: z
      .array(z.union([z.strictObject({ pem: z.string().min(1).describe('A PEM public key (SPKI or certificate), inline or a file path.'), kid: z.string().optional() }), z.strictObject({ jwk: z.record(z.string(), z.unknown()) })]))
      .min(1)
      .optional()
      .describe('Static public keys, instead of a JWKS URL.'),
    secret: z.string().min(32, { message: 'an HMAC secret for JWTs needs at least 32 characters' }).optional().describe('Shared secret, for an issuer that signs with HS256/384/512 only.'),
    consumerClaim: z.string().min(1).default('sub').describe('The claim that names the consumer.'),
    clockSkew: duration.prefault('60s').describe('Leeway for exp and nbf.'),
  })
  .superRefine((v, ctx) => {
    const sources = [v.jwksUrl, v.keys, v.secret].filter((x) => x !== undefined).length;
    if (sources !== 1) ctx.addIssue({ code: 'custom', message: 'an issuer needs exactly one key source: jwksUrl, keys or secret' });
    const hmac = v.algorithms.filter(isHmacAlg);
    if (v.secret !== undefined && hmac.length !== v.algorithms.length) {
      ctx.addIssue({ code: 'custom', path: ['algorithms'], message: 'an issuer with a secret signs with HMAC only: list HS256, HS384 or HS512' });
    }
    if (v.secret === undefined && hmac.length) {
      // Algorithm confusion: a token "signed" with HS256 using the issuer's public key as the secret.
      ctx.addIssue({ code: 'custom', path: ['algorithms'], message: `${hmac.join(', ')} is an HMAC algorithm and this issuer has public keys: anyone holding the public key could sign tokens (algorithm confusion) — remove it` });
    }
  });

const jwt = z.strictObject({
  issuers: z.array(jwtIssuer).min(1),
  jwks: z
    .strictObject({
      timeout: duration.prefault('2s').describe('Longest wait for the JWKS document.'),
      cacheFor: duration.prefault('10m').describe('Keys are refetched in the background after this long; kept while the issuer is unreachable.'),
      minRefreshInterval: duration.prefault('30s').describe('A token with an unknown kid triggers a refetch at most this often.'),
    })
    .prefault({}),
});

/** An origin (`https://app.example.com`), a pattern with one `*` label (`https://*.example.com`), or `*`. */
const ORIGIN_RE = /^(\*|https?:\/\/(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?)$/;
const cors = z
  .strictObject({
    origins: z.array(z.string().regex(ORIGIN_RE, { message: 'expected an origin like https://app.example.com, a pattern like https://*.example.com, or *' })).min(1),
    methods: z.array(z.enum(METHODS)).optional().describe("Methods a preflight allows; default: the route's match.methods, else GET, HEAD, POST."),
    headers: z.array(headerName).default([]).describe('Request headers a preflight allows (beyond the CORS-safelisted ones).'),
    exposeHeaders: z.array(headerName).default([]).describe('Response headers scripts may read.'),
    credentials: z.boolean().default(false).describe('Allow cookies and Authorization (Access-Control-Allow-Credentials).'),
    maxAge: duration.optional().describe('How long browsers may cache a preflight answer.'),
  })
  .refine((c) => !(c.credentials && c.origins.includes('*')), {
    path: ['origins'],
    message: 'origins: [*] with credentials: true would let any web site call this route with the user\'s cookies — list the origins instead',
  });

const cidr = z.string().refine((v) => parseCidr(v) !== null, { message: 'expected an IP address or a CIDR range like 203.0.113.0/24' });
const ipRules = z.strictObject({
  allow: z.array(cidr).default([]).describe('When not empty, only these addresses and ranges may call.'),
  deny: z.array(cidr).default([]).describe('These may never call (deny wins over allow).'),
});

/** The variables a header value may use (`${consumer}`); the config loader leaves them for the policy. */
export const HEADER_VARIABLES = ['request_id', 'consumer', 'client_ip', 'route'] as const;
const notRewritable = (name: string) => `${name} is set by the gateway or describes the connection; it cannot be rewritten`;
const rewritable = headerName.refine((n) => !NOT_REWRITABLE.has(n.toLowerCase()), { error: (iss) => notRewritable(String(iss.input)) });
const headerValue = z.string().refine((v) => [...v.matchAll(/\$\{([^}]*)\}/g)].every((m) => (HEADER_VARIABLES as readonly string[]).includes(m[1]!)), {
  message: `a header value may use \${${HEADER_VARIABLES.join('}, ${')}}`,
});
/** Header name → value; the names are checked here (a record's key refinement would only say "invalid key"). */
const headerValues = z.record(headerName, headerValue).superRefine((r, ctx) => {
  for (const name of Object.keys(r)) if (NOT_REWRITABLE.has(name.toLowerCase())) ctx.addIssue({ code: 'custom', path: [name], message: notRewritable(name) });
});
const headerEdits = z.strictObject({
  set: headerValues.default({}).describe('Replace the header (an empty result removes it).'),
  add: headerValues.default({}).describe('Append a value, keeping existing ones.'),
  remove: z.array(rewritable).default([]),
});
const headerRewrites = z.strictObject({ request: headerEdits.optional(), response: headerEdits.optional() });

const split = z
  .strictObject({
    upstream: z.string().min(1).describe('The second upstream (a canary).'),
    percent: z.number().min(0).max(100).default(0).describe('Share of calls sent to it.'),
    match: z
      .strictObject({ header: z.record(headerName, z.string()).optional(), cookie: z.record(z.string().min(1), z.string()).optional() })
      .optional()
      .describe('Calls carrying this header or cookie value always go to it.'),
    sticky: z
      .string()
      .regex(/^(consumer|ip|cookie:[^=;,\s]+|header:[A-Za-z0-9!#$%&'*+.^_`|~-]+)$/, { message: 'expected consumer, ip, cookie:<name> or header:<name>' })
      .optional()
      .describe('Keep a caller on one side: the share is taken by a stable hash of this instead of at random.'),
  })
  .refine((s) => s.percent > 0 || s.match !== undefined, { message: 'a split needs percent above 0, or match' });

const routePolicies = {
  auth: z.array(z.enum(AUTH_METHODS)).min(1).optional().describe('Credentials accepted; any one suffices.'),
  subscription: z.enum(['required', 'none']).default('none'),
  rateLimit: rateLimit.optional(),
  cache: routeCache.optional(),
  faults: faults.optional(),
  scopes: z.array(z.string().min(1)).min(1).optional().describe('Scopes a JWT must carry (all of them); needs auth: [jwt].'),
  cors: cors.optional(),
  ipRules: ipRules.optional(),
  headers: headerRewrites.optional(),
  split: split.optional(),
};

const redis = z.strictObject({
  url: z.string().regex(/^rediss?:\/\//, { message: 'expected a redis:// URL' }),
  whenDown: z.enum(['fail-open', 'fail-closed']).default('fail-open').describe('fail-open: each gateway enforces the limit locally; fail-closed: refuse with 429.'),
  timeout: duration.prefault('250ms').describe('Longest wait for one Redis command before it counts as down.'),
});

const cacheStore = z.strictObject({
  maxSize: size.prefault('64mb').describe('Memory the response cache may use (LRU by bytes).'),
  maxEntrySize: size.prefault('1mb'),
});

const authSettings = z.strictObject({
  clockSkew: duration.prefault('5m').describe('How far an HMAC-signed request Date may be from the gateway clock.'),
  nonceCache: z.number().int().min(1000).max(10_000_000).default(100_000).describe('HMAC nonces remembered for replay protection.'),
});

const route = z.strictObject({
  name: z.string().min(1),
  match,
  upstream: z.string().min(1),
  stripPrefix: z.string().regex(/^\//, { message: 'a path prefix starts with /' }).optional(),
  preserveHost: z.boolean().default(false).describe('Send the client Host header upstream instead of the target host.'),
  escapedSlashes: z
    .enum(ESCAPED_SLASH_ACTIONS)
    .default('reject')
    .describe('%2F and %5C in the path: reject (400), keep (forward as they are), decode (into /, when the decoded path is still this route\'s).'),
  pathParameters: z.enum(PATH_PARAMETER_ACTIONS).default('reject').describe('Path segments with ;parameters: reject (400) or keep.'),
  timeouts: timeouts.optional(),
  // No defaults here: a key the route leaves out keeps the upstream's value.
  retries: z.strictObject({ attempts, on: z.array(retryOn), backoff, budget: percent, hedgeConnect }).partial().optional(),
  maxBodySize: size.optional(),
  clientTimeout: duration.optional().describe('How long the callers of this route wait (their own timeout); check warns when total exceeds it.'),
  fallback: z
    .union([
      z.strictObject({ staleFor: duration.describe('Serve the last good response of a GET this long after it was fetched, when the call fails.') }),
      z.strictObject({
        response: z.strictObject({
          status: z.number().int().min(200).max(599).default(200),
          headers: z.record(z.string(), z.string()).default({}),
          json: z.unknown().optional(),
          body: z.string().optional(),
        }),
      }),
    ])
    .optional()
    .describe('What to answer when the upstream fails: a stale copy, or a static response.'),
  websocket: z
    .union([
      z.boolean(),
      z.strictObject({
        idleTimeout: duration.prefault('5m').describe('Close a WebSocket session after this long without a byte either way.'),
        maxLifetime: duration.prefault('24h').describe('Close a WebSocket session this long after its handshake.'),
      }),
    ])
    .default(false)
    .describe('Allow Upgrade (WebSocket) on this route: true, or the session limits.'),
  ...routePolicies,
});

const server = z.strictObject({
  headersTimeout: duration.prefault('10s').describe('Slow-client guard: time to receive request headers.'),
  requestTimeout: duration.prefault('60s').describe('Slow-client guard: time to receive the whole request.'),
  keepAliveTimeout: duration.prefault('60s'),
  maxHeaderSize: size.prefault('16kb'),
  maxBodySize: size.prefault('10mb'),
  shutdownTimeout: duration.prefault('30s').describe('How long SIGTERM waits for in-flight requests.'),
  trustedProxies: z
    .array(z.string().refine((v) => parseCidr(v) !== null, { message: 'expected an IP address or a CIDR range like 127.10.0.0/16' }))
    .default([])
    .describe('Peers (addresses or CIDR ranges) whose X-Forwarded-For is kept and appended to.'),
  maxUrlLength: size.prefault('8kb').describe('Longest request target (path and query) accepted; longer is 414.'),
  clientTimeout: duration.optional().describe('How long callers wait (their own timeout), for routes without their own; check warns when total exceeds it.'),
  maxConcurrentStreams: z.number().int().min(1).max(10_000).default(100).describe('HTTP/2: streams one client connection may have open at once.'),
  websocketCloseGrace: duration.prefault('5s').describe('On shutdown, how long WebSocket sessions get after the close frame before their connections are cut.'),
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
  file: z.string().optional().describe('Log file (appended, its directory created); standard output when absent.'),
});

const storage = z.strictObject({
  enabled: z.boolean().default(true).describe('Keep the call log (explain, stats, advisors and alerts read it).'),
  path: z.string().min(1).default('./data/causeway.db').describe('SQLite file of the call log; :memory: keeps it in memory only.'),
  url: z
    .string()
    .regex(/^postgres(ql)?:\/\//, { message: 'expected a PostgreSQL URL: postgres://user:pass@host:5432/causeway' })
    .optional()
    .describe('A fleet: consumers, the call log and the published config in this PostgreSQL database, shared by every node (docs/fleet.md). Without it, the SQLite file of path.'),
  buffer: z
    .number()
    .int()
    .min(1000)
    .max(10_000_000)
    .default(100_000)
    .describe('With url: calls held in memory while the database is slow or down; past it, new calls are dropped and counted (causeway_call_log_dropped_total).'),
  retention: z
    .strictObject({
      maxAge: duration.prefault('7d').describe('Calls older than this are pruned.'),
      maxRows: z.number().int().min(1000).max(100_000_000).default(1_000_000).describe('At most this many calls are kept; the oldest go first.'),
    })
    .prefault({}),
});

const tracing = z.strictObject({
  otlp: z
    .strictObject({
      endpoint: z.url({ protocol: /^https?$/, message: 'expected an http:// or https:// URL (OTLP/HTTP JSON, e.g. http://127.0.0.1:4318/v1/traces)' }),
      headers: z.record(z.string(), z.string()).default({}),
      serviceName: z.string().default('causeway'),
    })
    .optional(),
});

/** A threshold as users write it: "> 5%", ">= 1/s", "> 2s", "< 100". */
const threshold = z
  .string()
  .regex(/^\s*(>=?|<=?)\s*\d+(\.\d+)?\s*(%|\/s|\/m|ms|s|m)?\s*$/, { message: 'expected a comparison like "> 5%", "> 1/s" or "> 2s"' })
  .transform((s) => {
    const m = /^\s*(>=?|<=?)\s*(\d+(?:\.\d+)?)\s*(%|\/s|\/m|ms|s|m)?\s*$/.exec(s)!;
    const n = Number(m[2]);
    const unit = m[3] ?? '';
    const scale: Record<string, number> = { '%': 0.01, '/s': 1, '/m': 1 / 60, ms: 1, s: 1000, m: 60_000, '': 1 };
    return { op: m[1] as '>' | '>=' | '<' | '<=', value: n * scale[unit]!, text: s.trim() };
  });

const alertCondition = z.union([
  z.strictObject({ errorRate: threshold, minRequests: z.number().int().min(1).default(10) }),
  z.strictObject({ code: z.string().min(1), rate: threshold }),
  z.strictObject({ latency: z.strictObject({ p50: threshold.optional(), p95: threshold.optional(), p99: threshold.optional() }) }),
  z.strictObject({
    change: z.strictObject({
      code: z.string().min(1).optional().describe('A failure code; all failures when absent.'),
      increase: percentOver.describe('Growth of the count over the previous window, like 200%.'),
      window: duration.prefault('5m'),
      minCount: z.number().int().min(1).default(5),
    }),
  }),
  z.strictObject({
    baseline: z.strictObject({
      metric: z.enum(['errorRate', 'p99']).default('errorRate'),
      deviation: z.number().positive().describe('Standard deviations above the mean of the history.'),
      history: duration.prefault('1h'),
    }),
  }),
]);

const alert = z.strictObject({
  name: z.string().min(1),
  when: alertCondition,
  route: z.string().optional(),
  upstream: z.string().optional(),
  window: duration.prefault('1m').describe('The stretch of the call log each evaluation looks at.'),
  for: duration.prefault('0s').describe('The condition must hold this long before the alert fires.'),
  every: duration.prefault('10s').describe('How often the rule is evaluated.'),
  webhook: z.strictObject({ url: z.url({ protocol: /^https?$/ }), headers: z.record(z.string(), z.string()).default({}) }).optional(),
});

/** `workers`: processes serving the data plane (src/cluster/); `auto` is one per CPU the process may use. */
const WORKERS = 'expected auto or a whole number of processes from 1 to 256';
const workers = z
  .union([z.number({ error: WORKERS }).int({ error: WORKERS }).min(1, { error: WORKERS }).max(256, { error: WORKERS }), z.enum(['auto'])])
  .default(1)
  .describe('Processes that serve traffic: a number, or auto for one per CPU (os.availableParallelism()). 1: a single process, no cluster. Breakers, ejections, health, rate limits and the call log are shared by all of them (docs/workers.md).');

export const configSchema = z.strictObject({
  node: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,100}$/, { message: 'expected letters, digits, ".", "_", ":" or "-" (at most 100)' })
    .optional()
    .describe('This node\'s id in a fleet (storage.url): every call it serves carries it. Default: the host name and the listen port (gw-1:8080).'),
  listen: listen.prefault({}).describe('Where the gateway accepts calls: one listener, or a list of them.'),
  workers,
  admin: admin.optional(),
  server: server.prefault({}),
  errors: errors.prefault({}),
  log: log.prefault({}),
  upstreams: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/), upstream),
  routes: z.array(route).default([]),
  consumers: z.array(consumer).default([]),
  redis: redis.optional(),
  cache: cacheStore.prefault({}),
  auth: authSettings.prefault({}),
  jwt: jwt.optional(),
  ipRules: ipRules.optional().describe('Allow and deny lists applied to every route, before its own.'),
  storage: storage.prefault({}),
  tracing: tracing.prefault({}),
  alerts: z.array(alert).default([]),
});

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type UpstreamConfig = Config['upstreams'][string];
export type RouteConfig = Config['routes'][number];
export type Timeouts = z.output<typeof timeouts>;
export type RetryPolicy = z.output<typeof retries>;
export type RetryCondition = (typeof RETRY_CONDITIONS)[number];
export type StorageConfig = Config['storage'];
export type AlertRule = Config['alerts'][number];
export type ConsumerConfig = Config['consumers'][number];
export type RateLimitConfig = NonNullable<RouteConfig['rateLimit']>;
export type FaultsConfig = NonNullable<RouteConfig['faults']>;
export type ActiveHealthConfig = z.output<typeof activeHealth>;
export type PassiveHealthConfig = z.output<typeof passiveHealth>;
export type CircuitBreakerConfig = z.output<typeof circuitBreaker>;
export type FallbackConfig = NonNullable<RouteConfig['fallback']>;
export type JwtConfig = NonNullable<Config['jwt']>;
export type JwtIssuerConfig = JwtConfig['issuers'][number];
export type CorsConfig = NonNullable<RouteConfig['cors']>;
export type IpRulesConfig = NonNullable<RouteConfig['ipRules']>;
export type HeaderRewrites = NonNullable<RouteConfig['headers']>;
export type HeaderEdits = z.output<typeof headerEdits>;
export type SplitConfig = NonNullable<RouteConfig['split']>;
export type ListenerConfig = Config['listen'][number];
export type ListenTlsConfig = NonNullable<ListenerConfig['tls']>;

/** JSON Schema (draft 2020-12) of what users write. */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return { $id: 'https://causeway.dev/schema/causeway.schema.json', title: 'Causeway gateway configuration', ...schema };
}
