/**
 * The access log: one JSON line per call. Finished calls are queued, and every 100 ms (or every
 * 512 calls) the queue is serialised by a writer that knows the record's shape (no generic
 * stringify per call; the attempts' JSON is made once and shared with the call log) and written
 * in one piece through pino's asynchronous destination. Nothing of it runs while a response is
 * being produced; a stop flushes what is queued.
 */
import pino, { type Logger } from 'pino';
import { attemptsJson, jsonString, type CallRecord, type CallSink } from './call-record.js';

export interface LogOptions {
  level: string;
  file?: string | undefined;
}

/** Where log lines go: the file, or standard output. (A minLength > 0 makes flush(cb) wait for the write.) */
function destination(file: string | undefined) {
  return pino.destination({ dest: file ?? 1, sync: false, minLength: 4096 });
}

/** The gateway's logger: operational events (state changes, start, stop). */
export function createLogger(opts: LogOptions): Logger {
  return pino({ level: opts.level, base: { service: 'causeway' }, timestamp: pino.stdTimeFunctions.isoTime }, destination(opts.file));
}

const FLUSH_MS = 100;
const FLUSH_COUNT = 512;

const str = (s: string | null) => (s === null ? 'null' : jsonString(s));

/** One access-log line (pino's level and field conventions, so pino tooling reads it); `fields`: `,"worker":2` in a cluster. */
export function accessLine(c: CallRecord, fields = ''): string {
  const last = c.attempts.length ? c.attempts[c.attempts.length - 1]! : undefined;
  return (
    `{"level":30,"time":${c.time},"service":"causeway"${fields},"kind":"access","requestId":${str(c.requestId)}` +
    `,"route":${str(c.route)},"upstream":${str(c.upstream)},"target":${str(last?.target ?? null)}` +
    `,"method":${str(c.method)},"path":${str(c.path)},"status":${c.status},"code":${str(c.code)}` +
    `,"attempts":${attemptsJson(c.attempts)},"durationMs":${c.durationMs},"bytesIn":${c.bytesIn},"bytesOut":${c.bytesOut}` +
    `,"clientIp":${str(c.clientIp)},"msg":${str(c.code ?? 'ok')}}\n`
  );
}

export class AccessLog implements CallSink {
  private queue: CallRecord[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly dest: ReturnType<typeof destination>;

  private ready = false;
  private readonly fields: string;

  /** `worker`: the cluster worker writing (src/cluster/), named in every line. */
  constructor(file?: string, worker?: number) {
    this.fields = worker === undefined ? '' : `,"worker":${worker}`;
    this.dest = destination(file);
    this.dest.once('ready', () => {
      this.ready = true;
    });
  }

  record(c: CallRecord): void {
    this.queue.push(c);
    if (this.queue.length >= FLUSH_COUNT) this.flush();
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
    let out = '';
    for (const c of batch) out += accessLine(c, this.fields);
    this.dest.write(out);
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
