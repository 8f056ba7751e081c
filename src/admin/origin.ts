/**
 * A loopback admin API without a token trusts whoever can reach it — which includes every web
 * page open in a browser on this machine. Two browser attacks are refused here:
 *
 * - DNS rebinding: a page on attacker.example whose name later resolves to 127.0.0.1 reads the
 *   API as its own origin; its requests carry `Host: attacker.example`. Only loopback host
 *   names (localhost, 127.0.0.0/8, [::1]) are answered.
 * - Cross-site writes: a page on any other origin (another port on 127.0.0.1 included) can send
 *   a "simple" POST with `mode: 'no-cors'` and no preflight. Browsers mark such requests with
 *   `Origin` and `Sec-Fetch-Site`; a write whose Origin is not this listener's own, or that the
 *   browser calls cross-site or same-site (not same-origin), is refused.
 *
 * Clients outside a browser (curl, scripts, the CLI) send neither header and are unaffected.
 */
import type { IncomingMessage } from 'node:http';
import { normalizeHost } from '../routing/path.js';
import { isLoopback } from './auth.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Why a request to a token-less loopback admin API is refused, or null when it may proceed. */
export function browserAttack(req: IncomingMessage): string | null {
  const host = req.headers.host;
  const name = normalizeHost(host);
  if (!name || !isLoopback(name)) {
    return `the admin API without a token answers only to a loopback Host (localhost, 127.0.0.1, [::1]), not ${JSON.stringify(host ?? '')} — set admin.token to reach it by another name`;
  }
  if (SAFE_METHODS.has(req.method ?? 'GET')) return null;
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    return `a ${site} browser request may not change the admin API (Sec-Fetch-Site: ${site})`;
  }
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://${host}`) {
    return `a page on another origin (${origin}) may not change the admin API`;
  }
  return null;
}
