/**
 * One route's policies, composed in a fixed order:
 *
 *   ip rules → CORS preflight → auth → subscription → rate limit → request headers → cache lookup
 *     → faults → split → proxy (Call) → response headers, CORS → cache store
 *
 * - ip rules first: a refused network gets nothing else, not even a preflight answer.
 * - CORS preflights next: browsers send them without credentials, so they are answered before
 *   auth, and never reach the backend.
 * - auth first: every later step may depend on who is calling (subscriptions, limits by
 *   consumer), and an unauthenticated flood must not spend a real consumer's tokens.
 * - subscription next: it only needs the consumer, and a refused call should not use tokens.
 * - rate limit before the cache: a cache hit is still work the client asked of the gateway, and
 *   counting hits keeps a client's budget independent of what happens to be cached.
 * - faults after the cache lookup, right before the backend: they stand in for a failing
 *   backend, and a cached answer would not have reached the backend either.
 * - request headers are rewritten once the consumer is known (${consumer}) and before the cache
 *   lookup, so the cache sees the request the backend would.
 * - the split picks the upstream last: every refusal above is the route's, whichever side serves it.
 * - the cache store watches the proxied response on its way out (cache/index.ts).
 *
 * Every refusal comes from the failure registry and leaves a call record naming the consumer.
 * Routes without policies never get here: server.ts builds their Call directly.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FailureCode, FailureContext } from '../failures/registry.js';
import { sendFailure } from '../failures/respond.js';
import { Call, type ResponseHeaderEditor } from '../proxy/call.js';
import type { CallEnv, RouteRuntime } from '../proxy/runtime.js';
import type { SplitConfig } from '../config/schema.js';
import type { Auth } from './auth/index.js';
import type { RouteCache } from './cache/index.js';
import type { PolicyRequest } from './context.js';
import type { Cors } from './cors/index.js';
import type { Faults } from './faults/index.js';
import type { HeaderRewriter, HeaderVars } from './headers/index.js';
import type { IpRules } from './ip-rules/index.js';
import type { RateLimit } from './rate-limit/index.js';
import { toSplit } from './split/index.js';
import type { Subscription } from './subscription/index.js';

export interface ChainParts {
  /** Gateway-wide rules first, then the route's. */
  ipRules?: IpRules[] | undefined;
  /** With the methods the route proxies (absent: all), since it answers OPTIONS preflights itself. */
  cors?: { policy: Cors; methods: readonly string[] | undefined } | undefined;
  auth?: Auth | undefined;
  subscription?: Subscription | undefined;
  rateLimit?: RateLimit | undefined;
  headers?: HeaderRewriter | undefined;
  cache?: RouteCache | undefined;
  faults?: Faults | undefined;
  /** The second upstream of the route, as a route runtime of its own. */
  split?: { config: SplitConfig; route: RouteRuntime } | undefined;
}

const varsOf = (p: PolicyRequest): HeaderVars => ({ request_id: p.requestId, consumer: p.consumer, client_ip: p.clientIp, route: p.route.name });

/** CORS and response rewrites for one call, applied to whatever answers it. */
class PolicyResponse implements ResponseHeaderEditor {
  constructor(
    private readonly parts: ChainParts,
    private readonly p: PolicyRequest,
  ) {}

  edit(headers: string[], corsOnly: boolean): void {
    const { headers: rewrite, cors } = this.parts;
    if (!corsOnly && rewrite?.response) rewrite.rewriteResponse(headers, varsOf(this.p));
    if (cors) cors.policy.actual(this.p.req.headers.origin, headers);
  }
}

export class PolicyChain {
  constructor(
    private readonly parts: ChainParts,
    private readonly clientIpOf: (req: IncomingMessage) => string,
  ) {}

  /** Runs the route's policies for one request, then proxies it unless a policy answered. */
  handle(req: IncomingMessage, res: ServerResponse, route: RouteRuntime, upstreamPath: string, requestId: string, env: CallEnv, budget: number | undefined): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const p: PolicyRequest = {
      req,
      res,
      route,
      requestId,
      method: req.method ?? 'GET',
      rawPath: q === -1 ? url : url.slice(0, q),
      rawQuery: q === -1 ? '' : url.slice(q + 1),
      upstreamPath,
      clientIp: this.clientIpOf(req),
      consumer: null,
      startedAt: Date.now(),
      responseEditor: null,
    };
    this.run(p, env, budget).catch((err: Error) => {
      // A policy bug must not take the process down or leave the client hanging.
      if (!res.headersSent) this.refuse(p, env, 'BAD_REQUEST', { detail: 'the request could not be processed' });
      else res.destroy(err);
    });
  }

  private async run(p: PolicyRequest, env: CallEnv, budget: number | undefined): Promise<void> {
    const { ipRules, cors, auth, subscription, rateLimit, headers, cache, faults, split } = this.parts;
    const route = p.route.name;
    if (ipRules) {
      for (const rules of ipRules) {
        const why = rules.check(p.clientIp);
        if (why !== null) return this.refuse(p, env, 'FORBIDDEN', { route, detail: why });
      }
    }
    if (cors) {
      if (cors.policy.isPreflight(p.method, p.req.headers)) return this.preflight(p, env, cors.policy);
      if (p.method === 'OPTIONS' && cors.methods && !cors.methods.includes('OPTIONS')) {
        return this.refuse(p, env, 'ROUTE_NOT_FOUND', { method: p.method, path: p.rawPath, detail: `route ${route} matches the path but allows only ${cors.methods.join(', ')}` });
      }
    }
    if (auth) {
      const r = auth.authenticate(p);
      const result = r instanceof Promise ? await r : r;
      if ('code' in result) {
        if (result.code === 'UNAUTHORIZED' || result.challenge) p.res.setHeader('www-authenticate', result.challenge ?? auth.challenge);
        return this.refuse(p, env, result.code, { route, limit: p.route.maxBodySize, detail: result.detail });
      }
    }
    if (subscription) {
      const why = subscription.check(p.consumer, route);
      if (why !== null) return this.refuse(p, env, 'FORBIDDEN', { route, detail: why });
    }
    if (rateLimit) {
      const r = rateLimit.check(p);
      const v = r instanceof Promise ? await r : r;
      for (const name in v.headers) p.res.setHeader(name, v.headers[name]!);
      if (!v.allowed) return this.refuse(p, env, 'RATE_LIMITED', { route, detail: v.detail });
    }
    if (headers?.request) headers.rewriteRequest(p.req.rawHeaders, varsOf(p));
    if (cors || headers?.response) p.responseEditor = new PolicyResponse(this.parts, p);
    if (this.gone(p, env)) return;
    if (cache) {
      const status = cache.lookup(p);
      if (status !== null) return this.record(p, env, status, null);
    }
    const plan = faults?.plan(p.req.headers);
    if (plan) {
      if (plan.delay) {
        await new Promise((r) => setTimeout(r, plan.delay));
        if (this.gone(p, env)) return;
      }
      if (plan.abort) {
        if ('reset' in plan.abort) {
          p.req.socket.resetAndDestroy();
          return this.record(p, env, 0, 'FAULT_INJECTED');
        }
        return this.refuse(p, env, 'FAULT_INJECTED', { route, upstream: p.route.upstream.name }, plan.abort.status);
      }
    }
    const target = split && toSplit(split.config, { headers: p.req.headers, consumer: p.consumer, clientIp: p.clientIp }) ? split.route : p.route;
    const call = new Call(p.req, p.res, target, p.upstreamPath, p.requestId, p.clientIp, env, budget);
    call.consumer = p.consumer;
    call.responseEditor = p.responseEditor;
    call.start();
  }

  /** Answers a CORS preflight at the gateway: 204 with the allowed origin, methods and headers, or FORBIDDEN saying what is not allowed. */
  private preflight(p: PolicyRequest, env: CallEnv, cors: Cors): void {
    const answer = cors.preflight(p.req.headers);
    if ('refused' in answer) return this.refuse(p, env, 'FORBIDDEN', { route: p.route.name, detail: answer.refused }, undefined, answer.headers);
    answer.headers.push('content-length', '0', 'x-request-id', p.requestId);
    p.res.writeHead(204, answer.headers);
    p.res.end();
    this.record(p, env, 204, null);
  }

  /** The client left while a policy waited (Redis, a body, an injected delay). */
  private gone(p: PolicyRequest, env: CallEnv): boolean {
    if (!p.res.destroyed && !p.req.socket.destroyed) return false;
    this.record(p, env, 499, 'CLIENT_CLOSED_REQUEST');
    return true;
  }

  private refuse(p: PolicyRequest, env: CallEnv, code: FailureCode, context: FailureContext, status?: number, extra?: string[]): void {
    // A browser reads a refusal only when it carries the CORS headers too.
    const list = extra ?? [];
    if (!extra && this.parts.cors) this.parts.cors.policy.actual(p.req.headers.origin, list);
    let headers: Record<string, string> | undefined;
    if (list.length) {
      headers = {};
      for (let i = 0; i < list.length; i += 2) headers[list[i]!] = list[i + 1]!;
    }
    sendFailure(p.res, { code, requestId: p.requestId, phase: 'request', context, status, headers }, env.expose);
    this.record(p, env, p.res.statusCode, code);
  }

  private record(p: PolicyRequest, env: CallEnv, status: number, code: FailureCode | null): void {
    env.sink.record({
      requestId: p.requestId,
      time: p.startedAt,
      route: p.route.name,
      upstream: p.route.upstream.name,
      consumer: p.consumer,
      method: p.method,
      path: p.req.url ?? '',
      status,
      code,
      attempts: [],
      bytesIn: 0,
      bytesOut: 0,
      durationMs: Date.now() - p.startedAt,
      clientIp: p.clientIp,
    });
  }
}
