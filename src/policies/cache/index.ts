/**
 * `cache: { ttl }` — a shared response cache for GET and HEAD following RFC 9111: a fresh stored
 * response is served (`X-Cache: HIT`, with `Age`), a stale one with validators is revalidated
 * upstream with If-None-Match / If-Modified-Since (a 304 refreshes it and it is served as a HIT),
 * anything else goes upstream (`X-Cache: MISS`) and is stored when the rules allow. `ttl` is the
 * freshness of responses that state none; their own Cache-Control/Expires win. Other methods on
 * the same URL invalidate it (RFC 9111 4.4).
 */
import type { ServerResponse } from 'node:http';
import type { PolicyRequest } from '../context.js';
import { freshnessLifetime, initialAge, notModified, parseCacheControl, unstorable } from './rules.js';
import { ageOf, cacheKey, type CacheEntry, type ResponseStore } from './store.js';

export interface RouteCache {
  /** Answers from the store (returns the status sent), or prepares to store what comes back (returns null). */
  lookup(p: PolicyRequest): number | null;
}

/** Headers a 304 from the cache carries (RFC 9110 15.4.5). */
const NOT_MODIFIED_HEADERS = new Set(['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary', 'last-modified']);
/** Per-response headers never stored: recomputed or specific to one call. */
const NOT_STORED = new Set(['age', 'x-request-id', 'x-cache', 'content-length', 'ratelimit', 'ratelimit-policy', 'retry-after']);

export function cache(cfg: { ttl: number }, route: string, store: ResponseStore, now: () => number = Date.now): RouteCache {
  return {
    lookup(p) {
      const key = cacheKey(route, p.req.headers.host, p.upstreamPath);
      if (p.method !== 'GET' && p.method !== 'HEAD') {
        store.invalidate(key);
        return null;
      }
      p.res.setHeader('x-cache', 'MISS');
      const h = p.req.headers;
      const reqCc = parseCacheControl(h['cache-control']);
      if (reqCc.has('no-store')) return null;
      const bypass = reqCc.has('no-cache') || reqCc.get('max-age') === '0' || (h.pragma === 'no-cache' && !h['cache-control']);
      const e = bypass ? undefined : store.find(key, h);
      const t = now();
      if (e && !e.revalidate && ageOf(e, t) * 1000 < e.freshFor) {
        if (notModified(h as Record<string, string | undefined>, e.etag, e.lastModified)) {
          const hs: string[] = [];
          for (let i = 0; i < e.headers.length; i += 2) if (NOT_MODIFIED_HEADERS.has(e.headers[i]!.toLowerCase())) hs.push(e.headers[i]!, e.headers[i + 1]!);
          const head = hs.concat('age', String(ageOf(e, t)), 'x-cache', 'HIT', 'x-request-id', p.requestId);
          p.responseEditor?.edit(head, true);
          p.res.writeHead(304, head);
          p.res.end();
          return 304;
        }
        serve(p, e, t);
        return e.status;
      }
      let revalidating: CacheEntry | null = null;
      if (e && (e.etag || e.lastModified) && h['if-none-match'] === undefined && h['if-modified-since'] === undefined) {
        revalidating = e;
        if (e.etag) p.req.rawHeaders.push('If-None-Match', e.etag);
        else p.req.rawHeaders.push('If-Modified-Since', e.lastModified!);
      }
      capture(p, store, key, cfg.ttl, reqCc, revalidating, now);
      return null;
    },
  };
}

function servedHeaders(e: CacheEntry, requestId: string, t: number): string[] {
  return e.headers.concat('content-length', String(e.body.length), 'age', String(ageOf(e, t)), 'x-cache', 'HIT', 'x-request-id', requestId);
}

function serve(p: PolicyRequest, e: CacheEntry, t: number): void {
  const head = servedHeaders(e, p.requestId, t);
  // The stored copy was rewritten on its way in; only CORS depends on this caller.
  p.responseEditor?.edit(head, true);
  p.res.writeHead(e.status, head);
  p.res.end(p.method === 'HEAD' ? undefined : e.body);
}

type Patchable = { writeHead: (...a: unknown[]) => ServerResponse; write: (...a: unknown[]) => boolean; end: (...a: unknown[]) => ServerResponse };

/**
 * Watches one proxied response on its way to the client (by wrapping this response object's
 * writeHead/write/end, so the call itself knows nothing about caching) and stores it once it
 * has completed, if RFC 9111 allows. A 304 to our own revalidation refreshes the stored entry
 * and sends it in place of the 304.
 */
function capture(p: PolicyRequest, store: ResponseStore, key: string, ttl: number, reqCc: Map<string, string | true>, revalidating: CacheEntry | null, now: () => number): void {
  const res = p.res as unknown as Patchable;
  const { writeHead, write, end } = res;
  let entry: CacheEntry | null = null;
  let chunks: Buffer[] | null = null;
  let size = 0;
  let served = false;

  res.writeHead = (status: unknown, a?: unknown, b?: unknown) => {
    const flat = Array.isArray(a) ? (a as string[]) : Array.isArray(b) ? (b as string[]) : null;
    // Only the call's own header lists are backend responses; objects are gateway failures.
    if (flat && !served) {
      const headers = new Map<string, string>();
      for (let i = 0; i < flat.length; i += 2) headers.set(flat[i]!.toLowerCase(), flat[i + 1]!);
      const cc = parseCacheControl(headers.get('cache-control'));
      if (revalidating && status === 304) {
        served = true;
        const merged = mergeHeaders(revalidating.headers, flat);
        const mergedMap = new Map<string, string>();
        for (let i = 0; i < merged.length; i += 2) mergedMap.set(merged[i]!.toLowerCase(), merged[i + 1]!);
        const fresh: CacheEntry = { ...revalidating, headers: merged, storedAt: now(), initialAge: initialAge(headers), freshFor: freshnessLifetime(parseCacheControl(mergedMap.get('cache-control')), mergedMap, ttl) };
        store.put(key, fresh);
        // Sent with the unwrapped methods: the wrapped ones now swallow the call's 304.
        writeHead.call(p.res, fresh.status, servedHeaders(fresh, p.requestId, now()));
        end.call(p.res, p.method === 'HEAD' ? undefined : fresh.body);
        return p.res;
      }
      if (p.method === 'GET' && unstorable({ status: status as number, headers }, cc, reqCc, p.req.headers.authorization !== undefined) === null) {
        const kept: string[] = [];
        for (let i = 0; i < flat.length; i += 2) if (!NOT_STORED.has(flat[i]!.toLowerCase())) kept.push(flat[i]!, flat[i + 1]!);
        const vary = (headers.get('vary') ?? '')
          .split(',')
          .map((v) => v.trim().toLowerCase())
          .filter(Boolean)
          .map((n): [string, string] => [n, String(p.req.headers[n] ?? '')]);
        entry = {
          status: status as number,
          headers: kept,
          body: Buffer.alloc(0),
          storedAt: now(),
          initialAge: initialAge(headers),
          freshFor: freshnessLifetime(cc, headers, ttl),
          revalidate: cc.has('no-cache'),
          etag: headers.get('etag'),
          lastModified: headers.get('last-modified'),
          vary,
          size: 0,
        };
        chunks = [];
      }
    }
    return writeHead.call(p.res, status, a, b);
  };
  res.write = (chunk: unknown, ...rest: unknown[]) => {
    if (served) return true;
    collect(chunk);
    return write.call(p.res, chunk, ...rest);
  };
  res.end = (...args: unknown[]) => {
    if (served) return p.res;
    if (args.length && typeof args[0] !== 'function') collect(args[0]);
    if (entry && chunks) {
      entry.body = Buffer.concat(chunks, size);
      entry.size = size + 256 + entry.headers.reduce((n, s) => n + s.length, 0);
      store.put(key, entry);
    }
    return end.apply(p.res, args);
  };

  function collect(chunk: unknown): void {
    if (!chunks || chunk === undefined || chunk === null) return;
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    size += b.length;
    if (size > store.maxEntrySize) {
      chunks = null;
      entry = null;
      return;
    }
    chunks.push(Buffer.from(b));
  }
}

/** The stored headers updated with those of a 304 (RFC 9111 3.2), ours excluded. */
function mergeHeaders(stored: string[], fresh: string[]): string[] {
  const update = new Map<string, [string, string]>();
  for (let i = 0; i < fresh.length; i += 2) {
    const n = fresh[i]!.toLowerCase();
    if (!NOT_STORED.has(n) && n !== 'via') update.set(n, [fresh[i]!, fresh[i + 1]!]);
  }
  const out: string[] = [];
  for (let i = 0; i < stored.length; i += 2) if (!update.has(stored[i]!.toLowerCase())) out.push(stored[i]!, stored[i + 1]!);
  for (const [name, value] of update.values()) out.push(name, value);
  return out;
}
