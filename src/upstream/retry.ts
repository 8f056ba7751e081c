/**
 * Retry decisions as pure functions over what a failed attempt showed: which configured
 * condition (`retries.on`) it falls under, whether repeating the request is safe, whether the
 * call may try again, and how long to wait first. No I/O, no clocks: tested as tables in
 * test/upstream/retry.test.ts. The codes they look at are read from the failure registry.
 */
import type { RetryCondition } from '../config/schema.js';
import type { Evidence } from '../failures/classify.js';
import { failure, type FailureCode } from '../failures/registry.js';
import { GRPC_CODES, grpcRetryName } from '../grpc/status.js';

/**
 * A retry condition, or `status`: the backend answered with a status listed in `retries.on`;
 * `refused-stream`: an HTTP/2 stream the backend did not process (GOAWAY, REFUSED_STREAM);
 * `grpc-<status>`: a gRPC call's failure whose gRPC status the route lists (docs/grpc.md).
 */
export type Condition = RetryCondition | 'status' | 'refused-stream' | `grpc-${string}`;

/** What a failed attempt showed. */
export interface FailedAttempt {
  evidence: Pick<Evidence, 'phase' | 'timeout' | 'errorCode'>;
  code: FailureCode;
  /** Any response byte came back (a status line, a body chunk). */
  answered: boolean;
  /** The attempt ran on a kept-alive connection that had served earlier exchanges. */
  reused: boolean;
}

/** The backend closed or reset the connection: codes whose RFC 9209 type is `connection_terminated`. */
export const terminated = (code: FailureCode): boolean => failure(code).proxyStatus === 'connection_terminated';

/**
 * Which condition of `on` a failed attempt falls under, or null when none does. `grpc`: the
 * gRPC status codes the route lists, for a gRPC call (null for any other): once sent, such a
 * call is retried only for the gRPC status of its failure, before any response byte.
 */
export function retryCondition(a: FailedAttempt, on: ReadonlySet<RetryCondition>, targets: number, grpc: ReadonlySet<number> | null = null): Condition | null {
  const e = a.evidence;
  if (e.timeout === 'total') return null;
  // RFC 9113 8.7: a stream the backend refused, or left unprocessed by GOAWAY, did no work anywhere.
  if (e.errorCode === 'H2_GOAWAY' || e.errorCode === 'H2_RST_REFUSED_STREAM') return 'refused-stream';
  if (e.phase === 'pool' || e.phase === 'dns' || e.phase === 'connect') {
    // A full pool is a property of the target: only another target can help.
    if (e.phase === 'pool' && targets < 2) return null;
    return on.has('connect-failure') ? 'connect-failure' : null;
  }
  if (grpc) {
    const name = failure(a.code).grpc;
    return !a.answered && grpc.has(GRPC_CODES[name]) ? `grpc-${grpcRetryName(name)}` : null;
  }
  if (terminated(a.code) && !a.answered && (e.phase === 'send' || e.phase === 'ttfb')) {
    if (a.reused) return on.has('stale-connection') ? 'stale-connection' : null;
    return on.has('reset') ? 'reset' : null;
  }
  if (a.code === 'UPSTREAM_RESPONSE_TIMEOUT' && on.has('response-timeout')) return 'response-timeout';
  return null;
}

/** Methods a repeat cannot do twice (RFC 9110 9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/**
 * A request that never reached a backend may always be repeated. One that may have reached it
 * only when repeating cannot do harm twice (an idempotent method, or an Idempotency-Key) and
 * its body, if any, was not consumed by the failed attempt.
 */
export function safeToRepeat(
  condition: Condition,
  method: string,
  idempotencyKey: boolean,
  bodyDispatched: boolean,
  /** A gRPC call, and whether its request body was kept whole for a repeat (src/grpc/body.ts). */
  grpc: { grpc: boolean; replayable: boolean } = { grpc: false, replayable: false },
): boolean {
  if (condition === 'connect-failure') return true;
  if (bodyDispatched && !grpc.replayable) return false;
  if (condition === 'refused-stream') return true;
  // gRPC calls are all POSTs: what makes one safe to repeat is the route listing the status.
  if (grpc.grpc) return condition === 'status' || condition.startsWith('grpc-');
  return IDEMPOTENT.has(method) || idempotencyKey;
}

/**
 * Retries that duplicate no work on a backend, so the retry budget does not cap them: a failed
 * connect, a stale keep-alive connection (the gateway's own artefact), a refused HTTP/2 stream.
 */
export const budgetExempt = (condition: Condition): boolean => condition === 'stale-connection' || condition === 'connect-failure' || condition === 'refused-stream';

export interface RetryRoom {
  /** Tries made so far, the one that failed included. */
  tries: number;
  /** `retries.attempts`: tries in all. */
  attempts: number;
  /** Time left in the call's budget, ms. */
  remainingMs: number;
  /** The upstream's retry budget has room (retries in flight under their share). */
  budgetAllows: boolean;
}

/** Whether a safe repeat under `condition` may happen now. */
export function mayRetry(condition: Condition, room: RetryRoom): boolean {
  if (room.tries >= room.attempts || room.remainingMs < 5) return false;
  // The budget caps duplicate work on backends. A failed connect did no work anywhere, and a stale
  // keep-alive connection is the gateway's own artefact: retrying those duplicates nothing.
  if (budgetExempt(condition)) return true;
  return room.budgetAllows;
}

/**
 * The wait before try number `tries + 1`: full jitter (AWS architecture blog), uniform in
 * [0, min(max, base * 2^(tries-1))]; none after a stale connection (the next one is fresh) or a refused stream.
 * `random` is in [0, 1).
 */
export function backoffDelay(condition: Condition, tries: number, backoff: { base: number; max: number }, random: number): number {
  if (condition === 'stale-connection' || condition === 'refused-stream') return 0;
  return random * Math.min(backoff.max, backoff.base * 2 ** (tries - 1));
}
