/** What an outcome says about the backend (src/upstream/verdict.ts), over every registry code. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { REGISTRY, type FailureCode } from '../../src/failures/registry.js';
import { breakerOutcome, countsAgainstBackend, fallbackMayAnswer, unavailableStatus } from '../../src/upstream/verdict.js';

const CODES = [...REGISTRY.keys()];

/** The expected answers, one row per code: counts against the backend / a fallback may answer. */
const TABLE: Record<FailureCode, [boolean, boolean]> = {
  ROUTE_NOT_FOUND: [false, false],
  METHOD_NOT_ALLOWED: [false, false],
  UPSTREAM_DNS_FAILURE: [true, true],
  UPSTREAM_CONNECT_TIMEOUT: [true, true],
  UPSTREAM_CONNECTION_REFUSED: [true, true],
  UPSTREAM_HOST_UNREACHABLE: [true, true],
  UPSTREAM_CONNECTION_CLOSED: [true, true],
  UPSTREAM_CONNECTION_RESET: [true, true],
  UPSTREAM_TLS_ERROR: [true, true],
  UPSTREAM_PROTOCOL_MISMATCH: [true, true],
  UPSTREAM_SEND_TIMEOUT: [true, true],
  UPSTREAM_RESPONSE_TIMEOUT: [true, true],
  UPSTREAM_BODY_TIMEOUT: [true, true],
  UPSTREAM_INVALID_RESPONSE: [true, true],
  UPSTREAM_HEADERS_TOO_LARGE: [true, true],
  UPSTREAM_POOL_EXHAUSTED: [false, true],
  NO_HEALTHY_TARGET: [false, true],
  CIRCUIT_OPEN: [false, true],
  GATEWAY_TIMEOUT: [true, true],
  // The gateway's own shortage or fault says nothing about the backend; a fallback may still answer.
  GATEWAY_RESOURCE_EXHAUSTED: [false, true],
  GATEWAY_INTERNAL_ERROR: [false, true],
  RATE_LIMITED: [false, false],
  UNAUTHORIZED: [false, false],
  FORBIDDEN: [false, false],
  AUTH_PROVIDER_UNAVAILABLE: [false, false],
  REQUEST_TOO_LARGE: [false, false],
  BAD_REQUEST: [false, false],
  REQUEST_TIMEOUT: [false, false],
  URI_TOO_LONG: [false, false],
  FAULT_INJECTED: [false, false],
  CLIENT_CLOSED_REQUEST: [false, false],
};

describe('verdicts for every registry code', () => {
  test('the table covers the registry exactly', () => {
    assert.deepEqual(Object.keys(TABLE).sort(), [...CODES].sort());
  });

  for (const code of CODES) {
    const [counts, fallback] = TABLE[code];
    test(`${code}: ${counts ? 'counts against the backend' : 'neutral'}, ${fallback ? 'a fallback may answer' : 'no fallback'}`, () => {
      assert.equal(countsAgainstBackend(code, false), counts);
      assert.equal(breakerOutcome(599, code, false), counts ? 'failure' : 'release');
      assert.equal(fallbackMayAnswer(code), fallback);
    });
  }

  test('a budget the client shortened makes GATEWAY_TIMEOUT neutral, and nothing else', () => {
    for (const code of CODES) assert.equal(countsAgainstBackend(code, true), code === 'GATEWAY_TIMEOUT' ? false : TABLE[code][0], code);
  });

  test('a backend answer: 502, 503, 504 are failures, every other status a success', () => {
    for (let s = 100; s <= 599; s++) {
      assert.equal(unavailableStatus(s), s >= 502 && s <= 504);
      assert.equal(breakerOutcome(s, null, false), s >= 502 && s <= 504 ? 'failure' : 'success');
    }
  });
});
