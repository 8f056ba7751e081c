/**
 * What a proxied call does differently when it is a gRPC call (content-type application/grpc*):
 * its deadline comes from `grpc-timeout`, its request body is kept for the retries gRPC allows,
 * its outcome is the `grpc-status` the backend sent (in a trailers-only answer or in trailers),
 * and its messages are counted both ways. The Call asks; this keeps the state (docs/grpc.md).
 */
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { failure, type FailureCode } from '../failures/registry.js';
import { GrpcRequestBody } from '../grpc/body.js';
import {
  GRPC_BACKEND_FAILURES,
  GRPC_CODES,
  GrpcFrameCounter,
  decodeGrpcMessage,
  grpcCodeName,
  grpcMethodOf,
  parseGrpcTimeout,
} from '../grpc/status.js';
import type { AttemptGrpc, CallGrpc } from '../observe/call-record.js';
import type { RouteRuntime } from './exchange.js';

/** The `grpc-status` and `grpc-message` in a raw header list, if there. */
function statusIn(raw: Buffer[] | string[]): { status: number; message: string | null } | null {
  let status: number | null = null;
  let message: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = String(raw[i]);
    if (name.length !== 11 && name.length !== 12) continue;
    const lower = name.toLowerCase();
    if (lower === 'grpc-status') status = Number(String(raw[i + 1]));
    else if (lower === 'grpc-message') message = decodeGrpcMessage(String(raw[i + 1]));
  }
  return status === null || !Number.isInteger(status) ? null : { status, message };
}

export class GrpcCall {
  /** The client's deadline from grpc-timeout, ms. */
  readonly deadline: number | undefined;
  private requestBody: GrpcRequestBody | null = null;
  /** Response messages of the current attempt. */
  received = new GrpcFrameCounter();
  /** The backend's status on the current attempt (null: none yet). */
  private status: number | null = null;
  private message: string | null = null;
  /** The backend's answer was trailers-only: held until it completes, then sent as one HEADERS frame with END_STREAM. */
  held: { status: number; headers: string[] } | null = null;

  constructor(
    req: IncomingMessage,
    private readonly route: RouteRuntime,
  ) {
    this.deadline = parseGrpcTimeout(req.headers['grpc-timeout']);
  }

  body(req: IncomingMessage, limit: number): Readable {
    const b = new GrpcRequestBody(limit);
    this.requestBody = b;
    req.pipe(b);
    req.once('error', (err) => b.destroy(err));
    return b;
  }

  /** The request body for another attempt: kept bytes when the first went out whole. */
  replay(): Readable | null {
    const b = this.requestBody;
    if (!b) return null;
    return b.replayable ? b.replay() : b;
  }

  /** No body, or one kept whole: another attempt can send it. */
  replayable(): boolean {
    return this.requestBody === null || this.requestBody.replayable;
  }

  bytesIn(): number {
    return this.requestBody?.seen ?? 0;
  }

  /**
   * Response headers of an attempt; true when they are a trailers-only answer (they carry
   * grpc-status, which only trailers-only headers may).
   */
  headers(raw: Buffer[]): boolean {
    const s = statusIn(raw);
    if (!s) return false;
    this.status = s.status;
    this.message = s.message;
    return true;
  }

  trailers(raw: Buffer[] | string[]): void {
    const s = statusIn(raw);
    if (!s) return;
    this.status = s.status;
    this.message = s.message;
  }

  /** The trailers-only status is one the route retries on. */
  retryable(): boolean {
    return this.status !== null && this.route.retryGrpc.has(this.status);
  }

  retryReason(): string {
    return `grpc-status ${grpcCodeName(this.status ?? 0)}`;
  }

  /**
   * The completed response says the backend failed: a status in GRPC_BACKEND_FAILURES, or no
   * grpc-status at all (a gRPC client reports that as INTERNAL). Passive health and the breaker count it.
   */
  backendFailed(): boolean {
    return this.status === null || GRPC_BACKEND_FAILURES.has(this.status);
  }

  failureReason(): string | null {
    if (this.status === null) return 'answered without grpc-status';
    return this.status !== 0 ? `answered grpc-status ${grpcCodeName(this.status)}${this.message ? ` (${this.message})` : ''}` : null;
  }

  /** Holds a trailers-only answer until it completes (see `held`). */
  hold(status: number, headers: string[]): void {
    this.held = { status, headers };
  }

  /** A new attempt starts: what the last one received is forgotten. */
  startAttempt(): void {
    if (this.status === null && this.received.messages === 0) return;
    this.status = null;
    this.message = null;
    this.received = new GrpcFrameCounter();
  }

  /** The attempt's gRPC facts, for its record. */
  attemptInfo(): AttemptGrpc {
    const info: AttemptGrpc = { status: this.status, sent: this.requestBody?.frames.messages ?? 0, received: this.received.messages };
    if (this.message) info.message = this.message;
    return info;
  }

  /** The call's gRPC facts: method, the status the client got (the gateway's own when it failed the call), messages. */
  callInfo(path: string, code: FailureCode | null): CallGrpc {
    const m = grpcMethodOf(path);
    return {
      service: m?.service ?? null,
      method: m?.method ?? null,
      status: code !== null ? GRPC_CODES[failure(code).grpc] : this.status,
      sent: this.requestBody?.frames.messages ?? 0,
      received: this.received.messages,
    };
  }
}
