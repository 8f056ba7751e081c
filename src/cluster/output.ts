/**
 * Standard output of the workers, relayed line by line through the primary. Several processes
 * writing one pipe can interleave: a write longer than PIPE_BUF (4 KiB) is atomic only on a
 * regular file, and the access log writes batches of up to 512 lines. So with `log.file` unset,
 * each worker's stdout is a pipe of its own into the primary, which writes only whole lines,
 * from one writer, in order. (With `log.file`, every process appends to the file itself:
 * O_APPEND writes of whole lines to a regular file do not interleave.)
 */
import type { Readable } from 'node:stream';

export interface LineSink {
  write(chunk: string): unknown;
}

/** Copies `from` to `to` in whole lines; a last line without a newline is written at the end. */
export function relayLines(from: Readable, to: LineSink): void {
  let tail = '';
  from.setEncoding('utf8');
  from.on('data', (chunk: string) => {
    const nl = chunk.lastIndexOf('\n');
    if (nl === -1) {
      tail += chunk;
      return;
    }
    to.write(tail + chunk.slice(0, nl + 1));
    tail = chunk.slice(nl + 1);
  });
  from.on('end', () => {
    if (tail) to.write(`${tail}\n`);
    tail = '';
  });
}
