/** The record every call leaves behind: the access log line, later the call log row. */
import type { Phase } from '../failures/classify.js';
import type { FailureCode } from '../failures/registry.js';
import type { PhaseTimings } from '../upstream/attempt.js';

export interface AttemptRecord {
  target: string;
  /** The HTTP status received, or the failure code of the attempt. */
  outcome: number | FailureCode;
  /** Phase the attempt failed in; null when it completed. */
  phase: Phase | null;
  /** Low-level error behind a failure (errno, undici or OpenSSL code). */
  error?: string;
  reused: boolean;
  /** Why the next attempt happened, when one did. */
  retry?: string;
  /** The configured limit (ms) the failure exceeded, as it applied to this call. */
  limitMs?: number;
  timings: PhaseTimings;
  durationMs: number;
  /** When its first phase began, in ms since the call started: the gaps between attempts (pool waits, backoff) show. */
  startMs?: number;
  /** After a 101: the upgraded session (WebSocket), how it ended (src/proxy/tunnel.ts). */
  session?: SessionRecord;
  /** gRPC calls: the backend's status on this attempt and the messages each way. */
  grpc?: AttemptGrpc;
}

/** An upgraded connection's life: who closed it and how, and how long it lasted after the 101. */
export interface SessionRecord {
  closedBy: 'client' | 'backend' | 'gateway';
  /** `close` (FIN), `reset`, `close frame <code>`, `idle-timeout`, `max-lifetime`, `shutdown`. */
  how: string;
  durationMs: number;
}

/** One attempt of a gRPC call. */
export interface AttemptGrpc {
  /** The backend's grpc-status (null: it sent none, the attempt failed first). */
  status: number | null;
  /** The backend's grpc-message, decoded. */
  message?: string;
  /** Request messages sent, response messages received. */
  sent: number;
  received: number;
}

/** A gRPC call as a whole. */
export interface CallGrpc {
  /** From the path `/package.Service/Method` (null when the path has another shape). */
  service: string | null;
  method: string | null;
  /** The status the client received: the backend's, or the gateway's own for a failure it generated. */
  status: number | null;
  sent: number;
  received: number;
}

export interface CallRecord {
  requestId: string;
  /** Start of the call, epoch ms. */
  time: number;
  route: string | null;
  upstream: string | null;
  consumer: string | null;
  method: string;
  path: string;
  /** The status the client received: after headers went out, theirs, whatever failed later. */
  status: number;
  /** The failure code: Causeway generated the response, the client left, or the response was cut after its headers. */
  code: FailureCode | null;
  attempts: AttemptRecord[];
  bytesIn: number;
  bytesOut: number;
  durationMs: number;
  clientIp: string;
  /** W3C trace id (32 hex) of the call, as sent upstream in `traceparent`. */
  traceId?: string;
  /** The gateway's span id for the call (attempt span ids derive from it: observe/trace.ts). */
  spanId?: string;
  /** The client's span id, when it sent a valid `traceparent`. */
  parentSpanId?: string | null;
  /** gRPC calls only. */
  grpc?: CallGrpc;
  /** The node of a fleet that served the call (set when read from the fleet's call log, src/observe/store-pg.ts). */
  node?: string;
}

/** Anything that wants every finished call: the access log, the call log store, metrics. */
export interface CallSink {
  record(call: CallRecord): void;
}

/** Characters a JSON string may not carry as they are (lone surrogates included, as JSON.stringify escapes them). */
// eslint-disable-next-line no-control-regex -- control characters are exactly what must be escaped
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;
/** A string as a JSON string literal, like JSON.stringify(v); most strings need no escaping and skip it. */
export const jsonString = (v: string): string => (NEEDS_ESCAPE.test(v) ? JSON.stringify(v) : `"${v}"`);
const str = jsonString;
const num = (n: number) => (Number.isFinite(n) ? n : null);

/** One attempt, written by a serializer that knows its shape: the same text as JSON.stringify, a third of the time. */
function attemptJson(a: AttemptRecord): string {
  const t = a.timings;
  let out =
    `{"target":${str(a.target)},"outcome":${typeof a.outcome === 'number' ? num(a.outcome) : str(a.outcome)},"phase":${a.phase === null ? 'null' : str(a.phase)}` +
    `,"reused":${a.reused},"timings":{"dns":${num(t.dns)},"connect":${num(t.connect)},"tls":${num(t.tls)},"send":${num(t.send)},"ttfb":${num(t.ttfb)},"body":${num(t.body)}}` +
    `,"durationMs":${num(a.durationMs)}`;
  if (a.startMs !== undefined) out += `,"startMs":${num(a.startMs)}`;
  if (a.error !== undefined) out += `,"error":${str(a.error)}`;
  if (a.retry !== undefined) out += `,"retry":${str(a.retry)}`;
  if (a.limitMs !== undefined) out += `,"limitMs":${num(a.limitMs)}`;
  if (a.session !== undefined) out += `,"session":{"closedBy":${str(a.session.closedBy)},"how":${str(a.session.how)},"durationMs":${num(a.session.durationMs)}}`;
  if (a.grpc !== undefined) out += `,"grpc":${JSON.stringify(a.grpc)}`;
  return out + '}';
}

/**
 * A call's attempts as JSON (the call log column and the access log field). Not cached: with a
 * file-backed call log it is made once per call, on the request thread, for both logs (the
 * writer thread makes the access line from the row); only an in-memory call log with the access
 * log on makes it twice. A WeakMap cache cost every call an ephemeron for the GC to process.
 */
export function attemptsJson(attempts: CallRecord['attempts']): string {
  let s = '[';
  for (let i = 0; i < attempts.length; i++) s += (i ? ',' : '') + attemptJson(attempts[i]!);
  return s + ']';
}
