/**
 * Lint beyond the schema: settings that validate but will hurt in production. Each finding
 * names its severity, the config path, what is wrong and the fix.
 */
import type { Config } from './schema.js';
import { parseTarget } from '../upstream/target.js';
import { effectiveRetries, effectiveTimeouts } from '../upstream/policy.js';
import { formatDuration } from './units.js';

export interface Finding {
  severity: 'error' | 'warning' | 'info';
  path: string;
  message: string;
  fix: string;
}

export function lintConfig(config: Config): Finding[] {
  const out: Finding[] = [];
  for (const [name, u] of Object.entries(config.upstreams)) {
    u.targets.forEach((t, i) => {
      const target = parseTarget(t.url);
      const path = `upstreams.${name}.targets[${i}].url`;
      if (target.tls && target.port === 80) {
        out.push({ severity: 'warning', path, message: `https target on port 80 (${t.url}): port 80 usually speaks plain HTTP`, fix: 'Use http:// for port 80, or the TLS port of the backend (443).' });
      }
      if (!target.tls && target.port === 443) {
        out.push({ severity: 'warning', path, message: `http target on port 443 (${t.url}): port 443 usually speaks TLS`, fix: 'Use https:// for port 443, or the plain HTTP port of the backend.' });
      }
    });
    if (u.pool.idleTimeout >= 5000) {
      out.push({
        severity: 'info',
        path: `upstreams.${name}.pool.idleTimeout`,
        message: `idle connections are kept ${formatDuration(u.pool.idleTimeout)}; many backends (Node.js: 5s) close idle keep-alive connections sooner`,
        fix: 'Keep pool.idleTimeout below the backend keep-alive timeout, or keep stale-connection in retries.on.',
      });
    }
  }
  config.routes.forEach((r, i) => {
    const u = config.upstreams[r.upstream];
    if (!u) return;
    const t = effectiveTimeouts(u.timeouts, r.timeouts);
    const retries = effectiveRetries(u, r);
    const base = r.timeouts?.read !== undefined ? `routes[${i}].timeouts` : `upstreams.${r.upstream}.timeouts`;
    if (t.read >= t.total) {
      out.push({
        severity: 'warning',
        path: `${base}.read`,
        message: `route ${r.name}: read (${formatDuration(t.read)}) is not below total (${formatDuration(t.total)}), so a slow backend ends as GATEWAY_TIMEOUT and no retry can happen`,
        fix: `Lower read below total, or raise total above ${formatDuration(t.read)}.`,
      });
    } else if (retries.attempts > 1 && t.connect + t.read > t.total) {
      out.push({
        severity: 'info',
        path: `${base}.total`,
        message: `route ${r.name}: one try may take connect + read = ${formatDuration(t.connect + t.read)}, more than total (${formatDuration(t.total)}); retries after a read timeout will not fit`,
        fix: `For ${retries.attempts} attempts to fit, make total at least ${formatDuration(retries.attempts * (t.connect + t.read))} or lower read.`,
      });
    }
    if (t.connect > t.read) {
      out.push({ severity: 'warning', path: `${base}.connect`, message: `route ${r.name}: connect (${formatDuration(t.connect)}) exceeds read (${formatDuration(t.read)})`, fix: 'A TCP handshake should take milliseconds: keep connect short (1-3s) so dead hosts fail fast.' });
    }
  });
  return out;
}
