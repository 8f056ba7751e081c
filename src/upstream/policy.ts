/** The effective policy of a route: its upstream's settings with the route's overrides and the defaults. */
import type { RetryPolicy, RouteConfig, Timeouts, UpstreamConfig } from '../config/schema.js';

export interface EffectiveTimeouts {
  connect: number;
  send: number;
  read: number;
  total: number;
}

/** Defaults: generous enough for ordinary APIs, all well under common client timeouts (60 s). */
export const DEFAULT_TIMEOUTS: EffectiveTimeouts = { connect: 2000, send: 10_000, read: 15_000, total: 30_000 };

export function effectiveTimeouts(upstream: Timeouts, route?: Timeouts): EffectiveTimeouts {
  const pick = (k: keyof EffectiveTimeouts) => route?.[k] ?? upstream[k] ?? DEFAULT_TIMEOUTS[k];
  return { connect: pick('connect'), send: pick('send'), read: pick('read'), total: pick('total') };
}

export function effectiveRetries(upstream: UpstreamConfig, route: RouteConfig): RetryPolicy {
  return { ...upstream.retries, ...(route.retries ?? {}) } as RetryPolicy;
}
