/**
 * A request whose body the gateway had to read before proxying it (to check an HMAC body
 * digest): the same head, and a stream that plays the buffered body back, so the call proxies it
 * as if it came from the socket.
 */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';

export function replayRequest(req: IncomingMessage, body: Buffer): IncomingMessage {
  const copy = Readable.from(body.length ? [body] : []) as Readable & Record<string, unknown>;
  for (const k of ['headers', 'rawHeaders', 'method', 'url', 'socket', 'httpVersion', 'httpVersionMajor', 'httpVersionMinor', 'connection'] as const) {
    copy[k] = (req as unknown as Record<string, unknown>)[k];
  }
  return copy as unknown as IncomingMessage;
}

/** Reads a request body up to `limit` bytes; null when it is longer. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.removeListener('data', onData);
        req.pause();
        resolve(null);
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', reject);
    req.once('close', () => resolve(req.complete ? Buffer.concat(chunks, size) : null));
  });
}
