/**
 * `cors:` — cross-origin calls from browsers (the Fetch standard's CORS protocol). Preflights
 * (OPTIONS with Origin and Access-Control-Request-Method) are answered here and never reach the
 * backend; a refused preflight is FORBIDDEN saying what was not allowed. Other calls go to the
 * backend, and their responses get the Access-Control-* headers when the Origin is allowed.
 * An Origin is echoed only when it is on the list (exactly, or by a `https://*.example.com`
 * pattern); `*` is sent only without credentials; Vary: Origin is added whenever the answer
 * depends on the Origin, so shared caches keep the variants apart.
 */
import type { CorsConfig } from '../../config/schema.js';
import type { Exchange, ResponseTap } from '../../proxy/exchange.js';
import { policy } from '../policy.js';

export type Preflight = { headers: string[] } | { refused: string; headers: string[] };

export interface Cors {
  /** Whether this request is a preflight the gateway answers. */
  isPreflight(method: string, headers: Record<string, string | string[] | undefined>): boolean;
  /** The answer to a preflight: its headers, or why it is refused. */
  preflight(headers: Record<string, string | string[] | undefined>): Preflight;
  /** Headers to add to the response of an actual request from `origin` (appended to `out`). */
  actual(origin: string | undefined, out: string[]): void;
}

const DEFAULT_METHODS = ['GET', 'HEAD', 'POST'];

/** An origin matcher: exact origins and `scheme://*.domain[:port]` patterns (any subdomain depth, never the apex). */
export function originMatcher(origins: readonly string[]): (origin: string) => boolean {
  const exact = new Set<string>();
  const patterns: Array<{ prefix: string; suffix: string }> = [];
  for (const o of origins) {
    const lower = o.toLowerCase();
    const star = lower.indexOf('://*.');
    if (star === -1) exact.add(lower);
    else patterns.push({ prefix: lower.slice(0, star + 3), suffix: lower.slice(star + 4) });
  }
  return (origin) => {
    const o = origin.toLowerCase();
    if (exact.has(o)) return true;
    for (const p of patterns) {
      if (!o.startsWith(p.prefix) || !o.endsWith(p.suffix)) continue;
      const label = o.slice(p.prefix.length, o.length - p.suffix.length);
      // A host label run: letters, digits, hyphens and dots — no port, path or userinfo sneaking in.
      if (label.length > 0 && /^[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(label)) return true;
    }
    return false;
  };
}

/** `routeMethods`: the route's match.methods, the default for what a preflight allows. */
export function cors(cfg: CorsConfig, routeMethods?: readonly string[]): Cors {
  const any = cfg.origins.includes('*');
  const allowed = originMatcher(cfg.origins.filter((o) => o !== '*'));
  const methods = cfg.methods ?? routeMethods ?? DEFAULT_METHODS;
  const methodSet = new Set(methods);
  const anyHeader = cfg.headers.includes('*') && !cfg.credentials;
  const headerSet = new Set(cfg.headers.map((h) => h.toLowerCase()));
  const allowMethods = methods.join(', ');
  const expose = cfg.exposeHeaders.join(', ');
  const maxAge = cfg.maxAge === undefined ? undefined : String(Math.floor(cfg.maxAge / 1000));
  // With `*` (no credentials) the answer is the same for every Origin: nothing to vary on.
  const vary = any ? null : 'Origin';

  /** Allow-Origin for `origin`, or null when it is not allowed. */
  const allowOrigin = (origin: string | undefined): string | null => {
    if (origin === undefined) return null;
    if (any) return '*';
    return allowed(origin) ? origin : null;
  };

  return {
    isPreflight(method, headers) {
      return method === 'OPTIONS' && typeof headers['origin'] === 'string' && typeof headers['access-control-request-method'] === 'string';
    },
    preflight(h) {
      const origin = h['origin'] as string;
      const headers: string[] = ['vary', 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers'];
      const ao = allowOrigin(origin);
      if (ao === null) return { refused: `origin ${origin} is not allowed by the route's cors.origins`, headers };
      const method = h['access-control-request-method'] as string;
      if (!methodSet.has(method)) return { refused: `method ${method} is not allowed by the route's cors.methods (${allowMethods})`, headers };
      const asked = typeof h['access-control-request-headers'] === 'string' ? h['access-control-request-headers'] : '';
      const names = asked ? asked.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean) : [];
      if (!anyHeader) {
        const denied = names.filter((n) => !headerSet.has(n));
        if (denied.length) return { refused: `request header${denied.length > 1 ? 's' : ''} ${denied.join(', ')} ${denied.length > 1 ? 'are' : 'is'} not allowed by the route's cors.headers`, headers };
      }
      headers.push('access-control-allow-origin', ao, 'access-control-allow-methods', allowMethods);
      if (names.length) headers.push('access-control-allow-headers', names.join(', '));
      if (cfg.credentials) headers.push('access-control-allow-credentials', 'true');
      if (maxAge !== undefined) headers.push('access-control-max-age', maxAge);
      return { headers };
    },
    actual(origin, out) {
      removeHeaders(out, ACAO_NAMES);
      if (vary) appendVary(out, vary);
      const ao = allowOrigin(origin);
      if (ao === null) return;
      out.push('access-control-allow-origin', ao);
      if (cfg.credentials) out.push('access-control-allow-credentials', 'true');
      if (expose) out.push('access-control-expose-headers', expose);
    },
  };
}

/** The route's policy owns CORS: the backend's own answer (which might echo any Origin) is dropped. */
const ACAO_NAMES = new Set(['access-control-allow-origin', 'access-control-allow-credentials', 'access-control-expose-headers']);

function removeHeaders(list: string[], names: ReadonlySet<string>): void {
  for (let i = list.length - 2; i >= 0; i -= 2) if (names.has(list[i]!.toLowerCase())) list.splice(i, 2);
}

/** Adds `token` to the list's Vary (one Vary line, the existing tokens kept). */
export function appendVary(list: string[], token: string): void {
  for (let i = 0; i < list.length; i += 2) {
    if (list[i]!.toLowerCase() !== 'vary') continue;
    const v = list[i + 1]!;
    if (v.trim() === '*' || v.split(',').some((t) => t.trim().toLowerCase() === token.toLowerCase())) return;
    list[i + 1] = v ? `${v}, ${token}` : token;
    return;
  }
  list.push('vary', token);
}

export const corsPolicy = policy('cors', (cfg, ctx) => {
  const methods = ctx.route.match.methods;
  const c = cors(cfg, methods);
  // One tap for every call of the route: it reads the Origin from the exchange it is shown.
  const tap: ResponseTap = { onHeaders: (x, head) => c.actual(x.req.headers.origin, head.headers) };
  return (x, next) => {
    if (c.isPreflight(x.method, x.req.headers)) return preflight(x, c);
    // The router lets OPTIONS through for preflights; any other OPTIONS is what the route does not proxy.
    if (x.method === 'OPTIONS' && methods && !methods.includes('OPTIONS')) {
      return x.refuse('ROUTE_NOT_FOUND', { method: x.method, path: x.rawPath, detail: `route ${x.route!.name} matches the path but allows only ${methods.join(', ')}` });
    }
    x.tap(tap);
    next(x);
  };
});

const EMPTY = Buffer.alloc(0);

/** Answers a preflight at the gateway: 204 with what is allowed, or FORBIDDEN saying what is not. */
function preflight(x: Exchange, c: Cors): void {
  const answer = c.preflight(x.req.headers);
  if ('refused' in answer) {
    const vary: Record<string, string> = {};
    for (let i = 0; i < answer.headers.length; i += 2) vary[answer.headers[i]!] = answer.headers[i + 1]!;
    x.fail('FORBIDDEN', { phase: 'request', context: { route: x.route!.name, upstream: x.route!.upstream.name, detail: answer.refused }, headers: vary });
    return;
  }
  answer.headers.push('content-length', '0', 'x-request-id', x.requestId);
  x.send(204, answer.headers, EMPTY, 'gateway');
  x.finish(204, null);
}
