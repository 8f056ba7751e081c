/**
 * Classification: a pure function from what was observed during an attempt (the phase it was
 * in, the low-level error, what the gateway learned about the peer) to a failure code, its
 * RFC 9209 error type and the side at fault. The low-level errors are data
 * (src/failures/low-level.ts); this file holds only what the data cannot say: timers, the
 * overall budget and the probe that found a TLS peer behind an http URL. No I/O, no clocks:
 * tested as a table in test/failures/classify.test.ts and test/failures/low-level.test.ts.
 */
import type { FailureCode, Side } from './registry.js';
import { failure } from './registry.js';
import { errorClass, type Phase } from './low-level.js';

export type { Phase } from './low-level.js';

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
  /** Who has to act: the low-level error's own side where it is finer than the code's. */
  side: Side;
}

const TIMEOUT_CODE: Record<Exclude<Phase, 'pool'>, FailureCode> = {
  dns: 'UPSTREAM_DNS_FAILURE',
  connect: 'UPSTREAM_CONNECT_TIMEOUT',
  tls: 'UPSTREAM_CONNECT_TIMEOUT',
  send: 'UPSTREAM_SEND_TIMEOUT',
  ttfb: 'UPSTREAM_RESPONSE_TIMEOUT',
  body: 'UPSTREAM_BODY_TIMEOUT',
};

function result(code: FailureCode, type?: string, side?: Side): Classification {
  const def = failure(code);
  return { code, proxyStatus: type ?? def.proxyStatus ?? 'proxy_internal_error', side: side ?? def.side };
}

/** Maps one failed attempt to its failure code. */
export function classify(e: Evidence): Classification {
  if (e.timeout === 'total') return result('GATEWAY_TIMEOUT');
  if (e.phase === 'pool') return result('UPSTREAM_POOL_EXHAUSTED');
  // RFC 9209 tells a resolver that never answered (dns_timeout) from one that said no.
  if (e.timeout) return result(TIMEOUT_CODE[e.phase], e.phase === 'dns' ? 'dns_timeout' : undefined);
  // An http target whose port speaks TLS: the server closes or answers with a TLS alert.
  if (!e.tls && e.peerSpeaksTls && (e.phase === 'send' || e.phase === 'ttfb')) return result('UPSTREAM_PROTOCOL_MISMATCH');
  const c = e.errorCode ? errorClass(e.errorCode, e.phase) : undefined;
  if (c) {
    const code = c.codes[e.phase] ?? c.codes.default;
    // In the dns phase only the resolver's own failures are DNS failures; the gateway's stay its own.
    if (e.phase === 'dns' && c.side !== 'gateway') return result('UPSTREAM_DNS_FAILURE', undefined, c.origin === 'dns' ? c.side : 'network');
    return result(code, c.proxyStatus, c.side);
  }
  // No code, or one none of the lists names: say what is known, nothing more.
  if (e.phase === 'dns') return result('UPSTREAM_DNS_FAILURE');
  if (e.phase === 'tls') return result('UPSTREAM_TLS_ERROR');
  return result('GATEWAY_INTERNAL_ERROR');
}
