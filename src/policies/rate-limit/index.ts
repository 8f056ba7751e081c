/**
 * `rateLimit: { requests, per, by }` — a token bucket per consumer, route, client IP or header
 * value. Every answer on the route carries the IETF RateLimit-Policy and RateLimit headers
 * (draft-ietf-httpapi-ratelimit-headers): `RateLimit-Policy: "<route>";q=<requests>;w=<seconds>`
 * and `RateLimit: "<route>";r=<remaining>;t=<seconds>`; a refusal adds Retry-After.
 * A call with no consumer (by: consumer) or without the header (by: header:x) is counted by IP.
 */
import type { RateLimitConfig } from '../../config/schema.js';
import type { Exchange, Next } from '../../proxy/exchange.js';
import { policy } from '../policy.js';
import type { Decision } from './bucket.js';
import { STORE_DOWN, type Limiter } from './limiter.js';

export interface RateVerdict {
  allowed: boolean;
  /** Response headers to add, refused or not. */
  headers: Record<string, string>;
  /** Why a refusal happened, when it was not the limit itself. */
  detail?: string;
}

export interface RateLimit {
  check(p: Exchange): RateVerdict | Promise<RateVerdict>;
}

export const rateLimitPolicy = policy('rateLimit', (cfg, ctx) => {
  const limit = rateLimit(cfg, ctx.route.name, ctx.limiter);
  const route = ctx.route.name;
  function apply(x: Exchange, v: RateVerdict, next: Next, waited: boolean): void {
    for (const name in v.headers) x.addHeader(name, v.headers[name]!);
    if (!v.allowed) return x.refuse('RATE_LIMITED', { route, detail: v.detail });
    if (!waited || !x.left()) next(x);
  }
  return (x, next) => {
    const v = limit.check(x);
    if (v instanceof Promise) return v.then((r) => apply(x, r, next, true));
    apply(x, v, next, false);
  };
});

export function rateLimit(cfg: RateLimitConfig, route: string, limiter: Limiter): RateLimit {
  const header = cfg.by.startsWith('header:') ? cfg.by.slice(7).toLowerCase() : null;
  const policy = `"${route}";q=${cfg.requests};w=${Math.max(1, Math.ceil(cfg.per / 1000))}`;

  function keyOf(p: Exchange): string {
    switch (cfg.by) {
      case 'route':
        return `${route}|route`;
      case 'consumer':
        return p.consumer !== null ? `${route}|c|${p.consumer}` : `${route}|ip|${p.clientIp}`;
      case 'ip':
        return `${route}|ip|${p.clientIp}`;
      default: {
        const v = p.req.headers[header!];
        return typeof v === 'string' ? `${route}|h|${v}` : `${route}|ip|${p.clientIp}`;
      }
    }
  }

  function verdict(d: Decision): RateVerdict {
    const headers: Record<string, string> = {
      'ratelimit-policy': policy,
      ratelimit: `"${route}";r=${d.remaining};t=${Math.ceil((d.allowed ? d.resetMs : d.retryAfterMs) / 1000)}`,
    };
    if (d.allowed) return { allowed: true, headers };
    headers['retry-after'] = String(Math.max(1, Math.ceil(d.retryAfterMs / 1000)));
    return d === STORE_DOWN ? { allowed: false, headers, detail: 'the shared rate limit store is unreachable' } : { allowed: false, headers };
  }

  return {
    check(p) {
      const d = limiter.take(keyOf(p), cfg.requests, cfg.per);
      return d instanceof Promise ? d.then(verdict) : verdict(d);
    },
  };
}
