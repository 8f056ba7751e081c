/**
 * Turning a failure into what the client receives: status, X-Causeway-Error, RFC 9209
 * Proxy-Status and the JSON body. The target address and the remedy only appear in the
 * body when `errors.expose` is on.
 */
import { failure, type FailureCode, type FailureContext } from './registry.js';
import type { Phase } from './classify.js';
import { GRPC_CODES, encodeGrpcMessage } from '../grpc/status.js';

export interface FailureReport {
  code: FailureCode;
  /** RFC 9209 type; the registry's default unless classification refined it. */
  proxyStatus?: string | undefined;
  requestId: string;
  phase?: Phase | 'route' | 'request' | 'budget' | 'breaker' | 'balance' | undefined;
  context: FailureContext;
  /** Only sent when exposed: `host:port` of the last target tried. */
  target?: string | undefined;
  /** A status other than the code's own (an injected fault answers with the configured one). */
  status?: number | undefined;
  /** Extra headers (Retry-After). */
  headers?: Record<string, string> | undefined;
}

export interface ErrorBody {
  error: {
    code: FailureCode;
    message: string;
    requestId: string;
    phase: string | null;
    upstream: string | null;
    attempts: number;
    target?: string;
    hint?: string;
  };
}

/** ASCII for the non-ASCII a message may hold (a header value is ASCII): `—` becomes `-`, not a gap. */
const ASCII: Record<string, string> = { '—': '-', '–': '-', '‐': '-', '…': '...', '×': 'x', '→': '->', '≥': '>=', '≤': '<=', '‘': "'", '’': "'", '“': '"', '”': '"', 'µ': 'u', '\u00a0': ' ', '\n': ' ', '\t': ' ' };

/** The Proxy-Status value: `causeway; error=<type>; details="<message>"`. */
export function proxyStatusValue(type: string, details: string): string {
  const ascii = details
    .replace(/[^\x20-\x7e]/g, (c) => ASCII[c] ?? '')
    .replace(/ {2,}/g, ' ')
    .trim();
  return `causeway; error=${type}; details="${ascii.replace(/["\\]/g, '\\$&')}"`;
}

export function errorBody(r: FailureReport, expose: boolean): ErrorBody {
  const def = failure(r.code);
  const body: ErrorBody = {
    error: {
      code: r.code,
      message: def.message(r.context),
      requestId: r.requestId,
      phase: r.phase ?? null,
      upstream: r.context.upstream ?? null,
      attempts: r.context.attempts ?? 0,
    },
  };
  if (expose) {
    if (r.target) body.error.target = r.target;
    body.error.hint = def.remedy;
  }
  return body;
}

/** Headers and body of a gateway-generated response. */
export function renderFailure(r: FailureReport, expose: boolean): { status: number; headers: Record<string, string>; body: string } {
  const def = failure(r.code);
  const body = errorBody(r, expose);
  const headers: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'x-request-id': r.requestId,
    'x-causeway-error': r.code,
    ...r.headers,
  };
  const type = r.proxyStatus ?? def.proxyStatus;
  if (type) headers['proxy-status'] = proxyStatusValue(type, body.error.message);
  return { status: r.status ?? def.status, headers, body: JSON.stringify(body) };
}

/** A complete raw HTTP/1.1 response, for errors raised before node:http made a response object. */
export function rawFailure(r: FailureReport, expose: boolean): string {
  const { status, headers, body } = renderFailure(r, expose);
  let head = `HTTP/1.1 ${status} ${failure(r.code).title}\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  return `${head}content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}

/**
 * The gRPC form of a failure (docs/grpc.md): HTTP 200, content-type application/grpc,
 * `grpc-status` from the registry, `grpc-message` with the message the JSON body would carry
 * (percent-encoded), and the usual X-Causeway-Error, Proxy-Status and X-Request-Id. Sent as a
 * trailers-only response (`headers`); once a response has started, `trailers` end it in-band.
 */
export function renderGrpcFailure(r: FailureReport, expose: boolean): { headers: string[]; trailers: Record<string, string> } {
  const { headers } = renderFailure(r, expose);
  const message = encodeGrpcMessage(errorBody(r, expose).error.message);
  const status = String(GRPC_CODES[failure(r.code).grpc]);
  const out = ['content-type', 'application/grpc', 'grpc-status', status, 'grpc-message', message];
  for (const name in headers) if (name !== 'content-type' && name !== 'cache-control') out.push(name, headers[name]!);
  return { headers: out, trailers: { 'grpc-status': status, 'grpc-message': message, 'x-causeway-error': r.code } };
}
