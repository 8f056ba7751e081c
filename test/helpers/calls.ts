/** Synthetic call records for tests of the call log, explain, advisors and alerts. */
import type { AttemptRecord, CallRecord } from '../../src/observe/call-record.js';

let seq = 0;

/** One attempt; a failure code as outcome puts it in `phase` (default connect). */
export function attempt(target: string, outcome: AttemptRecord['outcome'], over: Partial<AttemptRecord> = {}): AttemptRecord {
  const failed = typeof outcome === 'string';
  return {
    target,
    outcome,
    phase: failed ? 'connect' : null,
    reused: false,
    timings: { dns: 0, connect: 0.3, tls: 0, send: 0.1, ttfb: failed ? 0 : 4, body: failed ? 0 : 0.5 },
    durationMs: failed ? 0.3 : 4.9,
    ...over,
  };
}

/** A finished call; `code` set makes it a gateway failure on its (single) attempt. */
export function call(over: Partial<CallRecord> = {}): CallRecord {
  seq++;
  const code = over.code ?? null;
  return {
    requestId: `req-${seq.toString().padStart(8, '0')}`,
    time: Date.now(),
    route: 'orders',
    upstream: 'orders',
    consumer: null,
    method: 'GET',
    path: '/api/orders/1',
    status: code ? 502 : 200,
    code,
    attempts: [attempt('127.0.0.1:9001', code ?? 200)],
    bytesIn: 0,
    bytesOut: code ? 0 : 42,
    durationMs: 5,
    clientIp: '127.0.0.1',
    ...over,
  };
}
