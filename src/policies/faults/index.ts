/**
 * `faults:` — deliberate failure, off unless configured, to rehearse outages against a real
 * setup: a delay before the call goes upstream, or an abort instead of it (a chosen status from
 * the failure registry's FAULT_INJECTED, or a TCP reset). Each applies to `percent` of the
 * calls, and with `header:` only to calls carrying that header.
 */
import type { FaultsConfig } from '../../config/schema.js';

export interface FaultPlan {
  /** ms to wait before proxying. */
  delay: number;
  abort: { status: number } | { reset: true } | null;
}

export interface Faults {
  /** What to inject into this call, or null for nothing. */
  plan(headers: Record<string, string | string[] | undefined>): FaultPlan | null;
}

export function faults(cfg: FaultsConfig, random: () => number = Math.random): Faults {
  const header = cfg.header?.toLowerCase();
  const hit = (percent: number) => percent >= 100 || random() * 100 < percent;
  return {
    plan(headers) {
      if (header !== undefined && headers[header] === undefined) return null;
      const delay = cfg.delay && hit(cfg.delay.percent) ? cfg.delay.duration : 0;
      const abort = cfg.abort && hit(cfg.abort.percent) ? (cfg.abort.reset ? { reset: true as const } : { status: cfg.abort.status! }) : null;
      return delay || abort ? { delay, abort } : null;
    },
  };
}
