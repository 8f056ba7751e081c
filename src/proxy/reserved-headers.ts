/**
 * Header names the gateway owns. A leaf module: the config schema checks `headers:` rewrites
 * against these lists, and proxy/headers.ts applies the same lists on the wire.
 */

/** Hop-by-hop headers (RFC 9110 7.6.1): they describe one connection and never travel on. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
]);

/** Set by the gateway on the way up; a client's copies are replaced, never passed through. */
export const GATEWAY_SET: ReadonlySet<string> = new Set(['x-request-id', 'x-request-timeout', 'grpc-timeout', 'traceparent', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'expect', 'host']);

/**
 * What a `headers:` rewrite may not set, add or remove: hop-by-hop and framing headers (a wrong
 * Content-Length is a smuggling shape), the headers the gateway sets itself, and the ones that
 * say who answered (X-Causeway-Error, Proxy-Status) or who is calling (X-Causeway-Consumer).
 */
export const NOT_REWRITABLE: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP,
  ...GATEWAY_SET,
  'via',
  'content-length',
  'x-causeway-error',
  'x-causeway-consumer',
  'x-causeway-fallback',
  'proxy-status',
  'x-forwarded-port',
  'forwarded',
]);
