/**
 * `ipRules: { allow, deny }` — per route and gateway-wide. Evaluated on the client address as
 * Policies.clientIp derives it: the peer, or behind `server.trustedProxies` the nearest
 * untrusted X-Forwarded-For hop — never a hop a client could have written itself. Deny wins over
 * allow; a non-empty allow list refuses everything not on it. A refusal names the rule.
 */
import { addressMatcher } from '../../config/cidr.js';
import type { Config, IpRulesConfig } from '../../config/schema.js';
import type { Stage } from '../../proxy/exchange.js';
import { policy } from '../policy.js';

export interface IpRules {
  /** null when the address may call; otherwise the FORBIDDEN detail naming the rule. */
  check(address: string): string | null;
}

/** `where` names the rules in refusals: `ipRules` (gateway-wide) or `routes[orders].ipRules`. */
export function ipRules(cfg: IpRulesConfig, where: string): IpRules {
  const denied = addressMatcher(cfg.deny);
  const allowed = cfg.allow.length ? addressMatcher(cfg.allow) : null;
  return {
    check(address) {
      if (denied(address)) {
        // The slow path only runs for refusals: find which entry matched, to name it.
        const rule = cfg.deny.find((e) => addressMatcher([e])(address));
        return `client address ${address} is in ${where}.deny (${rule})`;
      }
      if (allowed && !allowed(address)) return `client address ${address} is not in ${where}.allow`;
      return null;
    },
  };
}

function stage(rules: IpRules): Stage {
  return (x, next) => {
    const why = rules.check(x.clientIp);
    if (why !== null) return x.refuse('FORBIDDEN', { route: x.route!.name, upstream: x.route!.upstream.name, detail: why });
    next(x);
  };
}

export const ipRulesPolicy = policy('ipRules', (cfg, ctx) => stage(ipRules(cfg, `routes[${ctx.route.name}].ipRules`)));

/** The gateway-wide rules (`ipRules:` at the top level) as the stage every route runs first; null without. */
export function globalIpRules(config: Config): Stage | null {
  return config.ipRules ? stage(ipRules(config.ipRules, 'ipRules')) : null;
}
