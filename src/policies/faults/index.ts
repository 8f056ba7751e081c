/**
 * `faults:` — deliberate failure, off unless configured, to rehearse outages against a real
 * setup: a delay before the call goes upstream, or an abort instead of it (a chosen status from
 * the failure registry's FAULT_INJECTED, or a TCP reset). Each applies to `percent` of the
 * calls, and with `header:` only to calls carrying that header.
 */
import http2 from 'node:http2';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FaultsConfig } from '../../config/schema.js';
import type { Exchange, Next } from '../../proxy/exchange.js';
import { policy } from '../policy.js';

export interface FaultPlan {
  /** ms to wait before proxying. */
  delay: number;
  abort: { status: number } | { reset: true } | null;
}

export interface Faults {
  /** What to inject into this call, or null for nothing. */
  plan(headers: Record<string, string | string[] | undefined>): FaultPlan | null;
}

export const faultsPolicy = policy('faults', (cfg, ctx) => {
  const f = faults(cfg);
  const route = ctx.route.name;
  function inject(x: Exchange, plan: FaultPlan, next: Next): void {
    const abort = plan.abort;
    if (!abort) return next(x);
    if ('reset' in abort) {
      // Over HTTP/2 the reset is the stream's (RST_STREAM), not the whole connection's.
      if (x.req.httpVersionMajor === 2) (x.req as unknown as { stream: { close(code: number): void } }).stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      else x.req.socket.resetAndDestroy();
      return x.finish(0, 'FAULT_INJECTED');
    }
    x.refuse('FAULT_INJECTED', { route, upstream: x.upstream?.name }, abort.status);
  }
  return (x, next) => {
    const plan = f.plan(x.req.headers);
    if (!plan) return next(x);
    if (!plan.delay) return inject(x, plan, next);
    return sleep(plan.delay).then(() => {
      if (!x.left()) inject(x, plan, next);
    });
  };
});

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
