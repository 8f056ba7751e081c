/**
 * The RFC 9111 rules the response cache follows, as pure functions: HTTP-date parsing (RFC 9110
 * 5.6.7), the Cache-Control directives that apply to this cache (RFC 9213 targeted fields first),
 * which responses a shared cache may store (3, 3.5), how long they stay fresh (4.2.1, 4.2.2),
 * their age (4.2.3), when a stale one may still be used (4.2.4, RFC 5861), when a stored
 * response answers a conditional request with 304 (RFC 9110 13.1), and a byte range of a stored
 * response (RFC 9110 14). docs/cache.md lists the behaviours and their conformance tests.
 */

export type Directives = Map<string, string | true>;

/**
 * `max-age=60, no-cache="Set-Cookie, Link", public` → directives, names lower-cased, quoted
 * values unquoted (commas inside quotes kept). A directive given twice keeps its first value
 * (RFC 9111 4.2.1 allows the first occurrence).
 */
export function parseCacheControl(value: string | string[] | undefined): Directives {
  const out: Directives = new Map();
  if (!value) return out;
  const text = Array.isArray(value) ? value.join(',') : value;
  let i = 0;
  while (i < text.length) {
    let j = i;
    while (j < text.length && text[j] !== ',' && text[j] !== '=') j++;
    const name = text.slice(i, j).trim().toLowerCase();
    let arg: string | true = true;
    if (text[j] === '=') {
      j++;
      while (text[j] === ' ' || text[j] === '\t') j++;
      if (text[j] === '"') {
        let v = '';
        j++;
        while (j < text.length && text[j] !== '"') {
          if (text[j] === '\\' && j + 1 < text.length) j++;
          v += text[j++];
        }
        arg = v;
        while (j < text.length && text[j] !== ',') j++;
      } else {
        const k = j;
        while (j < text.length && text[j] !== ',') j++;
        arg = text.slice(k, j).trim();
      }
    }
    if (name && !out.has(name)) out.set(name, arg);
    i = j + 1;
  }
  return out;
}

/** RFC 9213 dictionary keys: lower case only. */
const SF_KEY = /^[a-z*][a-z0-9_\-.*]*$/;
const SF_MEMBER = /^\s*([^=\s]+)(?:=("(?:[^"\\]|\\.)*"|[^",\s]+))?\s*$/;

/** A targeted cache-control field (RFC 9213) as directives, or null when it is not a valid dictionary (then it is ignored). */
export function parseTargeted(value: string): Directives | null {
  const out: Directives = new Map();
  for (const member of value.split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/)) {
    if (!member.trim()) return null;
    const m = SF_MEMBER.exec(member);
    if (!m || !SF_KEY.test(m[1]!)) return null;
    if (m[2] !== undefined && m[2].startsWith('"')) out.set(m[1]!, m[2].slice(1, -1).replace(/\\(.)/g, '$1'));
    else out.set(m[1]!, m[2] ?? true);
  }
  return out;
}

/** The name of the field targeted at this gateway alone (RFC 9213 3). */
export const OWN_TARGETED = 'causeway-cache-control';

/**
 * The directives that govern this cache (RFC 9213 2.2): the most specific valid targeted field
 * (Causeway-Cache-Control, then CDN-Cache-Control), else Cache-Control. `targeted` is true
 * when a targeted field won, which also makes the cache ignore Expires.
 */
export function governingDirectives(headers: Map<string, string>): { cc: Directives; targeted: boolean } {
  for (const name of [OWN_TARGETED, 'cdn-cache-control']) {
    const v = headers.get(name);
    if (v === undefined) continue;
    const d = parseTargeted(v);
    if (d) return { cc: d, targeted: true };
  }
  return { cc: parseCacheControl(headers.get('cache-control')), targeted: false };
}

/** The greatest delta-seconds a cache must represent (RFC 9111 1.2.2). */
const MAX_DELTA = 2147483648;

/**
 * A delta-seconds directive in seconds: undefined when absent, 0 when present but invalid
 * (RFC 9111 4.2.1: such a response is stale), capped at 2^31.
 */
export function deltaSeconds(d: Directives, name: string): number | undefined {
  const v = d.get(name);
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^\d+$/.test(v)) return 0;
  return Math.min(Number(v), MAX_DELTA);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH = MONTHS.join('|');
const IMF = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) (${MONTH}) (\\d{4}) (\\d{2}):(\\d{2}):(\\d{2}) GMT$`);
const RFC850 = new RegExp(`^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-(${MONTH})-(\\d{2}) (\\d{2}):(\\d{2}):(\\d{2}) GMT$`);
const ASCTIME = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (${MONTH}) ([ \\d]\\d) (\\d{2}):(\\d{2}):(\\d{2}) (\\d{4})$`);

function utc(year: number, month: string, day: number, h: number, m: number, s: number): number | undefined {
  const mo = MONTHS.indexOf(month);
  if (h > 23 || m > 59 || s > 60 || day < 1) return undefined;
  const t = Date.UTC(year, mo, day, h, m, Math.min(s, 59));
  // Day 31 of a 30-day month would roll over: not a date.
  return new Date(t).getUTCDate() === day ? t : undefined;
}

/**
 * An HTTP-date in epoch ms (RFC 9110 5.6.7): IMF-fixdate, and the obsolete RFC 850 and asctime
 * formats; anything else is undefined. A two-digit RFC 850 year more than 50 years ahead of
 * `now` is the most recent past year with those digits.
 */
export function parseHttpDate(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  let m = IMF.exec(v);
  if (m) return utc(Number(m[3]), m[2]!, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  m = RFC850.exec(v);
  if (m) {
    const thisYear = new Date(now).getUTCFullYear();
    let year = thisYear - (thisYear % 100) + Number(m[3]);
    if (year > thisYear + 50) year -= 100;
    return utc(year, m[2]!, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  }
  m = ASCTIME.exec(v);
  if (m) return utc(Number(m[6]), m[1]!, Number(m[2]!.trim()), Number(m[3]), Number(m[4]), Number(m[5]));
  return undefined;
}

/** Statuses a cache may store without explicit freshness (RFC 9110 15.1 "heuristically cacheable"). */
const HEURISTIC = new Set([200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501]);

export interface ResponseFacts {
  status: number;
  /** Lower-cased names, repeated lines combined. */
  headers: Map<string, string>;
}

/** The field names of a Vary value; `*` among them means no request can be matched. */
export function varyNames(value: string | undefined): string[] {
  if (!value) return [];
  return value
    .split(',')
    .map((v) => v.trim().toLowerCase())
    .filter(Boolean);
}

/**
 * Why a shared cache must not store a response (to a GET), or null when it may (RFC 9111 3).
 * `cc` are the governing directives (governingDirectives). Set-Cookie responses are not stored
 * either: a shared cache must not hand one client's cookie to another.
 */
export function unstorable(res: ResponseFacts, cc: Directives, requestCc: Directives, requestHasAuthorization: boolean): string | null {
  if (res.status < 200 || res.status === 206 || res.status === 304) return `status ${res.status}`;
  if (cc.has('no-store') || requestCc.has('no-store')) return 'no-store';
  if (cc.get('private') === true) return 'private';
  if (varyNames(res.headers.get('vary')).includes('*')) return 'Vary: *';
  if (res.headers.has('set-cookie')) return 'Set-Cookie';
  if (requestHasAuthorization && !cc.has('public') && !cc.has('s-maxage') && !cc.has('must-revalidate')) return 'Authorization';
  const explicit = cc.has('s-maxage') || cc.has('max-age') || res.headers.has('expires') || cc.has('public');
  if (!HEURISTIC.has(res.status) && !explicit) return `status ${res.status}`;
  return null;
}

/** Field names a stored response must not carry (qualified no-cache and private, RFC 9111 5.2.2.4, 5.2.2.7). */
export function strippedFields(cc: Directives): Set<string> {
  const out = new Set<string>();
  for (const d of ['no-cache', 'private']) {
    const v = cc.get(d);
    if (typeof v === 'string') for (const n of v.split(',')) if (n.trim()) out.add(n.trim().toLowerCase());
  }
  return out;
}

/** How a route treats responses that carry no explicit freshness. */
export interface HeuristicPolicy {
  /** `ttl`: fresh for `ttl`; `last-modified`: 10 % of the time since Last-Modified, at most `ttl`; `none`: stale at once. */
  heuristic: 'ttl' | 'last-modified' | 'none';
  ttl: number;
}

/**
 * Freshness lifetime in ms (RFC 9111 4.2.1): s-maxage, then max-age, then Expires − Date (an
 * invalid Expires is already expired; a targeted field makes Expires irrelevant), else the
 * route's heuristic (4.2.2), only for heuristically cacheable statuses or `public`.
 */
export function freshnessLifetime(cc: Directives, headers: Map<string, string>, status: number, policy: HeuristicPolicy, targeted = false, now: number = Date.now()): number {
  const s = deltaSeconds(cc, 's-maxage') ?? deltaSeconds(cc, 'max-age');
  if (s !== undefined) return s * 1000;
  const expires = headers.get('expires');
  if (expires !== undefined && !targeted) {
    const e = parseHttpDate(expires, now);
    if (e === undefined) return 0;
    const date = parseHttpDate(headers.get('date'), now) ?? now;
    return Math.max(0, e - date);
  }
  if (!HEURISTIC.has(status) && !cc.has('public')) return 0;
  switch (policy.heuristic) {
    case 'none':
      return 0;
    case 'ttl':
      return policy.ttl;
    case 'last-modified': {
      const lm = parseHttpDate(headers.get('last-modified'), now);
      const date = parseHttpDate(headers.get('date'), now) ?? now;
      return lm === undefined || lm > date ? 0 : Math.min(policy.ttl, Math.floor((date - lm) / 10));
    }
  }
}

/**
 * The corrected initial age in seconds (RFC 9111 4.2.3) from the Age and Date of a response
 * received at `responseTime` for a request sent at `requestTime`. Age given as a list (or in
 * several lines) counts by its first member; an invalid Age is ignored (5.1).
 */
export function initialAge(headers: Map<string, string>, requestTime: number, responseTime: number): number {
  const first = headers.get('age')?.split(',')[0]?.trim();
  const ageValue = first !== undefined && /^\d+$/.test(first) ? Math.min(Number(first), MAX_DELTA) : 0;
  const date = parseHttpDate(headers.get('date'), responseTime);
  const apparent = date === undefined ? 0 : Math.max(0, Math.floor((responseTime - date) / 1000));
  const delay = Math.max(0, Math.floor((responseTime - requestTime) / 1000));
  return Math.max(apparent, ageValue + delay);
}

/** Weak comparison of entity tags (If-None-Match uses it, RFC 9110 13.1.2). */
function etagMatches(ifNoneMatch: string, etag: string | undefined): boolean {
  if (!etag) return false;
  if (ifNoneMatch.trim() === '*') return true;
  const bare = etag.replace(/^W\//, '');
  return ifNoneMatch.split(',').some((t) => t.trim().replace(/^W\//, '') === bare);
}

/** Does a stored response satisfy the client's conditional GET (so 304 Not Modified is the answer)? */
export function notModified(req: { 'if-none-match'?: string | undefined; 'if-modified-since'?: string | undefined }, etag: string | undefined, lastModified: string | undefined): boolean {
  if (req['if-none-match'] !== undefined) return etagMatches(req['if-none-match'], etag);
  const since = parseHttpDate(req['if-modified-since']);
  const modified = parseHttpDate(lastModified);
  return since !== undefined && modified !== undefined && modified <= since;
}

/** What the stored response's directives and the request's allow once it is stale (RFC 9111 4.2.4, RFC 5861). */
export interface StaleAllowance {
  /** Serving it stale is forbidden outright (no-cache, must-revalidate, proxy-revalidate, s-maxage). */
  mustRevalidate: boolean;
  /** stale-while-revalidate, ms. */
  whileRevalidate: number;
  /** stale-if-error, ms. */
  ifError: number;
}

export function staleAllowance(cc: Directives): StaleAllowance {
  const mustRevalidate = cc.has('must-revalidate') || cc.has('proxy-revalidate') || cc.has('s-maxage') || cc.has('no-cache');
  return {
    mustRevalidate,
    whileRevalidate: mustRevalidate ? 0 : (deltaSeconds(cc, 'stale-while-revalidate') ?? 0) * 1000,
    ifError: mustRevalidate ? 0 : (deltaSeconds(cc, 'stale-if-error') ?? 0) * 1000,
  };
}

/**
 * One byte range of a stored body of `length` bytes for a `Range` request (RFC 9110 14.1.2):
 * [start, end] inclusive, or null to answer with the whole response (no range, several
 * ranges, an unsatisfiable or malformed one, or an If-Range that does not match strongly).
 */
export function byteRange(range: string | undefined, ifRange: string | undefined, length: number, etag: string | undefined, lastModified: string | undefined): [number, number] | null {
  if (range === undefined || length === 0) return null;
  if (ifRange !== undefined) {
    const v = ifRange.trim();
    if (v.startsWith('"') || v.startsWith('W/')) {
      if (v.startsWith('W/') || !etag || etag.startsWith('W/') || v !== etag) return null;
    } else if (lastModified === undefined || parseHttpDate(v) === undefined || parseHttpDate(v) !== parseHttpDate(lastModified)) return null;
  }
  const m = /^bytes=\s*(\d*)-(\d*)\s*$/i.exec(range);
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return null;
    return [Math.max(0, length - suffix), length - 1];
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? length - 1 : Math.min(Number(m[2]), length - 1);
  if (start >= length || end < start) return null;
  return [start, end];
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

/** A request header value normalised for Vary matching (RFC 9111 4.1): lines combined, whitespace around commas dropped; null when absent. */
export function varyValue(v: string | string[] | undefined): string | null {
  if (v === undefined) return null;
  return (Array.isArray(v) ? v.join(',') : v)
    .split(',')
    .map((s) => s.trim())
    .join(',');
}
