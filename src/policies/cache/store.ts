/**
 * The gateway's response store, shared by every route with `cache:`.
 *
 * For the stale fallback (`fallback: { staleFor }`, src/proxy/call.ts): `getStale(key)` returns
 * the newest stored response under a key however old it is (null when none), and
 * `cacheKey(route, host, pathAndQuery)` builds the key. A fallback that serves it should send
 * `X-Cache: STALE` and an `Age` of `ageSeconds`. Entries are only stored for routes with
 * `cache:`, and leave by LRU when `cache.maxSize` is reached.
 */
import { ByteLru } from '../../util/byte-lru.js';

export interface CacheEntry {
  status: number;
  /** Flat [name, value, ...] list as sent to the client, without Age and X-Request-Id. */
  headers: string[];
  body: Buffer;
  /** Epoch ms the response was received (or last revalidated). */
  storedAt: number;
  /** Age the response already had upstream, seconds. */
  initialAge: number;
  /** Freshness lifetime, ms. */
  freshFor: number;
  /** no-cache: every use must be revalidated. */
  revalidate: boolean;
  etag: string | undefined;
  lastModified: string | undefined;
  /** Request header values the response varies on (lower-cased names). */
  vary: Array<[string, string]>;
  size: number;
}

export interface StaleResponse {
  status: number;
  headers: string[];
  body: Buffer;
  ageSeconds: number;
}

export function cacheKey(route: string, host: string | undefined, pathAndQuery: string): string {
  return `${route}\0${(host ?? '').toLowerCase()}\0${pathAndQuery}`;
}

export function ageOf(e: CacheEntry, now: number): number {
  return e.initialAge + Math.max(0, Math.floor((now - e.storedAt) / 1000));
}

export class ResponseStore {
  private readonly lru: ByteLru<CacheEntry>;

  constructor(
    maxBytes: number,
    readonly maxEntrySize: number,
  ) {
    this.lru = new ByteLru(maxBytes);
  }

  /** The stored variant matching the request's headers on the response's Vary fields. */
  find(key: string, headers: Record<string, string | string[] | undefined>): CacheEntry | undefined {
    const list = this.lru.get(key);
    if (!list) return undefined;
    for (let i = list.length - 1; i >= 0; i--) {
      const e = list[i]!;
      if (e.vary.every(([n, v]) => String(headers[n] ?? '') === v)) return e;
    }
    return undefined;
  }

  put(key: string, e: CacheEntry): void {
    this.lru.put(key, e, (o) => o.vary.length === e.vary.length && o.vary.every(([n, v], i) => e.vary[i]![0] === n && e.vary[i]![1] === v));
  }

  invalidate(key: string): void {
    this.lru.delete(key);
  }

  getStale(key: string): StaleResponse | null {
    const list = this.lru.get(key);
    const e = list?.[list.length - 1];
    return e ? { status: e.status, headers: e.headers, body: e.body, ageSeconds: ageOf(e, Date.now()) } : null;
  }

  get stats(): { bytes: number; keys: number; evictions: number } {
    return { bytes: this.lru.bytes, keys: this.lru.size, evictions: this.lru.evictions };
  }
}
