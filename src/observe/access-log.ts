/**
 * The access log: one JSON line per call, written by pino through an asynchronous buffered
 * destination, and only after the response has finished, so it never delays a response.
 */
import pino, { type Logger } from 'pino';
import type { CallRecord, CallSink } from './call-record.js';

export interface LogOptions {
  level: string;
  file?: string | undefined;
}

/** The gateway's logger: operational events (state changes, start, stop). */
export function createLogger(opts: LogOptions): Logger {
  const dest = pino.destination({ dest: opts.file ?? 1, sync: false, minLength: 4096 });
  return pino({ level: opts.level, base: { service: 'causeway' }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
}

export class AccessLog implements CallSink {
  private readonly log: Logger;
  constructor(logger: Logger) {
    this.log = logger.child({ kind: 'access' });
  }
  record(c: CallRecord): void {
    const last = c.attempts.length ? c.attempts[c.attempts.length - 1]! : undefined;
    this.log.info(
      {
        requestId: c.requestId,
        route: c.route,
        upstream: c.upstream,
        target: last?.target ?? null,
        method: c.method,
        path: c.path,
        status: c.status,
        code: c.code,
        attempts: c.attempts,
        timings: last?.timings ?? null,
        durationMs: c.durationMs,
        bytesIn: c.bytesIn,
        bytesOut: c.bytesOut,
        clientIp: c.clientIp,
      },
      c.code ?? 'ok',
    );
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
