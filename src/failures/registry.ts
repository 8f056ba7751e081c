/**
 * The failure registry: every response Causeway generates itself is one of these codes, with
 * its status, its RFC 9209 Proxy-Status error type, a message in the words of the cloud gateway
 * FAQs our users know ("Backend unavailable", "Backend timeout"), and the remedy.
 * docs/errors.md documents each code; test/failures/registry.test.ts keeps the two in step.
 */
import type { GrpcCodeName } from '../grpc/status.js';

export type FailureCode =
  | 'ROUTE_NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'UPSTREAM_DNS_FAILURE'
  | 'UPSTREAM_CONNECT_TIMEOUT'
  | 'UPSTREAM_CONNECTION_REFUSED'
  | 'UPSTREAM_HOST_UNREACHABLE'
  | 'UPSTREAM_CONNECTION_CLOSED'
  | 'UPSTREAM_CONNECTION_RESET'
  | 'UPSTREAM_TLS_ERROR'
  | 'UPSTREAM_PROTOCOL_MISMATCH'
  | 'UPSTREAM_SEND_TIMEOUT'
  | 'UPSTREAM_RESPONSE_TIMEOUT'
  | 'UPSTREAM_BODY_TIMEOUT'
  | 'UPSTREAM_INVALID_RESPONSE'
  | 'UPSTREAM_HEADERS_TOO_LARGE'
  | 'UPSTREAM_POOL_EXHAUSTED'
  | 'NO_HEALTHY_TARGET'
  | 'CIRCUIT_OPEN'
  | 'GATEWAY_TIMEOUT'
  | 'GATEWAY_RESOURCE_EXHAUSTED'
  | 'GATEWAY_INTERNAL_ERROR'
  | 'RATE_LIMITED'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'AUTH_PROVIDER_UNAVAILABLE'
  | 'REQUEST_TOO_LARGE'
  | 'BAD_REQUEST'
  | 'REQUEST_TIMEOUT'
  | 'URI_TOO_LONG'
  | 'FAULT_INJECTED'
  | 'CLIENT_CLOSED_REQUEST';

/** What a message template may mention. Target addresses only reach clients when exposed. */
export interface FailureContext {
  upstream?: string;
  route?: string;
  method?: string;
  path?: string;
  host?: string;
  /** The limit that was exceeded, in ms or bytes depending on the code. */
  limit?: number;
  attempts?: number;
  /** Low-level detail safe for clients (an errno name, a parser complaint). */
  detail?: string;
}

/** Who has to act: the caller, the gateway (its host or config), the backend, or the network between. */
export type Side = 'client' | 'gateway' | 'backend' | 'network';

export interface FailureDef {
  code: FailureCode;
  status: number;
  /** The gRPC status a gRPC caller receives instead (docs/errors.md, docs/grpc.md). */
  grpc: GrpcCodeName;
  /** RFC 9209 error type; absent for failures that are not the proxy's (auth). */
  proxyStatus?: string;
  /** Which side is at fault, for operators scanning a dashboard. */
  side: Side;
  /**
   * Where the failure arises, which decides what the gateway may do about it:
   * `request` — the request itself or a policy refused it (nothing was asked of the backend);
   * `refusal` — the gateway declined to call the backend to protect it (pool, health, breaker):
   *   a fallback may answer, and the backend's health is not judged by it;
   * `exchange` — a call to the backend failed: a fallback may answer, and it counts against the target.
   */
  origin: 'request' | 'refusal' | 'exchange';
  /** One-line title, the words users search for. */
  title: string;
  message(ctx: FailureContext): string;
  /** What to change, drawn from the cause/solution tables of the gateway FAQs. */
  remedy: string;
}

const up = (ctx: FailureContext) => ctx.upstream ?? 'the backend';
const tried = (ctx: FailureContext) => (ctx.attempts && ctx.attempts > 1 ? ` (${ctx.attempts} attempts)` : '');
const why = (ctx: FailureContext) => (ctx.detail ? ` (${ctx.detail})` : '');
/** "within 1000 ms" when the limit that applied is known, else the name of the setting. */
const within = (ctx: FailureContext, setting: string) => (ctx.limit !== undefined ? `${ctx.limit} ms` : `the configured ${setting}`);

const defs: FailureDef[] = [
  {
    code: 'ROUTE_NOT_FOUND',
    status: 404,
    grpc: 'UNIMPLEMENTED',
    proxyStatus: 'destination_not_found',
    side: 'client',
    origin: 'request',
    title: 'No route',
    message: (c) => `No route: no route matches ${[c.method, c.path].filter(Boolean).join(' ') || 'the request'}${c.host ? ` for host ${c.host}` : ''}${why(c)}`,
    remedy: 'Check the request path, method and Host against `routes[].match`; `causeway check` lists the routes and GET /api/routes on the admin port shows the running ones.',
  },
  {
    code: 'METHOD_NOT_ALLOWED',
    status: 405,
    grpc: 'UNIMPLEMENTED',
    proxyStatus: 'http_request_denied',
    side: 'client',
    title: 'Method not allowed',
    origin: 'request',
    message: (c) => `Method not allowed: ${c.method ?? 'this method'} is not allowed on ${c.path ?? 'this path'}${c.route ? ` (route ${c.route})` : ''}; allowed: ${c.detail ?? 'none'}`,
    remedy: 'Send one of the methods in the `Allow` header, or add the method to `routes[].match.methods` of the route that matches the path.',
  },
  {
    code: 'UPSTREAM_DNS_FAILURE',
    status: 502,
    grpc: 'UNAVAILABLE',
    proxyStatus: 'dns_error',
    side: 'network',
    origin: 'exchange',
    title: 'Backend unavailable',
    message: (c) => `Backend unavailable: the host name of ${up(c)} does not resolve${why(c)}${tried(c)}`,
    remedy: 'The backend service address is incorrect or its domain name does not resolve: fix the target URL in `upstreams.<name>.targets`, or make sure the name resolves to the backend IP from the gateway host (`causeway doctor <upstream>` checks it).',
  },
  {
    code: 'UPSTREAM_CONNECT_TIMEOUT',
    status: 504,
    grpc: 'UNAVAILABLE',
    proxyStatus: 'connection_timeout',
    side: 'network',
    origin: 'exchange',
    title: 'Backend unavailable',
    message: (c) => `Backend unavailable: timeout connecting to ${up(c)} within ${within(c, 'connect timeout')}${tried(c)}`,
    remedy: 'The TCP handshake never completed: a security group, firewall or ACL is dropping packets to the backend port, the host is down, or the address is wrong. Allow the gateway egress address in the backend security group (inbound and outbound), check the return route, and verify the port with `causeway doctor <upstream>`.',
  },
  {
    code: 'UPSTREAM_CONNECTION_REFUSED',
    status: 502,
    grpc: 'UNAVAILABLE',
    proxyStatus: 'connection_refused',
    side: 'backend',
    origin: 'exchange',
    title: 'Backend unavailable',
    message: (c) => `Backend unavailable: connection refused by ${up(c)}${why(c)}${tried(c)}`,
    remedy: 'Nothing is listening on the target port, or a firewall rejects the connection: check that the backend process is started and bound to the configured address and port, and that no blacklist or firewall rule rejects the gateway.',
  },
  {
    code: 'UPSTREAM_HOST_UNREACHABLE',
    status: 502,
    grpc: 'UNAVAILABLE',
    proxyStatus: 'destination_ip_unroutable',
    side: 'network',
    origin: 'exchange',
    title: 'Backend unavailable',
    message: (c) => `Backend unavailable: ${up(c)} cannot be reached from the gateway${why(c)}${tried(c)}`,
    remedy: 'The network between the gateway and the backend said no: no route to the host or its network, the host is down (no ARP/neighbour answer), the link is down, or a firewall on the gateway host forbids the connection. Check routing and firewall rules from the gateway host (`ip route get <address>`, `iptables -L OUTPUT`), and that the target address is the one the backend really has.',
  },
  {
    code: 'UPSTREAM_CONNECTION_CLOSED',
    status: 502,
    grpc: 'UNAVAILABLE',
    proxyStatus: 'connection_terminated',
    side: 'backend',
    origin: 'exchange',
    title: 'Backend unavailable',
    message: (c) => `Backend unavailable: connection is closed — ${up(c)} closed the connection before sending a full response${tried(c)}`,
    remedy: 'The backend sent FIN before answering: it crashed, restarted, hit its own request timeout, or closes keep-alive connections sooner than the gateway. Check the backend logs at that time; keep `pool.idleTimeout` below the backend keep-alive timeout; enable `retries.on: [stale-connection]` for idempotent routes.',
  },
  {
    code: 'UPSTREAM_CONNECTION_RESET',
    status: 502,
    grpc: 'UNAVAILABLE',
    proxyStatus: 'connection_terminated',
    side: 'backend',
    origin: 'exchange',
    title: 'Backend unavailable',
    message: (c) => `Backend unavailable: connection reset by ${up(c)} during the exchange${tried(c)}`,
    remedy: 'The backend (or a middlebox) sent RST mid-exchange: a crashed worker, an overloaded accept queue, a proxy or load balancer idle timeout, or a firewall killing the flow. Check backend crash logs and any load balancer between the gateway and the backend.',
  },
  {
    code: 'UPSTREAM_TLS_ERROR',
    status: 502,
    grpc: 'UNAVAILABLE',
    proxyStatus: 'tls_protocol_error',
    side: 'backend',
    origin: 'exchange',
    title: 'Backend unavailable',
    message: (c) => `Backend unavailable: TLS handshake with ${up(c)} failed${why(c)}${tried(c)}`,
    remedy: 'The backend certificate is not trusted, expired or issued for another name, or the TLS versions and ciphers do not overlap. Install a valid certificate for the target host name, or set `upstreams.<name>.tls.ca` to the CA that signed it.',
  },
  {
    code: 'UPSTREAM_PROTOCOL_MISMATCH',
    status: 502,
    grpc: 'INTERNAL',
    proxyStatus: 'tls_protocol_error',
    side: 'gateway',
    origin: 'exchange',
    title: 'Backend unavailable',
    message: (c) => `Backend unavailable: protocol mismatch with ${up(c)} — ${c.detail ?? 'the backend does not speak the configured protocol'}`,
    remedy: 'The request protocol is incorrect: the target URL says https but the backend serves plain HTTP, or the reverse. Make the scheme in `upstreams.<name>.targets[].url` match what the backend port speaks.',
  },
  {
    code: 'UPSTREAM_SEND_TIMEOUT',
    status: 504,
    grpc: 'DEADLINE_EXCEEDED',
    proxyStatus: 'connection_write_timeout',
    side: 'backend',
    origin: 'exchange',
    title: 'Backend timeout',
    message: (c) => `Backend timeout: ${up(c)} did not read the request body within ${within(c, 'send timeout')}`,
    remedy: 'The backend stopped reading the request body (it is overloaded, blocked, or does not read bodies on this path). Check backend worker saturation; raise `timeouts.send` only for routes that upload large bodies to slow consumers.',
  },
  {
    code: 'UPSTREAM_RESPONSE_TIMEOUT',
    status: 504,
    grpc: 'DEADLINE_EXCEEDED',
    proxyStatus: 'http_response_timeout',
    side: 'backend',
    origin: 'exchange',
    title: 'Backend timeout',
    message: (c) => `Backend timeout: no response headers from ${up(c)} within ${within(c, 'read timeout')}${tried(c)}`,
    remedy: 'The backend failed to return a response within the configured timeout: find the slow dependency (database, downstream call) in the backend, or increase `timeouts.read` for this route above the observed p99 latency — keeping it below `timeouts.total` and the client timeout.',
  },
  {
    code: 'UPSTREAM_BODY_TIMEOUT',
    status: 504,
    grpc: 'DEADLINE_EXCEEDED',
    proxyStatus: 'connection_read_timeout',
    side: 'backend',
    origin: 'exchange',
    title: 'Backend timeout',
    message: (c) => `Backend timeout: the response body from ${up(c)} stalled for more than ${within(c, 'read timeout')}`,
    remedy: 'The backend sent headers and then stopped sending the body: a stuck stream, a slow producer, or a lost connection without FIN. Check the backend for blocked writers; raise `timeouts.read` for streaming routes that pause longer between chunks.',
  },
  {
    code: 'UPSTREAM_INVALID_RESPONSE',
    status: 502,
    grpc: 'INTERNAL',
    proxyStatus: 'http_protocol_error',
    side: 'backend',
    origin: 'exchange',
    title: 'Invalid backend response',
    message: (c) => `Invalid backend response: ${up(c)} sent a malformed HTTP response${why(c)}`,
    remedy: 'The bytes from the backend are not valid HTTP/1.1 (bad status line or headers, conflicting lengths). Check that the target port is the HTTP port of the service and not another protocol, and fix the response framing in the backend.',
  },
  {
    code: 'UPSTREAM_HEADERS_TOO_LARGE',
    status: 502,
    grpc: 'INTERNAL',
    proxyStatus: 'http_response_header_section_size',
    side: 'backend',
    origin: 'exchange',
    title: 'Invalid backend response',
    message: (c) => `Invalid backend response: ${up(c)} sent too big a header — the response head exceeds the gateway's limit${c.limit !== undefined ? ` of ${c.limit} bytes` : ''}`,
    remedy: 'The backend sent response headers larger than the gateway accepts (nginx says "upstream sent too big header"): usually a huge Set-Cookie, a debug or tracing header that grows, or a redirect URL carrying state. Make the backend send smaller headers; the port is right, the response is just too big to be taken as a response head.',
  },
  {
    code: 'UPSTREAM_POOL_EXHAUSTED',
    status: 503,
    grpc: 'UNAVAILABLE',
    proxyStatus: 'connection_limit_reached',
    side: 'gateway',
    origin: 'refusal',
    title: 'Backend unavailable',
    message: (c) => `Backend unavailable: connection lease request time out — no connection to ${up(c)} became free within ${within(c, 'pool.queueTimeout')}`,
    remedy: 'Every connection to the backend is busy. Size the pool by Little\'s law: maxConnections >= requests per second x backend latency in seconds (1,200 connections serve 1,200 RPS at 1 s each). Raise `pool.maxConnections`, or make the backend faster.',
  },
  {
    code: 'NO_HEALTHY_TARGET',
    status: 503,
    grpc: 'UNAVAILABLE',
    proxyStatus: 'destination_unavailable',
    side: 'backend',
    origin: 'refusal',
    title: 'Backend unavailable',
    message: (c) => `Backend unavailable: every target of ${up(c)} is ejected or failing health checks`,
    remedy: 'All targets are out of rotation. Look at the ejection and health-check history of the upstream (admin API /api/upstreams), fix the failing targets, and make sure health checks reflect real health.',
  },
  {
    code: 'CIRCUIT_OPEN',
    status: 503,
    grpc: 'UNAVAILABLE',
    proxyStatus: 'destination_unavailable',
    side: 'backend',
    origin: 'refusal',
    title: 'Backend unavailable',
    message: (c) => `Backend unavailable: the circuit breaker of ${up(c)} is open, failing fast`,
    remedy: 'Recent calls to this upstream failed above the breaker threshold, so the gateway is protecting it. Fix the cause of those failures (see the calls before the breaker opened); the breaker half-opens by itself after `circuitBreaker.openFor`.',
  },
  {
    code: 'GATEWAY_TIMEOUT',
    status: 504,
    grpc: 'DEADLINE_EXCEEDED',
    proxyStatus: 'http_response_timeout',
    side: 'gateway',
    origin: 'exchange',
    title: 'Backend timeout',
    message: (c) => `Backend timeout: the ${c.limit !== undefined ? `${c.limit} ms` : 'total'} budget for this request ran out${c.upstream ? ` calling ${c.upstream}` : ''}${tried(c)}`,
    remedy: 'The whole exchange, retries included, exceeded `timeouts.total` (or the client X-Request-Timeout). Make per-try `timeouts.read` x attempts fit inside total, and keep total below the client timeout so timeouts cascade.',
  },
  {
    code: 'GATEWAY_RESOURCE_EXHAUSTED',
    status: 503,
    grpc: 'UNAVAILABLE',
    proxyStatus: 'proxy_internal_error',
    side: 'gateway',
    origin: 'refusal',
    title: 'Gateway overloaded',
    message: (c) => `Gateway overloaded: the gateway ran out of a resource it needs to call ${up(c)}${why(c)}`,
    remedy: 'The gateway host, not the backend, is out of something: file descriptors (EMFILE: raise `ulimit -n` / LimitNOFILE for the gateway process; ENFILE: the system-wide fs.file-max), local ports (EADDRNOTAVAIL, EADDRINUSE: widen net.ipv4.ip_local_port_range, reuse connections with a larger `pool.idleTimeout`), or kernel memory (ENOBUFS, ENOMEM). The detail names which; check for connection leaks and the number of calls in flight.',
  },
  {
    code: 'GATEWAY_INTERNAL_ERROR',
    status: 502,
    grpc: 'INTERNAL',
    proxyStatus: 'proxy_internal_error',
    side: 'gateway',
    origin: 'refusal',
    title: 'Gateway error',
    message: (c) => `Gateway error: the gateway failed on its own side while calling ${up(c)}${why(c)}`,
    remedy: 'The error (named in the detail) is one that the backend and the network do not cause: a socket operation the gateway host does not support (an address family that is disabled, such as IPv6), or an error Causeway does not recognise. Check the gateway host\'s network configuration; if the detail names an error not listed in docs/errors.md, report it with the call\'s `causeway explain` output.',
  },
  {
    code: 'RATE_LIMITED',
    status: 429,
    grpc: 'RESOURCE_EXHAUSTED',
    proxyStatus: 'connection_limit_reached',
    side: 'client',
    origin: 'request',
    title: 'Too many requests',
    message: (c) => `Too many requests: the rate limit of ${c.route ? `route ${c.route}` : 'this route'} is exhausted${why(c)}`,
    remedy: 'Slow down and retry after the time in Retry-After, or ask the API owner for a higher limit.',
  },
  {
    code: 'UNAUTHORIZED',
    status: 401,
    grpc: 'UNAUTHENTICATED',
    side: 'client',
    origin: 'request',
    title: 'Unauthorized',
    message: (c) => `Unauthorized: credentials are missing or invalid${why(c)}`,
    remedy: 'Send a valid API key in X-API-Key, sign the request with a valid key pair, or send a valid bearer token (Authorization: Bearer <JWT>) from a trusted issuer; the message says what was wrong with a token.',
  },
  {
    code: 'FORBIDDEN',
    status: 403,
    grpc: 'PERMISSION_DENIED',
    side: 'client',
    origin: 'request',
    title: 'Forbidden',
    message: (c) => `Forbidden: this caller may not call ${c.route ? `route ${c.route}` : 'this route'}${why(c)}`,
    remedy: 'Request a subscription to the route and wait for its approval, use credentials of a consumer that holds one (or a token with the scopes the route requires), or call from an address the route\'s ipRules allow.',
  },
  {
    code: 'AUTH_PROVIDER_UNAVAILABLE',
    status: 503,
    proxyStatus: 'proxy_internal_error',
    side: 'gateway',
    origin: 'request',
    grpc: 'UNAVAILABLE',
    title: 'Authentication provider unavailable',
    message: (c) => `Authentication provider unavailable: the token could not be verified — ${c.detail ?? "the issuer's signing keys could not be fetched"}`,
    remedy: 'The gateway could not fetch the issuer\'s keys (jwt.issuers[].jwksUrl): the identity provider is down, slow or unreachable from the gateway, or answers something that is not a JWKS. Check the URL from the gateway host (curl it), its status and latency; raise jwt.jwks.timeout if it is merely slow. Keys fetched once are kept while the provider is unreachable, so this only happens before the first successful fetch or for a key id never seen.',
  },
  {
    code: 'URI_TOO_LONG',
    status: 414,
    grpc: 'RESOURCE_EXHAUSTED',
    proxyStatus: 'http_request_error',
    side: 'client',
    origin: 'request',
    title: 'URI too long',
    message: (c) => `URI too long: the request target exceeds ${c.limit !== undefined ? `${c.limit} bytes` : 'the configured server.maxUrlLength'}`,
    remedy: 'Send long parameters in a request body instead of the query string, or raise `server.maxUrlLength` if such URLs are legitimate.',
  },
  {
    code: 'FAULT_INJECTED',
    status: 503,
    grpc: 'UNAVAILABLE',
    side: 'gateway',
    origin: 'request',
    title: 'Fault injected',
    message: (c) => `Fault injected: ${c.route ? `route ${c.route}` : 'the route'} is configured to abort this call (fault injection)`,
    remedy: 'This failure was injected on purpose by `routes[].faults`; remove or narrow the faults block (percent, header) to stop it.',
  },
  {
    code: 'REQUEST_TOO_LARGE',
    status: 413,
    grpc: 'RESOURCE_EXHAUSTED',
    proxyStatus: 'http_request_error',
    side: 'client',
    origin: 'request',
    title: 'Request too large',
    message: (c) => `Request too large: the body exceeds the ${c.limit !== undefined ? `${c.limit} byte` : 'configured'} limit${c.route ? ` of route ${c.route}` : ''}`,
    remedy: 'Send a smaller body, or raise `server.maxBodySize` (or `routes[].maxBodySize`) if the route legitimately takes larger uploads.',
  },
  {
    code: 'BAD_REQUEST',
    status: 400,
    grpc: 'INTERNAL',
    proxyStatus: 'http_request_error',
    side: 'client',
    origin: 'request',
    title: 'Bad request',
    message: (c) => `Bad request: ${c.detail ?? 'the request is malformed'}`,
    remedy: 'Fix the request framing: one Content-Length or chunked Transfer-Encoding (never both), valid header names and values, headers within `server.maxHeaderSize`.',
  },
  {
    code: 'REQUEST_TIMEOUT',
    status: 408,
    grpc: 'DEADLINE_EXCEEDED',
    proxyStatus: 'http_request_error',
    side: 'client',
    origin: 'request',
    title: 'Request timeout',
    message: (c) => `Request timeout: ${c.detail ?? 'the client did not send the whole request in time'}`,
    remedy: 'The client sent its request too slowly (headers within `server.headersTimeout`, the whole request within `server.requestTimeout`). Check the client network, or raise these limits for slow uploaders.',
  },
  {
    code: 'CLIENT_CLOSED_REQUEST',
    status: 499,
    grpc: 'CANCELLED',
    side: 'client',
    origin: 'request',
    title: 'Client closed request',
    message: () => 'Client closed request: the caller went away before the response was complete',
    remedy: 'The client gave up first. If its timeout is shorter than the gateway `timeouts.total`, timeouts do not cascade: lower total (or send X-Request-Timeout) so the gateway and the backend give up first and free their resources.',
  },
];

export const REGISTRY: ReadonlyMap<FailureCode, FailureDef> = new Map(defs.map((d) => [d.code, d]));

export function failure(code: FailureCode): FailureDef {
  return REGISTRY.get(code)!;
}
