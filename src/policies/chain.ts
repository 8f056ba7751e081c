/**
 * One route's policies, composed in a fixed order:
 *
 *   auth → subscription → rate limit → cache lookup → faults → proxy (Call) → cache store
 *
 * - auth first: every later step may depend on who is calling (subscriptions, limits by
 *   consumer), and an unauthenticated flood must not spend a real consumer's tokens.
 * - subscription next: it only needs the consumer, and a refused call should not use tokens.
 * - rate limit before the cache: a cache hit is still work the client asked of the gateway, and
 *   counting hits keeps a client's budget independent of what happens to be cached.
 * - faults after the cache lookup, right before the backend: they stand in for a failing
 *   backend, and a cached answer would not have reached the backend either.
 * - the cache store watches the proxied response on its way out (cache/index.ts).
 *
 * Every refusal comes from the failure registry and leaves a call record naming the consumer.
 * Routes without policies never get here: server.ts builds their Call directly.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import http2 from 'node:http2';
import type { FailureCode, FailureContext } from '../failures/registry.js';
import { sendFailure } from '../failures/respond.js';
import { Call } from '../proxy/call.js';
import { Tunnel, type UpgradeRequest } from '../proxy/tunnel.js';
import type { CallEnv, RouteRuntime } from '../proxy/runtime.js';
import type { Auth } from './auth/index.js';
import type { RouteCache } from './cache/index.js';
import type { PolicyRequest } from './context.js';
import type { Faults } from './faults/index.js';
import type { RateLimit } from './rate-limit/index.js';
import type { Subscription } from './subscription/index.js';

export interface ChainParts {
  auth?: Auth | undefined;
  subscription?: Subscription | undefined;
  rateLimit?: RateLimit | undefined;
  cache?: RouteCache | undefined;
  faults?: Faults | undefined;
}

export class PolicyChain {
  constructor(
    private readonly parts: ChainParts,
    private readonly clientIpOf: (req: IncomingMessage) => string,
  ) {}

  /** Runs the route's policies for one request, then proxies it unless a policy answered. */
  handle(req: IncomingMessage, res: ServerResponse, route: RouteRuntime, upstreamPath: string, requestId: string, env: CallEnv, budget: number | undefined, upgrade?: UpgradeRequest): void {
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
    };
    this.run(p, env, budget, upgrade).catch((err: Error) => {
      // A policy bug must not take the process down or leave the client hanging.
      if (!res.headersSent) this.refuse(p, env, 'BAD_REQUEST', { detail: 'the request could not be processed' });
      else res.destroy(err);
    });
  }

  private async run(p: PolicyRequest, env: CallEnv, budget: number | undefined, upgrade: UpgradeRequest | undefined): Promise<void> {
    const { auth, subscription, rateLimit, cache, faults } = this.parts;
    const route = p.route.name;
    if (auth) {
      const r = auth.authenticate(p);
      const result = r instanceof Promise ? await r : r;
      if ('code' in result) {
        if (result.code === 'UNAUTHORIZED') p.res.setHeader('www-authenticate', 'Signature realm="causeway", APIKey realm="causeway"');
        return this.refuse(p, env, result.code, { route, limit: p.route.maxBodySize });
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
    if (this.gone(p, env)) return;
    // An upgrade is a session, never a cached answer.
    if (cache && !upgrade) {
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
          // Over HTTP/2 the reset is the stream's (RST_STREAM), not the whole connection's.
          if (p.req.httpVersionMajor === 2) (p.req as unknown as { stream: { close(code: number): void } }).stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
          else p.req.socket.resetAndDestroy();
          return this.record(p, env, 0, 'FAULT_INJECTED');
        }
        return this.refuse(p, env, 'FAULT_INJECTED', { route, upstream: p.route.upstream.name }, plan.abort.status);
      }
    }
    if (upgrade) {
      const tunnel = new Tunnel(p.req, p.res, p.route, p.upstreamPath, p.requestId, p.clientIp, env, upgrade);
      tunnel.consumer = p.consumer;
      tunnel.start();
      return;
    }
    const call = new Call(p.req, p.res, p.route, p.upstreamPath, p.requestId, p.clientIp, env, budget);
    call.consumer = p.consumer;
    call.start();
  }

  /** The client left while a policy waited (Redis, a body, an injected delay). */
  private gone(p: PolicyRequest, env: CallEnv): boolean {
    if (!p.res.destroyed && !p.req.socket.destroyed) return false;
    this.record(p, env, 499, 'CLIENT_CLOSED_REQUEST');
    return true;
  }

  private refuse(p: PolicyRequest, env: CallEnv, code: FailureCode, context: FailureContext, status?: number): void {
    sendFailure(p.res, { code, requestId: p.requestId, phase: 'request', context, status }, env.expose);
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
