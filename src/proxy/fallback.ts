/**
 * Route fallbacks: what a client gets instead of an upstream failure. `static` answers a fixed
 * response; `stale` answers the last good (200) response of the same GET, if it is younger than
 * `staleFor`. Either way the response carries X-Causeway-Fallback and the original failure code
 * in X-Causeway-Error, and the call record keeps the failure.
 *
 * Stale copies live in memory, bounded by bytes (least recently used go first), and only for
 * routes that configure `staleFor`; bodies over 1 MiB are not kept.
 */
import type { FallbackConfig } from '../config/schema.js';
import { ByteLru, type Sized } from '../util/byte-lru.js';

export interface StoredResponse {
  status: number;
  /** Flat [name, value, ...] as sent to the client (hop-by-hop already removed). */
  headers: string[];
  body: Buffer;
  /** performance.now() when stored. */
  storedAt: number;
}

export const MAX_STALE_ENTRY_BYTES = 1024 * 1024;

/** A byte-bounded LRU of responses keyed by route and request target (one copy per key). */
export class StaleStore {
  private readonly lru: ByteLru<{ entry: StoredResponse } & Sized>;

  constructor(maxBytes = 64 * 1024 * 1024) {
    this.lru = new ByteLru(maxBytes);
  }

  static key(route: string, host: string | undefined, pathAndQuery: string): string {
    return `${route}\u0000${host ?? ''}\u0000${pathAndQuery}`;
  }

  set(key: string, entry: StoredResponse): void {
    this.lru.put(key, { entry, size: entry.body.length + key.length * 2 + 256 }, () => true);
  }

  /** The stored response if younger than `maxAgeMs` (refreshing its recency). */
  get(key: string, maxAgeMs: number, now = performance.now()): StoredResponse | undefined {
    const e = this.lru.get(key)?.[0]?.entry;
    if (!e) return undefined;
    if (now - e.storedAt > maxAgeMs) {
      this.lru.delete(key);
      return undefined;
    }
    return e;
  }

  get size(): number {
    return this.lru.size;
  }
}

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
