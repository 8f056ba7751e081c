import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Router, stripPathPrefix, type RouteSpec } from '../../src/routing/router.js';
import { normalizeHost } from '../../src/routing/path.js';

/** A router whose values are the route names. */
function router(...specs: RouteSpec[]): Router<string> {
  return new Router(specs.map((spec) => ({ spec, value: spec.name })));
}

/** The name of the route a request goes to, or a description of the miss. */
function route(r: Router<string>, method: string, path: string, host?: string): string {
  const m = r.match(method, path, normalizeHost(host) ?? '');
  if ('kind' in m) return m.kind === 'none' ? '(none)' : `(method: ${m.route} allows ${m.allowed.join(',')})`;
  return m.route;
}

describe('path patterns', () => {
  test('exact paths match only themselves', () => {
    const r = router({ name: 'health', path: '/healthz' }, { name: 'root', path: '/' });
    assert.equal(route(r, 'GET', '/healthz'), 'health');
    assert.equal(route(r, 'GET', '/'), 'root');
    assert.equal(route(r, 'GET', '/healthz/x'), '(none)');
    assert.equal(route(r, 'GET', '/health'), '(none)');
    assert.equal(route(r, 'GET', '/healthzz'), '(none)');
  });

  test('a trailing slash and repeated slashes do not change the match', () => {
    const r = router({ name: 'orders', path: '/api/orders' });
    assert.equal(route(r, 'GET', '/api/orders/'), 'orders');
    assert.equal(route(r, 'GET', '//api//orders'), 'orders');
  });

  test('prefix /* matches the prefix itself and anything below it, at segment boundaries', () => {
    const r = router({ name: 'orders', path: '/api/orders/*' });
    assert.equal(route(r, 'GET', '/api/orders'), 'orders');
    assert.equal(route(r, 'GET', '/api/orders/'), 'orders');
    assert.equal(route(r, 'GET', '/api/orders/x'), 'orders');
    assert.equal(route(r, 'GET', '/api/orders/x/y'), 'orders');
    assert.equal(route(r, 'GET', '/api/ordersX'), '(none)');
    assert.equal(route(r, 'GET', '/api/orders-old/1'), '(none)');
    assert.equal(route(r, 'GET', '/api'), '(none)');
  });

  test('/* alone matches every path', () => {
    const r = router({ name: 'all', path: '/*' });
    for (const p of ['/', '/a', '/a/b/c']) assert.equal(route(r, 'GET', p), 'all');
  });

  test('named parameters capture one segment each, percent-decoded', () => {
    const r = router({ name: 'item', path: '/users/:user/orders/:id' });
    const m = r.match('GET', '/users/ann/orders/42', '');
    assert.ok(!('kind' in m));
    assert.equal(m.route, 'item');
    assert.deepEqual(m.params, { user: 'ann', id: '42' });
    const enc = r.match('GET', '/users/a%20b/orders/%E2%82%AC', '');
    assert.ok(!('kind' in enc));
    assert.deepEqual(enc.params, { user: 'a b', id: '€' });
    // A malformed escape is kept as sent rather than failing the request.
    const bad = r.match('GET', '/users/%E2%82/orders/1', '');
    assert.ok(!('kind' in bad));
    assert.equal(bad.params['user'], '%E2%82');
    assert.equal(route(r, 'GET', '/users/ann/orders'), '(none)');
    assert.equal(route(r, 'GET', '/users/ann/orders/42/x'), '(none)');
  });

  test('a route without parameters yields empty params', () => {
    const m = router({ name: 'a', path: '/a' }).match('GET', '/a', '');
    assert.ok(!('kind' in m));
    assert.deepEqual(m.params, {});
  });
});

describe('hosts', () => {
  const r = router(
    { name: 'api', path: '/*', host: 'api.example.com' },
    { name: 'tenants', path: '/*', host: '*.example.com' },
    { name: 'fallback', path: '/*' },
  );

  test('an exact host matches case-insensitively and ignores the port', () => {
    assert.equal(route(r, 'GET', '/x', 'api.example.com'), 'api');
    assert.equal(route(r, 'GET', '/x', 'API.Example.COM'), 'api');
    assert.equal(route(r, 'GET', '/x', 'api.example.com:8443'), 'api');
    // A fully qualified name (trailing dot) is the same host, in any case, with any port.
    assert.equal(route(r, 'GET', '/x', 'api.example.com.'), 'api');
    assert.equal(route(r, 'GET', '/x', 'API.EXAMPLE.COM.:80'), 'api');
    assert.equal(route(r, 'GET', '/x', 'acme.example.com.'), 'tenants');
  });

  test('*.example.com matches any subdomain but not the bare domain or look-alikes', () => {
    assert.equal(route(r, 'GET', '/x', 'acme.example.com'), 'tenants');
    assert.equal(route(r, 'GET', '/x', 'a.b.example.com:80'), 'tenants');
    assert.equal(route(r, 'GET', '/x', 'example.com'), 'fallback');
    assert.equal(route(r, 'GET', '/x', 'badexample.com'), 'fallback');
    assert.equal(route(r, 'GET', '/x', 'example.com.evil.net'), 'fallback');
  });

  test('host-bound routes do not match other hosts or a missing Host', () => {
    const only = router({ name: 'api', path: '/*', host: 'api.example.com' });
    assert.equal(route(only, 'GET', '/x', 'www.example.com'), '(none)');
    assert.equal(route(only, 'GET', '/x', undefined), '(none)');
    assert.equal(route(only, 'GET', '/x', '[::1]:8080'), '(none)');
  });
});

describe('methods', () => {
  const r = router({ name: 'read', path: '/orders', methods: ['GET'] }, { name: 'write', path: '/orders/:id', methods: ['PUT', 'DELETE'] });

  test('only the listed methods match', () => {
    assert.equal(route(r, 'GET', '/orders'), 'read');
    assert.equal(route(r, 'PUT', '/orders/1'), 'write');
    assert.equal(route(r, 'DELETE', '/orders/1'), 'write');
  });

  test('HEAD is allowed wherever GET is, and only there', () => {
    assert.equal(route(r, 'HEAD', '/orders'), 'read');
    assert.equal(route(r, 'HEAD', '/orders/1'), '(method: write allows PUT,DELETE)');
  });

  test('a path match with the wrong method reports the route and the methods allowed at the path (HEAD with GET)', () => {
    const m = r.match('POST', '/orders', '');
    assert.deepEqual(m, { kind: 'method', allowed: ['GET', 'HEAD'], route: 'read' });
    assert.deepEqual(r.match('GET', '/orders/1', ''), { kind: 'method', allowed: ['PUT', 'DELETE'], route: 'write' });
  });

  test('no path match at all is a plain miss', () => {
    assert.deepEqual(r.match('GET', '/nothing', ''), { kind: 'none' });
  });

  test('a method miss gives way to another route that matches', () => {
    const r2 = router({ name: 'get-only', path: '/x', methods: ['GET'] }, { name: 'any', path: '/*' });
    assert.equal(route(r2, 'POST', '/x'), 'any');
    assert.equal(route(r2, 'GET', '/x'), 'get-only');
  });

  test('an empty method list means any method', () => {
    const r2 = router({ name: 'all', path: '/x', methods: [] });
    for (const m of ['GET', 'POST', 'PATCH', 'OPTIONS']) assert.equal(route(r2, m, '/x'), 'all');
  });
});

describe('the most specific route wins, whatever the config order', () => {
  /** Asserts that `winner` is chosen for the request in both config orders. */
  function wins(winner: RouteSpec, loser: RouteSpec, method: string, path: string, host?: string): void {
    assert.equal(route(router(winner, loser), method, path, host), winner.name, 'winner listed first');
    assert.equal(route(router(loser, winner), method, path, host), winner.name, 'winner listed second');
  }

  test('a host-bound route over a host-less one, even a less specific path', () => {
    wins({ name: 'host', path: '/*', host: 'api.example.com' }, { name: 'exact', path: '/api/orders' }, 'GET', '/api/orders', 'api.example.com');
  });

  test('an exact host over a wildcard host', () => {
    wins({ name: 'exact-host', path: '/*', host: 'api.example.com' }, { name: 'wild-host', path: '/api/*', host: '*.example.com' }, 'GET', '/api/x', 'api.example.com');
  });

  test('exact over parameterised over prefix', () => {
    const exact = { name: 'exact', path: '/api/orders/special' };
    const param = { name: 'param', path: '/api/orders/:id' };
    const prefix = { name: 'prefix', path: '/api/orders/*' };
    wins(exact, param, 'GET', '/api/orders/special');
    wins(exact, prefix, 'GET', '/api/orders/special');
    wins(param, prefix, 'GET', '/api/orders/42');
    assert.equal(route(router(prefix, param, exact), 'GET', '/api/orders/42/items'), 'prefix');
  });

  test('a longer literal prefix over a shorter one', () => {
    wins({ name: 'long', path: '/api/orders/*' }, { name: 'short', path: '/api/*' }, 'GET', '/api/orders/1');
    wins({ name: 'short', path: '/api/*' }, { name: 'root', path: '/*' }, 'GET', '/api/x');
  });

  test('a method-bound route over an any-method one', () => {
    wins({ name: 'get', path: '/x', methods: ['GET'] }, { name: 'any', path: '/x' }, 'GET', '/x');
  });

  test('config order breaks exact ties', () => {
    const a = { name: 'a', path: '/:x/c' };
    const b = { name: 'b', path: '/:y/c' };
    assert.equal(route(router(a, b), 'GET', '/q/c'), 'a');
    assert.equal(route(router(b, a), 'GET', '/q/c'), 'b');
  });
});

describe('stripPathPrefix', () => {
  const cases: Array<[string, string, string]> = [
    ['/api/orders', '/api', '/orders'],
    ['/api/orders/1', '/api', '/orders/1'],
    ['/api', '/api', '/'],
    ['/api/', '/api', '/'],
    ['/api/orders', '/api/', '/orders'],
    ['/apix/orders', '/api', '/apix/orders'],
    ['/other', '/api', '/other'],
    ['/x', '/', '/x'],
    ['/x', '', '/x'],
  ];
  for (const [path, prefix, out] of cases) {
    test(`${path} without ${JSON.stringify(prefix)} is ${out}`, () => assert.equal(stripPathPrefix(path, prefix), out));
  }
});
