/**
 * `causeway check` advisors: findings that need more than the config text — the call log (what
 * the traffic really looked like) and the resolver (do target host names resolve).
 *
 *   adviseFromCallLog(config, store, { since })   // read timeout below observed p99; pool below peak concurrency
 *   await probeHosts(config, { lookup })          // target host names that do not resolve
 *
 * Findings have the shape of config lint findings: severity, config path, message (the
 * evidence) and fix.
 */
import dns from 'node:dns';
import { settingSource, type Finding } from '../config/lint.js';
import type { Config } from '../config/schema.js';
import { formatDuration } from '../config/units.js';
import type { CallStore } from '../observe/store-api.js';
import type { LookupFn } from '../upstream/connector.js';
import { effectiveTimeouts } from '../upstream/policy.js';
import { parseTarget } from '../upstream/target.js';

/** Fewer calls than this say nothing reliable about a route's latency. */
const MIN_CALLS = 50;
/** Concurrency is measured over buckets this wide. */
const PEAK_BUCKET_MS = 10_000;
const NICE_MS = [100, 200, 250, 500, 1000, 2000, 3000, 5000, 10_000, 15_000, 20_000, 30_000, 45_000, 60_000, 90_000, 120_000, 300_000];

/** The smallest round duration at or above `ms`. */
function nice(ms: number): number {
  return NICE_MS.find((n) => n >= ms) ?? Math.ceil(ms / 60_000) * 60_000;
}

const secs = (ms: number) => (ms >= 1000 ? `${Math.round(ms / 100) / 10}s` : `${Math.round(ms)}ms`);

export interface AdviseOptions {
  /** Start of the stretch of call log to learn from; default the last 24 h. */
  since?: number;
  now?: number;
}

/** Findings from observed traffic: timeouts below the latency routes really have, pools below peak concurrency. */
export async function adviseFromCallLog(config: Config, store: CallStore, opts: AdviseOptions = {}): Promise<Finding[]> {
  const now = opts.now ?? Date.now();
  const since = opts.since ?? now - 86_400_000;
  const out: Finding[] = [];
  for (const [i, r] of config.routes.entries()) {
    const u = config.upstreams[r.upstream];
    if (!u) continue;
    const t = effectiveTimeouts(u.timeouts, r.timeouts);
    const s = await store.stats({ since, until: now, bucket: Math.max(1, now - since), route: r.name });
    const n = s.totals.requests;
    if (n < MIN_CALLS || s.totals.p99 === null) continue;
    const p99 = s.totals.p99;
    const timeouts = s.totals.byCode['UPSTREAM_RESPONSE_TIMEOUT'] ?? 0;
    const share = timeouts / n;
    const read = settingSource(config, [`routes[${i}].timeouts.read`, `upstreams.${r.upstream}.timeouts.read`], (p) => (p.startsWith('routes') ? r.timeouts?.read : u.timeouts?.read) !== undefined);
    // p99 of whole calls at or above read means slow calls are being cut off (or barely make it).
    if (p99 >= t.read * 0.9 || share >= 0.01) {
      const target = nice(Math.max(p99, t.read) * 2);
      const evidence = share >= 0.01 ? `; ${Math.round(share * 1000) / 10}% of its ${n} calls ended in UPSTREAM_RESPONSE_TIMEOUT` : '';
      out.push({
        severity: 'warning',
        ...read,
        message: `route ${r.name}: read is ${secs(t.read)} but the observed p99 latency is ${secs(p99)}${evidence} (call log since ${new Date(since).toISOString()})`,
        fix: `raise read to ${formatDuration(target)}: p99 is ${secs(p99)}` + (target >= t.total ? ` (and total above ${formatDuration(target)})` : '') + ', or make the backend faster.',
      });
    }
  }
  for (const [name, u] of Object.entries(config.upstreams)) {
    const s = await store.stats({ since: now - ((now - since) - ((now - since) % PEAK_BUCKET_MS)), until: now, bucket: PEAK_BUCKET_MS, upstream: name });
    let peak = 0;
    let at: (typeof s.buckets)[number] | null = null;
    for (const b of s.buckets) {
      if (b.requests < 10 || b.p95 === null) continue;
      // Little's law: calls in flight = arrival rate × time in the system (p95: sized for the slow ones).
      const c = (b.requests / (PEAK_BUCKET_MS / 1000)) * (b.p95 / 1000);
      if (c > peak) {
        peak = c;
        at = b;
      }
    }
    const perTarget = peak / u.targets.length;
    const exhausted = s.totals.byCode['UPSTREAM_POOL_EXHAUSTED'] ?? 0;
    if (at && (perTarget > u.pool.maxConnections || exhausted > 0)) {
      const rps = Math.round(at.requests / (PEAK_BUCKET_MS / 1000));
      const want = Math.ceil(perTarget * 1.5);
      out.push({
        severity: 'warning',
        ...settingSource(config, [`upstreams.${name}.pool.maxConnections`], () => true),
        message:
          `upstream ${name}: peak concurrency by Little's law is ${Math.ceil(peak)} (${rps} req/s × p95 ${secs(at.p95!)} at ${new Date(at.t).toISOString()}), ` +
          `${Math.ceil(perTarget)} per target over ${u.targets.length} target(s), but pool.maxConnections is ${u.pool.maxConnections}` +
          (exhausted ? `; ${exhausted} calls failed with UPSTREAM_POOL_EXHAUSTED` : ''),
        fix: `raise pool.maxConnections to at least ${Math.max(want, u.pool.maxConnections + 1)} (connections ≥ requests/s × latency), if the backend can take that many.`,
      });
    }
  }
  return out;
}

const systemLookup: LookupFn = (host, cb) => dns.lookup(host, { all: false }, (err, address, family) => cb(err, address, family));

/** Resolves every target host name (check --probe); one finding per name that does not resolve. */
export async function probeHosts(config: Config, opts: { lookup?: LookupFn; timeoutMs?: number } = {}): Promise<Finding[]> {
  const lookup = opts.lookup ?? systemLookup;
  const timeout = opts.timeoutMs ?? 3000;
  const jobs: Array<Promise<Finding | null>> = [];
  for (const [name, u] of Object.entries(config.upstreams)) {
    u.targets.forEach((t, i) => {
      const target = parseTarget(t.url);
      if (target.literal) return;
      jobs.push(
        new Promise((resolve) => {
          const timer = setTimeout(() => resolve(finding(`did not answer within ${timeout} ms`)), timeout);
          function finding(why: string): Finding {
            return {
              severity: 'error',
              path: `upstreams.${name}.targets[${i}].url`,
              message: `host name ${target.hostname} does not resolve (${why}): every call to it would fail with UPSTREAM_DNS_FAILURE`,
              fix: `Check the spelling of ${target.hostname} and the resolver of the gateway host (/etc/resolv.conf, the service's DNS record), or use an IP address.`,
            };
          }
          lookup(target.hostname, (err, address) => {
            clearTimeout(timer);
            resolve(err || !address ? finding(err?.code ?? 'no address') : null);
          });
        }),
      );
    });
  }
  return (await Promise.all(jobs)).filter((f): f is Finding => f !== null);
}
