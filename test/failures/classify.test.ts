import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { classify, type Evidence } from '../../src/failures/classify.js';
import { REGISTRY, type FailureCode } from '../../src/failures/registry.js';

interface Row {
  evidence: Evidence;
  code: FailureCode;
  proxyStatus: string;
}

/** http target unless `tls: true` is given. */
const e = (phase: Evidence['phase'], errorCode?: string, more: Partial<Evidence> = {}): Evidence => ({ phase, errorCode, tls: false, ...more });

// One row per branch of classify(), with representative errno, undici and OpenSSL codes.
const TABLE: Row[] = [
  // The overall budget wins over whatever the phase says.
  { evidence: e('pool', undefined, { timeout: 'total' }), code: 'GATEWAY_TIMEOUT', proxyStatus: 'http_response_timeout' },
  { evidence: e('dns', 'ENOTFOUND', { timeout: 'total' }), code: 'GATEWAY_TIMEOUT', proxyStatus: 'http_response_timeout' },
  { evidence: e('connect', 'ETIMEDOUT', { timeout: 'total' }), code: 'GATEWAY_TIMEOUT', proxyStatus: 'http_response_timeout' },
  { evidence: e('tls', undefined, { timeout: 'total', tls: true }), code: 'GATEWAY_TIMEOUT', proxyStatus: 'http_response_timeout' },
  { evidence: e('send', undefined, { timeout: 'total' }), code: 'GATEWAY_TIMEOUT', proxyStatus: 'http_response_timeout' },
  { evidence: e('ttfb', 'UND_ERR_ABORTED', { timeout: 'total' }), code: 'GATEWAY_TIMEOUT', proxyStatus: 'http_response_timeout' },
  { evidence: e('body', 'ECONNRESET', { timeout: 'total' }), code: 'GATEWAY_TIMEOUT', proxyStatus: 'http_response_timeout' },

  // pool: queue full or lease timeout.
  { evidence: e('pool'), code: 'UPSTREAM_POOL_EXHAUSTED', proxyStatus: 'connection_limit_reached' },
  { evidence: e('pool', 'queue-timeout', { timeout: 'phase' }), code: 'UPSTREAM_POOL_EXHAUSTED', proxyStatus: 'connection_limit_reached' },
  { evidence: e('pool', 'queue-full'), code: 'UPSTREAM_POOL_EXHAUSTED', proxyStatus: 'connection_limit_reached' },

  // dns: whatever the resolver said, and a resolver that never answered.
  { evidence: e('dns', 'ENOTFOUND'), code: 'UPSTREAM_DNS_FAILURE', proxyStatus: 'dns_error' },
  { evidence: e('dns', 'EAI_AGAIN'), code: 'UPSTREAM_DNS_FAILURE', proxyStatus: 'dns_error' },
  { evidence: e('dns', 'ESERVFAIL'), code: 'UPSTREAM_DNS_FAILURE', proxyStatus: 'dns_error' },
  // RFC 9209 tells a resolver that did not answer (dns_timeout) from one that said no (dns_error).
  { evidence: e('dns', 'ETIMEDOUT', { timeout: 'phase' }), code: 'UPSTREAM_DNS_FAILURE', proxyStatus: 'dns_timeout' },
  { evidence: e('dns', undefined, { timeout: 'phase' }), code: 'UPSTREAM_DNS_FAILURE', proxyStatus: 'dns_timeout' },
  { evidence: e('dns'), code: 'UPSTREAM_DNS_FAILURE', proxyStatus: 'dns_error' },

  // connect: timeouts (gateway timer, kernel, undici).
  { evidence: e('connect', 'ETIMEDOUT', { timeout: 'phase' }), code: 'UPSTREAM_CONNECT_TIMEOUT', proxyStatus: 'connection_timeout' },
  { evidence: e('connect', undefined, { timeout: 'phase' }), code: 'UPSTREAM_CONNECT_TIMEOUT', proxyStatus: 'connection_timeout' },
  { evidence: e('connect', 'ETIMEDOUT'), code: 'UPSTREAM_CONNECT_TIMEOUT', proxyStatus: 'connection_timeout' },
  { evidence: e('connect', 'UND_ERR_CONNECT_TIMEOUT'), code: 'UPSTREAM_CONNECT_TIMEOUT', proxyStatus: 'connection_timeout' },
  { evidence: e('connect', 'ECONNREFUSED', { timeout: 'phase' }), code: 'UPSTREAM_CONNECT_TIMEOUT', proxyStatus: 'connection_timeout' },
  // connect: a resolver error surfacing from net.connect.
  { evidence: e('connect', 'ENOTFOUND'), code: 'UPSTREAM_DNS_FAILURE', proxyStatus: 'dns_error' },
  { evidence: e('connect', 'EAI_AGAIN'), code: 'UPSTREAM_DNS_FAILURE', proxyStatus: 'dns_error' },
  { evidence: e('connect', 'EAI_NONAME'), code: 'UPSTREAM_DNS_FAILURE', proxyStatus: 'dns_error' },
  { evidence: e('connect', 'ENODATA'), code: 'UPSTREAM_DNS_FAILURE', proxyStatus: 'dns_error' },
  // connect: reset while connecting.
  { evidence: e('connect', 'ECONNRESET'), code: 'UPSTREAM_CONNECTION_RESET', proxyStatus: 'connection_terminated' },
  { evidence: e('connect', 'EPIPE'), code: 'UPSTREAM_CONNECTION_RESET', proxyStatus: 'connection_terminated' },
  { evidence: e('connect', 'ECONNABORTED'), code: 'UPSTREAM_CONNECTION_RESET', proxyStatus: 'connection_terminated' },
  // connect: refused (a RST: nothing listens, or a firewall rejects).
  { evidence: e('connect', 'ECONNREFUSED'), code: 'UPSTREAM_CONNECTION_REFUSED', proxyStatus: 'connection_refused' },
  // connect: the network (or the gateway host's firewall) said no.
  { evidence: e('connect', 'EHOSTUNREACH'), code: 'UPSTREAM_HOST_UNREACHABLE', proxyStatus: 'destination_ip_unroutable' },
  { evidence: e('connect', 'ENETUNREACH'), code: 'UPSTREAM_HOST_UNREACHABLE', proxyStatus: 'destination_ip_unroutable' },
  { evidence: e('connect', 'EACCES'), code: 'UPSTREAM_HOST_UNREACHABLE', proxyStatus: 'destination_ip_unroutable' },
  { evidence: e('connect', 'EPERM'), code: 'UPSTREAM_HOST_UNREACHABLE', proxyStatus: 'destination_ip_unroutable' },
  // connect: the gateway's own resources.
  { evidence: e('connect', 'EADDRNOTAVAIL'), code: 'GATEWAY_RESOURCE_EXHAUSTED', proxyStatus: 'proxy_internal_error' },
  { evidence: e('connect', 'EMFILE'), code: 'GATEWAY_RESOURCE_EXHAUSTED', proxyStatus: 'proxy_internal_error' },
  { evidence: e('dns', 'EMFILE'), code: 'GATEWAY_RESOURCE_EXHAUSTED', proxyStatus: 'proxy_internal_error' },
  // connect: no code at all is not evidence of a refusal.
  { evidence: e('connect'), code: 'GATEWAY_INTERNAL_ERROR', proxyStatus: 'proxy_internal_error' },

  // tls: a handshake that never finished counts against `connect`.
  { evidence: e('tls', 'ETIMEDOUT', { timeout: 'phase', tls: true }), code: 'UPSTREAM_CONNECT_TIMEOUT', proxyStatus: 'connection_timeout' },
  // tls: the peer answered the ClientHello with plain HTTP.
  { evidence: e('tls', 'ERR_SSL_WRONG_VERSION_NUMBER', { tls: true }), code: 'UPSTREAM_PROTOCOL_MISMATCH', proxyStatus: 'tls_protocol_error' },
  { evidence: e('tls', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', { tls: true }), code: 'UPSTREAM_PROTOCOL_MISMATCH', proxyStatus: 'tls_protocol_error' },
  { evidence: e('tls', 'ERR_SSL_HTTP_REQUEST', { tls: true }), code: 'UPSTREAM_PROTOCOL_MISMATCH', proxyStatus: 'tls_protocol_error' },
  { evidence: e('tls', 'EPROTO', { tls: true }), code: 'UPSTREAM_PROTOCOL_MISMATCH', proxyStatus: 'tls_protocol_error' },
  // tls: certificate problems, by name and by prefix.
  { evidence: e('tls', 'DEPTH_ZERO_SELF_SIGNED_CERT', { tls: true }), code: 'UPSTREAM_TLS_ERROR', proxyStatus: 'tls_certificate_error' },
  { evidence: e('tls', 'SELF_SIGNED_CERT_IN_CHAIN', { tls: true }), code: 'UPSTREAM_TLS_ERROR', proxyStatus: 'tls_certificate_error' },
  { evidence: e('tls', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', { tls: true }), code: 'UPSTREAM_TLS_ERROR', proxyStatus: 'tls_certificate_error' },
  { evidence: e('tls', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', { tls: true }), code: 'UPSTREAM_TLS_ERROR', proxyStatus: 'tls_certificate_error' },
  { evidence: e('tls', 'CERT_HAS_EXPIRED', { tls: true }), code: 'UPSTREAM_TLS_ERROR', proxyStatus: 'tls_certificate_error' },
  { evidence: e('tls', 'ERR_TLS_CERT_ALTNAME_INVALID', { tls: true }), code: 'UPSTREAM_TLS_ERROR', proxyStatus: 'tls_certificate_error' },
  { evidence: e('tls', 'HOSTNAME_MISMATCH', { tls: true }), code: 'UPSTREAM_TLS_ERROR', proxyStatus: 'tls_certificate_error' },
  { evidence: e('tls', 'CERT_SIGNATURE_FAILURE', { tls: true }), code: 'UPSTREAM_TLS_ERROR', proxyStatus: 'tls_certificate_error' },
  { evidence: e('tls', 'ERR_TLS_CERT_SOMETHING_NEW', { tls: true }), code: 'UPSTREAM_TLS_ERROR', proxyStatus: 'tls_certificate_error' },
  // tls: anything else is a protocol failure (versions, ciphers, alerts, a reset mid-handshake).
  { evidence: e('tls', 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', { tls: true }), code: 'UPSTREAM_TLS_ERROR', proxyStatus: 'tls_protocol_error' },
  { evidence: e('tls', 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE', { tls: true }), code: 'UPSTREAM_TLS_ERROR', proxyStatus: 'tls_protocol_error' },
  { evidence: e('tls', 'ECONNRESET', { tls: true }), code: 'UPSTREAM_TLS_ERROR', proxyStatus: 'tls_protocol_error' },
  { evidence: e('tls', undefined, { tls: true }), code: 'UPSTREAM_TLS_ERROR', proxyStatus: 'tls_protocol_error' },

  // send/ttfb/body: the gateway's own phase timers.
  { evidence: e('send', undefined, { timeout: 'phase' }), code: 'UPSTREAM_SEND_TIMEOUT', proxyStatus: 'connection_write_timeout' },
  { evidence: e('send', 'UND_ERR_ABORTED', { timeout: 'phase' }), code: 'UPSTREAM_SEND_TIMEOUT', proxyStatus: 'connection_write_timeout' },
  { evidence: e('ttfb', undefined, { timeout: 'phase' }), code: 'UPSTREAM_RESPONSE_TIMEOUT', proxyStatus: 'http_response_timeout' },
  { evidence: e('ttfb', 'UND_ERR_ABORTED', { timeout: 'phase', tls: true }), code: 'UPSTREAM_RESPONSE_TIMEOUT', proxyStatus: 'http_response_timeout' },
  { evidence: e('body', undefined, { timeout: 'phase' }), code: 'UPSTREAM_BODY_TIMEOUT', proxyStatus: 'connection_read_timeout' },
  // send/ttfb/body: undici's own timers.
  { evidence: e('body', 'UND_ERR_BODY_TIMEOUT'), code: 'UPSTREAM_BODY_TIMEOUT', proxyStatus: 'connection_read_timeout' },
  { evidence: e('ttfb', 'UND_ERR_BODY_TIMEOUT'), code: 'UPSTREAM_BODY_TIMEOUT', proxyStatus: 'connection_read_timeout' },
  { evidence: e('ttfb', 'UND_ERR_HEADERS_TIMEOUT'), code: 'UPSTREAM_RESPONSE_TIMEOUT', proxyStatus: 'http_response_timeout' },
  { evidence: e('send', 'UND_ERR_HEADERS_TIMEOUT'), code: 'UPSTREAM_RESPONSE_TIMEOUT', proxyStatus: 'http_response_timeout' },
  // http target, TLS peer (seen before any response): the configured scheme is wrong.
  { evidence: e('ttfb', 'UND_ERR_SOCKET', { peerSpeaksTls: true }), code: 'UPSTREAM_PROTOCOL_MISMATCH', proxyStatus: 'tls_protocol_error' },
  { evidence: e('send', 'ECONNRESET', { peerSpeaksTls: true }), code: 'UPSTREAM_PROTOCOL_MISMATCH', proxyStatus: 'tls_protocol_error' },
  { evidence: e('ttfb', 'HPE_INVALID_CONSTANT', { peerSpeaksTls: true }), code: 'UPSTREAM_PROTOCOL_MISMATCH', proxyStatus: 'tls_protocol_error' },
  // ... but not once the body was flowing, and not for an https target.
  { evidence: e('body', 'UND_ERR_SOCKET', { peerSpeaksTls: true }), code: 'UPSTREAM_CONNECTION_CLOSED', proxyStatus: 'connection_terminated' },
  { evidence: e('ttfb', 'UND_ERR_SOCKET', { peerSpeaksTls: true, tls: true }), code: 'UPSTREAM_CONNECTION_CLOSED', proxyStatus: 'connection_terminated' },
  // A probe that found no TLS leaves the ordinary classification.
  { evidence: e('ttfb', 'UND_ERR_SOCKET', { peerSpeaksTls: false }), code: 'UPSTREAM_CONNECTION_CLOSED', proxyStatus: 'connection_terminated' },
  // send/ttfb/body: malformed responses.
  { evidence: e('ttfb', 'HPE_INVALID_CONSTANT'), code: 'UPSTREAM_INVALID_RESPONSE', proxyStatus: 'http_protocol_error' },
  { evidence: e('ttfb', 'HPE_INVALID_HEADER_TOKEN'), code: 'UPSTREAM_INVALID_RESPONSE', proxyStatus: 'http_protocol_error' },
  { evidence: e('body', 'HPE_INVALID_CHUNK_SIZE'), code: 'UPSTREAM_INVALID_RESPONSE', proxyStatus: 'http_protocol_error' },
  { evidence: e('ttfb', 'UND_ERR_INFO'), code: 'UPSTREAM_INVALID_RESPONSE', proxyStatus: 'http_protocol_error' },
  // A head too large is named as such ("upstream sent too big header"), not as malformed.
  { evidence: e('ttfb', 'UND_ERR_HEADERS_OVERFLOW'), code: 'UPSTREAM_HEADERS_TOO_LARGE', proxyStatus: 'http_response_header_section_size' },
  // The gateway sets no response size limit: undici raising one is the gateway's own doing.
  { evidence: e('body', 'UND_ERR_RES_EXCEEDED_MAX_SIZE'), code: 'GATEWAY_INTERNAL_ERROR', proxyStatus: 'proxy_internal_error' },
  // undici's length mismatch before the head was complete is a malformed head...
  { evidence: e('ttfb', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH'), code: 'UPSTREAM_INVALID_RESPONSE', proxyStatus: 'http_protocol_error' },
  // send/ttfb/body: RST.
  { evidence: e('send', 'ECONNRESET'), code: 'UPSTREAM_CONNECTION_RESET', proxyStatus: 'connection_terminated' },
  { evidence: e('send', 'EPIPE'), code: 'UPSTREAM_CONNECTION_RESET', proxyStatus: 'connection_terminated' },
  { evidence: e('ttfb', 'ECONNRESET', { tls: true }), code: 'UPSTREAM_CONNECTION_RESET', proxyStatus: 'connection_terminated' },
  { evidence: e('body', 'ECONNABORTED'), code: 'UPSTREAM_CONNECTION_RESET', proxyStatus: 'connection_terminated' },
  // send/ttfb/body: FIN before a full response.
  { evidence: e('ttfb', 'UND_ERR_SOCKET'), code: 'UPSTREAM_CONNECTION_CLOSED', proxyStatus: 'connection_terminated' },
  { evidence: e('send', 'UND_ERR_CLOSED'), code: 'UPSTREAM_CONNECTION_CLOSED', proxyStatus: 'connection_terminated' },
  // ... and during the body, a backend that closed before sending all it announced.
  { evidence: e('body', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH'), code: 'UPSTREAM_CONNECTION_CLOSED', proxyStatus: 'connection_terminated' },
  { evidence: e('body', 'ERR_STREAM_PREMATURE_CLOSE'), code: 'UPSTREAM_CONNECTION_CLOSED', proxyStatus: 'connection_terminated' },
  // send/ttfb/body: anything unrecognised is not blamed on the backend.
  { evidence: e('ttfb', 'UND_ERR_SOMETHING_NEW'), code: 'GATEWAY_INTERNAL_ERROR', proxyStatus: 'proxy_internal_error' },
  { evidence: e('body'), code: 'GATEWAY_INTERNAL_ERROR', proxyStatus: 'proxy_internal_error' },
  // The client's own body length was wrong.
  { evidence: e('send', 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH'), code: 'BAD_REQUEST', proxyStatus: 'http_request_error' },
  // An established connection the kernel gave up on: the path, not a refusal.
  { evidence: e('body', 'ETIMEDOUT'), code: 'UPSTREAM_HOST_UNREACHABLE', proxyStatus: 'destination_ip_unroutable' },

  // HTTP/2 targets (src/upstream/h2-pool.ts): the handshake, and every RST_STREAM code a backend can send.
  { evidence: e('connect', 'CAUSEWAY_NOT_H2'), code: 'UPSTREAM_PROTOCOL_MISMATCH', proxyStatus: 'tls_protocol_error' },
  { evidence: e('connect', 'H2_SESSION_CLOSED'), code: 'UPSTREAM_CONNECTION_REFUSED', proxyStatus: 'connection_refused' },
  { evidence: e('tls', 'CAUSEWAY_NO_ALPN_H2', { tls: true }), code: 'UPSTREAM_PROTOCOL_MISMATCH', proxyStatus: 'tls_protocol_error' },
  { evidence: e('tls', 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL', { tls: true }), code: 'UPSTREAM_PROTOCOL_MISMATCH', proxyStatus: 'tls_protocol_error' },
  { evidence: e('pool', 'CAUSEWAY_POOL_QUEUE_TIMEOUT'), code: 'UPSTREAM_POOL_EXHAUSTED', proxyStatus: 'connection_limit_reached' },
  { evidence: e('ttfb', 'H2_GOAWAY'), code: 'UPSTREAM_CONNECTION_CLOSED', proxyStatus: 'connection_terminated' },
  { evidence: e('send', 'H2_SESSION_CLOSED'), code: 'UPSTREAM_CONNECTION_CLOSED', proxyStatus: 'connection_terminated' },
  { evidence: e('body', 'H2_PROTOCOL_ERROR'), code: 'UPSTREAM_INVALID_RESPONSE', proxyStatus: 'http_protocol_error' },
  ...(
    [
      ['PROTOCOL_ERROR', 'UPSTREAM_INVALID_RESPONSE', 'http_protocol_error'],
      ['INTERNAL_ERROR', 'UPSTREAM_CONNECTION_RESET', 'connection_terminated'],
      ['FLOW_CONTROL_ERROR', 'UPSTREAM_INVALID_RESPONSE', 'http_protocol_error'],
      ['SETTINGS_TIMEOUT', 'UPSTREAM_CONNECTION_RESET', 'connection_terminated'],
      ['STREAM_CLOSED', 'UPSTREAM_CONNECTION_RESET', 'connection_terminated'],
      ['FRAME_SIZE_ERROR', 'UPSTREAM_INVALID_RESPONSE', 'http_protocol_error'],
      ['REFUSED_STREAM', 'UPSTREAM_CONNECTION_CLOSED', 'connection_terminated'],
      ['CANCEL', 'UPSTREAM_CONNECTION_RESET', 'connection_terminated'],
      ['COMPRESSION_ERROR', 'UPSTREAM_INVALID_RESPONSE', 'http_protocol_error'],
      ['CONNECT_ERROR', 'UPSTREAM_CONNECTION_RESET', 'connection_terminated'],
      ['ENHANCE_YOUR_CALM', 'UPSTREAM_CONNECTION_RESET', 'connection_terminated'],
      ['INADEQUATE_SECURITY', 'UPSTREAM_CONNECTION_RESET', 'connection_terminated'],
      ['HTTP_1_1_REQUIRED', 'UPSTREAM_CONNECTION_RESET', 'connection_terminated'],
    ] as const
  ).flatMap(([rst, code, type]) =>
    (['send', 'ttfb', 'body'] as const).map((phase): Row => ({ evidence: e(phase, `H2_RST_${rst}`), code, proxyStatus: type })),
  ),
];

/** A readable name for a row: phase, code, flags. */
function describeEvidence(ev: Evidence): string {
  const flags = [ev.tls ? 'https' : 'http', ev.timeout ? `timeout=${ev.timeout}` : '', ev.peerSpeaksTls !== undefined ? `peerSpeaksTls=${ev.peerSpeaksTls}` : ''].filter(Boolean);
  return `${ev.phase} ${ev.errorCode ?? '(no code)'} [${flags.join(' ')}]`;
}

describe('classify', () => {
  for (const row of TABLE) {
    test(`${describeEvidence(row.evidence)} → ${row.code} / ${row.proxyStatus}`, () => {
      const { code, proxyStatus } = classify(row.evidence);
      assert.deepEqual({ code, proxyStatus }, { code: row.code, proxyStatus: row.proxyStatus });
    });
  }
});

describe('the classification table', () => {
  test('covers every phase, with and without a timeout', () => {
    for (const phase of ['pool', 'dns', 'connect', 'tls', 'send', 'ttfb', 'body'] as const) {
      assert.ok(TABLE.some((r) => r.evidence.phase === phase && r.evidence.timeout === 'phase'), `${phase} with a phase timeout`);
      assert.ok(TABLE.some((r) => r.evidence.phase === phase && r.evidence.timeout === 'total'), `${phase} with the total budget gone`);
      assert.ok(TABLE.some((r) => r.evidence.phase === phase && r.evidence.timeout === undefined), `${phase} without a timeout`);
    }
  });

  test('reaches every failure code an attempt can end in', () => {
    const attemptCodes: FailureCode[] = [
      'UPSTREAM_DNS_FAILURE',
      'UPSTREAM_CONNECT_TIMEOUT',
      'UPSTREAM_CONNECTION_REFUSED',
      'UPSTREAM_CONNECTION_CLOSED',
      'UPSTREAM_CONNECTION_RESET',
      'UPSTREAM_TLS_ERROR',
      'UPSTREAM_PROTOCOL_MISMATCH',
      'UPSTREAM_SEND_TIMEOUT',
      'UPSTREAM_RESPONSE_TIMEOUT',
      'UPSTREAM_BODY_TIMEOUT',
      'UPSTREAM_INVALID_RESPONSE',
      'UPSTREAM_HEADERS_TOO_LARGE',
      'UPSTREAM_HOST_UNREACHABLE',
      'UPSTREAM_POOL_EXHAUSTED',
      'GATEWAY_TIMEOUT',
      'GATEWAY_RESOURCE_EXHAUSTED',
      'GATEWAY_INTERNAL_ERROR',
    ];
    for (const code of attemptCodes) assert.ok(TABLE.some((r) => r.code === code), code);
  });

  test("uses the registry's Proxy-Status type except where RFC 9209 has a finer one", () => {
    for (const row of TABLE) {
      const def = REGISTRY.get(row.code)!;
      if (row.proxyStatus === 'tls_certificate_error') assert.equal(row.code, 'UPSTREAM_TLS_ERROR');
      else if (row.proxyStatus === 'dns_timeout') assert.equal(row.code, 'UPSTREAM_DNS_FAILURE');
      else assert.equal(row.proxyStatus, def.proxyStatus, row.code);
    }
  });

  test('is pure: the same evidence always gives the same answer and is not modified', () => {
    for (const row of TABLE) {
      const copy = structuredClone(row.evidence);
      assert.deepEqual(classify(row.evidence), classify(copy));
      assert.deepEqual(row.evidence, copy);
    }
  });
});
