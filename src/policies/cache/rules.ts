/**
 * The RFC 9111 rules the response cache follows, as pure functions: which responses a shared
 * cache may store (3, 3.5), how long they stay fresh (4.2.1), their age (4.2.3), and when a
 * stored response answers a conditional request with 304 (RFC 9110 13.1).
 */

export type Directives = Map<string, string | true>;

/** `max-age=60, no-cache="Set-Cookie", public` → directives, names lower-cased. */
export function parseCacheControl(value: string | string[] | undefined): Directives {
  const out: Directives = new Map();
  if (!value) return out;
  for (const part of (Array.isArray(value) ? value.join(',') : value).split(',')) {
    const eq = part.indexOf('=');
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (!name) continue;
    out.set(name, eq === -1 ? true : part.slice(eq + 1).trim().replace(/^"|"$/g, ''));
  }
  return out;
}

function seconds(d: Directives, name: string): number | undefined {
  const v = d.get(name);
  if (typeof v !== 'string' || !/^\d+$/.test(v)) return undefined;
  return Number(v);
}

/** Statuses a cache may store without explicit freshness (RFC 9110 15.1 "heuristically cacheable"). */
const HEURISTIC = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]);

export interface ResponseFacts {
  status: number;
  /** Lower-cased names. */
  headers: Map<string, string>;
}

/** Why a response must not be stored, or null when a shared cache may store it. */
export function unstorable(res: ResponseFacts, cc: Directives, requestCc: Directives, requestHasAuthorization: boolean): string | null {
  if (cc.has('no-store') || requestCc.has('no-store')) return 'no-store';
  if (cc.has('private')) return 'private';
  if (res.headers.get('vary')?.trim() === '*') return 'Vary: *';
  if (res.headers.has('set-cookie')) return 'Set-Cookie';
  if (requestHasAuthorization && !cc.has('public') && !cc.has('s-maxage') && !cc.has('must-revalidate')) return 'Authorization';
  const explicit = cc.has('s-maxage') || cc.has('max-age') || res.headers.has('expires');
  if (!HEURISTIC.has(res.status) && !(explicit && res.status >= 200 && res.status < 600 && res.status !== 206 && res.status !== 304)) return `status ${res.status}`;
  return null;
}

/** Freshness lifetime in ms: s-maxage, then max-age, then Expires − Date, else `defaultTtl`. */
export function freshnessLifetime(cc: Directives, headers: Map<string, string>, defaultTtl: number): number {
  const s = seconds(cc, 's-maxage') ?? seconds(cc, 'max-age');
  if (s !== undefined) return s * 1000;
  const expires = headers.get('expires');
  if (expires !== undefined) {
    const e = Date.parse(expires);
    const date = Date.parse(headers.get('date') ?? '');
    if (!Number.isFinite(e)) return 0; // an invalid Expires means "already expired" (5.3)
    return Math.max(0, e - (Number.isFinite(date) ? date : Date.now()));
  }
  return defaultTtl;
}

/** The Age header a response arrived with, in seconds. */
export function initialAge(headers: Map<string, string>): number {
  const a = Number(headers.get('age'));
  return Number.isFinite(a) && a > 0 ? Math.floor(a) : 0;
}

/** Weak comparison of entity tags (If-None-Match uses it, RFC 9110 13.1.2). */
export function etagMatches(ifNoneMatch: string, etag: string | undefined): boolean {
  if (!etag) return false;
  if (ifNoneMatch.trim() === '*') return true;
  const bare = etag.replace(/^W\//, '');
  return ifNoneMatch.split(',').some((t) => t.trim().replace(/^W\//, '') === bare);
}

/** Does a stored response satisfy the client's conditional GET (so 304 Not Modified is the answer)? */
export function notModified(req: { 'if-none-match'?: string | undefined; 'if-modified-since'?: string | undefined }, etag: string | undefined, lastModified: string | undefined): boolean {
  if (req['if-none-match'] !== undefined) return etagMatches(req['if-none-match'], etag);
  const ims = req['if-modified-since'];
  if (ims === undefined || lastModified === undefined) return false;
  const since = Date.parse(ims);
  const modified = Date.parse(lastModified);
  return Number.isFinite(since) && Number.isFinite(modified) && modified <= since;
}

/**
 * A header list as a map of lower-cased names; repeated lines are combined with ", " as
 * RFC 9110 5.3 allows for list fields (Cache-Control, Vary, Age...). For reading, not sending.
 */
export function headerMap(headers: readonly string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i < headers.length; i += 2) {
    const n = headers[i]!.toLowerCase();
    const prev = m.get(n);
    m.set(n, prev === undefined ? headers[i + 1]! : `${prev}, ${headers[i + 1]!}`);
  }
  return m;
}
