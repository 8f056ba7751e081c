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

export interface StoredResponse {
  status: number;
  /** Flat [name, value, ...] as sent to the client (hop-by-hop already removed). */
  headers: string[];
  body: Buffer;
  /** performance.now() when stored. */
  storedAt: number;
}

export const MAX_STALE_ENTRY_BYTES = 1024 * 1024;

/** A byte-bounded LRU of responses keyed by route and request target. */
export class StaleStore {
  private readonly map = new Map<string, StoredResponse>();
  private bytes = 0;

  constructor(private readonly maxBytes = 64 * 1024 * 1024) {}

  static key(route: string, host: string | undefined, pathAndQuery: string): string {
    return `${route}\u0000${host ?? ''}\u0000${pathAndQuery}`;
  }

  set(key: string, entry: StoredResponse): void {
    const size = entry.body.length + key.length * 2 + 256;
    if (size > this.maxBytes) return;
    this.delete(key);
    this.map.set(key, entry);
    this.bytes += size;
    for (const [k] of this.map) {
      if (this.bytes <= this.maxBytes) break;
      this.delete(k);
    }
  }

  /** The stored response if younger than `maxAgeMs` (refreshing its recency). */
  get(key: string, maxAgeMs: number, now = performance.now()): StoredResponse | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (now - e.storedAt > maxAgeMs) {
      this.delete(key);
      return undefined;
    }
    this.map.delete(key);
    this.map.set(key, e);
    return e;
  }

  private delete(key: string): void {
    const e = this.map.get(key);
    if (!e) return;
    this.map.delete(key);
    this.bytes -= e.body.length + key.length * 2 + 256;
  }

  get size(): number {
    return this.map.size;
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
