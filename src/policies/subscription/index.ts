/**
 * `subscription: required` — the consumer must hold an approved subscription to the route.
 * A request for one stays pending until an operator approves it through the admin API, so the
 * API owner sees new load coming before it arrives. The FORBIDDEN message says which case it is.
 */
import type { ConsumerRegistry } from '../consumers/registry.js';

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
