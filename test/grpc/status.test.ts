import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  GRPC_BACKEND_FAILURES,
  GRPC_CODES,
  GRPC_RETRY_NAMES,
  GrpcFrameCounter,
  decodeGrpcMessage,
  encodeGrpcMessage,
  formatGrpcTimeout,
  grpcCodeName,
  grpcCodeOfRetryName,
  grpcMethodOf,
  isGrpcContentType,
  parseGrpcTimeout,
} from '../../src/grpc/status.js';

describe('grpc-timeout', () => {
  const table: Array<[string | undefined, number | undefined]> = [
    ['1H', 3_600_000],
    ['2M', 120_000],
    ['3S', 3000],
    ['250m', 250],
    ['1500u', 1.5],
    ['2000000n', 2],
    ['99999999m', 99_999_999],
    ['100000000m', undefined], // nine digits: the spec allows eight
    ['0m', undefined],
    ['10', undefined],
    ['10s', undefined], // units are case-sensitive: s is not S
    ['-5m', undefined],
    [' 5m', undefined],
    ['5 m', undefined],
    ['', undefined],
    [undefined, undefined],
  ];
  for (const [value, ms] of table) {
    test(`${JSON.stringify(value)} -> ${ms}`, () => assert.equal(parseGrpcTimeout(value), ms));
  }

  test('formatting round-trips through parsing, never longer than the budget by more than a second', () => {
    fc.assert(
      fc.property(fc.double({ min: 0.001, max: 1e12, noNaN: true }), (ms) => {
        const v = formatGrpcTimeout(ms);
        assert.match(v, /^\d{1,8}[HSm]$/);
        const back = parseGrpcTimeout(v)!;
        assert.ok(back >= Math.min(1, ms) - 1e-9);
        if (ms < 1e8) assert.equal(back, Math.max(1, Math.floor(ms)));
      }),
    );
  });
});

describe('grpc-message', () => {
  const table: Array<[string, string]> = [
    ['Backend unavailable: connection refused by orders', 'Backend unavailable: connection refused by orders'],
    ['100% done', '100%25 done'],
    ['line\nbreak', 'line%0Abreak'],
    ['Backend unavailable: connection is closed — orders', 'Backend unavailable: connection is closed %E2%80%94 orders'],
    ['tab\there', 'tab%09here'],
    ['~ascii ok!', '~ascii ok!'],
  ];
  for (const [message, wire] of table) {
    test(`${JSON.stringify(message)} is sent as ${JSON.stringify(wire)}`, () => {
      assert.equal(encodeGrpcMessage(message), wire);
      assert.equal(decodeGrpcMessage(wire), message);
    });
  }

  test('any string survives encode then decode, and the wire form is printable ASCII', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const wire = encodeGrpcMessage(s);
        assert.match(wire, /^[\x20-\x7e]*$/);
        assert.equal(decodeGrpcMessage(wire), Buffer.from(s, 'utf8').toString('utf8'));
      }),
    );
  });

  test('a malformed escape is kept as it is', () => assert.equal(decodeGrpcMessage('50%-off %zz'), '50%-off %zz'));
});

describe('which requests are gRPC', () => {
  const table: Array<[string | undefined, boolean]> = [
    ['application/grpc', true],
    ['application/grpc+proto', true],
    ['application/grpc+json', true],
    ['Application/GRPC', true],
    ['application/grpc; charset=utf-8', true],
    ['application/grpc-web', false],
    ['application/grpc-web+proto', false],
    ['application/grpcx', false],
    ['application/json', false],
    ['', false],
    [undefined, false],
  ];
  for (const [ct, yes] of table) test(`${JSON.stringify(ct)}: ${yes}`, () => assert.equal(isGrpcContentType(ct), yes));
});

describe('service and method from the path', () => {
  const table: Array<[string, { service: string; method: string } | null]> = [
    ['/causeway.test.Echo/Unary', { service: 'causeway.test.Echo', method: 'Unary' }],
    ['/grpc.health.v1.Health/Check', { service: 'grpc.health.v1.Health', method: 'Check' }],
    ['/Echo/Unary?x=1', { service: 'Echo', method: 'Unary' }],
    ['/a/b/c', null],
    ['/only', null],
    ['/svc/', null],
    ['//m', null],
    ['relative/m', null],
  ];
  for (const [path, want] of table) test(path, () => assert.deepEqual(grpcMethodOf(path), want));
});

describe('status codes', () => {
  test('names and numbers are those of doc/statuscodes.md', () => {
    assert.equal(Object.keys(GRPC_CODES).length, 17);
    assert.equal(GRPC_CODES.UNAVAILABLE, 14);
    assert.equal(GRPC_CODES.UNAUTHENTICATED, 16);
    assert.equal(grpcCodeName(4), 'DEADLINE_EXCEEDED');
    assert.equal(grpcCodeName(99), 'CODE_99');
  });

  test('retries.on names: every status but OK, in kebab case, mapped back to its code', () => {
    assert.equal(GRPC_RETRY_NAMES.length, 16);
    assert.ok(!GRPC_RETRY_NAMES.includes('ok'));
    assert.equal(grpcCodeOfRetryName('unavailable'), 14);
    assert.equal(grpcCodeOfRetryName('resource-exhausted'), 8);
    assert.equal(grpcCodeOfRetryName('ok'), undefined);
    assert.equal(grpcCodeOfRetryName('reset'), undefined);
    for (const n of GRPC_RETRY_NAMES) assert.notEqual(grpcCodeOfRetryName(n), undefined, n);
  });

  test('backend failures: the statuses that say the backend, not the caller, failed', () => {
    const names = [...GRPC_BACKEND_FAILURES].map(grpcCodeName).sort();
    assert.deepEqual(names, ['DATA_LOSS', 'DEADLINE_EXCEEDED', 'INTERNAL', 'UNAVAILABLE', 'UNKNOWN']);
  });
});

describe('message counting', () => {
  const frame = (len: number) => {
    const b = Buffer.alloc(5 + len, 7);
    b[0] = 0;
    b.writeUInt32BE(len, 1);
    return b;
  };

  test('messages split anywhere across chunks are counted once each', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 20 }), fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 10 }), (lens, cuts) => {
        const all = Buffer.concat(lens.map(frame));
        const c = new GrpcFrameCounter();
        let i = 0;
        let k = 0;
        while (i < all.length) {
          const n = cuts[k++ % cuts.length]!;
          c.push(all.subarray(i, i + n));
          i += n;
        }
        assert.equal(c.messages, lens.length);
      }),
    );
  });
});
