/**
 * gRPC on the wire, as far as a gateway needs it: status codes and their names, which requests
 * are gRPC, `grpc-timeout` both ways, `grpc-message` percent-encoding, the service and method of
 * a call, and message framing (counted, never parsed). Pure functions, tested as tables in
 * test/grpc/status.test.ts. Spec: grpc/grpc doc/PROTOCOL-HTTP2.md and doc/statuscodes.md.
 */

/** Every gRPC status code, by name (doc/statuscodes.md). */
export const GRPC_CODES = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type GrpcCodeName = keyof typeof GRPC_CODES;

const NAMES: readonly GrpcCodeName[] = Object.keys(GRPC_CODES) as GrpcCodeName[];

/** The name of a status code ("UNAVAILABLE"), or `CODE_<n>` for a number outside the spec. */
export function grpcCodeName(code: number): string {
  return NAMES[code] ?? `CODE_${code}`;
}

/**
 * Backend statuses that say the backend (not the caller) failed: they count against the target
 * for passive health and against the breaker, as 502/503/504 do. The caller's own mistakes
 * (INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED...) and business outcomes do not; nor does
 * RESOURCE_EXHAUSTED (a quota answer: the backend is up and protecting itself) or CANCELLED.
 */
export const GRPC_BACKEND_FAILURES: ReadonlySet<number> = new Set([
  GRPC_CODES.UNKNOWN,
  GRPC_CODES.DEADLINE_EXCEEDED,
  GRPC_CODES.INTERNAL,
  GRPC_CODES.UNAVAILABLE,
  GRPC_CODES.DATA_LOSS,
]);

/** A status name as `retries.on` spells it: kebab case (`resource-exhausted`). */
export const grpcRetryName = (name: string): string => name.toLowerCase().replace(/_/g, '-');

/** Names a route may list in `retries.on` for gRPC calls; OK is never a reason to retry. */
export const GRPC_RETRY_NAMES = NAMES.filter((n) => n !== 'OK').map(grpcRetryName) as readonly string[];

/** The status code a `retries.on` name stands for, or undefined when the name is not a gRPC status. */
export function grpcCodeOfRetryName(name: string): number | undefined {
  const key = name.toUpperCase().replace(/-/g, '_') as GrpcCodeName;
  return name !== 'ok' && key in GRPC_CODES ? GRPC_CODES[key] : undefined;
}

/** A gRPC request: content-type application/grpc, alone or with a subtype (+proto, +json). */
export function isGrpcContentType(ct: string | string[] | undefined): boolean {
  if (typeof ct !== 'string' || ct.length < 16) return false;
  if (ct.charCodeAt(0) !== 97 /* a */ && ct.charCodeAt(0) !== 65 /* A */) return false;
  const lower = ct.slice(0, 16).toLowerCase();
  if (lower !== 'application/grpc') return false;
  const next = ct.charCodeAt(16);
  // "application/grpc", "application/grpc+proto", "application/grpc;..."; not "application/grpc-web".
  return Number.isNaN(next) || next === 43 /* + */ || next === 59 /* ; */;
}

const TIMEOUT_UNITS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/**
 * Parses `grpc-timeout` (1 to 8 digits and a unit H M S m u n) into milliseconds; undefined
 * when absent or malformed (the spec has no "invalid" answer: a malformed deadline is ignored).
 */
export function parseGrpcTimeout(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!m) return undefined;
  const ms = Number(m[1]) * TIMEOUT_UNITS[m[2]!]!;
  return ms > 0 ? ms : undefined;
}

/** Milliseconds as a `grpc-timeout` value: whole milliseconds while they fit in 8 digits, then seconds. */
export function formatGrpcTimeout(ms: number): string {
  const whole = Math.max(1, Math.floor(ms));
  if (whole < 100_000_000) return `${whole}m`;
  const s = Math.ceil(whole / 1000);
  return s < 100_000_000 ? `${s}S` : `${Math.min(99_999_999, Math.ceil(s / 3600))}H`;
}

/**
 * Percent-encodes a `grpc-message` value: bytes outside printable ASCII (0x20-0x7E) and "%"
 * itself become %XX of their UTF-8 bytes (PROTOCOL-HTTP2.md, "Status-Message").
 */
export function encodeGrpcMessage(message: string): string {
  if (!/[^\x20-\x24\x26-\x7e]/.test(message)) return message;
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Decodes a percent-encoded `grpc-message` (malformed escapes are kept as they are, as the spec asks). */
export function decodeGrpcMessage(value: string): string {
  if (!value.includes('%')) return value;
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x25 && i + 2 < value.length && /^[0-9A-Fa-f]{2}$/.test(value.slice(i + 1, i + 3))) {
      bytes.push(parseInt(value.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(c & 0xff);
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Service and method of a gRPC path `/package.Service/Method`; null for any other shape. */
export function grpcMethodOf(path: string): { service: string; method: string } | null {
  const q = path.indexOf('?');
  const p = q === -1 ? path : path.slice(0, q);
  const slash = p.indexOf('/', 1);
  if (p.charCodeAt(0) !== 47 || slash <= 1 || slash === p.length - 1 || p.indexOf('/', slash + 1) !== -1) return null;
  return { service: p.slice(1, slash), method: p.slice(slash + 1) };
}

/**
 * Counts length-prefixed gRPC messages (1 flag byte, 4 bytes of length, the message) in a byte
 * stream fed chunk by chunk, without copying: only the 5-byte prefixes are read.
 */
export class GrpcFrameCounter {
  messages = 0;
  /** Bytes still to skip in the current message. */
  private remaining = 0;
  /** Prefix bytes seen of the next message (0 to 4), and the length gathered so far. */
  private prefixSeen = 0;
  private length = 0;

  push(chunk: Uint8Array): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.remaining > 0) {
        const skip = Math.min(this.remaining, n - i);
        this.remaining -= skip;
        i += skip;
        continue;
      }
      // Byte 0 is the compressed flag; bytes 1-4 the big-endian length.
      if (this.prefixSeen > 0) this.length = this.length * 256 + chunk[i]!;
      this.prefixSeen++;
      i++;
      if (this.prefixSeen === 5) {
        this.messages++;
        this.remaining = this.length;
        this.prefixSeen = 0;
        this.length = 0;
      }
    }
  }
}
