/**
 * Classification: a pure function from what was observed during an attempt (the phase it was
 * in, the low-level error, what the gateway learned about the peer) to a failure code and its
 * RFC 9209 error type. No I/O, no clocks: tested as a table in test/failures/classify.test.ts.
 */
import type { FailureCode } from './registry.js';
import { failure } from './registry.js';

/** Where an exchange was when it failed, in order. */
export type Phase = 'pool' | 'dns' | 'connect' | 'tls' | 'send' | 'ttfb' | 'body';

export interface Evidence {
  phase: Phase;
  /** Low-level error code: an errno (ECONNREFUSED), an undici code (UND_ERR_SOCKET), an OpenSSL one. */
  errorCode?: string | undefined;
  /** A gateway timer fired: the per-phase timeout, or the overall budget. */
  timeout?: 'phase' | 'total' | undefined;
  /** The target was configured as https. */
  tls: boolean;
  /** A probe found that the peer answers TLS (seen on an http target). */
  peerSpeaksTls?: boolean | undefined;
}

export interface Classification {
  code: FailureCode;
  proxyStatus: string;
}

const DNS_ERRORS = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA', 'ENODATA', 'ESERVFAIL', 'ENONAME']);
const REFUSED_ERRORS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'EACCES', 'EPERM']);
const RESET_ERRORS = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);
/** A server that speaks plain HTTP answers a ClientHello with bytes OpenSSL cannot take as a record. */
const PLAINTEXT_PEER_ERRORS = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ERR_SSL_HTTP_REQUEST', 'EPROTO']);
const CERT_ERRORS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
]);
/** An h2c target that answered the HTTP/2 preface as something else, or an h2 one that refused ALPN h2. */
const H2_MISMATCH_ERRORS = new Set(['CAUSEWAY_NOT_H2', 'CAUSEWAY_NO_ALPN_H2', 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL']);
/** RST_STREAM codes that name a malformed exchange rather than a backend giving up. */
const H2_FRAMING_ERRORS = new Set(['H2_RST_PROTOCOL_ERROR', 'H2_RST_FRAME_SIZE_ERROR', 'H2_RST_COMPRESSION_ERROR', 'H2_RST_FLOW_CONTROL_ERROR', 'H2_PROTOCOL_ERROR']);
/** The peer closed (FIN) before the response was complete. */
const CLOSED_ERRORS = new Set(['UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'ERR_STREAM_PREMATURE_CLOSE']);

function result(code: FailureCode, type?: string): Classification {
  return { code, proxyStatus: type ?? failure(code).proxyStatus ?? 'proxy_internal_error' };
}

/** Maps one failed attempt to its failure code. */
export function classify(e: Evidence): Classification {
  if (e.timeout === 'total') return result('GATEWAY_TIMEOUT');
  const code = e.errorCode ?? '';
  switch (e.phase) {
    case 'pool':
      return result('UPSTREAM_POOL_EXHAUSTED');
    case 'dns':
      // RFC 9209 tells a resolver that never answered from one that said no.
      return result('UPSTREAM_DNS_FAILURE', e.timeout ? 'dns_timeout' : undefined);
    case 'connect':
      if (e.timeout || code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return result('UPSTREAM_CONNECT_TIMEOUT');
      if (DNS_ERRORS.has(code)) return result('UPSTREAM_DNS_FAILURE');
      if (RESET_ERRORS.has(code)) return result('UPSTREAM_CONNECTION_RESET');
      if (REFUSED_ERRORS.has(code)) return result('UPSTREAM_CONNECTION_REFUSED');
      if (H2_MISMATCH_ERRORS.has(code)) return result('UPSTREAM_PROTOCOL_MISMATCH');
      // Any other connect error (a socket error the kernel names differently) still means no connection.
      return result('UPSTREAM_CONNECTION_REFUSED');
    case 'tls':
      if (e.timeout) return result('UPSTREAM_CONNECT_TIMEOUT');
      if (PLAINTEXT_PEER_ERRORS.has(code) || H2_MISMATCH_ERRORS.has(code)) return result('UPSTREAM_PROTOCOL_MISMATCH');
      if (CERT_ERRORS.has(code) || code.startsWith('CERT_') || code.startsWith('ERR_TLS_CERT')) {
        return result('UPSTREAM_TLS_ERROR', 'tls_certificate_error');
      }
      return result('UPSTREAM_TLS_ERROR', 'tls_protocol_error');
    case 'send':
    case 'ttfb':
    case 'body': {
      if (e.timeout) {
        if (e.phase === 'send') return result('UPSTREAM_SEND_TIMEOUT');
        return result(e.phase === 'ttfb' ? 'UPSTREAM_RESPONSE_TIMEOUT' : 'UPSTREAM_BODY_TIMEOUT');
      }
      if (code === 'UND_ERR_BODY_TIMEOUT') return result('UPSTREAM_BODY_TIMEOUT');
      if (code === 'UND_ERR_HEADERS_TIMEOUT') return result('UPSTREAM_RESPONSE_TIMEOUT');
      // An http target whose port speaks TLS: the server closes or answers with a TLS alert.
      if (!e.tls && e.peerSpeaksTls && e.phase !== 'body') return result('UPSTREAM_PROTOCOL_MISMATCH');
      // undici reports any parse error after a Content-Length header as a length mismatch: before
      // the headers were complete it is a malformed head (a bad header line, conflicting lengths).
      if (code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' && e.phase !== 'body') return result('UPSTREAM_INVALID_RESPONSE');
      if (code.startsWith('HPE_') || code === 'UND_ERR_INFO' || code === 'UND_ERR_HEADERS_OVERFLOW' || code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') {
        return result('UPSTREAM_INVALID_RESPONSE');
      }
      if (RESET_ERRORS.has(code)) return result('UPSTREAM_CONNECTION_RESET');
      if (CLOSED_ERRORS.has(code)) return result('UPSTREAM_CONNECTION_CLOSED');
      // HTTP/2 (src/upstream/h2-pool.ts): a stream the backend never processed (GOAWAY, REFUSED_STREAM)
      // or a session that ended is a close; a stream reset for a framing fault is a bad response;
      // any other RST_STREAM is a reset.
      if (code === 'H2_GOAWAY' || code === 'H2_RST_REFUSED_STREAM' || code === 'H2_SESSION_CLOSED') return result('UPSTREAM_CONNECTION_CLOSED');
      if (H2_FRAMING_ERRORS.has(code)) return result('UPSTREAM_INVALID_RESPONSE');
      if (code.startsWith('H2_RST_')) return result('UPSTREAM_CONNECTION_RESET');
      return result('UPSTREAM_CONNECTION_CLOSED');
    }
  }
}
