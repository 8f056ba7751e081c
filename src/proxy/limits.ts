/**
 * Guards on the downstream request's streams. Node ends the process on an 'error' event nobody
 * listens to, and a request can error at any moment: while its call still waits for a pool slot
 * or a connect, undici has not yet attached its own listeners to the body. Every stream made
 * here therefore carries a listener from birth, and the request's errors reach the body stream
 * however many times they come.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import type { FailureCode } from '../failures/registry.js';

/** Counts request body bytes and fails the stream past the limit (chunked uploads have no length up front). */
export class BodyLimit extends Transform {
  seen = 0;
  constructor(private readonly limit: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.limit) cb(Object.assign(new Error('request body over the limit'), { code: 'CAUSEWAY_BODY_LIMIT' }));
    else cb(null, chunk);
  }
}

/**
 * The body stream a call sends upstream for a chunked request: the request piped through a
 * BodyLimit. The limiter's own errors are also seen by undici once it reads the body, and by
 * the call through the response's 'close' when the client is gone: the listener here only
 * keeps an error that comes first from being fatal.
 */
export function limitedBody(req: IncomingMessage, limit: number): BodyLimit {
  const limiter = new BodyLimit(limit);
  limiter.on('error', ignore);
  req.on('error', (err) => limiter.destroy(err));
  req.pipe(limiter);
  return limiter;
}

/**
 * Makes one exchange's streams safe to error: a write after the client went away, or a request
 * aborted before anything read its body, must never reach the process as an unhandled 'error'.
 */
export function guardExchange(req: IncomingMessage, res: ServerResponse): void {
  req.on('error', ignore);
  res.on('error', ignore);
}

function ignore(): void {}

const refusals = new WeakMap<object, FailureCode>();

/**
 * The parser refused the connection's bytes while a request on it was still in flight (a
 * malformed chunk in its body): the client got `code`, not silence, and the call's record says so.
 */
export function markRefused(res: ServerResponse, code: FailureCode): void {
  refusals.set(res, code);
}

/** The refusal the parser answered this exchange with, if any. */
export function refusedWith(res: object): FailureCode | undefined {
  return refusals.get(res);
}
