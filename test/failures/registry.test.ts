import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { REGISTRY, failure, type FailureCode, type FailureContext } from '../../src/failures/registry.js';
import { GRPC_CODES, type GrpcCodeName } from '../../src/grpc/status.js';

interface DocSection {
  code: string;
  line: number;
  statusLine: string | undefined;
  body: string;
}

/** The `## CODE` sections of docs/errors.md, in document order. */
function docSections(): { sections: DocSection[]; strayHeadings: string[] } {
  const text = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
  const lines = text.split('\n');
  const sections: DocSection[] = [];
  const strayHeadings: string[] = [];
  let current: DocSection | null = null;
  let inFence = false;
  lines.forEach((line, i) => {
    if (line.startsWith('```')) inFence = !inFence;
    if (!inFence && line.startsWith('## ')) {
      const title = line.slice(3).trim();
      if (/^[A-Z][A-Z0-9_]*$/.test(title)) {
        current = { code: title, line: i + 1, statusLine: undefined, body: '' };
        sections.push(current);
        return;
      }
      // Introductory sections come first; once the codes start, every section is a code.
      if (sections.length) strayHeadings.push(`line ${i + 1}: ${line}`);
      current = null;
      return;
    }
    if (!current) return;
    const s: DocSection = current;
    if (s.statusLine === undefined && line.trim() !== '') s.statusLine = line.trim();
    s.body += line + '\n';
  });
  return { sections, strayHeadings };
}

const { sections, strayHeadings } = docSections();
const codes = [...REGISTRY.keys()];

describe('docs/errors.md and the registry', () => {
  test('every registry code has a section', () => {
    const documented = new Set(sections.map((s) => s.code));
    const missing = codes.filter((c) => !documented.has(c));
    assert.deepEqual(missing, [], `codes without a "## CODE" section in docs/errors.md: ${missing.join(', ')}`);
  });

  test('every section is a registry code, documented once', () => {
    const unknown = sections.filter((s) => !REGISTRY.has(s.code as FailureCode)).map((s) => `${s.code} (line ${s.line})`);
    assert.deepEqual(unknown, [], `sections that are not registry codes: ${unknown.join(', ')}`);
    const seen = new Set<string>();
    for (const s of sections) {
      assert.ok(!seen.has(s.code), `${s.code} is documented twice (again at line ${s.line})`);
      seen.add(s.code);
    }
    assert.deepEqual(strayHeadings, [], 'non-code sections among the code sections');
  });

  test('sections are in registry order', () => {
    assert.deepEqual(
      sections.map((s) => s.code),
      codes,
    );
  });

  for (const s of sections) {
    const def = REGISTRY.get(s.code as FailureCode);
    if (!def) continue;
    test(`${s.code}: the status line matches the registry`, () => {
      const m = /^Status: (\d{3}) · Proxy-Status: (\S+) · Side: (\w+) · gRPC: ([A-Z_]+)$/.exec(s.statusLine ?? '');
      assert.ok(m, `line ${s.line + 2}: expected "Status: <status> · Proxy-Status: <type or —> · Side: <side> · gRPC: <status name>", got ${JSON.stringify(s.statusLine)}`);
      assert.equal(Number(m[1]), def.status, 'Status');
      assert.equal(m[2], def.proxyStatus ?? '—', 'Proxy-Status');
      assert.equal(m[3], def.side, 'Side');
      assert.equal(m[4], def.grpc, 'gRPC');
    });

    test(`${s.code}: has What happened, Example and How to fix, each with content`, () => {
      const parts = s.body.split(/^### /m).slice(1);
      const byTitle = new Map(parts.map((p) => [p.slice(0, p.indexOf('\n')).trim(), p.slice(p.indexOf('\n') + 1).trim()]));
      assert.deepEqual([...byTitle.keys()], ['What happened', 'Example', 'How to fix']);
      for (const [title, content] of byTitle) assert.ok(content.length > 40, `${title} is (nearly) empty`);
      const example = byTitle.get('Example')!;
      assert.ok(example.includes('```'), 'the example is a code block');
      assert.ok(example.includes(s.code), 'the example shows the code');
      // A body shown in the example uses the registry's wording.
      const message = /"message": "([^"]*)"/.exec(example)?.[1];
      if (message !== undefined) assert.ok(message.startsWith(`${def.title}:`), `example message ${JSON.stringify(message)} does not read like the registry's`);
      const proxy = /^Proxy-Status: causeway; error=([a-z_]+);/m.exec(example)?.[1];
      if (def.proxyStatus === undefined) assert.equal(proxy, undefined, 'a code without an RFC 9209 type shows no Proxy-Status');
    });
  }
});

describe('the registry', () => {
  const empty: FailureContext = {};
  const full: FailureContext = {
    upstream: 'orders',
    route: 'orders-route',
    method: 'POST',
    path: '/api/orders/42',
    host: 'api.example.com',
    limit: 1500,
    attempts: 3,
    detail: 'ECONNREFUSED',
  };

  for (const def of REGISTRY.values()) {
    test(`${def.code}: messages read well with an empty and a full context, and a remedy is given`, () => {
      for (const [name, ctx] of [
        ['empty', empty],
        ['full', full],
      ] as const) {
        const msg = def.message(ctx);
        assert.equal(typeof msg, 'string');
        assert.ok(msg.trim().length > 0, `${name}: empty message`);
        assert.ok(!/undefined|null|NaN|\[object/.test(msg), `${name}: ${JSON.stringify(msg)}`);
        assert.ok(msg.startsWith(`${def.title}:`), `${name}: ${JSON.stringify(msg)} does not start with the title`);
      }
      assert.ok(def.remedy.trim().length > 20, 'remedy');
      assert.ok(def.title.trim().length > 0, 'title');
    });
  }

  test('the full context shows up in the messages that use it', () => {
    assert.match(failure('UPSTREAM_RESPONSE_TIMEOUT').message(full), /orders within 1500 ms \(3 attempts\)/);
    assert.match(failure('ROUTE_NOT_FOUND').message(full), /POST \/api\/orders\/42 for host api\.example\.com/);
    assert.match(failure('UPSTREAM_CONNECTION_REFUSED').message(full), /\(ECONNREFUSED\)/);
    assert.equal(failure('UPSTREAM_RESPONSE_TIMEOUT').message({ upstream: 'orders', limit: 10000, attempts: 1 }), 'Backend timeout: no response headers from orders within 10000 ms');
  });

  test('codes, statuses and RFC 9209 types are those of the product contract', () => {
    const contract: Array<[FailureCode, number, string | undefined]> = [
      ['ROUTE_NOT_FOUND', 404, 'destination_not_found'],
      ['UPSTREAM_DNS_FAILURE', 502, 'dns_error'],
      ['UPSTREAM_CONNECT_TIMEOUT', 504, 'connection_timeout'],
      ['UPSTREAM_CONNECTION_REFUSED', 502, 'connection_refused'],
      ['UPSTREAM_CONNECTION_CLOSED', 502, 'connection_terminated'],
      ['UPSTREAM_CONNECTION_RESET', 502, 'connection_terminated'],
      ['UPSTREAM_TLS_ERROR', 502, 'tls_protocol_error'],
      ['UPSTREAM_PROTOCOL_MISMATCH', 502, 'tls_protocol_error'],
      ['UPSTREAM_SEND_TIMEOUT', 504, 'connection_write_timeout'],
      ['UPSTREAM_RESPONSE_TIMEOUT', 504, 'http_response_timeout'],
      ['UPSTREAM_BODY_TIMEOUT', 504, 'connection_read_timeout'],
      ['UPSTREAM_INVALID_RESPONSE', 502, 'http_protocol_error'],
      ['UPSTREAM_POOL_EXHAUSTED', 503, 'connection_limit_reached'],
      ['NO_HEALTHY_TARGET', 503, 'destination_unavailable'],
      ['CIRCUIT_OPEN', 503, 'destination_unavailable'],
      ['GATEWAY_TIMEOUT', 504, 'http_response_timeout'],
      ['RATE_LIMITED', 429, 'connection_limit_reached'],
      ['UNAUTHORIZED', 401, undefined],
      ['FORBIDDEN', 403, undefined],
      ['REQUEST_TOO_LARGE', 413, 'http_request_error'],
      ['BAD_REQUEST', 400, 'http_request_error'],
    ];
    for (const [code, status, type] of contract) {
      const def = REGISTRY.get(code);
      assert.ok(def, `${code} is missing from the registry`);
      assert.equal(def.status, status, `${code} status`);
      assert.equal(def.proxyStatus, type, `${code} Proxy-Status type`);
    }
    assert.ok(REGISTRY.has('CLIENT_CLOSED_REQUEST'));
  });

  test('every code has a gRPC status, and gateway failures use the statuses gRPC clients act on', () => {
    for (const def of REGISTRY.values()) assert.ok(def.grpc in GRPC_CODES, `${def.code}: ${def.grpc} is not a gRPC status`);
    // What never reached a backend, or could not, is UNAVAILABLE (gRPC clients may retry it); time
    // limits are DEADLINE_EXCEEDED; the caller's credentials and quotas have their own statuses.
    const contract: Array<[FailureCode, GrpcCodeName]> = [
      ['ROUTE_NOT_FOUND', 'UNIMPLEMENTED'],
      ['UPSTREAM_CONNECTION_REFUSED', 'UNAVAILABLE'],
      ['UPSTREAM_CONNECT_TIMEOUT', 'UNAVAILABLE'],
      ['UPSTREAM_RESPONSE_TIMEOUT', 'DEADLINE_EXCEEDED'],
      ['GATEWAY_TIMEOUT', 'DEADLINE_EXCEEDED'],
      ['RATE_LIMITED', 'RESOURCE_EXHAUSTED'],
      ['UNAUTHORIZED', 'UNAUTHENTICATED'],
      ['FORBIDDEN', 'PERMISSION_DENIED'],
      ['UPSTREAM_INVALID_RESPONSE', 'INTERNAL'],
      ['CIRCUIT_OPEN', 'UNAVAILABLE'],
    ];
    for (const [code, grpc] of contract) assert.equal(failure(code).grpc, grpc, code);
    assert.ok(!Object.values(Object.fromEntries(REGISTRY)).some((d) => d.grpc === 'OK'), 'no failure maps to OK');
  });

  test('each entry is filed under its own code', () => {
    for (const [code, def] of REGISTRY) assert.equal(def.code, code);
  });
});
