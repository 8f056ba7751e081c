/**
 * Route fallbacks: what a client gets instead of an upstream failure. `static` answers a fixed
 * response; `stale` answers the last good (200) response of the same GET from the gateway's
 * response store, if it was fetched less than `staleFor` ago. Either way the response carries
 * X-Causeway-Fallback and the original failure code in X-Causeway-Error, and the call record
 * keeps the failure.
 *
 * A stale route keeps its backend's responses in the one response store (the cache's, bounded by
 * `cache.maxSize` and `cache.maxEntrySize`), stored under RFC 9111's rules for what a shared
 * cache may keep (no `no-store`, `private` or `Set-Cookie` responses). A fallback answer is
 * never stored.
 */
import type { FallbackConfig } from '../config/schema.js';
import type { FailureCode } from '../failures/registry.js';
import { parseCacheControl, type HeuristicPolicy } from '../policies/cache/rules.js';
import { storedEntry } from '../policies/cache/index.js';
import { captureResponse, responseKey, servedHeaders, type ResponseStore } from '../policies/cache/store.js';
import type { Exchange, Rescuer } from './exchange.js';

/** The static fallback response of a route, rendered once. */
export function staticFallback(f: FallbackConfig): { status: number; headers: Record<string, string>; body: Buffer } | null {
  if (!('response' in f)) return null;
  const r = f.response;
  const headers: Record<string, string> = { ...r.headers };
  let body: Buffer;
  if (r.json !== undefined) {
    body = Buffer.from(JSON.stringify(r.json));
    // Header names in the config keep the user's case: `Content-Type: application/problem+json` must win.
    if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json; charset=utf-8';
  } else {
    body = Buffer.from(r.body ?? '');
  }
  return { status: r.status, headers, body };
}

/** `headers` with each name in `set` replaced by (or added with) its value. */
export function withHeaders(headers: readonly string[], set: readonly string[]): string[] {
  const names = new Set<string>();
  for (let i = 0; i < set.length; i += 2) names.add(set[i]!.toLowerCase());
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) if (!names.has(headers[i]!.toLowerCase())) out.push(headers[i]!, headers[i + 1]!);
  out.push(...set);
  return out;
}

/** The fallback of one route, or null when it has none. */
export function routeFallback(route: string, f: FallbackConfig | undefined, store: ResponseStore): Rescuer | null {
  if (!f) return null;
  if ('staleFor' in f) return new StaleFallback(route, f.staleFor, store);
  return new StaticFallback(staticFallback(f)!);
}

const NO_DIRECTIVES = parseCacheControl(undefined);
/** The stale fallback keeps responses for failures only: it never treats one as fresh. */
const NEVER_FRESH: HeuristicPolicy = { heuristic: 'none', ttl: 0 };

class StaleFallback implements Rescuer {
  constructor(
    private readonly route: string,
    private readonly staleFor: number,
    private readonly store: ResponseStore,
    private readonly now: () => number = Date.now,
  ) {}

  private key(x: Exchange): string {
    return responseKey(this.route, x.req.headers.host, x.upstreamPath);
  }

  watch(x: Exchange): void {
    if (x.method !== 'GET' || x.storing) return;
    captureResponse(x, this.store, this.key(x), (ex, head) => (head.status === 200 ? storedEntry(ex, head, NEVER_FRESH, NO_DIRECTIVES, this.now()) : null));
  }

  answer(x: Exchange, code: FailureCode): boolean {
    if (x.method !== 'GET' && x.method !== 'HEAD') return false;
    const e = this.store.find(this.key(x), x.req.headers);
    const t = this.now();
    if (!e || e.status !== 200 || t - e.storedAt > this.staleFor) return false;
    const headers = withHeaders(servedHeaders(e, x.requestId, t), ['x-causeway-error', code, 'x-causeway-fallback', 'stale']);
    x.head(e.status, headers, 'fallback');
    if (x.method !== 'HEAD') x.data(e.body);
    x.end();
    return true;
  }
}

class StaticFallback implements Rescuer {
  private readonly headers: string[] = [];

  constructor(private readonly r: { status: number; headers: Record<string, string>; body: Buffer }) {
    for (const [k, v] of Object.entries(r.headers)) this.headers.push(k, v);
  }

  watch(): void {}

  answer(x: Exchange, code: FailureCode): boolean {
    const headers = withHeaders(this.headers, ['x-causeway-error', code, 'x-request-id', x.requestId, 'x-causeway-fallback', 'static', 'content-length', String(this.r.body.length)]);
    x.head(this.r.status, headers, 'fallback');
    if (x.method !== 'HEAD') x.data(this.r.body);
    x.end();
    return true;
  }
}
