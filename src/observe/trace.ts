/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) for one call: the trace id comes from
 * the client's `traceparent` when it is valid, else a new one; the call gets its own span id,
 * and each attempt a span id of its own, derived from the call's, sent upstream as the parent.
 *
 *   const ctx = traceOf(req);          // created once per request, then cached
 *   traceparentFor(ctx, attemptIndex)  // "00-<trace>-<attempt span>-<flags>"
 */
import type { IncomingMessage } from 'node:http';
import { randomHex } from '../util/random.js';

export interface TraceContext {
  traceId: string;
  /** The gateway's span for the whole call. */
  spanId: string;
  /** The client's span, when it sent a valid traceparent. */
  parentSpanId: string | null;
  flags: string;
  /** Attempts that have been given a span so far. */
  attempts: number;
}

const TRACEPARENT_RE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** The parts of a valid traceparent header, or null (version ff, zero ids, bad shape). */
export function parseTraceparent(value: string | string[] | undefined): { traceId: string; spanId: string; flags: string } | null {
  if (typeof value !== 'string') return null;
  const m = TRACEPARENT_RE.exec(value.trim());
  if (!m) return null;
  const [, version, traceId, spanId, flags, rest] = m;
  // Version 00 has exactly four fields; later versions may append some.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return null;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return null;
  return { traceId: traceId!, spanId: spanId!, flags: flags! };
}

/**
 * Where a request keeps its trace context: a symbol-keyed property, not a WeakMap (every entry of
 * a WeakMap is an ephemeron the garbage collector must process: measurable at 10k calls/s).
 */
const CONTEXT = Symbol('causeway.trace');
type Traced = IncomingMessage & { [CONTEXT]?: TraceContext };

/** The trace context of a request, made on first use. */
export function traceOf(req: Traced): TraceContext {
  let ctx = req[CONTEXT];
  if (ctx) return ctx;
  const incoming = parseTraceparent(req.headers.traceparent);
  ctx = {
    traceId: incoming?.traceId ?? randomHex(16),
    spanId: randomHex(8),
    parentSpanId: incoming?.spanId ?? null,
    flags: incoming?.flags ?? '01',
    attempts: 0,
  };
  req[CONTEXT] = ctx;
  return ctx;
}

/** Span id of attempt n (0-based): the call's span id with its low 16 bits xor'ed by n + 1. */
export function attemptSpanId(callSpanId: string, n: number): string {
  const low = (parseInt(callSpanId.slice(12), 16) ^ (n + 1)) & 0xffff;
  return callSpanId.slice(0, 12) + low.toString(16).padStart(4, '0');
}

/** The traceparent for the next attempt of a call. */
export function nextTraceparent(ctx: TraceContext): string {
  return `00-${ctx.traceId}-${attemptSpanId(ctx.spanId, ctx.attempts++)}-${ctx.flags}`;
}

/** The trace fields of a call record. */
export function traceFields(ctx: TraceContext): { traceId: string; spanId: string; parentSpanId: string | null } {
  return { traceId: ctx.traceId, spanId: ctx.spanId, parentSpanId: ctx.parentSpanId };
}
