/**
 * Lint beyond the schema: settings that validate but will hurt in production. Each finding
 * names its severity, the config path, what is wrong and the fix.
 */
import type { Config } from './schema.js';
import { parseTarget } from '../upstream/target.js';
import { effectiveRetries, effectiveTimeouts } from '../upstream/policy.js';
import { formatDuration } from './units.js';
import { isWritten } from './load.js';

export interface Finding {
  severity: 'error' | 'warning' | 'info';
  /** Where to change it: a key the file has, or (with `fromDefault`) where to set one. */
  path: string;
  message: string;
  fix: string;
  /** The value at `path` is not in the file: it is the default. */
  fromDefault?: true;
}

/** `path`, and " (not in the file: the default)" when the finding is about a default. */
export function findingPath(f: Finding): string {
  return f.fromDefault ? `${f.path} (not in the file: the default)` : f.path;
}

/**
 * Where a setting in force comes from: the first of `paths` (most specific first) the file
 * writes, else the last one, marked as a default. `set(path)` says whether the parsed config
 * holds a value there, for configs not parsed from text (tests build some).
 */
export function settingSource(config: Config, paths: string[], set: (path: string) => boolean): Pick<Finding, 'path' | 'fromDefault'> {
  for (const p of paths) if (isWritten(config, p) ?? set(p)) return { path: p };
  return { path: paths[paths.length - 1]!, fromDefault: true };
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
    // A timeout in force comes from the route, else its upstream, else the default.
    const timeout = (k: 'connect' | 'read' | 'total') =>
      settingSource(config, [`routes[${i}].timeouts.${k}`, `upstreams.${r.upstream}.timeouts.${k}`], (p) => (p.startsWith('routes') ? r.timeouts?.[k] : u.timeouts?.[k]) !== undefined);
    const retry = (k: 'hedgeConnect') => settingSource(config, [`routes[${i}].retries.${k}`, `upstreams.${r.upstream}.retries.${k}`], (p) => !p.startsWith('routes') || r.retries?.[k] !== undefined);
    // With attempts: 1 total is simply the budget: no retry is lost when read reaches it.
    if (t.read >= t.total && retries.attempts > 1) {
      out.push({
        severity: 'warning',
        ...timeout('read'),
        message: `route ${r.name}: read (${formatDuration(t.read)}) is not below total (${formatDuration(t.total)}), so a slow backend ends as GATEWAY_TIMEOUT and no retry can happen`,
        fix: `Lower read below total, or raise total above ${formatDuration(t.read)}.`,
      });
    } else if (retries.attempts > 1 && retries.on.includes('response-timeout') && retries.attempts * (t.connect + t.read) + (retries.attempts - 1) * retries.backoff.max > t.total) {
      // A try that times out costs connect + read; between tries waits up to backoff.max. Only
      // with response-timeout in retries.on is a try that used its whole read tried again.
      const perTry = t.connect + t.read;
      const needed = retries.attempts * perTry + (retries.attempts - 1) * retries.backoff.max;
      const fit = Math.max(1, Math.floor((t.total + retries.backoff.max) / (perTry + retries.backoff.max)));
      out.push({
        severity: 'info',
        ...timeout('total'),
        message: `route ${r.name}: ${retries.attempts} attempts × (connect + read = ${formatDuration(perTry)}) plus backoff need ${formatDuration(needed)}, more than total (${formatDuration(t.total)}); only ${fit} of ${retries.attempts} slow tries fit`,
        fix: `Make total at least ${formatDuration(needed)}, or lower read (or connect) so ${retries.attempts} tries fit in ${formatDuration(t.total)}.`,
      });
    }
    const client = r.clientTimeout ?? config.server.clientTimeout;
    if (client !== undefined && t.total > client) {
      out.push({
        severity: 'warning',
        path: r.clientTimeout !== undefined ? `routes[${i}].clientTimeout` : 'server.clientTimeout',
        message: `route ${r.name}: total (${formatDuration(t.total)}) is longer than the client's own timeout (${formatDuration(client)}): the client gives up first and the gateway keeps working for nobody (timeouts must cascade)`,
        fix: `Lower total below ${formatDuration(client)} (leave room for the network: about ${formatDuration(Math.floor(client * 0.9))}).`,
      });
    }
    if (retries.hedgeConnect > 0 && retries.hedgeConnect >= t.connect && retries.attempts > 1 && u.targets.length > 1 && retries.on.includes('connect-failure')) {
      out.push({
        severity: 'info',
        ...retry('hedgeConnect'),
        message: `route ${r.name}: hedgeConnect (${formatDuration(retries.hedgeConnect)}) is not below connect (${formatDuration(t.connect)}), so a connect that hangs is never raced on another target: each call sent to a dead host waits the whole connect timeout`,
        fix: `Lower hedgeConnect below ${formatDuration(t.connect)} (the default is 250ms), or raise connect.`,
      });
    }
    if (t.connect > t.read) {
      out.push({ severity: 'warning', ...timeout('connect'), message: `route ${r.name}: connect (${formatDuration(t.connect)}) exceeds read (${formatDuration(t.read)})`, fix: 'A TCP handshake should take milliseconds: keep connect short (1-3s) so dead hosts fail fast.' });
    }
  });
  return out;
}
