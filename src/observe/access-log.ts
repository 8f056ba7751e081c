/**
 * The access log: one JSON line per call, made from the call's call-log row (store-format.ts
 * pushRow), so the two never disagree and the attempts' JSON is made once for both. With a
 * file-backed call log, its writer thread writes the lines too (CallWriter, `access`): the request
 * thread only queues the row it queues anyway, and formats and writes nothing. Otherwise (call log
 * off or in memory) AccessLog queues rows and, every 100 ms (or every 512 calls), writes them in
 * one piece through pino's asynchronous destination. Nothing of it runs while a response is being
 * produced; a stop writes what is queued.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import pino, { type Logger } from 'pino';
import { jsonString, type CallRecord, type CallSink } from './call-record.js';
import { COL, NCOL, pushRow, type RowValue } from './store-format.js';

export interface LogOptions {
  level: string;
  file?: string | undefined;
}

/**
 * Opens a log file for appending, its directory created (as for storage.path). Synchronously, so
 * a path that cannot be written stops the start with a clear error instead of an unhandled
 * stream error a moment later.
 */
export function openLogFile(file: string): number {
  mkdirSync(dirname(file), { recursive: true });
  return openSync(file, 'a');
}

/** Where log lines go: an open descriptor (1: standard output). (A minLength > 0 makes flush(cb) wait for the write.) */
function destination(fd: number) {
  return pino.destination({ dest: fd, sync: false, minLength: 4096 });
}

/**
 * The gateway's logger: operational events (state changes, start, stop). They are few, and an
 * operator reads them as they happen (the startup lines, a breaker opening), so every line is
 * written at once, never held for a fuller buffer. minLength 1 rather than 0: sonic-boom writes
 * whenever one byte is buffered either way, but only with a minLength > 0 does flush(cb) wait
 * for the write.
 */
export function createLogger(opts: LogOptions): Logger {
  const dest = pino.destination({ dest: opts.file === undefined ? 1 : openLogFile(opts.file), sync: false, minLength: 1 });
  return pino({ level: opts.level, base: { service: 'causeway' }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
}

/** An open access log: the descriptor lines are written to, and the fields every line adds (`,"worker":2` in a cluster). */
export interface AccessTarget {
  fd: number;
  fields: string;
}

/** Opens the access log (appending to `file`, or standard output); `worker`: the cluster worker writing (src/cluster/). */
export function openAccessLog(file: string | undefined, worker?: number): AccessTarget {
  return { fd: file === undefined ? 1 : openLogFile(file), fields: worker === undefined ? '' : `,"worker":${worker}` };
}

export function closeAccessLog(t: AccessTarget): void {
  if (t.fd > 2) closeSync(t.fd);
}

const str = (s: RowValue) => (s === null ? 'null' : jsonString(s as string));

/** The access lines of a batch of flat call-log rows (pino's level and field conventions, so pino tooling reads them). */
export function accessLines(rows: readonly RowValue[], fields = ''): string {
  let out = '';
  for (let i = 0; i < rows.length; i += NCOL) {
    const code = rows[i + COL.code] as string | null;
    out +=
      `{"level":30,"time":${rows[i + COL.time]},"service":"causeway"${fields},"kind":"access","requestId":${str(rows[i + COL.requestId]!)}` +
      `,"route":${str(rows[i + COL.route]!)},"upstream":${str(rows[i + COL.upstream]!)},"target":${str(rows[i + COL.target]!)}` +
      `,"method":${str(rows[i + COL.method]!)},"path":${str(rows[i + COL.path]!)},"status":${rows[i + COL.status]},"code":${str(code)}` +
      `,"attempts":${rows[i + COL.attempts]},"durationMs":${rows[i + COL.duration]},"bytesIn":${rows[i + COL.bytesIn]},"bytesOut":${rows[i + COL.bytesOut]}` +
      `,"clientIp":${str(rows[i + COL.clientIp]!)},"msg":${str(code ?? 'ok')}}\n`;
  }
  return out;
}

/** One call's access line. */
export function accessLine(c: CallRecord, fields = ''): string {
  const row: RowValue[] = [];
  pushRow(c, row);
  return accessLines(row, fields);
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Writes the whole text to `fd` from a thread that may block (the call log's writer): partial
 * writes continue, and a non-blocking pipe that is full (EAGAIN) is waited on, 1 ms at a time.
 */
export function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text);
  let off = 0;
  let waited = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || ++waited > 5000) throw err;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}

const FLUSH_MS = 100;
const FLUSH_COUNT = 512;

/** The access log on the request thread, for when no call-log writer thread writes it (call log off or in memory). */
export class AccessLog implements CallSink {
  private queue: RowValue[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly dest: ReturnType<typeof destination>;
  private ready = false;

  constructor(private readonly target: AccessTarget) {
    this.dest = destination(target.fd);
    this.dest.once('ready', () => {
      this.ready = true;
    });
  }

  record(c: CallRecord): void {
    pushRow(c, this.queue);
    if (this.queue.length >= FLUSH_COUNT * NCOL) this.flush();
    else this.timer ??= setTimeout(this.flush, FLUSH_MS);
  }

  /** Writes every queued call now. */
  flush = (): void => {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (!this.queue.length) return;
    const batch = this.queue;
    this.queue = [];
    this.dest.write(accessLines(batch, this.target.fields));
    if (this.ready) this.dest.flush();
  };

  /** Flushes and waits until the bytes are handed to the OS. */
  async close(): Promise<void> {
    if (!this.ready) await new Promise((r) => this.dest.once('ready', r));
    this.flush();
    await new Promise<void>((resolve) => this.dest.flush(() => resolve()));
  }
}

export class SinkList implements CallSink {
  private readonly sinks: CallSink[] = [];
  add(s: CallSink): void {
    this.sinks.push(s);
  }
  record(c: CallRecord): void {
    for (const s of this.sinks) s.record(c);
  }
}
