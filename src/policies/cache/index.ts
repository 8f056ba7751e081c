/**
 * `cache: { ttl, heuristic }` — a shared response cache for GET and HEAD following RFC 9111
 * (docs/cache.md lists each behaviour with its conformance test):
 *
 * - a fresh stored response is served (`X-Cache: HIT`, with `Age`), a byte range of it for a
 *   `Range` request, a 304 for a matching conditional request;
 * - a stale one is served while revalidated in the background within `stale-while-revalidate`
 *   (`X-Cache: STALE`), otherwise revalidated upstream (If-None-Match / If-Modified-Since; a 304
 *   refreshes its headers and it is served as a HIT);
 * - within `stale-if-error`, a stale one answers for a failing backend (a 500/502/503/504 or a
 *   failed call);
 * - anything else goes upstream (`X-Cache: MISS`) and is stored when the rules allow;
 * - an unsafe method that succeeds invalidates the URL (and its Location / Content-Location).
 *
 * Which directives count: Causeway-Cache-Control, else CDN-Cache-Control, else Cache-Control
 * (RFC 9213). What `ttl` means for a response that states no freshness: `heuristic`.
 */
import type { IncomingMessage } from 'node:http';
import { upstreamCall } from '../../proxy/call.js';
import { DetachedResponse, Exchange, type ResponseHead, type ResponseTap, type Stage } from '../../proxy/exchange.js';
import { uuidv7 } from '../../util/random.js';
import { policy } from '../policy.js';
import {
  byteRange,
  deltaSeconds,
  freshnessLifetime,
  governingDirectives,
  headerMap,
  initialAge,
  notModified,
  OWN_TARGETED,
  parseCacheControl,
  staleAllowance,
  strippedFields,
  unstorable,
  varyNames,
  varyValue,
  type Directives,
  type HeuristicPolicy,
} from './rules.js';
import { ageOf, captureResponse, responseKey, servedHeaders, storableHeaders, type ResponseStore, type StoredResponse } from './store.js';

/** Headers a 304 from the cache carries (RFC 9110 15.4.5). */
const NOT_MODIFIED_HEADERS = new Set(['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary', 'last-modified']);
/** Methods that change nothing (RFC 9110 9.2.1): they never invalidate. */
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);
/** Backend answers stale-if-error may stand in for (RFC 5861 4). */
const ERROR_STATUSES = new Set([500, 502, 503, 504]);

export const cachePolicy = policy('cache', (cfg, ctx) => cacheStage(cfg, ctx.route.name, ctx.responses));

/** The cache stage of one route. `now` is the clock (tests move it). */
function cacheStage(cfg: HeuristicPolicy, route: string, store: ResponseStore, now: () => number = Date.now): Stage {
  /** Keys being revalidated in the background: one revalidation per key at a time. */
  const revalidating = new Set<string>();

  return (x, next) => {
    // An upgrade is a session, never a stored answer.
    if (x.upgrade) return next(x);
    const key = responseKey(route, x.req.headers.host, x.upstreamPath);
    if (!SAFE.has(x.method)) {
      x.tap(new Invalidate(store, route, x.req.headers.host, key));
      return next(x);
    }
    if (x.method !== 'GET' && x.method !== 'HEAD') return next(x);
    const h = x.req.headers;
    const reqCc = parseCacheControl(h['cache-control']);
    const noCache = reqCc.has('no-cache') || (h.pragma === 'no-cache' && h['cache-control'] === undefined);
    const t = now();
    const e = reqCc.has('no-store') ? undefined : store.find(key, h);
    if (e && !noCache && !e.revalidate) {
      const age = ageOf(e, t);
      const staleFor = age * 1000 - e.freshFor;
      if (staleFor < 0 && acceptableToClient(reqCc, e, age)) return answer(x, e, t, 'HIT');
      const maxStale = reqCc.get('max-stale');
      if (staleFor >= 0 && !e.stale.mustRevalidate && maxStale !== undefined && (maxStale === true || staleFor <= (deltaSeconds(reqCc, 'max-stale') ?? 0) * 1000)) {
        return answer(x, e, t, 'STALE');
      }
      if (staleFor >= 0 && staleFor < e.stale.whileRevalidate) {
        answer(x, e, t, 'STALE');
        if (!revalidating.has(key)) {
          revalidating.add(key);
          revalidateInBackground(x, e, key, cfg, store, now, () => revalidating.delete(key));
        }
        return;
      }
    }
    let ours: StoredResponse | null = null;
    if (e && (e.etag || e.lastModified) && h['if-none-match'] === undefined && h['if-modified-since'] === undefined) {
      ours = e;
      conditional(x.req, e);
    }
    // Taps run last-subscribed first: a stored response stands in (Substitute) before the
    // capture decides, and the capture sees the backend's headers before they are marked.
    x.tap(MARK_MISS);
    if (!reqCc.has('no-store')) captureResponse(x, store, key, (ex, head) => (ex.method === 'GET' ? storedEntry(ex, head, cfg, reqCc, now()) : null));
    if (e) {
      x.tap(new Substitute(store, key, cfg, ours, e, reqCc, now));
      x.rescue = (ex) => staleIfError(ex, e, reqCc, now());
    }
    next(x);
  };
}

/** The request's own freshness demands (RFC 9111 5.2.1.1 max-age, 5.2.1.3 min-fresh). */
function acceptableToClient(reqCc: Directives, e: StoredResponse, age: number): boolean {
  const maxAge = deltaSeconds(reqCc, 'max-age');
  if (maxAge !== undefined && age > maxAge) return false;
  const minFresh = deltaSeconds(reqCc, 'min-fresh');
  return minFresh === undefined || e.freshFor - age * 1000 >= minFresh * 1000;
}

/** Adds the stored response's validators to the request going upstream (RFC 9111 4.3.1). */
function conditional(req: IncomingMessage, e: StoredResponse): void {
  if (e.etag) req.rawHeaders.push('If-None-Match', e.etag);
  if (e.lastModified) req.rawHeaders.push('If-Modified-Since', e.lastModified);
}

/** Answers from a stored response: 304 for a matching conditional request, a byte range for a Range request, else the whole of it. */
function answer(x: Exchange, e: StoredResponse, t: number, label: 'HIT' | 'STALE'): void {
  const h = x.req.headers;
  if (notModified(h as Record<string, string | undefined>, e.etag, e.lastModified)) {
    const hs: string[] = [];
    for (let i = 0; i < e.headers.length; i += 2) if (NOT_MODIFIED_HEADERS.has(e.headers[i]!.toLowerCase())) hs.push(e.headers[i]!, e.headers[i + 1]!);
    hs.push('age', String(ageOf(e, t)), 'x-cache', label, 'x-request-id', x.requestId);
    x.head(304, hs, 'cache');
    x.end();
    x.finish(304, null);
    return;
  }
  const range = x.method === 'GET' && e.status === 200 ? byteRange(h.range, h['if-range'] as string | undefined, e.body.length, e.etag, e.lastModified) : null;
  if (range) {
    const [start, end] = range;
    const headers = servedHeaders(e, x.requestId, t, end - start + 1).concat('content-range', `bytes ${start}-${end}/${e.body.length}`, 'x-cache', label);
    x.send(206, headers, e.body.subarray(start, end + 1), 'cache');
    x.finish(206, null);
    return;
  }
  x.send(e.status, servedHeaders(e, x.requestId, t).concat('x-cache', label), e.body, 'cache');
  x.finish(e.status, null);
}

/** stale-if-error (RFC 5861 4): within the response's or the request's allowance, never past must-revalidate. */
function mayServeOnError(e: StoredResponse, reqCc: Directives, t: number): boolean {
  const allowed = e.stale.mustRevalidate ? 0 : Math.max(e.stale.ifError, (deltaSeconds(reqCc, 'stale-if-error') ?? 0) * 1000);
  return ageOf(e, t) * 1000 - e.freshFor < allowed;
}

/** Answers a failed call with a stale stored response, when stale-if-error allows it. */
function staleIfError(x: Exchange, e: StoredResponse, reqCc: Directives, t: number): boolean {
  if ((x.method !== 'GET' && x.method !== 'HEAD') || !mayServeOnError(e, reqCc, t)) return false;
  x.send(e.status, servedHeaders(e, x.requestId, t).concat('x-cache', 'STALE'), e.body, 'cache');
  return true;
}

/**
 * The entry a shared cache may store for a backend response (its body still empty), or null.
 * Fields named by a qualified no-cache or private are left out of it.
 */
export function storedEntry(x: Exchange, head: ResponseHead, policy: HeuristicPolicy, reqCc: Directives, t: number): StoredResponse | null {
  const headers = headerMap(head.headers);
  const { cc, targeted } = governingDirectives(headers);
  if (unstorable({ status: head.status, headers }, cc, reqCc, x.req.headers.authorization !== undefined) !== null) return null;
  const strip = strippedFields(cc);
  let kept = storableHeaders(head.headers);
  if (strip.size) kept = kept.filter((_, i, a) => !strip.has(a[i - (i % 2)]!.toLowerCase()));
  return {
    status: head.status,
    headers: kept,
    body: Buffer.alloc(0),
    storedAt: t,
    requestedAt: x.startedAt,
    initialAge: initialAge(headers, x.startedAt, t),
    freshFor: freshnessLifetime(cc, headers, head.status, policy, targeted, t),
    stale: staleAllowance(cc),
    revalidate: cc.has('no-cache') && cc.get('no-cache') === true,
    etag: headers.get('etag'),
    lastModified: headers.get('last-modified'),
    vary: varyNames(headers.get('vary')).map((n): [string, string | null] => [n, varyValue(x.req.headers[n])]),
    size: 0,
  };
}

/** The stored response updated with the headers of a 304 (RFC 9111 3.2, 4.3.4). */
function refreshed(stored: StoredResponse, head304: readonly string[], policy: HeuristicPolicy, requestedAt: number, t: number): StoredResponse {
  const merged = mergeHeaders(stored.headers, head304);
  const map = headerMap(merged);
  const { cc, targeted } = governingDirectives(map);
  return {
    ...stored,
    headers: merged,
    storedAt: t,
    requestedAt,
    initialAge: initialAge(headerMap(head304), requestedAt, t),
    freshFor: freshnessLifetime(cc, map, stored.status, policy, targeted, t),
    stale: staleAllowance(cc),
    revalidate: cc.get('no-cache') === true,
    etag: map.get('etag'),
    lastModified: map.get('last-modified'),
  };
}

/** Marks a response from the backend `X-Cache: MISS` and keeps the field targeted at this gateway from the client. */
const MARK_MISS: ResponseTap = {
  onHeaders(_x, head) {
    if (head.source !== 'backend' || head.body !== null) return;
    dropOwnTargeted(head.headers);
    head.headers.push('x-cache', 'MISS');
  },
};

/**
 * Stands a stored response in for the upstream one where RFC 9111 says so: a 304 to the cache's
 * own revalidation becomes the refreshed stored response (HIT); a 304 to the client's own
 * conditional request updates the stored response it validates; a 5xx within stale-if-error
 * becomes the stale stored response (STALE).
 */
class Substitute implements ResponseTap {
  constructor(
    private readonly store: ResponseStore,
    private readonly key: string,
    private readonly policy: HeuristicPolicy,
    private readonly ours: StoredResponse | null,
    private readonly stored: StoredResponse,
    private readonly reqCc: Directives,
    private readonly now: () => number,
  ) {}

  onHeaders(x: Exchange, head: ResponseHead): void {
    if (head.source !== 'backend') return;
    const t = this.now();
    const e = this.stored;
    if (head.status === 304 && (this.ours !== null || sameStrongValidator(e, headerMap(head.headers).get('etag')))) {
      const fresh = refreshed(e, head.headers, this.policy, x.startedAt, t);
      this.store.put(this.key, fresh);
      if (this.ours) {
        head.status = fresh.status;
        head.statusText = '';
        head.headers = servedHeaders(fresh, x.requestId, t).concat('x-cache', 'HIT');
        head.body = fresh.body;
      }
      return;
    }
    if (ERROR_STATUSES.has(head.status) && x.method === 'GET' && mayServeOnError(e, this.reqCc, t)) {
      head.status = e.status;
      head.statusText = '';
      head.headers = servedHeaders(e, x.requestId, t).concat('x-cache', 'STALE');
      head.body = e.body;
    }
  }
}

function sameStrongValidator(e: StoredResponse, etag: string | undefined): boolean {
  return etag !== undefined && !etag.startsWith('W/') && etag === e.etag;
}

function dropOwnTargeted(headers: string[]): void {
  for (let i = headers.length - 2; i >= 0; i -= 2) if (headers[i]!.toLowerCase() === OWN_TARGETED) headers.splice(i, 2);
}

/**
 * A stale response is being served: revalidates it upstream with no client waiting (a detached
 * exchange through the route's upstream call, which leaves its own call record).
 */
function revalidateInBackground(x: Exchange, e: StoredResponse, key: string, policy: HeuristicPolicy, store: ResponseStore, now: () => number, done: () => void): void {
  const src = x.req;
  const req = {
    method: 'GET',
    url: src.url,
    headers: { ...src.headers },
    rawHeaders: src.rawHeaders.filter((_, i, a) => !/^(if-|range$|cache-control$)/i.test(a[i - (i % 2)]!)),
    socket: { remoteAddress: x.peer },
    httpVersion: '1.1',
  } as unknown as IncomingMessage;
  for (const n of Object.keys(req.headers)) if (/^(if-|range$|cache-control$)/.test(n)) delete req.headers[n];
  conditional(req, e);
  const bx = new Exchange(req, new DetachedResponse(), x.env, uuidv7());
  bx.routeTo(x.route!, x.upstreamPath, undefined);
  bx.consumer = x.consumer;
  const reqCc = parseCacheControl(undefined);
  bx.tap({ onEnd: done, onError: done });
  captureResponse(bx, store, key, (ex, head) => storedEntry(ex, head, policy, reqCc, now()));
  bx.tap(new Substitute(store, key, policy, e, e, reqCc, now));
  upstreamCall(bx);
}

/**
 * An unsafe method that succeeded (2xx, 3xx) invalidates the stored responses of its URL, and of
 * the URLs in Location and Content-Location on the same host (RFC 9111 4.4).
 */
class Invalidate implements ResponseTap {
  constructor(
    private readonly store: ResponseStore,
    private readonly route: string,
    private readonly host: string | undefined,
    private readonly key: string,
  ) {}

  onHeaders(_x: Exchange, head: ResponseHead): void {
    if (head.source !== 'backend' || head.status < 200 || head.status >= 400) return;
    this.store.invalidate(this.key);
    const h = headerMap(head.headers);
    for (const name of ['location', 'content-location']) {
      const v = h.get(name);
      if (!v) continue;
      const base = `http://${this.host ?? 'localhost'}`;
      if (!URL.canParse(v, base)) continue;
      const u = new URL(v, base);
      if (u.origin === new URL(base).origin) this.store.invalidate(responseKey(this.route, this.host, u.pathname + u.search));
    }
  }
}

/** The stored headers updated with those of a 304 (RFC 9111 3.2): every line of a name the 304 carries replaces the stored lines of that name. */
function mergeHeaders(stored: readonly string[], fresh: readonly string[]): string[] {
  const update = storableHeaders(fresh);
  const names = new Set<string>();
  const kept: string[] = [];
  for (let i = 0; i < update.length; i += 2) {
    const n = update[i]!.toLowerCase();
    if (n === 'via' || n === 'x-cache') continue;
    names.add(n);
    kept.push(update[i]!, update[i + 1]!);
  }
  const out: string[] = [];
  for (let i = 0; i < stored.length; i += 2) if (!names.has(stored[i]!.toLowerCase())) out.push(stored[i]!, stored[i + 1]!);
  return out.concat(kept);
}
