/**
 * `cache: { ttl }` — a shared response cache for GET and HEAD following RFC 9111: a fresh stored
 * response is served (`X-Cache: HIT`, with `Age`), a stale one with validators is revalidated
 * upstream with If-None-Match / If-Modified-Since (a 304 refreshes it and it is served as a HIT),
 * anything else goes upstream (`X-Cache: MISS`) and is stored when the rules allow. `ttl` is the
 * freshness of responses that state none; their own Cache-Control/Expires win. Other methods on
 * the same URL invalidate it (RFC 9111 4.4).
 */
import type { Exchange, ResponseHead, ResponseTap, Stage } from '../../proxy/exchange.js';
import { policy } from '../policy.js';
import { freshnessLifetime, headerMap, initialAge, notModified, parseCacheControl, unstorable, type Directives } from './rules.js';
import { ageOf, captureResponse, headerValue, responseKey, servedHeaders, storableHeaders, type ResponseStore, type StoredResponse } from './store.js';

/** Headers a 304 from the cache carries (RFC 9110 15.4.5). */
const NOT_MODIFIED_HEADERS = new Set(['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary', 'last-modified']);

export const cachePolicy = policy('cache', (cfg, ctx) => cacheStage(cfg, ctx.route.name, ctx.responses));

/** The cache stage of one route. `now` is the clock (tests move it). */
export function cacheStage(cfg: { ttl: number }, route: string, store: ResponseStore, now: () => number = Date.now): Stage {
  return (x, next) => {
    const key = responseKey(route, x.req.headers.host, x.upstreamPath);
    if (x.method !== 'GET' && x.method !== 'HEAD') {
      x.tap(new Invalidate(store, key));
      return next(x);
    }
    const h = x.req.headers;
    const reqCc = parseCacheControl(h['cache-control']);
    const bypass = reqCc.has('no-cache') || reqCc.get('max-age') === '0' || (h.pragma === 'no-cache' && !h['cache-control']);
    const e = reqCc.has('no-store') || bypass ? undefined : store.find(key, h);
    const t = now();
    if (e && !e.revalidate && ageOf(e, t) * 1000 < e.freshFor) {
      if (notModified(h as Record<string, string | undefined>, e.etag, e.lastModified)) {
        const hs: string[] = [];
        for (let i = 0; i < e.headers.length; i += 2) if (NOT_MODIFIED_HEADERS.has(e.headers[i]!.toLowerCase())) hs.push(e.headers[i]!, e.headers[i + 1]!);
        hs.push('age', String(ageOf(e, t)), 'x-cache', 'HIT', 'x-request-id', x.requestId);
        x.head(304, hs, 'cache');
        x.end();
        x.finish(304, null);
        return;
      }
      x.send(e.status, servedHeaders(e, x.requestId, t).concat('x-cache', 'HIT'), e.body, 'cache');
      x.finish(e.status, null);
      return;
    }
    let revalidating: StoredResponse | null = null;
    if (e && (e.etag || e.lastModified) && h['if-none-match'] === undefined && h['if-modified-since'] === undefined) {
      revalidating = e;
      if (e.etag) x.req.rawHeaders.push('If-None-Match', e.etag);
      else x.req.rawHeaders.push('If-Modified-Since', e.lastModified!);
    }
    x.tap(new Lookup(store, key, cfg.ttl, revalidating, now));
    if (!reqCc.has('no-store')) captureResponse(x, store, key, (ex, head) => (ex.method === 'GET' ? storedEntry(ex, head, cfg.ttl, reqCc, now()) : null));
    next(x);
  };
}

/**
 * The entry a shared cache may store for a backend response (its body still empty), or null.
 * `ttl` is the freshness of a response that states none.
 */
export function storedEntry(x: Exchange, head: ResponseHead, ttl: number, reqCc: Directives, t: number): StoredResponse | null {
  const headers = headerMap(head.headers);
  const cc = parseCacheControl(headers.get('cache-control'));
  if (unstorable({ status: head.status, headers }, cc, reqCc, x.req.headers.authorization !== undefined) !== null) return null;
  const vary = (headers.get('vary') ?? '')
    .split(',')
    .map((v) => v.trim().toLowerCase())
    .filter(Boolean)
    .map((n): [string, string] => [n, headerValue(x.req.headers[n])]);
  return {
    status: head.status,
    headers: storableHeaders(head.headers),
    body: Buffer.alloc(0),
    storedAt: t,
    requestedAt: x.startedAt,
    initialAge: initialAge(headers),
    freshFor: freshnessLifetime(cc, headers, ttl),
    staleWhileRevalidate: 0,
    staleIfError: 0,
    revalidate: cc.has('no-cache'),
    etag: headers.get('etag'),
    lastModified: headers.get('last-modified'),
    vary,
    size: 0,
  };
}

/** Marks MISS and HIT, and turns a 304 to the cache's own revalidation into the refreshed stored response. */
class Lookup implements ResponseTap {
  constructor(
    private readonly store: ResponseStore,
    private readonly key: string,
    private readonly ttl: number,
    private readonly revalidating: StoredResponse | null,
    private readonly now: () => number,
  ) {}

  onHeaders(x: Exchange, head: ResponseHead): void {
    const stored = this.revalidating;
    if (stored && head.source === 'backend' && head.status === 304) {
      const merged = mergeHeaders(stored.headers, head.headers);
      const map = headerMap(merged);
      const t = this.now();
      const fresh: StoredResponse = { ...stored, headers: merged, storedAt: t, initialAge: initialAge(headerMap(head.headers)), freshFor: freshnessLifetime(parseCacheControl(map.get('cache-control')), map, this.ttl) };
      this.store.put(this.key, fresh);
      head.status = fresh.status;
      head.statusText = '';
      head.headers = servedHeaders(fresh, x.requestId, t).concat('x-cache', 'HIT');
      head.body = fresh.body;
      return;
    }
    head.headers.push('x-cache', 'MISS');
  }
}

/** An unsafe method that succeeded invalidates the stored responses of its URL (RFC 9111 4.4). */
class Invalidate implements ResponseTap {
  constructor(
    private readonly store: ResponseStore,
    private readonly key: string,
  ) {}

  onHeaders(_x: Exchange, head: ResponseHead): void {
    if (head.source === 'backend' && head.status < 400) this.store.invalidate(this.key);
  }
}

/** The stored headers updated with those of a 304 (RFC 9111 3.2): every line of a name the 304 carries replaces the stored lines of that name. */
export function mergeHeaders(stored: readonly string[], fresh: readonly string[]): string[] {
  const update = storableHeaders(fresh);
  const names = new Set<string>();
  const kept: string[] = [];
  for (let i = 0; i < update.length; i += 2) {
    if (update[i]!.toLowerCase() === 'via') continue;
    names.add(update[i]!.toLowerCase());
    kept.push(update[i]!, update[i + 1]!);
  }
  const out: string[] = [];
  for (let i = 0; i < stored.length; i += 2) if (!names.has(stored[i]!.toLowerCase())) out.push(stored[i]!, stored[i + 1]!);
  return out.concat(kept);
}
