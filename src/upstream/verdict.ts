/**
 * What a call's outcome says about the backend, for outlier detection and the circuit breaker,
 * as pure functions over the failure registry: a failure that arose in an exchange with the
 * backend counts against it; one the gateway decided before calling it (`origin: refusal`) or
 * that the request itself caused (`origin: request`) says nothing about it. Tested as tables in
 * test/upstream/verdict.test.ts.
 */
import { failure, type FailureCode } from '../failures/registry.js';

/** Backend answers that mean "unavailable" to outlier detection and the breaker. */
export const unavailableStatus = (status: number): boolean => status >= 502 && status <= 504;

/**
 * Whether a failed attempt or call counts against the backend. The overall budget running out is
 * the backend's slowness, unless the client shortened the budget itself (X-Request-Timeout).
 */
export function countsAgainstBackend(code: FailureCode, clientShortenedBudget: boolean): boolean {
  if (failure(code).origin !== 'exchange') return false;
  return !(code === 'GATEWAY_TIMEOUT' && clientShortenedBudget);
}

/** How a finished call settles its breaker permit: a success, a failure, or no verdict (the permit is given back). */
export function breakerOutcome(status: number, code: FailureCode | null, clientShortenedBudget: boolean): 'success' | 'failure' | 'release' {
  if (code === null) return unavailableStatus(status) ? 'failure' : 'success';
  return countsAgainstBackend(code, clientShortenedBudget) ? 'failure' : 'release';
}

/**
 * Failures a route fallback (or a stale stored response) may answer for: those of the backend or
 * the way to it (origin `exchange` or `refusal`), never the client's own or a policy's refusal.
 */
export const fallbackMayAnswer = (code: FailureCode): boolean => failure(code).origin !== 'request';
