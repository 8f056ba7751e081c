/**
 * The downstream side: the node:http server, slow-client guards, the per-request entry point
 * (request id, path normalisation, routing, body limit) and malformed requests answered from
 * the failure registry instead of node's bare 400.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Config } from '../config/schema.js';
import { failure, type FailureCode, type FailureContext } from '../failures/registry.js';
import { rawFailure, sendFailure } from '../failures/respond.js';
import { normalizePath, stripPathPrefix } from '../routing/router.js';
import { Call } from './call.js';
import { uuidv7 } from '../util/random.js';
import { acceptRequestId, clientBudget } from './headers.js';
import type { Policies } from '../policies/index.js';
import type { CallEnv, Runtime } from './runtime.js';

export interface Frontend {
  readonly server: http.Server;
  /** Swaps the routes and upstreams new calls use (live reload). */
  setRuntime(r: Runtime): void;
}

/**
 * Creates the data-plane server; `getRuntime` supplies the routes in force. `policies` gives
 * routes their policy chains, on this runtime and on every one set later (reloads).
 */
export function createFrontend(config: Config, runtime: Runtime, env: CallEnv, policies?: Policies): Frontend {
  const s = config.server;
  let rt = runtime;
  policies?.attach(rt);
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

  function early(req: IncomingMessage, res: ServerResponse, requestId: string, code: FailureCode, phase: 'route' | 'request', ctx: FailureContext, headers?: Record<string, string>): void {
    sendFailure(res, { code, requestId, phase, context: ctx, ...(headers ? { headers } : {}) }, env.expose);
    env.sink.record({
      requestId,
      time: Date.now(),
      route: ctx.route ?? null,
      upstream: null,
      consumer: null,
      method: req.method ?? '',
      path: req.url ?? '',
      status: failure(code).status,
      code,
      attempts: [],
      bytesIn: 0,
      bytesOut: 0,
      durationMs: 0,
      clientIp: req.socket.remoteAddress ?? '',
    });
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const requestId = acceptRequestId(req.headers['x-request-id']) ?? uuidv7();
    let url = req.url ?? '/';
    if (url.length > s.maxUrlLength) return early(req, res, requestId, 'URI_TOO_LONG', 'request', { limit: s.maxUrlLength });
    if (url.charCodeAt(0) !== 47 /* / */) {
      // absolute-form (RFC 9112 3.2.2): keep only the path and query.
      const abs = URL.canParse(url) ? new URL(url) : null;
      if (!abs) return early(req, res, requestId, 'BAD_REQUEST', 'request', { detail: 'the request target is not a path' });
      url = abs.pathname + abs.search;
    }
    const q = url.indexOf('?');
    const rawPath = q === -1 ? url : url.slice(0, q);
    const query = q === -1 ? '' : url.slice(q);
    const path = normalizePath(rawPath);
    if (path === null) return early(req, res, requestId, 'BAD_REQUEST', 'request', { detail: 'the path climbs above the root' });
    const method = req.method ?? 'GET';
    const m = rt.router.match(method, path, req.headers.host);
    if ('kind' in m) {
      if (m.kind === 'none') return early(req, res, requestId, 'ROUTE_NOT_FOUND', 'route', { method, path, host: req.headers.host });
      const allow = m.allowed.join(', ');
      return early(req, res, requestId, 'METHOD_NOT_ALLOWED', 'route', { method, path, route: m.route, detail: allow }, { allow });
    }
    const route = m.route;
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > route.maxBodySize) {
      res.shouldKeepAlive = false;
      return early(req, res, requestId, 'REQUEST_TOO_LARGE', 'request', { route: route.name, limit: route.maxBodySize });
    }
    const upstreamPath = (route.stripPrefix ? stripPathPrefix(path, route.stripPrefix) : path) + query;
    if (route.policies) return route.policies.handle(req, res, route, upstreamPath, requestId, env, clientBudget(req.headers['x-request-timeout']));
    const call = new Call(req, res, route, upstreamPath, requestId, req.socket.remoteAddress ?? '', env, clientBudget(req.headers['x-request-timeout']));
    call.start();
  }

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // A slow upload can time out while its response is already streaming: an error spliced into
    // that body would corrupt it, so the only honest signal is to cut the connection (as node does).
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (!socket.writable || err.code === 'ECONNRESET' || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    const detail = clientErrorDetail(err, s.maxHeaderSize, s.requestTimeout);
    const code: FailureCode = detail.timeout ? 'REQUEST_TIMEOUT' : 'BAD_REQUEST';
    socket.end(rawFailure({ code, requestId: uuidv7(), phase: 'request', context: { detail: detail.text } }, env.expose));
  });

  server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    socket.end(rawFailure({ code: 'BAD_REQUEST', requestId: acceptRequestId(req.headers['x-request-id']) ?? uuidv7(), phase: 'request', context: { detail: 'protocol upgrades (WebSocket) are not supported' } }, env.expose));
  });

  return {
    server,
    setRuntime(r) {
      policies?.attach(r);
      rt = r;
    },
  };
}

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
