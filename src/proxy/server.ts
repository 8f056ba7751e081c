/**
 * The downstream side: the node:http server, slow-client guards, the stages every request
 * goes through before its route's pipeline (the request target and its normalisation, routing
 * with the body limit), and malformed requests answered from the failure registry instead of
 * node's bare 400.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Config } from '../config/schema.js';
import type { FailureCode } from '../failures/registry.js';
import { rawFailure } from '../failures/respond.js';
import { stripPathPrefix } from '../routing/router.js';
import { applyRoutePathPolicy, normalizeHost, normalizeRequestPath } from '../routing/path.js';
import { uuidv7 } from '../util/random.js';
import { compose, Exchange, type CallEnv, type Stage, type UpgradeRequest } from './exchange.js';
import { upgradeResponse } from './tunnel.js';
import { acceptRequestId, clientBudget } from './headers.js';
import { guardExchange, markRefused } from './limits.js';
import type { Runtime } from './runtime.js';

export interface Frontend {
  /** HTTP/1.x; the listeners (src/edge/) hand it connections. */
  readonly server: http.Server;
  /** The request handler, shared with the HTTP/2 server (src/edge/http2.ts). */
  readonly handle: (req: IncomingMessage, res: ServerResponse) => void;
  /** Swaps the routes and upstreams new calls use (live reload). */
  setRuntime(r: Runtime): void;
}

/**
 * Creates the data-plane server for the routes of `runtime`. `attach` gives routes their
 * pipelines (src/policies/), on this runtime and on every one set later (reloads).
 */
export function createFrontend(config: Config, runtime: Runtime, env: CallEnv, attach?: (r: Runtime) => void): Frontend {
  const s = config.server;
  let rt = runtime;
  attach?.(rt);
  const server = http.createServer(
    {
      requestTimeout: s.requestTimeout,
      headersTimeout: Math.min(s.headersTimeout, s.requestTimeout),
      keepAliveTimeout: s.keepAliveTimeout,
      maxHeaderSize: s.maxHeaderSize,
      requireHostHeader: true,
      connectionsCheckingInterval: Math.min(1000, s.headersTimeout),
    },
    (req, res) => handle(req, res),
  );

  // The stages every request goes through before its route's own pipeline (docs/pipeline.md).
  const entry = compose([requestTarget(s.maxUrlLength), routing(() => rt)], toRoute);

  /** One request; `up` when it asks to upgrade the connection (WebSocket): then `res` writes onto its socket. */
  function handle(req: IncomingMessage, res: ServerResponse, up?: UpgradeRequest): void {
    const x = new Exchange(req, res, env, acceptRequestId(req.headers['x-request-id']) ?? uuidv7());
    if (up) x.upgrade = up;
    else guardExchange(req, res);
    entry(x);
  }

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // A slow upload can time out while its response is already streaming: an error spliced into
    // that body would corrupt it, so the only honest signal is to cut the connection (as node does).
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    // The client's end of the stream came mid-request: it left, and nothing it could read is owed.
    if (!socket.writable || err.code === 'ECONNRESET' || err.code === 'HPE_INVALID_EOF_STATE' || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    const detail = clientErrorDetail(err, s.maxHeaderSize, s.requestTimeout);
    const code: FailureCode = detail.timeout ? 'REQUEST_TIMEOUT' : 'BAD_REQUEST';
    if (inFlight) markRefused(inFlight, code);
    socket.end(rawFailure({ code, requestId: uuidv7(), phase: 'request', context: { detail: detail.text } }, env.expose));
  });

  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const res = upgradeResponse(req, socket);
    // An h2c offer (RFC 7540 3.2, gone from RFC 9113) is ignored: the request is served over HTTP/1.1.
    if (isH2cOffer(req)) return handle(offerBody(req, socket, head), res);
    handle(req, res, { socket, head });
  });

  return {
    server,
    handle,
    setRuntime(r) {
      attach?.(r);
      rt = r;
    },
  };
}

/**
 * The request target: within `maxUrlLength`, a path (absolute-form reduced to path and query,
 * RFC 9112 3.2.2), normalised without climbing above the root.
 */
function requestTarget(maxUrlLength: number): Stage {
  return (x, next) => {
    let url = x.req.url ?? '/';
    if (url.length > maxUrlLength) return void x.fail('URI_TOO_LONG', { phase: 'request', context: { limit: maxUrlLength } });
    if (url.charCodeAt(0) !== 47 /* / */) {
      const abs = URL.canParse(url) ? new URL(url) : null;
      if (!abs) return void x.fail('BAD_REQUEST', { phase: 'request', context: { detail: 'the request target is not a path' } });
      url = abs.pathname + abs.search;
    }
    const q = url.indexOf('?');
    // One form of the path and the host for routing, every policy and the backend (src/routing/path.ts).
    const normal = normalizeRequestPath(q === -1 ? url : url.slice(0, q));
    if ('refused' in normal) return void x.fail('BAD_REQUEST', { phase: 'request', context: { detail: normal.refused } });
    const hostname = normalizeHost(x.req.headers.host);
    if (hostname === null) return void x.fail('BAD_REQUEST', { phase: 'request', context: { detail: 'the Host header is not a host name' } });
    x.path = normal.path;
    x.hostname = hostname;
    x.escapes = normal.escapedSlash || normal.parameters ? normal : null;
    x.query = q === -1 ? '' : url.slice(q);
    next(x);
  };
}

/** Routing: the route matching method, path and host (405 when only the method misses), then its body limit for a declared length. */
function routing(runtime: () => Runtime): Stage {
  return (x, next) => {
    const req = x.req;
    const router = runtime().router;
    const m = router.match(x.method, x.path, x.hostname);
    if ('kind' in m) {
      if (m.kind === 'none') return void x.fail('ROUTE_NOT_FOUND', { phase: 'route', context: { method: x.method, path: x.path, host: req.headers.host } });
      // A route takes the path but not the method: 405 with the methods the path takes (RFC 9110 15.5.6).
      const allow = m.allowed.join(', ');
      return void x.fail('METHOD_NOT_ALLOWED', { phase: 'route', context: { method: x.method, path: x.path, route: m.route, detail: allow }, headers: { allow } });
    }
    const route = m.route;
    if (x.escapes) {
      const d = applyRoutePathPolicy(x.escapes, route, (p) => (router.match(x.method, p, x.hostname) as { route?: unknown }).route === route);
      if ('refused' in d) return void x.fail('BAD_REQUEST', { phase: 'request', context: { route: route.name, detail: d.refused } });
      x.path = d.path;
    }
    x.routeTo(route, (route.stripPrefix ? stripPathPrefix(x.path, route.stripPrefix) : x.path) + x.query, clientBudget(req.headers['x-request-timeout']));
    if (x.upgrade && !route.websocket) {
      return void x.fail('BAD_REQUEST', { phase: 'request', context: { route: route.name, detail: `route ${route.name} does not allow protocol upgrades (Upgrade: ${String(req.headers.upgrade).slice(0, 40)}); websocket: true on the route allows them` } });
    }
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > route.maxBodySize) {
      (x.res as { shouldKeepAlive?: boolean }).shouldKeepAlive = false;
      return void x.fail('REQUEST_TOO_LARGE', { phase: 'request', context: { route: route.name, limit: route.maxBodySize } });
    }
    next(x);
  };
}

/** An `Upgrade: h2c` offer and nothing else to upgrade to. */
function isH2cOffer(req: IncomingMessage): boolean {
  const u = String(req.headers.upgrade ?? '').toLowerCase();
  return u.split(',').every((t) => t.trim() === 'h2c');
}

/**
 * node:http stops parsing at an Upgrade and hands the body bytes over raw: a served h2c offer
 * gets them back as a request stream of Content-Length bytes. (A chunked body on an upgrade
 * offer is refused by node's parser before this point.)
 */
function offerBody(req: IncomingMessage, socket: Socket, head: Buffer): IncomingMessage {
  let left = Number(req.headers['content-length'] ?? 0);
  if (!(left > 0)) return req;
  const body = new http.IncomingMessage(socket);
  Object.assign(body, { method: req.method, url: req.url, headers: req.headers, rawHeaders: req.rawHeaders, httpVersion: req.httpVersion, httpVersionMajor: req.httpVersionMajor, httpVersionMinor: req.httpVersionMinor });
  const take = (chunk: Buffer) => {
    const part = chunk.subarray(0, left);
    left -= part.length;
    if (part.length) body.push(part);
    if (left === 0) {
      socket.removeListener('data', take);
      body.push(null);
    }
  };
  take(head);
  if (left > 0) socket.on('data', take);
  return body;
}

/** Hands the exchange to its route's pipeline. */
const toRoute = (x: Exchange): void => x.route!.pipeline(x);

/** Words for the ways node's HTTP parser refuses a request. */
function clientErrorDetail(err: NodeJS.ErrnoException, maxHeader: number, requestTimeout: number): { text: string; timeout?: boolean } {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return { text: `request headers exceed ${maxHeader} bytes` };
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
    case 'HPE_INVALID_TRANSFER_ENCODING':
    case 'HPE_INVALID_CONTENT_LENGTH':
      // llhttp reports Content-Length with Transfer-Encoding under either code (whichever header
      // came second) and a repeated Content-Length as "unexpected": only its reason tells them apart.
      if (/can't be present with/.test((err as { reason?: string }).reason ?? '')) {
        return { text: 'both Content-Length and Transfer-Encoding are present (a request smuggling shape)' };
      }
      if (err.code === 'HPE_INVALID_TRANSFER_ENCODING') return { text: 'the Transfer-Encoding header is invalid (a request smuggling shape)' };
      return { text: 'the Content-Length header is invalid or repeated (a request smuggling shape)' };
    case 'HPE_INVALID_HEADER_TOKEN':
      return { text: 'a header name or value has characters HTTP does not allow' };
    case 'HPE_INVALID_METHOD':
      return { text: 'the method is not a valid HTTP method' };
    case 'HPE_INVALID_VERSION':
      return { text: 'the HTTP version is not supported' };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
    case 'HPE_INVALID_CHUNK_SIZE':
      return { text: 'the chunked body framing is invalid' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { text: `the request was not received within ${requestTimeout} ms`, timeout: true };
    default:
      return { text: `the request could not be parsed (${err.code ?? 'parse error'})` };
  }
}
