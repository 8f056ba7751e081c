/**
 * How admin endpoints are declared and answered: a tiny method + path router, the JSON error
 * envelope every admin failure uses, and the context endpoints read from.
 *
 * Adding endpoints: a module exports `register(router: AdminRouter, ctx: AdminContext)` and calls
 * `router.get(path, spec, handler)` / `router.post(...)` for each endpoint, then is listed in
 * MODULES in `server.ts`. `spec` documents the endpoint in the OpenAPI document
 * (GET /api/openapi.json) with zod schemas of its responses; the OpenAPI test checks every real
 * response against them, so a module gets its endpoints documented and checked for free.
 * A handler returns the JSON body (status 200) and throws AdminError for a failure. Paths take `{name}` parameters: `/api/consumers/{name}/keys`.
 * Registering the same method and path twice is an error.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import type { Config } from '../config/schema.js';
import type { Gateway } from '../gateway.js';
import type { UpstreamStats } from '../upstream/upstream.js';

/** What admin endpoints read from: the gateway (its call log, metrics, alerts, events) and where its config came from. */
export interface AdminContext {
  gateway: Gateway;
  /** The file the running config came from; reloads re-read it. Absent: reload is unavailable (the demo). */
  configFile?: string;
  /** Set on the lead worker of a cluster (src/cluster/worker.ts): what it answers for every worker. */
  cluster?: ClusterAdmin;
}

/** How the lead worker's admin API reaches the other workers. */
export interface ClusterAdmin {
  /** Prometheus text aggregated over every worker. */
  metrics(): Promise<string>;
  /** Upstream stats merged over every worker (shared state as the lead sees it, counters summed). */
  upstreams(): Promise<UpstreamStats[]>;
  /** A reload the admin API applied here: the other workers apply the same config. */
  reloaded(config: Config): void;
}

/** Codes of admin API failures (the data plane has its own registry: src/failures/registry.ts). */
export type AdminErrorCode = 'BAD_REQUEST' | 'UNAUTHORIZED' | 'FORBIDDEN' | 'NOT_FOUND' | 'METHOD_NOT_ALLOWED' | 'CONFLICT' | 'UNAVAILABLE' | 'INVALID_CONFIG' | 'INTERNAL';

const STATUS: Record<AdminErrorCode, number> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  INVALID_CONFIG: 422,
  INTERNAL: 500,
  UNAVAILABLE: 503,
};

/** An admin API failure, answered as `{ "error": { "code", "message", "details"? } }`. */
export class AdminError extends Error {
  readonly status: number;
  constructor(
    readonly code: AdminErrorCode,
    message: string,
    readonly details?: unknown[],
  ) {
    super(message);
    this.status = STATUS[code];
  }
}

export interface EndpointSpec {
  summary: string;
  /** Query parameters, for the document. */
  query?: Record<string, string>;
  /** Response schemas by status. */
  responses: Record<number, z.ZodType>;
}

export interface AdminRequest {
  req: IncomingMessage;
  params: Record<string, string>;
  query: URLSearchParams;
}

export type Handler = (r: AdminRequest) => unknown;
/** A handler that writes the response itself (non-JSON bodies such as /metrics). */
export type RawHandler = (r: AdminRequest, res: ServerResponse) => Promise<void> | void;

export interface Endpoint {
  method: 'GET' | 'POST';
  path: string;
  spec: EndpointSpec;
  handler: Handler | null;
  raw: RawHandler | null;
  pattern: RegExp;
  names: string[];
}

export class AdminRouter {
  readonly endpoints: Endpoint[] = [];

  get(path: string, spec: EndpointSpec, handler: Handler): void {
    this.add('GET', path, spec, handler, null);
  }

  post(path: string, spec: EndpointSpec, handler: Handler): void {
    this.add('POST', path, spec, handler, null);
  }

  /** An endpoint that writes its own response (not JSON). */
  raw(method: 'GET' | 'POST', path: string, spec: EndpointSpec, handler: RawHandler): void {
    this.add(method, path, spec, null, handler);
  }

  private add(method: 'GET' | 'POST', path: string, spec: EndpointSpec, handler: Handler | null, raw: RawHandler | null): void {
    if (this.endpoints.some((e) => e.method === method && e.path === path)) throw new Error(`admin endpoint ${method} ${path} is registered twice`);
    const names: string[] = [];
    const source = path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, (_m, n: string) => {
      names.push(n);
      return '([^/]+)';
    });
    this.endpoints.push({ method, path, spec, handler, raw, pattern: new RegExp(`^${source}$`), names });
  }

  /** Answers a request when a registered path matches; returns false otherwise. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    const hits = this.endpoints.filter((e) => e.pattern.test(url.pathname));
    if (!hits.length) return false;
    const ep = hits.find((e) => e.method === req.method || (req.method === 'HEAD' && e.method === 'GET'));
    if (!ep) {
      res.setHeader('Allow', [...new Set(hits.map((e) => e.method))].join(', '));
      sendError(res, new AdminError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${url.pathname}; use ${hits.map((e) => e.method).join(' or ')}`));
      return true;
    }
    const m = ep.pattern.exec(url.pathname)!;
    const params: Record<string, string> = {};
    ep.names.forEach((n, i) => (params[n] = decodeURIComponent(m[i + 1]!)));
    const r: AdminRequest = { req, params, query: url.searchParams };
    try {
      if (ep.raw) {
        await ep.raw(r, res);
        return true;
      }
      sendJson(res, 200, await ep.handler!(r));
    } catch (err) {
      sendError(res, err instanceof AdminError ? err : new AdminError('INTERNAL', `the admin endpoint failed: ${(err as Error).message}`));
    }
    return true;
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

export function sendError(res: ServerResponse, err: AdminError): void {
  sendJson(res, err.status, { error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } });
}
