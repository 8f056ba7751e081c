/**
 * `subscription: required` — the consumer must hold an approved subscription to the route.
 * A request for one stays pending until an operator approves it through the admin API, so the
 * API owner sees new load coming before it arrives. The FORBIDDEN message says which case it is.
 */
import type { ConsumerRegistry } from '../consumers/registry.js';
import { policy } from '../policy.js';

export const subscriptionPolicy = policy('subscription', (mode, ctx) => {
  if (mode !== 'required') return null;
  const s = subscription(ctx.consumers);
  const route = ctx.route.name;
  return (x, next) => {
    const why = s.check(x.consumer, route);
    if (why !== null) return x.refuse('FORBIDDEN', { route, detail: why });
    next(x);
  };
});

export interface Subscription {
  /** null when allowed; otherwise the reason, safe to show the consumer. */
  check(consumer: string | null, route: string): string | null;
}

export function subscription(consumers: ConsumerRegistry): Subscription {
  return {
    check(consumer, route) {
      if (consumer === null) return 'the route requires a subscription, and the request named no consumer';
      const s = consumers.subscription(consumer, route);
      if (s === 'approved') return null;
      if (s === 'pending') return `the subscription of ${consumer} to route ${route} is pending approval`;
      return `${consumer} has no subscription to route ${route}; request one and wait for its approval`;
    },
  };
}
