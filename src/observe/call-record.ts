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
  timings: PhaseTimings;
  durationMs: number;
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
  status: number;
  /** The failure code when Causeway generated the response (or the client left). */
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
}

/** Anything that wants every finished call: the access log, the call log store, metrics. */
export interface CallSink {
  record(call: CallRecord): void;
}

const attemptsJsonCache = new WeakMap<CallRecord['attempts'], string>();
/** A call's attempts as JSON (the call log column and the access log field), made once per call. */
export function attemptsJson(attempts: CallRecord['attempts']): string {
  let s = attemptsJsonCache.get(attempts);
  if (s === undefined) attemptsJsonCache.set(attempts, (s = JSON.stringify(attempts)));
  return s;
}
