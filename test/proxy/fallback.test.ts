import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.js';
import type { FallbackConfig } from '../../src/config/schema.js';
import { staticFallback, withHeaders } from '../../src/proxy/fallback.js';

/** The fallback of route `r` in a parsed config. */
function fallbackOf(yaml: string): FallbackConfig {
  const text = ['upstreams:', '  u:', '    targets: [{ url: http://127.0.0.1:9001 }]', 'routes:', '  - name: r', '    match: { path: /x }', '    upstream: u', ...yaml.split('\n').map((l) => `    ${l}`)].join('\n') + '\n';
  const f = parseConfig(text, 'fallback.yaml', {}).routes[0]!.fallback;
  assert.ok(f);
  return f;
}

describe('staticFallback', () => {
  test('renders a JSON body with a JSON content type', () => {
    const r = staticFallback(fallbackOf('fallback: { response: { status: 200, json: { items: [], degraded: true } } }'));
    assert.ok(r);
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body.toString()), { items: [], degraded: true });
    assert.equal(r.headers['content-type'], 'application/json; charset=utf-8');
  });

  test('renders a text body with the headers given and the status given', () => {
    const r = staticFallback(fallbackOf(['fallback:', '  response:', '    status: 503', '    headers: { Retry-After: "30", Content-Type: text/plain }', '    body: come back later'].join('\n')));
    assert.ok(r);
    assert.equal(r.status, 503);
    assert.equal(r.body.toString(), 'come back later');
    assert.deepEqual(r.headers, { 'Retry-After': '30', 'Content-Type': 'text/plain' });
  });

  test('a content type of the user\'s wins over the JSON default, whatever its case', () => {
    const r = staticFallback(fallbackOf('fallback: { response: { json: { a: 1 }, headers: { Content-Type: application/problem+json } } }'));
    assert.ok(r);
    const types = Object.entries(r.headers).filter(([k]) => k.toLowerCase() === 'content-type');
    assert.deepEqual(types, [['Content-Type', 'application/problem+json']], 'exactly one content type, the configured one');
    const lower = staticFallback(fallbackOf('fallback: { response: { json: [1], headers: { content-type: application/vnd.x+json } } }'))!;
    assert.deepEqual(lower.headers, { 'content-type': 'application/vnd.x+json' });
  });

  test('status defaults to 200 and the body to empty', () => {
    const r = staticFallback(fallbackOf('fallback: { response: {} }'));
    assert.ok(r);
    assert.equal(r.status, 200);
    assert.equal(r.body.length, 0);
    assert.deepEqual(r.headers, {});
  });

  test('json null and false are rendered, not dropped', () => {
    assert.equal(staticFallback(fallbackOf('fallback: { response: { json: false } }'))!.body.toString(), 'false');
    assert.equal(staticFallback(fallbackOf('fallback: { response: { json: 0 } }'))!.body.toString(), '0');
  });

  test('a stale fallback has no static response', () => {
    assert.equal(staticFallback(fallbackOf('fallback: { staleFor: 60s }')), null);
  });

  test('does not share header objects with the config', () => {
    const f = fallbackOf('fallback: { response: { json: {}, headers: { x-a: "1" } } }');
    const r = staticFallback(f)!;
    r.headers['x-b'] = '2';
    assert.ok('response' in f);
    assert.deepEqual(f.response.headers, { 'x-a': '1' });
  });
});

describe('withHeaders', () => {
  test('replaces names case-insensitively and appends the new values at the end', () => {
    const out = withHeaders(['Content-Type', 'text/plain', 'X-Causeway-Error', 'OLD', 'ETag', '"1"', 'age', '5'], ['x-causeway-error', 'UPSTREAM_CONNECTION_REFUSED', 'Age', '12', 'x-causeway-fallback', 'stale']);
    assert.deepEqual(out, ['Content-Type', 'text/plain', 'ETag', '"1"', 'x-causeway-error', 'UPSTREAM_CONNECTION_REFUSED', 'Age', '12', 'x-causeway-fallback', 'stale']);
  });

  test('drops every repeat of a replaced name (e.g. several Set-Cookie or Warning lines)', () => {
    const out = withHeaders(['warning', 'a', 'Warning', 'b', 'x', '1'], ['WARNING', 'c']);
    assert.deepEqual(out, ['x', '1', 'WARNING', 'c']);
  });

  test('keeps repeats of names it does not set', () => {
    const out = withHeaders(['set-cookie', 'a=1', 'set-cookie', 'b=2'], ['age', '0']);
    assert.deepEqual(out, ['set-cookie', 'a=1', 'set-cookie', 'b=2', 'age', '0']);
  });

  test('empty lists', () => {
    assert.deepEqual(withHeaders([], []), []);
    assert.deepEqual(withHeaders([], ['a', '1']), ['a', '1']);
    assert.deepEqual(withHeaders(['a', '1'], []), ['a', '1']);
  });

  test('does not modify its inputs', () => {
    const h = ['a', '1', 'b', '2'];
    const set = ['A', '3'];
    withHeaders(h, set);
    assert.deepEqual(h, ['a', '1', 'b', '2']);
    assert.deepEqual(set, ['A', '3']);
  });
});
