import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as B from '../helpers/backends.js';
import { startGateway } from '../helpers/gateway.js';
import { formatDoctor, runDoctor } from '../../src/diagnose/doctor.js';
import type { LookupFn } from '../../src/upstream/connector.js';

/** Resolves *.test names to 127.0.0.1; anything else does not exist. Never the machine's resolver. */
const lookup: LookupFn = (host, cb) =>
  host.endsWith('.test') ? cb(null, '127.0.0.1', 4) : cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }));

/** Answers 200 after `ms`. */
async function slowBackend(ms: number): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => {
    setTimeout(() => res.end('slow but fine'), ms);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

describe('doctor, direct probes', { timeout: 60_000 }, () => {
  it('a healthy backend: every step passes with its time', async () => {
    const b = await B.ok();
    const r = await runDoctor({ target: `${b.url}/health`, lookup });
    await b.close();
    assert.equal(r.side, 'none');
    assert.deepEqual(r.targets[0]!.steps.map((s) => [s.step, s.ok]), [['tcp', true], ['http', true]]);
    assert.equal(r.targets[0]!.status, 200);
    assert.match(formatDoctor(r), /✓ http .* GET \/health → 200/);
  });

  it('a refusing port: stops at TCP with UPSTREAM_CONNECTION_REFUSED and the fix', async () => {
    const b = await B.refusing();
    const r = await runDoctor({ target: b.url });
    await b.close();
    const t = r.targets[0]!;
    assert.deepEqual(t.steps.map((s) => [s.step, s.ok]), [['tcp', false]]);
    assert.equal(t.code, 'UPSTREAM_CONNECTION_REFUSED');
    assert.ok(t.fix && t.fix.length > 20);
    assert.notEqual(r.side, 'none');
    assert.match(formatDoctor(r), /✗ tcp .*ECONNREFUSED/);
  });

  it('a blocked port (SYN dropped): UPSTREAM_CONNECT_TIMEOUT after the connect limit', async () => {
    const b = await B.blackhole();
    try {
      const r = await runDoctor({ target: b.url, connectTimeout: 300 });
      const t = r.targets[0]!;
      assert.equal(t.code, 'UPSTREAM_CONNECT_TIMEOUT');
      assert.equal(t.steps[0]!.step, 'tcp');
      assert.ok(t.steps[0]!.ms >= 250, `took ${t.steps[0]!.ms} ms`);
      assert.equal(r.side, 'network');
    } finally {
      await b.close();
    }
  });

  it('https configured, the backend speaks plain HTTP: fails at TLS with UPSTREAM_PROTOCOL_MISMATCH', async () => {
    const b = await B.plainForHttps();
    const r = await runDoctor({ target: `https://127.0.0.1:${b.port}/` });
    await b.close();
    const t = r.targets[0]!;
    assert.deepEqual(t.steps.map((s) => [s.step, s.ok]), [['tcp', true], ['tls', false]]);
    assert.equal(t.code, 'UPSTREAM_PROTOCOL_MISMATCH');
  });

  it('http configured, the port speaks TLS: fails at HTTP with UPSTREAM_PROTOCOL_MISMATCH, says use https', async () => {
    const b = await B.tlsServer();
    const r = await runDoctor({ target: `http://127.0.0.1:${b.port}/` });
    await b.close();
    const t = r.targets[0]!;
    assert.equal(t.code, 'UPSTREAM_PROTOCOL_MISMATCH');
    assert.equal(t.steps[t.steps.length - 1]!.step, 'http');
    assert.match(t.steps[t.steps.length - 1]!.detail, /https:\/\//);
  });

  it('an unresolvable name (injected resolver): fails at DNS with UPSTREAM_DNS_FAILURE', async () => {
    const r = await runDoctor({ target: 'http://orders.invalid:8080/', lookup });
    const t = r.targets[0]!;
    assert.deepEqual(t.steps.map((s) => [s.step, s.ok]), [['dns', false]]);
    assert.equal(t.code, 'UPSTREAM_DNS_FAILURE');
    assert.match(t.steps[0]!.detail, /ENOTFOUND/);
  });

  it('a name that resolves: DNS step shows the address', async () => {
    const b = await B.ok();
    const r = await runDoctor({ target: `http://api.test:${b.port}/`, lookup });
    await b.close();
    assert.equal(r.targets[0]!.steps[0]!.detail, 'api.test → 127.0.0.1');
    assert.equal(r.side, 'none');
  });

  it('a backend that never answers: UPSTREAM_RESPONSE_TIMEOUT at the read limit', async () => {
    const b = await B.stallHeaders();
    const r = await runDoctor({ target: b.url, readTimeout: 300 });
    await b.close();
    assert.equal(r.targets[0]!.code, 'UPSTREAM_RESPONSE_TIMEOUT');
    assert.ok(r.targets[0]!.steps[1]!.ms >= 250);
  });

  it('a backend that answers garbage: UPSTREAM_INVALID_RESPONSE', async () => {
    const b = await B.malformed();
    const r = await runDoctor({ target: b.url });
    await b.close();
    assert.equal(r.targets[0]!.code, 'UPSTREAM_INVALID_RESPONSE');
  });

  it('refuses an upstream name without a config', async () => {
    await assert.rejects(runDoctor({ target: 'orders' }), /needs a config/);
  });
});

describe('doctor with a config: direct versus through the gateway', { timeout: 60_000 }, () => {
  let slow: Awaited<ReturnType<typeof slowBackend>>;
  let down: B.TestBackend;
  let good: B.TestBackend;
  before(async () => {
    slow = await slowBackend(500);
    down = await B.refusing();
    good = await B.ok();
  });
  after(async () => {
    await slow.close();
    await down.close();
    await good.close();
  });

  async function withGateway(yaml: string, fn: (cfg: import('../../src/config/schema.js').Config) => Promise<void>) {
    const gw = await startGateway(`log: { access: false }\n${yaml}`, { lookup });
    try {
      await fn({ ...gw.gateway.config, listen: [{ ...gw.gateway.config.listen[0]!, host: '127.0.0.1', port: gw.port }] });
    } finally {
      await gw.close();
    }
  }

  it('a slow backend with a short read: direct works, the gateway times out → the gateway side', async () => {
    await withGateway(
      `upstreams: { pay: { targets: [{ url: "${slow.url}" }], timeouts: { read: 200ms, total: 2s }, retries: { attempts: 1 } } }
routes: [{ name: pay, match: { path: /pay/* }, upstream: pay }]`,
      async (config) => {
        const r = await runDoctor({ target: 'pay', config, lookup, readTimeout: 2000 });
        assert.equal(r.targets[0]!.ok, true);
        assert.match(r.targets[0]!.warnings[0]!, /took .* ms to answer, over the read timeout of 200 ms/);
        assert.equal(r.gateway?.code, 'UPSTREAM_RESPONSE_TIMEOUT');
        assert.equal(r.side, 'gateway');
        assert.match(formatDoctor(r), /problem side: gateway/);
      },
    );
  });

  it('a dead backend fails both ways → the backend side', async () => {
    await withGateway(
      `upstreams: { orders: { targets: [{ url: "${down.url}" }], retries: { attempts: 1 } } }
routes: [{ name: orders, match: { path: /api/orders/*, methods: [GET] }, upstream: orders }]`,
      async (config) => {
        const r = await runDoctor({ target: 'orders', config, lookup });
        assert.equal(r.targets[0]!.code, 'UPSTREAM_CONNECTION_REFUSED');
        assert.equal(r.gateway?.code, 'UPSTREAM_CONNECTION_REFUSED');
        assert.equal(r.gateway?.route, 'orders');
        assert.equal(r.side, 'backend');
      },
    );
  });

  it('one target stopped, the other healthy, retries on: backend side, the stopped target named, masking said', async () => {
    await withGateway(
      `upstreams: { orders: { targets: [{ url: "${down.url}" }, { url: "${good.url}" }], retries: { attempts: 2, on: [connect-failure] } } }
routes: [{ name: orders, match: { path: /orders/* }, upstream: orders }]`,
      async (config) => {
        const r = await runDoctor({ target: 'orders', config, lookup });
        const [dead, alive] = r.targets;
        assert.equal(dead!.verdict, 'down');
        assert.equal(dead!.side, 'backend');
        assert.match(dead!.evidence!, /refused or filtered/);
        assert.equal(alive!.verdict, 'ok');
        assert.deepEqual(r.summary.down, [dead!.target]);
        assert.equal(r.summary.masked, true);
        assert.equal(r.gateway?.status, 200);
        assert.equal(r.side, 'backend');
        assert.doesNotMatch(r.verdict, /network path/);
        const text = formatDoctor(r);
        assert.match(text, /upstream orders: down: 127\.0\.0\.1:\d+; .*the gateway retries/);
        assert.match(text, /problem side: backend/);
      },
    );
  });

  it('one target stopped without retries: the share of failing calls is said, not hidden', async () => {
    await withGateway(
      `upstreams: { orders: { targets: [{ url: "${down.url}" }, { url: "${good.url}" }], retries: { attempts: 1 } } }
routes: [{ name: orders, match: { path: /orders/* }, upstream: orders }]`,
      async (config) => {
        const r = await runDoctor({ target: 'orders', config, lookup, viaGateway: false });
        assert.equal(r.summary.masked, false);
        assert.match(r.summary.sentence, /about 50% of calls fail/);
      },
    );
  });

  it('a connect timeout on a host that answers on another port: network side (filtered), with the evidence', async () => {
    const hole = await B.blackhole();
    try {
      await withGateway(
        `upstreams: { pay: { targets: [{ url: "${hole.url}" }], timeouts: { connect: 300ms } }, web: { targets: [{ url: "${good.url}" }] } }
routes: [{ name: pay, match: { path: /pay/* }, upstream: pay }]`,
        async (config) => {
          const r = await runDoctor({ target: 'pay', config, lookup, viaGateway: false });
          assert.equal(r.targets[0]!.code, 'UPSTREAM_CONNECT_TIMEOUT');
          assert.equal(r.targets[0]!.side, 'network');
          assert.match(r.targets[0]!.evidence!, /host is up|answers a TCP handshake/);
          assert.equal(r.side, 'network');
        },
      );
    } finally {
      await hole.close();
    }
  });

  it('all good both ways, probing every target by name', async () => {
    await withGateway(
      `upstreams: { web: { targets: [{ url: "${good.url}" }, { url: "http://web.test:${good.port}" }] } }
routes: [{ name: web, match: { path: /* }, upstream: web }]`,
      async (config) => {
        const r = await runDoctor({ target: 'web', config, lookup });
        assert.equal(r.targets.length, 2);
        assert.equal(r.gateway?.status, 200);
        assert.equal(r.side, 'none');
      },
    );
  });

  it('the gateway is not running: only the direct probe counts', async () => {
    await withGateway(`upstreams: { web: { targets: [{ url: "${good.url}" }] } }\nroutes: [{ name: web, match: { path: /* }, upstream: web }]`, async (config) => {
      const r = await runDoctor({ target: 'web', config: { ...config, listen: [{ ...config.listen[0]!, host: '127.0.0.1', port: down.port }] }, lookup });
      assert.equal(r.gateway?.reachable, false);
      assert.equal(r.side, 'none');
      assert.match(r.verdict, /did not answer/);
    });
  });
});
