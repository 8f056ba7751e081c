/** Retry decisions (src/upstream/retry.ts) as tables, and invariants over the whole input space. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RETRY_CONDITIONS, type RetryCondition } from '../../src/config/schema.js';
import type { Phase } from '../../src/failures/classify.js';
import { REGISTRY, type FailureCode } from '../../src/failures/registry.js';
import { backoffDelay, mayRetry, retryCondition, safeToRepeat, terminated, type Condition, type FailedAttempt } from '../../src/upstream/retry.js';

const ALL = new Set<RetryCondition>(RETRY_CONDITIONS);
const PHASES: Phase[] = ['pool', 'dns', 'connect', 'tls', 'send', 'ttfb', 'body'];
const CODES = [...REGISTRY.keys()];
const a = (phase: Phase, code: FailureCode, more: Partial<FailedAttempt> = {}, timeout?: 'phase' | 'total'): FailedAttempt => ({
  evidence: { phase, timeout },
  code,
  answered: false,
  reused: false,
  ...more,
});

describe('retryCondition', () => {
  const TABLE: Array<[FailedAttempt, number, RetryCondition | null]> = [
    [a('pool', 'UPSTREAM_POOL_EXHAUSTED'), 2, 'connect-failure'],
    [a('pool', 'UPSTREAM_POOL_EXHAUSTED'), 1, null],
    [a('dns', 'UPSTREAM_DNS_FAILURE'), 1, 'connect-failure'],
    [a('connect', 'UPSTREAM_CONNECTION_REFUSED'), 1, 'connect-failure'],
    [a('connect', 'UPSTREAM_CONNECT_TIMEOUT', {}, 'phase'), 1, 'connect-failure'],
    [a('connect', 'GATEWAY_TIMEOUT', {}, 'total'), 3, null],
    [a('tls', 'UPSTREAM_TLS_ERROR'), 2, null],
    [a('send', 'UPSTREAM_CONNECTION_RESET', { reused: true }), 1, 'stale-connection'],
    [a('ttfb', 'UPSTREAM_CONNECTION_CLOSED', { reused: true }), 1, 'stale-connection'],
    [a('ttfb', 'UPSTREAM_CONNECTION_CLOSED'), 1, 'reset'],
    [a('send', 'UPSTREAM_CONNECTION_RESET'), 1, 'reset'],
    [a('ttfb', 'UPSTREAM_CONNECTION_CLOSED', { answered: true }), 1, null],
    [a('body', 'UPSTREAM_CONNECTION_RESET'), 1, null],
    [a('ttfb', 'UPSTREAM_RESPONSE_TIMEOUT', {}, 'phase'), 1, 'response-timeout'],
    [a('ttfb', 'UPSTREAM_INVALID_RESPONSE'), 1, null],
    [a('send', 'UPSTREAM_SEND_TIMEOUT', {}, 'phase'), 1, null],
    [a('body', 'UPSTREAM_BODY_TIMEOUT', {}, 'phase'), 1, null],
    [a('ttfb', 'GATEWAY_TIMEOUT', {}, 'total'), 1, null],
  ];
  for (const [attempt, targets, expected] of TABLE) {
    test(`${attempt.evidence.phase} ${attempt.code}${attempt.evidence.timeout ? ` (${attempt.evidence.timeout} timeout)` : ''}${attempt.reused ? ' on a reused connection' : ''}${attempt.answered ? ' after response bytes' : ''}, ${targets} target(s) → ${expected}`, () => {
      assert.equal(retryCondition(attempt, ALL, targets), expected);
    });
  }

  test('over every phase, code, timeout, reuse and answer: only conditions in `on` come out, never after the budget ran out', () => {
    const subsets: Array<Set<RetryCondition>> = [new Set(), ALL, ...RETRY_CONDITIONS.map((c) => new Set([c]))];
    let checked = 0;
    for (const phase of PHASES)
      for (const code of CODES)
        for (const timeout of [undefined, 'phase', 'total'] as const)
          for (const reused of [false, true])
            for (const answered of [false, true])
              for (const on of subsets)
                for (const targets of [1, 3]) {
                  const c = retryCondition(a(phase, code, { reused, answered }, timeout), on, targets);
                  checked++;
                  if (c !== null) assert.ok(on.has(c as RetryCondition), `${c} is not in retries.on`);
                  if (timeout === 'total') assert.equal(c, null);
                  if (c === 'stale-connection') assert.ok(reused && !answered && terminated(code));
                  if (c === 'reset') assert.ok(!reused && !answered && terminated(code));
                  if (phase === 'body' || phase === 'tls') assert.equal(c, c === 'response-timeout' ? c : null);
                }
    assert.ok(checked > 10_000);
  });

  test('"terminated" is read from the registry: exactly the codes of type connection_terminated', () => {
    assert.deepEqual(CODES.filter(terminated).sort(), ['UPSTREAM_CONNECTION_CLOSED', 'UPSTREAM_CONNECTION_RESET']);
  });
});

describe('safeToRepeat', () => {
  const METHODS = ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE', 'POST', 'PATCH', 'CONNECT', 'PROPFIND'];
  const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
  const CONDITIONS: Condition[] = [...RETRY_CONDITIONS, 'status'];

  test('a request that never reached a backend (connect-failure) is always safe', () => {
    for (const m of METHODS) for (const key of [false, true]) for (const body of [false, true]) assert.equal(safeToRepeat('connect-failure', m, key, body), true, m);
  });

  test('otherwise: idempotent method or Idempotency-Key, and a body not yet sent', () => {
    for (const c of CONDITIONS.filter((x) => x !== 'connect-failure'))
      for (const m of METHODS)
        for (const key of [false, true])
          for (const body of [false, true]) assert.equal(safeToRepeat(c, m, key, body), !body && (IDEMPOTENT.has(m) || key), `${c} ${m} key=${key} body=${body}`);
  });
});

describe('mayRetry', () => {
  const room = { tries: 1, attempts: 3, remainingMs: 1000, budgetAllows: true };
  const TABLE: Array<[Condition, Partial<typeof room>, boolean]> = [
    ['reset', {}, true],
    ['reset', { tries: 3 }, false],
    ['reset', { remainingMs: 4 }, false],
    ['reset', { budgetAllows: false }, false],
    ['status', { budgetAllows: false }, false],
    ['response-timeout', { budgetAllows: false }, false],
    ['connect-failure', { budgetAllows: false }, true],
    ['stale-connection', { budgetAllows: false }, true],
    ['connect-failure', { tries: 3 }, false],
    ['stale-connection', { remainingMs: 0 }, false],
  ];
  for (const [c, r, expected] of TABLE) test(`${c} ${JSON.stringify(r)} → ${expected}`, () => assert.equal(mayRetry(c, { ...room, ...r }), expected));
});

describe('backoffDelay', () => {
  const b = { base: 25, max: 250 };
  const TABLE: Array<[Condition, number, number, number]> = [
    ['reset', 1, 0, 0],
    ['reset', 1, 0.5, 12.5],
    ['reset', 2, 0.5, 25],
    ['reset', 3, 0.99, 99],
    ['reset', 10, 0.5, 125],
    ['stale-connection', 5, 0.99, 0],
    ['connect-failure', 1, 1 - Number.EPSILON, 25 * (1 - Number.EPSILON)],
  ];
  for (const [c, tries, r, expected] of TABLE) test(`${c} after ${tries} tries, random ${r} → ${expected} ms`, () => assert.equal(backoffDelay(c, tries, b, r), expected));
});

describe('HTTP/2 and gRPC retry decisions', () => {
  const on = new Set<RetryCondition>(['connect-failure', 'reset', 'stale-connection']);
  const failed = (phase: Phase, code: FailureCode, errorCode?: string, answered = false): FailedAttempt => ({ evidence: { phase, errorCode }, code, answered, reused: false });

  test('a stream the backend refused or left unprocessed (GOAWAY) is always retryable, in any phase, without backoff or budget', () => {
    for (const errorCode of ['H2_GOAWAY', 'H2_RST_REFUSED_STREAM'])
      for (const phase of ['send', 'ttfb'] as const) {
        assert.equal(retryCondition(failed(phase, 'UPSTREAM_CONNECTION_CLOSED', errorCode), new Set(), 1), 'refused-stream');
        assert.equal(retryCondition(failed(phase, 'UPSTREAM_CONNECTION_CLOSED', errorCode), new Set(), 1, new Set()), 'refused-stream');
      }
    assert.equal(safeToRepeat('refused-stream', 'POST', false, false), true);
    assert.equal(safeToRepeat('refused-stream', 'POST', false, true), false, 'a consumed body cannot be sent again');
    assert.equal(safeToRepeat('refused-stream', 'POST', false, true, { grpc: true, replayable: true }), true);
    assert.equal(backoffDelay('refused-stream', 1, { base: 25, max: 250 }, 0.99), 0);
    assert.equal(mayRetry('refused-stream', { tries: 1, attempts: 2, remainingMs: 100, budgetAllows: false }), true);
  });

  test('a gRPC call, once sent, is retried only for the gRPC status of its failure that the route lists', () => {
    const unavailable = new Set([14]);
    const table: Array<[FailedAttempt, ReadonlySet<number>, Condition | null]> = [
      [failed('ttfb', 'UPSTREAM_CONNECTION_RESET'), unavailable, 'grpc-unavailable'],
      [failed('send', 'UPSTREAM_CONNECTION_CLOSED'), unavailable, 'grpc-unavailable'],
      [failed('ttfb', 'UPSTREAM_CONNECTION_RESET', undefined, true), unavailable, null],
      [failed('ttfb', 'UPSTREAM_RESPONSE_TIMEOUT'), unavailable, null],
      [failed('ttfb', 'UPSTREAM_RESPONSE_TIMEOUT'), new Set([4]), 'grpc-deadline-exceeded'],
      [failed('ttfb', 'UPSTREAM_CONNECTION_RESET'), new Set(), null],
      [failed('connect', 'UPSTREAM_CONNECTION_REFUSED'), new Set(), 'connect-failure'],
    ];
    for (const [a, grpc, want] of table) assert.equal(retryCondition(a, on, 2, grpc), want, `${a.evidence.phase} ${a.code} answered=${a.answered}`);
  });

  test('gRPC safety: a listed status or grpc condition with the body kept whole; never the HTTP method rule', () => {
    const kept = { grpc: true, replayable: true };
    const lost = { grpc: true, replayable: false };
    assert.equal(safeToRepeat('grpc-unavailable', 'POST', false, true, kept), true);
    assert.equal(safeToRepeat('status', 'POST', false, true, kept), true);
    assert.equal(safeToRepeat('grpc-unavailable', 'POST', false, true, lost), false);
    assert.equal(safeToRepeat('reset', 'POST', false, true, kept), false);
    assert.equal(safeToRepeat('stale-connection', 'POST', true, false, kept), false, 'Idempotency-Key is an HTTP rule');
    assert.equal(safeToRepeat('connect-failure', 'POST', false, true, lost), true);
  });
});
