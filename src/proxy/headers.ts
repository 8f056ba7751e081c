/**
 * Header rewriting between client and backend: hop-by-hop headers (RFC 9110 7.6.1) and those
 * named in Connection are dropped both ways; X-Forwarded-For/-Proto/-Host and Via are set;
 * the request id, the remaining time budget and the W3C traceparent travel upstream.
 */
import type { IncomingMessage } from 'node:http';
import { nextTraceparent, traceOf } from '../observe/trace.js';
import { formatGrpcTimeout } from '../grpc/status.js';
import { GATEWAY_SET, HOP_BY_HOP } from './reserved-headers.js';

export const VIA = '1.1 causeway';
/** Via names the protocol the request was received with (RFC 9110 7.6.3). */
const VIA_H2 = '2 causeway';

function connectionTokens(value: string | undefined): Set<string> | null {
  if (!value) return null;
  const set = new Set<string>();
  for (const t of value.split(',')) {
    const v = t.trim().toLowerCase();
    if (v && v !== 'close' && v !== 'keep-alive') set.add(v);
  }
  return set.size ? set : null;
}

export interface ForwardContext {
  requestId: string;
  clientIp: string;
  /** The peer is a trusted proxy: keep its X-Forwarded-* and append to them. */
  trustedPeer: boolean;
  hostHeader: string;
  /** Remaining budget in ms, sent as X-Request-Timeout. */
  budgetMs: number;
  /** How the client reached the gateway (X-Forwarded-Proto unless a trusted peer says otherwise). */
  proto?: 'http' | 'https';
  /** A gRPC call: the budget goes as grpc-timeout too, the deadline the backend's gRPC library enforces. */
  grpc?: boolean;
}

/** Builds the flat [name, value, ...] header list sent to the backend. */
export function upstreamHeaders(req: IncomingMessage, ctx: ForwardContext): string[] {
  const raw = req.rawHeaders;
  const drop = connectionTokens(req.headers.connection);
  const out: string[] = [];
  let via: string | undefined;
  let cookies: string | undefined;
  const h2 = req.httpVersionMajor === 2;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // HTTP/2 pseudo-headers (:method, :path, :authority, :scheme) are not HTTP/1.1 fields;
    // :authority reaches the backend as Host (req.headers.host, src/edge/http2.ts).
    if (name.charCodeAt(0) === 58 /* : */) continue;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || GATEWAY_SET.has(lower) || (drop !== null && drop.has(lower))) continue;
    if (h2 && lower === 'cookie') {
      // HTTP/2 may split Cookie in several fields; HTTP/1.1 wants one (RFC 9113 8.2.3).
      cookies = cookies === undefined ? raw[i + 1] : `${cookies}; ${raw[i + 1]}`;
      continue;
    }
    if (lower === 'via') {
      via = via ? `${via}, ${raw[i + 1]}` : raw[i + 1];
      continue;
    }
    out.push(name, raw[i + 1]!);
  }
  if (cookies !== undefined) out.push('cookie', cookies);
  // TE: trailers is the one TE value that may pass (RFC 9110 10.1.4).
  const te = req.headers.te as string | undefined;
  if (te && /(^|,)\s*trailers\s*(,|$)/i.test(te)) out.push('te', 'trailers');
  const h = req.headers;
  const priorXff = ctx.trustedPeer ? (h['x-forwarded-for'] as string | undefined) : undefined;
  out.push(
    'host', ctx.hostHeader,
    'x-request-id', ctx.requestId,
    'x-forwarded-for', priorXff ? `${priorXff}, ${ctx.clientIp}` : ctx.clientIp,
    'x-forwarded-proto', (ctx.trustedPeer && (h['x-forwarded-proto'] as string | undefined)) || ctx.proto || 'http',
    'x-forwarded-host', (ctx.trustedPeer && (h['x-forwarded-host'] as string | undefined)) || h.host || '',
    'via', via ? `${via}, ${h2 ? VIA_H2 : VIA}` : h2 ? VIA_H2 : VIA,
    'x-request-timeout', String(Math.max(1, Math.floor(ctx.budgetMs))),
    // Same trace id as the client's (or a new one), a new span id per attempt.
    'traceparent', nextTraceparent(traceOf(req)),
  );
  if (ctx.grpc) out.push('grpc-timeout', formatGrpcTimeout(ctx.budgetMs));
  return out;
}

/** Builds the flat header list sent to the client from undici's raw response headers. */
export function downstreamHeaders(raw: Buffer[], requestId: string): string[] {
  const out: string[] = [];
  let drop: Set<string> | null = null;
  let via: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1');
    const lower = name.toLowerCase();
    if (lower === 'connection') {
      drop = connectionTokens(raw[i + 1]!.toString('latin1'));
      continue;
    }
    if (HOP_BY_HOP.has(lower) || lower === 'x-request-id') continue;
    if (lower === 'via') {
      const v = raw[i + 1]!.toString('latin1');
      via = via ? `${via}, ${v}` : v;
      continue;
    }
    out.push(name, raw[i + 1]!.toString('latin1'));
  }
  if (drop) {
    for (let i = out.length - 2; i >= 0; i -= 2) if (drop.has(out[i]!.toLowerCase())) out.splice(i, 2);
  }
  out.push('via', via ? `${via}, ${VIA}` : VIA, 'x-request-id', requestId);
  return out;
}

const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{8,128}$/;

/** A client-supplied request id is kept when it is a sane token; otherwise a new one is made. */
export function acceptRequestId(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' && REQUEST_ID_RE.test(value) ? value : undefined;
}

/** Parses X-Request-Timeout (ms); undefined when absent or invalid. */
export function clientBudget(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}
