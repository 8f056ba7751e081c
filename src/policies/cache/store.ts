/**
 * The gateway's one response store: the response cache (`cache:`) and the stale fallback
 * (`fallback: { staleFor }`) keep backend responses here, under one key function, captured by
 * one response tap (`captureResponse`). Only responses the backend sent are stored; an answer
 * made by the gateway (a fallback, a failure, a cache hit) never is. Entries leave by LRU
 * when `cache.maxSize` is reached.
 */
import type { Exchange, ResponseHead, ResponseTap } from '../../proxy/exchange.js';
import { ByteLru } from '../../util/byte-lru.js';
import { OWN_TARGETED, varyValue, type StaleAllowance } from './rules.js';

export interface StoredResponse {
  status: number;
  /** Flat [name, value, ...] list as received, repeats kept, without per-call headers (Age, X-Request-Id). */
  headers: string[];
  body: Buffer;
  /** Epoch ms the response was received (or last revalidated): RFC 9111's response_time. */
  storedAt: number;
  /** Epoch ms the request that fetched it was sent: RFC 9111's request_time. */
  requestedAt: number;
  /** Corrected initial age, seconds (RFC 9111 4.2.3). */
  initialAge: number;
  /** Freshness lifetime, ms. */
  freshFor: number;
  /** What it may do once stale: stale-while-revalidate, stale-if-error, or nothing without revalidation. */
  stale: StaleAllowance;
  /** no-cache: every use must be revalidated. */
  revalidate: boolean;
  etag: string | undefined;
  lastModified: string | undefined;
  /** Request header values the response varies on (lower-cased names; null: the request had none). */
  vary: Array<[string, string | null]>;
  size: number;
}

/** The store key of a request: route, host (case-insensitive) and path with query. */
export function responseKey(route: string, host: string | undefined, pathAndQuery: string): string {
  return `${route}\0${(host ?? '').toLowerCase()}\0${pathAndQuery}`;
}

/** Current age of a stored response, seconds (RFC 9111 4.2.3). */
export function ageOf(e: StoredResponse, now: number): number {
  return e.initialAge + Math.max(0, Math.floor((now - e.storedAt) / 1000));
}

/**
 * The stored headers a client receives, without the field targeted at this gateway (RFC 9213),
 * plus Age, Content-Length and the request id.
 */
export function servedHeaders(e: StoredResponse, requestId: string, now: number, length: number = e.body.length): string[] {
  const out: string[] = [];
  const h = e.headers;
  for (let i = 0; i < h.length; i += 2) if (h[i]!.toLowerCase() !== OWN_TARGETED) out.push(h[i]!, h[i + 1]!);
  out.push('content-length', String(length), 'age', String(ageOf(e, now)), 'x-request-id', requestId);
  return out;
}

export class ResponseStore {
  private readonly lru: ByteLru<StoredResponse>;

  constructor(
    maxBytes: number,
    readonly maxEntrySize: number,
  ) {
    this.lru = new ByteLru(maxBytes);
  }

  /** The newest stored variant whose Vary fields match the request's headers. */
  find(key: string, headers: Record<string, string | string[] | undefined>): StoredResponse | undefined {
    const list = this.lru.get(key);
    if (!list) return undefined;
    for (let i = list.length - 1; i >= 0; i--) {
      const e = list[i]!;
      if (e.vary.every(([n, v]) => varyValue(headers[n]) === v)) return e;
    }
    return undefined;
  }

  put(key: string, e: StoredResponse): void {
    this.lru.put(key, e, (o) => o.vary.length === e.vary.length && o.vary.every(([n, v], i) => e.vary[i]![0] === n && e.vary[i]![1] === v));
  }

  invalidate(key: string): void {
    this.lru.delete(key);
  }

  get stats(): { bytes: number; keys: number; evictions: number } {
    return { bytes: this.lru.bytes, keys: this.lru.size, evictions: this.lru.evictions };
  }
}

/**
 * Decides, from a backend response head, whether to keep it: the entry to store (body still
 * empty), or null.
 */
export type StoreDecision = (x: Exchange, head: ResponseHead) => StoredResponse | null;

/** Headers of one call that are never stored: recomputed per answer, or the gateway's own. */
const PER_CALL = new Set(['age', 'x-request-id', 'x-cache', 'content-length', 'ratelimit', 'ratelimit-policy', 'retry-after', 'connection']);

/** The header list without per-call headers. */
export function storableHeaders(headers: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < headers.length; i += 2) if (!PER_CALL.has(headers[i]!.toLowerCase())) kept.push(headers[i]!, headers[i + 1]!);
  return kept;
}

/** Keeps the backend response of `x` in `store` under `key` once complete, if `decide` wants it. */
export function captureResponse(x: Exchange, store: ResponseStore, key: string, decide: StoreDecision): void {
  x.storing = true;
  x.tap(new Capture(store, key, decide));
}

class Capture implements ResponseTap {
  private entry: StoredResponse | null = null;
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(
    private readonly store: ResponseStore,
    private readonly key: string,
    private readonly decide: StoreDecision,
  ) {}

  onHeaders(x: Exchange, head: ResponseHead): void {
    if (head.source === 'backend' && head.body === null) this.entry = this.decide(x, head);
  }

  onData(_x: Exchange, chunk: Buffer): void {
    if (!this.entry) return;
    this.size += chunk.length;
    if (this.size > this.store.maxEntrySize) {
      this.entry = null;
      this.chunks = [];
      return;
    }
    this.chunks.push(chunk);
  }

  onEnd(): void {
    const e = this.entry;
    if (!e) return;
    e.body = Buffer.concat(this.chunks, this.size);
    e.size = this.size + 256 + e.headers.reduce((n, s) => n + s.length, 0) + this.key.length;
    this.store.put(this.key, e);
  }

  onError(): void {
    this.entry = null;
  }
}
