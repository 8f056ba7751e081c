import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, formatProblem, parseConfig, type ConfigProblem } from '../../src/config/load.js';

/** Lines joined with \n, so that line numbers can be read off the array index + 1. */
const lines = (...l: string[]) => l.join('\n') + '\n';

/** An upstream `orders` with extra lines appended under it (indented 4). */
const withUpstream = (...extra: string[]) => lines('upstreams:', '  orders:', '    targets: [{ url: http://127.0.0.1:9001 }]', ...extra.map((l) => `    ${l}`));

/** Upstream `orders` and route `r` with extra lines under the route (indented 4). */
const withRoute = (...extra: string[]) =>
  lines('upstreams:', '  orders:', '    targets: [{ url: http://127.0.0.1:9001 }]', 'routes:', '  - name: r', '    match: { path: /x }', '    upstream: orders', ...extra.map((l) => `    ${l}`));

function problems(yaml: string, file = 'causeway.yaml'): ConfigProblem[] {
  try {
    parseConfig(yaml, file, {});
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.ok(err.problems.length > 0);
    return err.problems;
  }
  assert.fail('the config was accepted');
}

function problem(yaml: string): ConfigProblem {
  const list = problems(yaml);
  assert.equal(list.length, 1, `expected one problem, got:\n${list.map(formatProblem).join('\n')}`);
  return list[0]!;
}

const orders = (yaml: string) => parseConfig(yaml, 'c.yaml', {}).upstreams['orders']!;

describe('resilience config: defaults', () => {
  test('without the keys, no health checks and no breaker', () => {
    const o = orders(withUpstream());
    assert.equal(o.healthCheck, undefined);
    assert.equal(o.circuitBreaker, undefined);
    assert.equal(parseConfig(withRoute(), 'c.yaml', {}).routes[0]!.fallback, undefined);
  });

  test('healthCheck.active: {} gets every default', () => {
    const o = orders(withUpstream('healthCheck: { active: {} }'));
    assert.deepEqual(o.healthCheck, {
      active: { path: '/healthz', interval: 2000, timeout: 1000, healthyAfter: 2, unhealthyAfter: 3, expectedStatuses: ['200-399'] },
    });
  });

  test('healthCheck.passive: {} gets every default', () => {
    const o = orders(withUpstream('healthCheck: { passive: {} }'));
    assert.deepEqual(o.healthCheck, { passive: { consecutiveFailures: 5, ejectFor: 30_000, maxEjectFor: 300_000, maxEjectedPercent: 0.5 } });
  });

  test('circuitBreaker: {} gets every default', () => {
    const o = orders(withUpstream('circuitBreaker: {}'));
    assert.deepEqual(o.circuitBreaker, { failureRate: 0.5, minRequests: 20, window: 10_000, openFor: 15_000, halfOpenRequests: 3 });
  });

  test('the DESIGN.md sketch parses, with units turned into numbers', () => {
    const o = orders(
      withUpstream(
        'healthCheck:',
        '  active: { path: /healthz, interval: 2s, timeout: 1s, healthyAfter: 2, unhealthyAfter: 3 }',
        '  passive: { consecutiveFailures: 5, ejectFor: 30s, maxEjectedPercent: 50 % }'.replace(' %', '%'),
        'circuitBreaker: { failureRate: 50%, minRequests: 20, window: 10s, openFor: 15s, halfOpenRequests: 3 }',
      ),
    );
    assert.deepEqual(o.healthCheck?.active, { path: '/healthz', interval: 2000, timeout: 1000, healthyAfter: 2, unhealthyAfter: 3, expectedStatuses: ['200-399'] });
    assert.deepEqual(o.healthCheck?.passive, { consecutiveFailures: 5, ejectFor: 30_000, maxEjectFor: 300_000, maxEjectedPercent: 0.5 });
    assert.deepEqual(o.circuitBreaker, { failureRate: 0.5, minRequests: 20, window: 10_000, openFor: 15_000, halfOpenRequests: 3 });
  });

  test('every value can be set', () => {
    const o = orders(
      withUpstream(
        'healthCheck:',
        '  active: { path: /ready, interval: 250ms, timeout: 100ms, healthyAfter: 1, unhealthyAfter: 5, expectedStatuses: [200, 204, "300-308"] }',
        '  passive: { consecutiveFailures: 2, ejectFor: 1s, maxEjectFor: 1m, maxEjectedPercent: 100% }',
        'circuitBreaker: { failureRate: 25%, minRequests: 5, window: 1m, openFor: 500ms, halfOpenRequests: 1 }',
      ),
    );
    assert.deepEqual(o.healthCheck?.active, { path: '/ready', interval: 250, timeout: 100, healthyAfter: 1, unhealthyAfter: 5, expectedStatuses: [200, 204, '300-308'] });
    assert.deepEqual(o.healthCheck?.passive, { consecutiveFailures: 2, ejectFor: 1000, maxEjectFor: 60_000, maxEjectedPercent: 1 });
    assert.deepEqual(o.circuitBreaker, { failureRate: 0.25, minRequests: 5, window: 60_000, openFor: 500, halfOpenRequests: 1 });
  });

  test('fallback staleFor becomes milliseconds', () => {
    const r = parseConfig(withRoute('fallback: { staleFor: 60s }'), 'c.yaml', {}).routes[0]!;
    assert.deepEqual(r.fallback, { staleFor: 60_000 });
  });

  test('fallback response gets status 200 and no headers by default', () => {
    const r = parseConfig(withRoute('fallback: { response: { json: { items: [] } } }'), 'c.yaml', {}).routes[0]!;
    assert.deepEqual(r.fallback, { response: { status: 200, headers: {}, json: { items: [] } } });
  });

  test('fallback response with status, headers and a text body', () => {
    const r = parseConfig(withRoute('fallback:', '  response:', '    status: 503', '    headers: { Retry-After: "5" }', '    body: try later'), 'c.yaml', {}).routes[0]!;
    assert.deepEqual(r.fallback, { response: { status: 503, headers: { 'Retry-After': '5' }, body: 'try later' } });
  });

  test('${ENV} substitution works in the new keys', () => {
    const o = parseConfig(withUpstream('circuitBreaker: { openFor: "${OPEN_FOR}", minRequests: ${MIN} }'), 'c.yaml', { OPEN_FOR: '2s', MIN: '7' }).upstreams['orders']!;
    assert.equal(o.circuitBreaker?.openFor, 2000);
    assert.equal(o.circuitBreaker?.minRequests, 7);
  });
});

describe('resilience config: errors name the file, the path and the line', () => {
  test('a misspelt circuitBreaker key: did you mean', () => {
    const p = problem(withUpstream('circuitBreaker: { failureRat: 50% }'));
    assert.equal(p.file, 'causeway.yaml');
    assert.equal(p.line, 4);
    assert.equal(p.path, 'upstreams.orders.circuitBreaker.failureRat');
    assert.match(p.message, /unknown key "failureRat"/);
    assert.match(p.message, /did you mean "failureRate"/);
    assert.match(formatProblem(p), /^causeway\.yaml:4:\d+ upstreams\.orders\.circuitBreaker\.failureRat: /);
  });

  test('misspelt healthCheck keys at every level', () => {
    const cases: Array<[string[], string, string, number]> = [
      [['healthChek: { active: {} }'], 'upstreams.orders.healthChek', 'healthCheck', 4],
      [['healthCheck:', '  activ: {}'], 'upstreams.orders.healthCheck.activ', 'active', 5],
      [['healthCheck:', '  passive:', '    consecutiveFailure: 3'], 'upstreams.orders.healthCheck.passive.consecutiveFailure', 'consecutiveFailures', 6],
      [['healthCheck:', '  passive: { ejectFr: 10s }'], 'upstreams.orders.healthCheck.passive.ejectFr', 'ejectFor', 5],
      [['healthCheck:', '  active:', '    interval: 1s', '    unhealthyAfer: 3'], 'upstreams.orders.healthCheck.active.unhealthyAfer', 'unhealthyAfter', 7],
      [['circuitBreaker:', '  halfOpenRequest: 2'], 'upstreams.orders.circuitBreaker.halfOpenRequest', 'halfOpenRequests', 5],
    ];
    for (const [extra, path, hint, line] of cases) {
      const p = problem(withUpstream(...extra));
      assert.equal(p.path, path, formatProblem(p));
      assert.ok(p.message.includes(`did you mean "${hint}"`), formatProblem(p));
      assert.equal(p.line, line, formatProblem(p));
    }
  });

  test('bad values: durations, percentages, counts, paths and statuses', () => {
    const cases: Array<[string[], string, RegExp, number]> = [
      [['circuitBreaker: { failureRate: 50 }'], 'upstreams.orders.circuitBreaker.failureRate', /./, 4],
      [['circuitBreaker: { failureRate: 150% }'], 'upstreams.orders.circuitBreaker.failureRate', /between 0% and 100%/, 4],
      [['circuitBreaker:', '  openFor: 15x'], 'upstreams.orders.circuitBreaker.openFor', /duration with a unit/, 5],
      [['circuitBreaker:', '  openFor: 15'], 'upstreams.orders.circuitBreaker.openFor', /./, 5],
      [['circuitBreaker:', '  minRequests: 0'], 'upstreams.orders.circuitBreaker.minRequests', /./, 5],
      [['circuitBreaker:', '  halfOpenRequests: 1.5'], 'upstreams.orders.circuitBreaker.halfOpenRequests', /./, 5],
      [['healthCheck:', '  active:', '    path: healthz'], 'upstreams.orders.healthCheck.active.path', /starts with \//, 6],
      [['healthCheck:', '  active:', '    interval: often'], 'upstreams.orders.healthCheck.active.interval', /duration with a unit/, 6],
      [['healthCheck:', '  active:', '    expectedStatuses: ["2xx"]'], 'upstreams.orders.healthCheck.active.expectedStatuses[0]', /./, 6],
      [['healthCheck:', '  active:', '    expectedStatuses: [99]'], 'upstreams.orders.healthCheck.active.expectedStatuses[0]', /./, 6],
      [['healthCheck:', '  passive:', '    maxEjectedPercent: 50'], 'upstreams.orders.healthCheck.passive.maxEjectedPercent', /./, 6],
      [['healthCheck:', '  passive:', '    maxEjectedPercent: half'], 'upstreams.orders.healthCheck.passive.maxEjectedPercent', /percentage/, 6],
      [['healthCheck:', '  passive:', '    consecutiveFailures: 0'], 'upstreams.orders.healthCheck.passive.consecutiveFailures', /./, 6],
    ];
    for (const [extra, path, re, line] of cases) {
      // The first problem is the telling one (a malformed percentage also fails its range check).
      const p = problems(withUpstream(...extra))[0]!;
      assert.equal(p.path, path, formatProblem(p));
      assert.match(p.message, re, formatProblem(p));
      assert.equal(p.line, line, formatProblem(p));
      assert.equal(p.file, 'causeway.yaml');
    }
  });

  test('several problems are all reported, each with its own line', () => {
    const list = problems(withUpstream('circuitBreaker:', '  failureRat: 50%', '  openFor: soon', 'healthCheck:', '  passive: { ejectFor: 10 }'));
    const byPath = new Map(list.map((p) => [p.path, p]));
    assert.equal(byPath.get('upstreams.orders.circuitBreaker.failureRat')?.line, 5);
    assert.equal(byPath.get('upstreams.orders.circuitBreaker.openFor')?.line, 6);
    assert.equal(byPath.get('upstreams.orders.healthCheck.passive.ejectFor')?.line, 8);
  });

  test('a bad fallback staleFor is refused on its line', () => {
    const list = problems(withRoute('fallback: { staleFor: 60 }'));
    const p = list[0]!;
    assert.match(p.path, /^routes\[0\]\.fallback/);
    assert.equal(p.line, 8);
  });

  test('a misspelt fallback key is refused on its line', () => {
    const list = problems(withRoute('fallback: { staleFr: 60s }'));
    assert.ok(list.length >= 1);
    assert.ok(list.every((p) => p.line === 8), list.map(formatProblem).join('\n'));
  });

  // Known gaps, kept visible without failing the suite: `fallback` is a union of two strict
  // objects, and an unknown key in it reaches describeIssue() as a bare "Invalid input"; a YAML
  // number where a duration or a percentage is expected reads "expected string, received number".
  test('a misspelt fallback key gets a "did you mean"', () => {
    const text = problems(withRoute('fallback: { staleFr: 60s }')).map(formatProblem).join('\n');
    assert.match(text, /did you mean "staleFor"/);
  });

  test('a bad fallback staleFor says a duration is expected', () => {
    const text = problems(withRoute('fallback: { staleFor: 60x }')).map(formatProblem).join('\n');
    assert.match(text, /duration with a unit/);
  });

  test('a duration written as a bare number says a unit is needed', () => {
    const p = problem(withUpstream('circuitBreaker: { openFor: 15 }'));
    assert.match(p.message, /unit/);
  });

  test('a percentage written as a bare number says a % is needed', () => {
    const p = problem(withUpstream('circuitBreaker: { failureRate: 50 }'));
    assert.match(p.message, /percentage/);
  });

  test('a fallback response with a bad status is refused', () => {
    const list = problems(withRoute('fallback:', '  response:', '    status: 99'));
    const text = list.map(formatProblem).join('\n');
    assert.ok(list.some((p) => p.path === 'routes[0].fallback.response.status' && p.line === 10), text);
  });

  test('a misspelt key inside a fallback response gets a hint', () => {
    const list = problems(withRoute('fallback:', '  response:', '    jsn: { a: 1 }'));
    const text = list.map(formatProblem).join('\n');
    assert.ok(list.some((p) => p.path === 'routes[0].fallback.response.jsn' && p.line === 10), text);
    assert.match(text, /did you mean "json"/);
  });
});
