/**
 * The explanation of one call from the call log: its timeline (each attempt with its target,
 * phase timings, outcome and why a retry followed), the classification with the cause in plain
 * words and the remedy from the failure registry, and the context — how many other calls to the
 * same upstream failed the same way in the 5 minutes around it, and on which targets.
 *
 *   const e = await explainCall(store, requestId);   // JSON-able, or undefined when not logged
 *   console.log(formatExplanation(e));          // what `causeway explain` prints
 *
 * The admin API serves the same object at GET /api/calls/{requestId}.
 */
import { classify, type Phase } from '../failures/classify.js';
import { lowLevelMeaning } from '../failures/low-level.js';
import { failure, REGISTRY, type FailureCode } from '../failures/registry.js';
import type { AttemptRecord, CallRecord } from '../observe/call-record.js';
import type { CallStore } from '../observe/store-api.js';
import { GRPC_BACKEND_FAILURES, GRPC_CODES, grpcCodeName, grpcMethodOf } from '../grpc/status.js';

/** The context window: 5 minutes centred on the call. */
const AROUND_MS = 150_000;
const PHASES = ['dns', 'connect', 'tls', 'send', 'ttfb', 'body'] as const;

export interface ExplainedAttempt {
  n: number;
  target: string;
  outcome: number | string;
  ok: boolean;
  /** Phase the attempt failed in, null when it completed. */
  phase: string | null;
  error: string | null;
  reusedConnection: boolean;
  durationMs: number;
  phases: Array<{ name: (typeof PHASES)[number]; ms: number }>;
  /** Why the next attempt happened. */
  retry: string | null;
  /** gRPC calls: the backend's status on this attempt and the messages each way. */
  grpc: { status: string | null; message: string | null; sent: number; received: number } | null;
  /** The attempt in plain words. */
  summary: string;
}

export interface Explanation {
  requestId: string;
  time: string;
  traceId: string | null;
  method: string;
  path: string;
  route: string | null;
  upstream: string | null;
  status: number;
  code: string | null;
  durationMs: number;
  /**
   * `ok`, `backend-error` (the backend answered 5xx, or a gRPC status that says it failed,
   * passed through) or `failure` (a Causeway code).
   */
  verdict: 'ok' | 'backend-error' | 'failure';
  /** gRPC calls: the method, the status the client received, and the messages each way. */
  grpc: { service: string | null; method: string | null; status: string | null; message: string | null; sent: number; received: number } | null;
  headline: string;
  timeline: ExplainedAttempt[];
  classification: {
    code: string;
    /** The code's own status; the client may have received another (see `delivered`). */
    status: number;
    title: string;
    side: string;
    proxyStatus: string | null;
    cause: string;
    /** What the low-level error (errno, undici, OpenSSL) said, in words. */
    lowLevel: string | null;
    remedy: string;
    /** The fix specific to that low-level error. */
    specifically: string | null;
  } | null;
  /** What the client received: the status, whether the response was cut after its headers, body bytes sent. */
  delivered: { status: number; cutAfterHeaders: boolean; bytesSent: number };
  context: { windowMs: number; sameFailure: number; targets: Array<{ target: string; calls: number }>; sentence: string } | null;
  call: CallRecord;
}

const round = (ms: number) => Math.round(ms * 100) / 100;

function attemptSummary(a: AttemptRecord): string {
  const g = a.grpc;
  const grpc = g ? `, grpc-status ${g.status === null ? 'none' : grpcCodeName(g.status)}${g.message && g.status !== 0 ? ` "${g.message}"` : ''}; ${g.sent} message(s) sent, ${g.received} received` : '';
  if (typeof a.outcome === 'number') return `${a.target} answered ${a.outcome}${grpc} in ${round(a.durationMs)} ms${a.reused ? ' (reused connection)' : ''}`;
  const def = REGISTRY.get(a.outcome as FailureCode);
  return `${a.target}: ${def ? def.title.toLowerCase() : a.outcome} — ${a.outcome} in ${a.phase ?? 'unknown phase'}${a.error ? ` (${a.error})` : ''} after ${round(a.durationMs)} ms`;
}

/** The attempt whose failure the call's code reports: the last one that failed. */
const lastFailure = (c: CallRecord) => [...c.attempts].reverse().find((a) => typeof a.outcome === 'string');

/** The response was cut after its headers went out: the failed attempt was streaming the body. */
function cutAfterHeaders(c: CallRecord): boolean {
  const last = c.attempts[c.attempts.length - 1];
  return c.code !== null && last !== undefined && typeof last.outcome === 'string' && last.phase === 'body';
}

/** Side at fault: the low-level error's own where it is finer than the code's. */
function sideOf(code: FailureCode, a: AttemptRecord | undefined): string {
  if (a?.error && a.phase) {
    const k = classify({ phase: a.phase as Phase, errorCode: a.error, tls: false });
    if (k.code === code) return k.side;
  }
  return failure(code).side;
}
/** Builds the explanation of a logged call; undefined when the call log does not hold it. */
export async function explainCall(store: CallStore, requestId: string): Promise<Explanation | undefined> {
  const c = await store.get(requestId);
  if (!c) return undefined;
  const timeline: ExplainedAttempt[] = c.attempts.map((a, i) => ({
    n: i + 1,
    target: a.target,
    outcome: a.outcome,
    ok: typeof a.outcome === 'number' && a.outcome < 500,
    phase: a.phase,
    error: a.error ?? null,
    reusedConnection: a.reused,
    durationMs: a.durationMs,
    phases: PHASES.map((name) => ({ name, ms: a.timings[name] })).filter((p) => p.ms > 0),
    retry: a.retry ?? null,
    grpc: a.grpc ? { status: a.grpc.status === null ? null : grpcCodeName(a.grpc.status), message: a.grpc.message ?? null, sent: a.grpc.sent, received: a.grpc.received } : null,
    summary: attemptSummary(a),
  }));
  const def = c.code ? REGISTRY.get(c.code) : undefined;
  const lastFailed = lastFailure(c);
  const lowLevel = lastFailed?.error && lastFailed.phase ? lowLevelMeaning(lastFailed.error, lastFailed.phase as Phase) : undefined;
  const cut = cutAfterHeaders(c);
  const classification = def
    ? {
        code: def.code,
        status: def.status,
        title: def.title,
        side: sideOf(def.code, lastFailed),
        proxyStatus: def.proxyStatus ?? null,
        cause:
          failure(def.code).message({ upstream: c.upstream ?? undefined, route: c.route ?? undefined, method: c.method, path: c.path, attempts: c.attempts.length, limit: lastFailed?.limitMs, detail: lastFailed?.error }) +
          (lastFailed ? ` — last on ${lastFailed.target} in the ${lastFailed.phase ?? 'unknown'} phase.` : '.'),
        lowLevel: lowLevel?.says ?? null,
        remedy: def.remedy,
        specifically: lowLevel?.remedy ?? null,
      }
    : null;
  const grpc = grpcOf(c);
  const backendGrpcFailure = grpc !== null && c.code === null && grpc.statusCode !== null && grpc.statusCode !== 0;
  const verdict = c.code ? 'failure' : c.status >= 500 || backendGrpcFailure ? 'backend-error' : 'ok';
  return {
    requestId: c.requestId,
    time: new Date(c.time).toISOString(),
    traceId: c.traceId ?? null,
    method: c.method,
    path: c.path,
    route: c.route,
    upstream: c.upstream,
    status: c.status,
    code: c.code,
    durationMs: c.durationMs,
    verdict,
    grpc: grpc && { service: grpc.service, method: grpc.method, status: grpc.status, message: grpc.message, sent: grpc.sent, received: grpc.received },
    headline: grpc
      ? verdict === 'ok'
        ? `gRPC ${grpc.service}/${grpc.method} → ${grpc.status ?? 'no grpc-status'} from the backend after ${c.attempts.length} attempt(s) in ${round(c.durationMs)} ms (${grpc.sent} message(s) sent, ${grpc.received} received)`
        : verdict === 'backend-error'
          ? `gRPC ${grpc.service}/${grpc.method} → ${grpc.status}${grpc.message ? ` "${grpc.message}"` : ''}: the backend's own status, passed through unchanged${grpc.statusCode !== null && GRPC_BACKEND_FAILURES.has(grpc.statusCode) ? ' (counted as a backend failure for health and the breaker)' : ''}`
          : `gRPC ${grpc.service}/${grpc.method} → ${grpc.status} (HTTP ${c.status}) ${c.code}: ${def?.title ?? ''}`
      : verdict === 'ok'
        ? `${c.method} ${c.path} → ${c.status} from the backend after ${c.attempts.length} attempt(s) in ${round(c.durationMs)} ms`
        : verdict === 'backend-error'
          ? `${c.method} ${c.path} → ${c.status}: the backend's own error response, passed through unchanged`
          : cut
            ? `${c.method} ${c.path} → ${c.status} sent, then cut after ${c.bytesOut} body bytes: ${c.code} (${def?.title ?? ''})`
            : `${c.method} ${c.path} → ${c.status} ${c.code}: ${def?.title ?? ''}`,
    timeline,
    classification,
    delivered: { status: c.status, cutAfterHeaders: cut, bytesSent: c.bytesOut },
    context: await context(store, c),
    call: c,
  };
}

/**
 * The gRPC side of a logged call, rebuilt from what the call log keeps: the method from the
 * path, the status from the code (a gateway failure) or from the last attempt (the backend's).
 * A call is gRPC when its attempts carry gRPC facts, or when a gateway failure answered 200.
 */
function grpcOf(c: CallRecord) {
  const last = c.attempts[c.attempts.length - 1];
  // A 200 with a code and a failed body phase is an HTTP response cut after its headers, not a trailers-only answer.
  if (!c.grpc && !last?.grpc && !(c.code !== null && c.status === 200 && !cutAfterHeaders(c))) return null;
  const m = grpcMethodOf(c.path);
  const statusCode = c.code !== null ? GRPC_CODES[failure(c.code).grpc] : (c.grpc?.status ?? last?.grpc?.status ?? null);
  return {
    service: m?.service ?? null,
    method: m?.method ?? null,
    statusCode,
    status: statusCode === null ? null : grpcCodeName(statusCode),
    message: c.code === null ? (last?.grpc?.message ?? null) : null,
    sent: c.grpc?.sent ?? last?.grpc?.sent ?? 0,
    received: c.grpc?.received ?? last?.grpc?.received ?? 0,
  };
}

/** Other calls to the same upstream with the same code in the 5 minutes around this one. */
async function context(store: CallStore, c: CallRecord): Promise<Explanation['context']> {
  const code = c.code ?? (c.status >= 500 ? undefined : null);
  if (code === null || !c.upstream) return null;
  const filter = { upstream: c.upstream, since: c.time - AROUND_MS, until: c.time + AROUND_MS + 1 };
  const others = (await store.query({ ...filter, ...(code ? { code } : { status: c.status }), limit: 1000 })).filter((o) => o.requestId !== c.requestId);
  const what = code ?? `status ${c.status}`;
  const byTarget = new Map<string, number>();
  for (const o of others) {
    const last = o.attempts[o.attempts.length - 1];
    if (last) byTarget.set(last.target, (byTarget.get(last.target) ?? 0) + 1);
  }
  const targets = [...byTarget].map(([target, calls]) => ({ target, calls })).sort((a, b) => b.calls - a.calls);
  const n = others.length;
  const capped = n >= 999 ? 'at least ' : '';
  let sentence: string;
  if (n === 0) sentence = `No other call to ${c.upstream} failed with ${what} in the 5 minutes around it: an isolated failure.`;
  else {
    const where =
      targets.length === 1 ? `all on target ${targets[0]!.target}` : `on ${targets.length} targets: ${targets.map((t) => `${t.target} (${t.calls})`).join(', ')}`;
    sentence = `${capped}${n} other call${n === 1 ? '' : 's'} to ${c.upstream} failed with ${what} in the 5 minutes around it; ${where}.`;
  }
  return { windowMs: 2 * AROUND_MS, sameFailure: n, targets, sentence };
}

const BAR_WIDTH = 30;

/** The explanation as `causeway explain` prints it. */
export function formatExplanation(e: Explanation): string {
  const lines: string[] = [];
  lines.push(`${e.requestId}  ${e.time}${e.traceId ? `  trace ${e.traceId}` : ''}`);
  lines.push(e.headline);
  lines.push(`route ${e.route ?? '-'} → upstream ${e.upstream ?? '-'}; ${e.timeline.length} attempt(s); ${round(e.durationMs)} ms in all${e.call.node ? `; served by node ${e.call.node}` : ''}`);
  lines.push('', 'Timeline');
  const longest = Math.max(1, ...e.timeline.flatMap((a) => a.phases.map((p) => p.ms)));
  if (!e.timeline.length) lines.push('  (no backend attempt)');
  for (const a of e.timeline) {
    lines.push(`  #${a.n} ${a.summary}`);
    for (const p of a.phases) {
      const bar = '█'.repeat(Math.max(1, Math.round((p.ms / longest) * BAR_WIDTH)));
      lines.push(`     ${p.name.padEnd(7)} ${bar} ${round(p.ms)} ms`);
    }
    if (a.retry === 'slow-connect') lines.push('     ↳ raced: the connect was still pending, so the call moved to another target (retries.hedgeConnect)');
    else if (a.retry) lines.push(`     ↳ retried: ${a.retry}`);
  }
  if (e.classification) {
    const k = e.classification;
    lines.push('', 'Classification', `  ${k.code} (${k.status}${k.proxyStatus ? `, Proxy-Status ${k.proxyStatus}` : ''}) — ${k.title}; at fault: ${k.side}`);
    lines.push(`  Cause: ${k.cause}`);
    if (k.lowLevel) lines.push(`  Said:  ${k.lowLevel}`);
    if (e.delivered.cutAfterHeaders) lines.push(`  The client received status ${e.delivered.status} and ${e.delivered.bytesSent} body bytes, then the connection was closed: the failure came after the headers.`);
    lines.push(`  Fix:   ${k.remedy}`);
    if (k.specifically) lines.push(`         ${k.specifically}`);
  }
  if (e.context) lines.push('', 'Context', `  ${e.context.sentence}`);
  return lines.join('\n');
}
