/**
 * `headers: { request, response }` — set, add and remove headers on the way to the backend and
 * back. Values may use a fixed set of variables: ${request_id}, ${consumer}, ${client_ip},
 * ${route}. Names the gateway owns (hop-by-hop, framing, X-Forwarded-*, Via, X-Request-Id,
 * X-Causeway-*, Proxy-Status) are refused by the config schema, so a rewrite can never forge or
 * drop them. Order: remove, then set, then add. A `set` whose value comes out empty (no consumer
 * on an open route) removes the header, so a client cannot supply it instead. Response rewrites
 * are a tap outside the cache: they apply to cache hits and fallbacks too, not to the gateway's
 * own failures, and the cache stores the backend's headers as they came.
 */
import type { HeaderEdits, HeaderRewrites } from '../../config/schema.js';
import type { Exchange, ResponseTap } from '../../proxy/exchange.js';
import { policy } from '../policy.js';

/** The values of the variables for one call. */
export interface HeaderVars {
  request_id: string;
  consumer: string | null;
  client_ip: string;
  route: string;
}

type Part = string | { v: keyof HeaderVars };
interface Compiled {
  remove: Set<string>;
  set: Array<[string, Part[]]>;
  add: Array<[string, Part[]]>;
}

const VAR_RE = /\$\{([a-z_]+)\}/g;

function compileValue(text: string): Part[] {
  const parts: Part[] = [];
  let last = 0;
  for (const m of text.matchAll(VAR_RE)) {
    if (m.index > last) parts.push(text.slice(last, m.index));
    parts.push({ v: m[1] as keyof HeaderVars });
    last = m.index + m[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

/** Header values allow visible ASCII, space, tab and obs-text; a claim carrying CR/LF must not split a header. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what is removed
const UNSAFE = /[\u0000-\u0008\u000a-\u001f\u007f]|[^\u0000-\u00ff]/g;

function expand(parts: Part[], vars: HeaderVars): string {
  let out = '';
  for (const p of parts) out += typeof p === 'string' ? p : (vars[p.v] ?? '').replace(UNSAFE, '');
  return out.trim();
}

function compile(e: HeaderEdits): Compiled {
  const names = (r: Record<string, string>) => Object.entries(r).map(([k, v]): [string, Part[]] => [k.toLowerCase(), compileValue(v)]);
  const set = names(e.set);
  return { remove: new Set([...e.remove.map((n) => n.toLowerCase()), ...set.map(([n]) => n)]), set, add: names(e.add) };
}

/** Applies compiled edits to a flat [name, value, ...] list, in place. */
function apply(c: Compiled, list: string[], vars: HeaderVars): void {
  for (let i = list.length - 2; i >= 0; i -= 2) if (c.remove.has(list[i]!.toLowerCase())) list.splice(i, 2);
  for (const [name, parts] of c.set) {
    const v = expand(parts, vars);
    if (v) list.push(name, v);
  }
  for (const [name, parts] of c.add) {
    const v = expand(parts, vars);
    if (v) list.push(name, v);
  }
}

export interface HeaderRewriter {
  readonly request: boolean;
  readonly response: boolean;
  /** Rewrites a request's raw header list (what goes upstream). */
  rewriteRequest(rawHeaders: string[], vars: HeaderVars): void;
  /** Rewrites a response header list (what goes to the client). */
  rewriteResponse(headers: string[], vars: HeaderVars): void;
}

export function headerRewrites(cfg: HeaderRewrites): HeaderRewriter {
  const req = cfg.request ? compile(cfg.request) : null;
  const res = cfg.response ? compile(cfg.response) : null;
  return {
    request: req !== null,
    response: res !== null,
    rewriteRequest(raw, vars) {
      if (req) apply(req, raw, vars);
    },
    rewriteResponse(headers, vars) {
      if (res) apply(res, headers, vars);
    },
  };
}

const varsOf = (x: Exchange): HeaderVars => ({ request_id: x.requestId, consumer: x.consumer, client_ip: x.clientIp, route: x.route!.name });

export const headersPolicy = policy('headers', (cfg) => {
  const h = headerRewrites(cfg);
  const tap: ResponseTap | null = h.response
    ? {
        onHeaders: (x, head) => {
          if (head.source !== 'gateway') h.rewriteResponse(head.headers, varsOf(x));
        },
      }
    : null;
  return (x, next) => {
    if (h.request) h.rewriteRequest(x.req.rawHeaders, varsOf(x));
    if (tap) x.tap(tap);
    next(x);
  };
});
