/**
 * The call log must never take proxying down with it. Opening it on a disk with no room left
 * (or an unwritable directory) starts the gateway without it; a write that fails later (a full
 * disk: SQLITE_FULL) drops that batch only. Either way the operator hears of it once per failing
 * stretch — an error in the log, a `storage.failed` event, `causeway_call_log_up 0` — and of
 * the recovery (`storage.recovered`) when writes succeed again.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { EventLog } from './events.js';
import { openCallStore, type SqliteCallStore, type StoreOptions } from './store.js';
import type { WriteState } from './store-writer.js';

const REMEDY = 'free space (or fix permissions) under storage.path; writes resume by themselves';

/** Opens the call log of `storage`, or returns null (and says why) when it cannot be opened. */
export function openCallLog(
  storage: Config['storage'],
  opts: Pick<StoreOptions, 'prune' | 'accessLog'>,
  logger: Logger,
  events: EventLog,
): SqliteCallStore | null {
  const onWriteState = (s: WriteState) => {
    if (s.ok) {
      logger.warn({ kind: 'lifecycle', path: storage.path, dropped: s.dropped }, `call log: writing again; ${s.dropped} calls were not logged meanwhile`);
      events.publish({ type: 'storage.recovered', reason: `the call log is written again (${s.dropped} calls lost)` });
    } else {
      logger.error({ kind: 'lifecycle', path: storage.path, code: s.code }, `call log: writing failed (${s.code ?? 'error'}: ${s.message ?? ''}); proxying goes on without it — ${REMEDY}`);
      events.publish({ type: 'storage.failed', reason: `call log writes fail with ${s.code ?? 'an error'} at ${storage.path}` });
    }
  };
  try {
    return openCallStore({ path: storage.path, maxAgeMs: storage.retention.maxAge, maxRows: storage.retention.maxRows, ...opts, onWriteState });
  } catch (err) {
    const e = err as { code?: string; message?: string };
    logger.error({ kind: 'lifecycle', path: storage.path, code: e.code }, `call log: cannot open ${storage.path} (${e.code ?? 'error'}: ${e.message ?? ''}); running without it until a restart — ${REMEDY.split(';')[0]}`);
    events.publish({ type: 'storage.failed', reason: `the call log cannot be opened at ${storage.path} (${e.code ?? 'error'})` });
    return null;
  }
}
