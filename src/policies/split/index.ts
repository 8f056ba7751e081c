/**
 * `split:` — traffic splitting between the route's upstream and a second one (a canary): calls
 * matching a header or cookie always go to it, and `percent` of the others. With `sticky`, the
 * share is taken by a stable hash of the consumer, client address, a cookie or a header, so one
 * caller stays on one side across calls (and across gateways: the hash depends on nothing local).
 * The second side is the route bound to the second upstream (its timeouts, retries, pool,
 * breaker). The call record's `upstream` names the side that served each call; /api/stats and
 * the dashboard set the two side by side per route.
 */
import type { SplitConfig } from '../../config/schema.js';
import { routeRuntime } from '../../proxy/runtime.js';
import { policy } from '../policy.js';

export interface SplitInput {
  headers: Record<string, string | string[] | undefined>;
  consumer: string | null;
  clientIp: string;
}

/** FNV-1a, 32 bits: stable across processes and versions, cheap, spreads short keys well. */
export function stableHash(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The value of cookie `name` in a Cookie header, or undefined. */
export function cookieValue(header: string | string[] | undefined, name: string): string | undefined {
  if (typeof header !== 'string') return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The key a sticky split hashes, or undefined when the call has none (then the share is random). */
function stickyKey(sticky: string, input: SplitInput): string | undefined {
  if (sticky === 'consumer') return input.consumer ?? undefined;
  if (sticky === 'ip') return input.clientIp || undefined;
  if (sticky.startsWith('cookie:')) return cookieValue(input.headers['cookie'], sticky.slice(7));
  const h = input.headers[sticky.slice(7).toLowerCase()];
  return typeof h === 'string' ? h : undefined;
}

/** Whether a call goes to the split's upstream. Pure given `random` (tested as a table). */
export function toSplit(cfg: SplitConfig, input: SplitInput, random: () => number = Math.random): boolean {
  const m = cfg.match;
  if (m?.header) {
    for (const [name, value] of Object.entries(m.header)) if (input.headers[name.toLowerCase()] === value) return true;
  }
  if (m?.cookie) {
    for (const [name, value] of Object.entries(m.cookie)) if (cookieValue(input.headers['cookie'], name) === value) return true;
  }
  if (cfg.percent <= 0) return false;
  if (cfg.percent >= 100) return true;
  const key = cfg.sticky ? stickyKey(cfg.sticky, input) : undefined;
  // Basis points, so 0.5% splits work: 10,000 buckets.
  const bucket = key === undefined ? Math.floor(random() * 10_000) : stableHash(key) % 10_000;
  return bucket < cfg.percent * 100;
}

export const splitPolicy = policy('split', (cfg, ctx) => {
  const second = ctx.upstreams.get(cfg.upstream);
  // A dangling name is a config error (config/load.ts); a runtime without it has no second side.
  if (!second) return null;
  const side = routeRuntime(ctx.config, ctx.route, second, ctx);
  return (x, next) => {
    if (toSplit(cfg, { headers: x.req.headers, consumer: x.consumer, clientIp: x.clientIp })) {
      x.route = side;
      x.upstream = second;
    }
    next(x);
  };
});
