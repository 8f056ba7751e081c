/**
 * `causeway demo`: starts the demo backends and a gateway in front of them, with one route per
 * failure class, and prints the curl commands that show each one.
 */
import { AdminServer, baseUrl } from '../admin/server.js';
import { parseConfig } from '../config/load.js';
import { Gateway } from '../gateway.js';
import * as backends from './backends.js';
import type { DemoBackend } from './backends.js';

export interface DemoOptions {
  port: number;
  host: string;
  /** The admin API and dashboard (0 picks a free port). */
  adminPort: number;
  quiet?: boolean;
}

export interface RunningDemo {
  gateway: Gateway;
  url: string;
  /** The admin API and dashboard. */
  adminUrl: string;
  routes: DemoRoute[];
  stop(): Promise<void>;
}

interface DemoRoute {
  path: string;
  expect: string;
  note: string;
}

export async function startDemo(opts: DemoOptions): Promise<RunningDemo> {
  const list: DemoBackend[] = await Promise.all([
    backends.healthy(),
    backends.slow(3000),
    backends.flaky(2),
    backends.closing(),
    backends.down(),
    backends.resetting(),
    backends.stalledBody(),
    backends.malformed(),
  ]);
  const yaml = demoConfig(Object.fromEntries(list.map((x) => [x.name, `http://127.0.0.1:${x.port}`])), opts);
  const config = parseConfig(yaml, '<demo>');
  const gateway = new Gateway(config);
  const admin = new AdminServer({ gateway }, { host: opts.host, port: opts.adminPort });
  let addr, adminAddr;
  try {
    addr = await gateway.listen();
    adminAddr = await admin.listen();
  } catch (err) {
    await admin.close();
    await gateway.stop(0);
    await Promise.all(list.map((x) => x.close()));
    throw err;
  }
  const url = baseUrl(addr);
  const routes: DemoRoute[] = [
    { path: '/healthy/hello', expect: '200', note: 'a healthy backend' },
    { path: '/flaky/hello', expect: '200', note: 'every 2nd call fails with 503; a retry rescues it' },
    { path: '/failover/hello', expect: '200', note: 'first target refuses, the retry goes to the other one; after 3 refusals it is ejected' },
    { path: '/slow/hello', expect: '504 UPSTREAM_RESPONSE_TIMEOUT', note: 'backend takes 3 s, read timeout is 1 s' },
    { path: '/budget/hello', expect: '504 GATEWAY_TIMEOUT', note: 'total budget 500 ms' },
    { path: '/down/hello', expect: '502 UPSTREAM_CONNECTION_REFUSED', note: 'nothing listens on the port' },
    { path: '/closing/hello', expect: '502 UPSTREAM_CONNECTION_CLOSED', note: 'backend sends FIN without answering; 5 of those open its breaker: 503 CIRCUIT_OPEN' },
    { path: '/reset/hello', expect: '502 UPSTREAM_CONNECTION_RESET', note: 'backend sends RST' },
    { path: '/stalled/hello', expect: '200 then cut: UPSTREAM_BODY_TIMEOUT', note: 'body stalls after half; see the access log' },
    { path: '/malformed/hello', expect: '502 UPSTREAM_INVALID_RESPONSE', note: 'backend answers garbage' },
    { path: '/mismatch/hello', expect: '502 UPSTREAM_PROTOCOL_MISMATCH', note: 'https configured, backend speaks HTTP' },
    { path: '/busy/hello', expect: '503 UPSTREAM_POOL_EXHAUSTED', note: 'run two at once: one connection, 200 ms queue' },
    { path: '/nowhere', expect: '404 ROUTE_NOT_FOUND', note: 'no route matches' },
  ];
  return {
    gateway,
    url,
    adminUrl: baseUrl(adminAddr),
    routes,
    async stop() {
      await admin.close();
      await gateway.stop(2000);
      await Promise.all(list.map((x) => x.close()));
    },
  };
}

export function demoBanner(d: RunningDemo): string {
  const lines = [
    '',
    `Causeway demo: gateway on ${d.url}, in front of backends that misbehave on purpose.`,
    `Dashboard: ${d.adminUrl}/ — open it in a browser: traffic, errors by cause, upstream health, every call with its timeline.`,
    '',
    'Each route shows one way a backend fails. Try:',
    '',
  ];
  for (const r of d.routes) lines.push(`  curl -si ${d.url}${r.path}`.padEnd(60) + `# ${r.expect} — ${r.note}`);
  lines.push('', `  (for /busy: curl -s ${d.url}/busy/a & curl -si ${d.url}/busy/b)`, '', 'Errors carry X-Causeway-Error, Proxy-Status and a JSON body with the cause and a hint (errors.expose is on in the demo).', 'Ctrl-C stops.', '');
  return lines.join('\n');
}

/** The demo's config: one upstream and route per failure class, in front of the backends at `b` (name → URL). */
export function demoConfig(b: Record<string, string>, opts: Pick<DemoOptions, 'host' | 'port' | 'quiet'>): string {
  return `
listen: { host: ${opts.host}, port: ${opts.port} }
errors: { expose: true }
storage: { path: ":memory:" }   # the dashboard reads the call log; the demo leaves nothing on disk
log: { level: ${opts.quiet ? 'silent' : 'info'}, access: ${opts.quiet ? 'false' : 'true'} }
upstreams:
  healthy:   { targets: [{ url: "${b['healthy']}" }] }
  slow:      { targets: [{ url: "${b['slow']}" }], timeouts: { connect: 500ms, read: 1s } }
  flaky:     { targets: [{ url: "${b['flaky']}" }], retries: { attempts: 3, on: [connect-failure, stale-connection, 503] } }
  closing:   { targets: [{ url: "${b['closing']}" }], circuitBreaker: { minRequests: 5, failureRate: 50%, window: 10s, openFor: 15s } }
  down:      { targets: [{ url: "${b['down']}" }] }
  resetting: { targets: [{ url: "${b['resetting']}" }] }
  stalled:   { targets: [{ url: "${b['stalled-body']}" }], timeouts: { connect: 500ms, read: 1s } }
  malformed: { targets: [{ url: "${b['malformed']}" }] }
  mismatch:  { targets: [{ url: "${b['healthy']!.replace('http:', 'https:')}" }] }
  busy:      { targets: [{ url: "${b['slow']}" }], pool: { maxConnections: 1, queueTimeout: 200ms }, timeouts: { read: 5s } }
  budget:    { targets: [{ url: "${b['slow']}" }], timeouts: { read: 10s, total: 500ms }, retries: { attempts: 1 } }
  failover:  { targets: [{ url: "${b['down']}" }, { url: "${b['healthy']}" }], healthCheck: { passive: { consecutiveFailures: 3, ejectFor: 30s } } }
routes:
  - { name: healthy,   match: { path: /healthy/* },   upstream: healthy,   stripPrefix: /healthy }
  - { name: slow,      match: { path: /slow/* },      upstream: slow,      stripPrefix: /slow }
  - { name: flaky,     match: { path: /flaky/* },     upstream: flaky,     stripPrefix: /flaky }
  - { name: closing,   match: { path: /closing/* },   upstream: closing }
  - { name: down,      match: { path: /down/* },      upstream: down }
  - { name: reset,     match: { path: /reset/* },     upstream: resetting }
  - { name: stalled,   match: { path: /stalled/* },   upstream: stalled }
  - { name: malformed, match: { path: /malformed/* }, upstream: malformed }
  - { name: mismatch,  match: { path: /mismatch/* },  upstream: mismatch }
  - { name: busy,      match: { path: /busy/* },      upstream: busy }
  - { name: budget,    match: { path: /budget/* },    upstream: budget }
  - { name: failover,  match: { path: /failover/* },  upstream: failover,  stripPrefix: /failover }
`;
}
