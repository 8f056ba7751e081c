import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, formatPath, formatProblem, loadConfigFile, parseConfig, type ConfigProblem } from '../../src/config/load.js';

type Env = Record<string, string | undefined>;

/** The problems a config is refused with (fails the test when it is accepted). */
function problems(yaml: string, env: Env = {}, file = 'causeway.yaml'): ConfigProblem[] {
  try {
    parseConfig(yaml, file, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.ok(err.problems.length > 0);
    assert.equal(err.message, err.problems.map(formatProblem).join('\n'));
    return err.problems;
  }
  assert.fail('the config was accepted');
}

/** The only problem of a config. */
function problem(yaml: string, env: Env = {}): ConfigProblem {
  const list = problems(yaml, env);
  assert.equal(list.length, 1, `expected one problem, got:\n${list.map(formatProblem).join('\n')}`);
  return list[0]!;
}

/** Lines joined with \n, so that line numbers in tests can be read off the array index + 1. */
const lines = (...l: string[]) => l.join('\n') + '\n';

const ORDERS = lines('upstreams:', '  orders:', '    targets: [{ url: http://127.0.0.1:9001 }]');

describe('valid configs', () => {
  test('a minimal config gets every default filled in', () => {
    const c = parseConfig(ORDERS, 'min.yaml', {});
    assert.deepEqual(c.listen, [{ host: '127.0.0.1', port: 8080, http2: true, h2c: false }]);
    assert.equal(c.admin, undefined);
    assert.deepEqual(c.server, {
      headersTimeout: 10_000,
      requestTimeout: 60_000,
      keepAliveTimeout: 60000,
      maxHeaderSize: 16 * 1024,
      maxBodySize: 10 * 1024 * 1024,
      shutdownTimeout: 30_000,
      trustedProxies: [],
      maxUrlLength: 8192,
      maxConcurrentStreams: 100,
      websocketCloseGrace: 5000,
    });
    assert.deepEqual(c.errors, { expose: false });
    assert.deepEqual(c.log, { level: 'info', access: true });
    assert.deepEqual(c.routes, []);
    const o = c.upstreams['orders']!;
    assert.deepEqual(o.targets, [{ url: 'http://127.0.0.1:9001', weight: 1 }]);
    assert.equal(o.balance, 'round-robin');
    // Timeouts are left unset here: the route's effective policy fills them in.
    assert.deepEqual(o.timeouts, {});
    assert.deepEqual(o.pool, { maxConnections: 128, queueTimeout: 500, maxQueue: 1000, idleTimeout: 4000 });
    assert.equal(o.retries.attempts, 2);
    assert.ok(Array.isArray(o.retries.on) && o.retries.on.includes('connect-failure') && o.retries.on.includes('stale-connection'));
    assert.deepEqual(o.retries.backoff, { base: 25, max: 250 });
    assert.equal(o.retries.budget, 0.2);
    assert.deepEqual(o.tls, { rejectUnauthorized: true });
  });

  test('units become numbers: durations in ms, sizes in bytes, percentages as fractions', () => {
    const c = parseConfig(
      lines(
        'listen: { host: 0.0.0.0, port: 8081 }',
        'admin: { port: 9902, token: secret }',
        'server:',
        '  headersTimeout: 1.5s',
        '  maxHeaderSize: 8kb',
        '  maxBodySize: 1mb',
        '  shutdownTimeout: 1m',
        '  trustedProxies: [127.10.0.1]',
        'errors: { expose: true }',
        'log: { level: warn, access: false, file: ./access.log }',
        'upstreams:',
        '  orders:',
        '    targets:',
        '      - url: http://127.0.0.1:9001',
        '        weight: 3',
        '      - { url: "https://orders.internal:9443/base" }',
        '    balance: weighted',
        '    timeouts: { connect: 1s, send: 5s, read: 10s, total: 15s }',
        '    pool: { maxConnections: 64, queueTimeout: 250ms, maxQueue: 10, idleTimeout: 3s }',
        '    retries: { attempts: 3, on: [connect-failure, stale-connection, 503], backoff: 10ms..1s, budget: 50% }',
        '    tls: { rejectUnauthorized: false, servername: orders.internal }',
        'routes:',
        '  - name: orders',
        '    match: { path: /api/orders/*, methods: [GET, POST], host: api.example.com }',
        '    upstream: orders',
        '    stripPrefix: /api',
        '    preserveHost: true',
        '    timeouts: { read: 30s }',
        '    maxBodySize: 512kb',
      ),
      'full.yaml',
      {},
    );
    assert.deepEqual(c.listen, [{ host: '0.0.0.0', port: 8081, http2: true, h2c: false }]);
    assert.deepEqual(c.admin, { host: '127.0.0.1', port: 9902, token: 'secret' });
    assert.equal(c.server.headersTimeout, 1500);
    assert.equal(c.server.requestTimeout, 60_000);
    assert.equal(c.server.maxHeaderSize, 8192);
    assert.equal(c.server.maxBodySize, 1024 * 1024);
    assert.equal(c.server.shutdownTimeout, 60_000);
    assert.deepEqual(c.server.trustedProxies, ['127.10.0.1']);
    assert.deepEqual(c.errors, { expose: true });
    assert.deepEqual(c.log, { level: 'warn', access: false, file: './access.log' });
    const o = c.upstreams['orders']!;
    assert.deepEqual(o.targets, [
      { url: 'http://127.0.0.1:9001', weight: 3 },
      { url: 'https://orders.internal:9443/base', weight: 1 },
    ]);
    assert.equal(o.balance, 'weighted');
    assert.deepEqual(o.timeouts, { connect: 1000, send: 5000, read: 10_000, total: 15_000 });
    assert.deepEqual(o.pool, { maxConnections: 64, queueTimeout: 250, maxQueue: 10, idleTimeout: 3000 });
    assert.deepEqual(o.retries, { attempts: 3, on: ['connect-failure', 'stale-connection', 503], backoff: { base: 10, max: 1000 }, budget: 0.5, hedgeConnect: 250 });
    assert.deepEqual(o.tls, { rejectUnauthorized: false, servername: 'orders.internal' });
    const r = c.routes[0]!;
    assert.deepEqual(r.match, { path: '/api/orders/*', methods: ['GET', 'POST'], host: 'api.example.com' });
    assert.equal(r.upstream, 'orders');
    assert.equal(r.stripPrefix, '/api');
    assert.equal(r.preserveHost, true);
    assert.deepEqual(r.timeouts, { read: 30_000 });
    assert.equal(r.maxBodySize, 512 * 1024);
  });

  test('a route retries override keeps only the keys it names (the upstream supplies the rest)', () => {
    const c = parseConfig(
      lines(
        'upstreams:',
        '  orders:',
        '    targets: [{ url: http://127.0.0.1:9001 }]',
        '    retries: { attempts: 3, on: [connect-failure, 503], backoff: 10ms..1s, budget: 50% }',
        'routes:',
        '  - name: orders',
        '    match: { path: /orders }',
        '    upstream: orders',
        '    retries: { attempts: 1 }',
      ),
      'f.yaml',
      {},
    );
    // Defaults here would silently replace the upstream's `on`, `backoff` and `budget`.
    assert.deepEqual(c.routes[0]!.retries, { attempts: 1 });
  });

  test('distinct route names are accepted', () => {
    const c = parseConfig(ORDERS + lines('routes:', '  - { name: a, match: { path: /a }, upstream: orders }', '  - { name: b, match: { path: /b }, upstream: orders }'), 'f.yaml', {});
    assert.deepEqual(
      c.routes.map((r) => r.name),
      ['a', 'b'],
    );
  });
});

describe('unknown keys', () => {
  test('a misspelt key in a flow mapping: did you mean, path and line', () => {
    const p = problem(ORDERS + lines('    timeouts: { conect: 1s }'));
    assert.match(p.message, /unknown key "conect"/);
    assert.ok(p.message.includes('did you mean "connect"'), p.message);
    assert.equal(p.path, 'upstreams.orders.timeouts.conect');
    assert.equal(p.line, 4);
    assert.equal(p.column, 17);
    assert.equal(p.file, 'causeway.yaml');
    assert.equal(formatProblem(p), `causeway.yaml:4:17 upstreams.orders.timeouts.conect: ${p.message}`);
  });

  test('a misspelt key in a block mapping points at the key itself', () => {
    const p = problem(ORDERS + lines('    timeouts:', '      read: 2s', '      conect: 1s'));
    assert.ok(p.message.includes('did you mean "connect"'), p.message);
    assert.equal(p.path, 'upstreams.orders.timeouts.conect');
    assert.equal(p.line, 6);
    assert.equal(p.column, 7);
  });

  test('at the top level, inside arrays and in the targets list', () => {
    const top = problem(lines('listn: { port: 1 }') + ORDERS);
    assert.equal(top.path, 'listn');
    assert.equal(top.line, 1);
    assert.ok(top.message.includes('did you mean "listen"'));

    const route = problem(ORDERS + lines('routes:', '  - name: a', '    match: { path: /a, methds: [GET] }', '    upstream: orders'));
    assert.equal(route.path, 'routes[0].match.methds');
    assert.equal(route.line, 6);
    assert.ok(route.message.includes('did you mean "methods"'));

    const target = problem(lines('upstreams:', '  orders:', '    targets:', '      - url: http://127.0.0.1:9001', '        wieght: 2'));
    assert.equal(target.path, 'upstreams.orders.targets[0].wieght');
    assert.equal(target.line, 5);
    assert.ok(target.message.includes('did you mean "weight"'));
  });

  test('a key nothing resembles lists the known keys instead', () => {
    const p = problem(ORDERS + lines('    pool: { zzzzzzzz: 1 }'));
    assert.equal(p.path, 'upstreams.orders.pool.zzzzzzzz');
    assert.ok(!p.message.includes('did you mean'), p.message);
    assert.ok(p.message.includes('maxConnections') && p.message.includes('queueTimeout'), p.message);
  });

  test('every unknown key is reported, not only the first', () => {
    const list = problems(ORDERS + lines('    pool: { maxConnection: 1, idleTimout: 2s }'));
    assert.deepEqual(
      list.map((p) => p.path).sort(),
      ['upstreams.orders.pool.idleTimout', 'upstreams.orders.pool.maxConnection'],
    );
    assert.ok(list.every((p) => p.line === 4));
  });
});

describe('missing and invalid values', () => {
  test('missing upstreams', () => {
    const p = problem(lines('listen: { port: 8080 }'));
    assert.equal(p.path, 'upstreams');
    assert.equal(p.message, 'missing required key "upstreams"');
    assert.equal(p.line, 1);
  });

  test('an upstream without targets is reported at the upstream', () => {
    const p = problem(lines('upstreams:', '  orders:', '    balance: weighted'));
    assert.equal(p.path, 'upstreams.orders.targets');
    assert.equal(p.message, 'missing required key "targets"');
    assert.equal(p.line, 3);
  });

  test('a route without an upstream', () => {
    const p = problem(ORDERS + lines('routes:', '  - name: a', '    match: { path: /a }'));
    assert.equal(p.path, 'routes[0].upstream');
    assert.equal(p.message, 'missing required key "upstream"');
    assert.equal(p.line, 5);
  });

  test('an empty targets list', () => {
    const p = problem(lines('upstreams:', '  orders:', '    targets: []'));
    assert.equal(p.path, 'upstreams.orders.targets');
    assert.match(p.message, /at least one target/);
  });

  test('a wrong enum value suggests the closest one', () => {
    const p = problem(ORDERS + lines('    balance: round-robbin'));
    assert.equal(p.path, 'upstreams.orders.balance');
    assert.equal(p.line, 4);
    assert.equal(p.column, 14);
    assert.ok(p.message.startsWith('"round-robbin" is not one of round-robin, least-connections, p2c-ewma, weighted'), p.message);
    assert.ok(p.message.includes('did you mean "round-robin"'), p.message);
  });

  test('a wrong method in a list suggests the closest one', () => {
    const p = problem(ORDERS + lines('routes:', '  - name: a', '    match: { path: /a, methods: [GTE] }', '    upstream: orders'));
    assert.equal(p.path, 'routes[0].match.methods[0]');
    assert.equal(p.line, 6);
    assert.ok(p.message.includes('did you mean "GET"'), p.message);
  });

  test('a duration without a unit', () => {
    const p = problem(ORDERS + lines('    timeouts: { read: 10x }'));
    assert.equal(p.path, 'upstreams.orders.timeouts.read');
    assert.equal(p.line, 4);
    assert.match(p.message, /duration with a unit/);
  });

  test('a size and a percentage out of shape', () => {
    const size = problem(lines('server: { maxBodySize: 10 megabytes }') + ORDERS);
    assert.equal(size.path, 'server.maxBodySize');
    assert.match(size.message, /size with a unit/);
    const over = problem(ORDERS + lines('    retries: { budget: 150% }'));
    assert.equal(over.path, 'upstreams.orders.retries.budget');
    assert.match(over.message, /between 0% and 100%/);
  });

  test('a target URL that is not http or https', () => {
    const p = problem(lines('upstreams:', '  orders:', '    targets: [{ url: ftp://files.example.com }]'));
    assert.equal(p.path, 'upstreams.orders.targets[0].url');
    assert.equal(p.line, 3);
    assert.match(p.message, /http:\/\/ or https:\/\//);
  });

  test('a path pattern that does not start with /', () => {
    const p = problem(ORDERS + lines('routes:', '  - { name: a, match: { path: api }, upstream: orders }'));
    assert.equal(p.path, 'routes[0].match.path');
    assert.equal(p.line, 5);
  });

  test('every problem is reported at once, each with its own line', () => {
    const list = problems(lines('listn: {}', 'upstreams:', '  o:', '    targets: [{ url: http://a }]', '    balance: rr', '    timeouts: { read: 5x }'));
    const byPath = new Map(list.map((p) => [p.path, p.line]));
    assert.equal(byPath.get('listn'), 1);
    assert.equal(byPath.get('upstreams.o.balance'), 5);
    assert.equal(byPath.get('upstreams.o.timeouts.read'), 6);
  });
});

describe('retries.on', () => {
  test('a status outside 5xx says why it cannot be retried, not a bare range', () => {
    const msg = (v: string) => problem(lines('upstreams:', '  orders:', '    targets: [{ url: http://127.0.0.1:9001 }]', `    retries: { on: [${v}] }`)).message;
    assert.equal(msg('404'), "404 is not a 5xx status: retries.on takes 5xx statuses (500-599) and connect-failure, stale-connection, reset, response-timeout; a 4xx is the backend's answer, and a retry would get the same one");
    assert.match(msg('302'), /^302 is not a 5xx status: .*a 3xx is the backend's answer/);
    assert.equal(msg('600'), '600 is not a 5xx status: retries.on takes 5xx statuses (500-599) and connect-failure, stale-connection, reset, response-timeout');
    assert.equal(msg('timeout'), '"timeout" is not one of connect-failure, stale-connection, reset, response-timeout');
  });
});

describe('cross references', () => {
  test('a route naming an upstream that does not exist gets a suggestion', () => {
    const p = problem(ORDERS + lines('routes:', '  - name: a', '    match: { path: /a }', '    upstream: order'));
    assert.equal(p.path, 'routes[0].upstream');
    assert.equal(p.line, 7);
    assert.equal(p.column, 15);
    assert.equal(p.message, 'no upstream named "order" — did you mean "orders"?');
  });

  test('is reported together with every other problem, at once, in document order', () => {
    const list = problems(
      lines('upstreams:', '  orders:', '    targets: [{ url: http://127.0.0.1:9001 }]', '    retries: { on: [404] }', '    timeouts: { conect: 1s }', 'routes:', '  - { name: a, match: { path: /a }, upstream: order }', '  - { name: a, match: { path: /b }, upstream: orders }'),
    );
    assert.deepEqual(
      list.map((p) => [p.line, p.path]),
      [
        [4, 'upstreams.orders.retries.on[0]'],
        [5, 'upstreams.orders.timeouts.conect'],
        [7, 'routes[0].upstream'],
        [8, 'routes[1].name'],
      ],
    );
    assert.equal(list[2]!.message, 'no upstream named "order" — did you mean "orders"?');
  });

  test('with nothing close, the known upstreams are listed', () => {
    const p = problem(ORDERS + lines('routes:', '  - name: a', '    match: { path: /a }', '    upstream: payments'));
    assert.equal(p.message, 'no upstream named "payments" (upstreams: orders)');
  });

  test('duplicate route names point at the second one and name the first', () => {
    const p = problem(ORDERS + lines('routes:', '  - name: a', '    match: { path: /a }', '    upstream: orders', '  - name: a', '    match: { path: /b }', '    upstream: orders'));
    assert.equal(p.path, 'routes[1].name');
    assert.equal(p.line, 8);
    assert.equal(p.message, 'route name "a" is already used by routes[0]');
  });
});

describe('YAML syntax', () => {
  test('an unclosed flow sequence is reported with its line', () => {
    const list = problems(lines('upstreams:', '  orders:', '    targets: [{ url: http://127.0.0.1:9001 }', '  other: x'));
    assert.ok(list.every((p) => p.message.startsWith('YAML syntax:')));
    assert.ok(list[0]!.line >= 3 && list[0]!.line <= 4, `line ${list[0]!.line}`);
    assert.equal(list[0]!.path, '');
    assert.match(formatProblem(list[0]!), /^causeway\.yaml:\d+:\d+ \(document\): YAML syntax: /);
  });

  test('a bad indentation is reported on its line', () => {
    const list = problems(lines('upstreams:', '  orders:', '    targets:', '      - url: http://a', '     weight: 1'));
    assert.equal(list[0]!.line, 5);
  });

  test('a duplicate key is a syntax error', () => {
    const list = problems(lines('upstreams:', '  orders:', '    targets: [{ url: http://a }]', '  orders:', '    targets: [{ url: http://b }]'));
    assert.equal(list[0]!.line, 4);
    assert.match(list[0]!.message, /unique/);
  });

  test('a document that is not a mapping', () => {
    const p = problem('just a string\n');
    assert.equal(p.path, '');
    assert.equal(p.line, 1);
  });
});

describe('${ENV} substitution', () => {
  test('a variable inside a value', () => {
    const c = parseConfig(lines('upstreams:', '  orders:', '    targets:', '      - url: http://${ORDERS_HOST}:9001'), 'f.yaml', { ORDERS_HOST: 'orders.internal' });
    assert.equal(c.upstreams['orders']!.targets[0]!.url, 'http://orders.internal:9001');
  });

  test('${X:-default} uses the default when X is unset or empty, the value otherwise', () => {
    const yaml = lines('upstreams:', '  orders:', '    targets:', '      - url: "http://127.0.0.1:${PORT_A:-9001}"');
    assert.equal(parseConfig(yaml, 'f.yaml', {}).upstreams['orders']!.targets[0]!.url, 'http://127.0.0.1:9001');
    assert.equal(parseConfig(yaml, 'f.yaml', { PORT_A: '' }).upstreams['orders']!.targets[0]!.url, 'http://127.0.0.1:9001');
    assert.equal(parseConfig(yaml, 'f.yaml', { PORT_A: '7000' }).upstreams['orders']!.targets[0]!.url, 'http://127.0.0.1:7000');
  });

  test('a missing variable is an error on its line, naming the variable', () => {
    const p = problem(lines('upstreams:', '  orders:', '    targets:', '      - url: http://${NOPE}:9001'));
    assert.equal(p.line, 4);
    assert.match(p.message, /environment variable NOPE is not set/);
    assert.ok(p.message.includes('${NOPE:-default}'));
  });

  test('a whole-scalar reference takes the type of its text', () => {
    const c = parseConfig(lines('listen:', '  port: ${PORT}', 'errors:', '  expose: ${EXPOSE}') + ORDERS, 'f.yaml', { PORT: '8081', EXPOSE: 'true' });
    assert.equal(c.listen[0]!.port, 8081);
    assert.equal(c.errors.expose, true);
  });

  test('references work inside flow mappings and sequences (as the config sketch writes them)', () => {
    const c = parseConfig(
      lines(
        'listen: { host: 127.0.0.1, port: ${PORT} }',
        'admin: { host: 127.0.0.1, port: 9901, token: ${CAUSEWAY_ADMIN_TOKEN} }',
        'server: { trustedProxies: [${PROXY_A}, ${PROXY_B:-127.10.0.2}] }',
        'upstreams:',
        '  orders:',
        '    targets: [{ url: http://${HOST}:9001 }]',
      ),
      'f.yaml',
      { PORT: '8081', CAUSEWAY_ADMIN_TOKEN: 's3cret', PROXY_A: '127.10.0.1', HOST: '127.0.0.1' },
    );
    assert.equal(c.listen[0]!.port, 8081);
    assert.equal(c.admin?.token, 's3cret');
    assert.deepEqual(c.server.trustedProxies, ['127.10.0.1', '127.10.0.2']);
    assert.equal(c.upstreams['orders']!.targets[0]!.url, 'http://127.0.0.1:9001');
  });

  test('a missing variable inside a flow mapping is reported on its line', () => {
    const p = problem(ORDERS + lines('admin: { token: ${MISSING_TOKEN} }'));
    assert.equal(p.line, 4);
    assert.match(p.message, /MISSING_TOKEN/);
  });

  test('a quoted reference stays a string, even when the value looks like a number', () => {
    const c = parseConfig(lines('admin:', '  token: "${TOKEN}"') + ORDERS, 'f.yaml', { TOKEN: '123456' });
    assert.equal(c.admin?.token, '123456');
  });

  test('environment values cannot inject YAML structure', () => {
    const evil = 'x\nupstreams: {}\nrouter: { evil: true }';
    const c = parseConfig(lines('admin:', '  token: ${TOKEN}', 'consumers: [{ name: c, subscriptions: [${PROXY}] }]') + ORDERS, 'f.yaml', {
      TOKEN: evil,
      PROXY: '1.1.1.1, 2.2.2.2]\nlisten: { port: 1 }',
    });
    assert.equal(c.admin?.token, evil);
    assert.deepEqual(c.consumers[0]!.subscriptions, ['1.1.1.1, 2.2.2.2]\nlisten: { port: 1 }']);
    assert.equal(c.listen[0]!.port, 8080);
    assert.deepEqual(Object.keys(c.upstreams), ['orders']);
  });

  test('a value is substituted once: a reference inside an environment value is left alone', () => {
    const c = parseConfig(lines('admin:', '  token: ${TOKEN}') + ORDERS, 'f.yaml', { TOKEN: 'a${OTHER}b', OTHER: 'no' });
    assert.equal(c.admin?.token, 'a${OTHER}b');
  });

  test('text that merely looks like a reference is kept', () => {
    const c = parseConfig(lines('admin:', '  token: "$HOME and ${not closed"') + ORDERS, 'f.yaml', {});
    assert.equal(c.admin?.token, '$HOME and ${not closed');
  });
});

describe('files', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'causeway-config-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('loadConfigFile reads, validates and labels problems with the file name', () => {
    const good = join(dir, 'good.yaml');
    writeFileSync(good, ORDERS);
    assert.equal(loadConfigFile(good, {}).upstreams['orders']!.targets.length, 1);

    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, ORDERS + lines('    timeouts: { conect: 1s }'));
    assert.throws(
      () => loadConfigFile(bad, {}),
      (err: unknown) => err instanceof ConfigError && err.problems[0]!.file === bad && err.message.startsWith(`${bad}:4:17 upstreams.orders.timeouts.conect:`),
    );
  });

  test('a file that cannot be read is a ConfigError naming the reason', () => {
    const missing = join(dir, 'missing.yaml');
    assert.throws(
      () => loadConfigFile(missing, {}),
      (err: unknown) => err instanceof ConfigError && err.problems[0]!.file === missing && /ENOENT/.test(err.message),
    );
  });
});

test('formatPath writes keys dotted and indices in brackets', () => {
  assert.equal(formatPath([]), '');
  assert.equal(formatPath(['upstreams', 'orders', 'timeouts', 'read']), 'upstreams.orders.timeouts.read');
  assert.equal(formatPath(['routes', 0, 'match', 'methods', 2]), 'routes[0].match.methods[2]');
});
