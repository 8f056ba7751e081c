/**
 * The request body of a gRPC call on its way upstream: counted against the route's body limit,
 * its messages counted, and kept (up to REPLAY_LIMIT bytes) so that a retry gRPC allows — a
 * stream the backend refused, or a status the route lists — can send it again. A body larger
 * than that, or one still streaming when the attempt failed, is not replayed: the call is not retried.
 */
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { GrpcFrameCounter } from './status.js';

/** Bytes of request body kept for a retry (gRPC's own per-call retry buffer is of this order). */
export const REPLAY_LIMIT = 256 * 1024;

export class GrpcRequestBody extends Transform {
  /** Bytes seen (the call log's bytesIn). */
  seen = 0;
  readonly frames = new GrpcFrameCounter();
  private kept: Buffer[] | null = [];
  private ended = false;

  constructor(private readonly limit: number) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.limit) {
      cb(Object.assign(new Error('request body over the limit'), { code: 'CAUSEWAY_BODY_LIMIT' }));
      return;
    }
    this.frames.push(chunk);
    if (this.kept) {
      if (this.seen > REPLAY_LIMIT) this.kept = null;
      else this.kept.push(chunk);
    }
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.ended = true;
    cb();
  }

  /** The whole body went through and was kept: it can be sent again. */
  get replayable(): boolean {
    return this.ended && this.kept !== null;
  }

  /** The body again, for another attempt (only when replayable). */
  replay(): Readable {
    return Readable.from(this.kept ?? [], { objectMode: false });
  }
}
