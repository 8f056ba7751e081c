/** The one path policy (src/routing/path.ts) as tables: what each spelling becomes, or why it is refused. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyRoutePathPolicy, normalizeHost, normalizeRequestPath, type NormalPath } from '../../src/routing/path.js';

const norm = (p: string) => {
  const r = normalizeRequestPath(p);
  return 'refused' in r ? null : r.path;
};

describe('normalizeRequestPath: the form routing, policies and the backend see', () => {
  const cases: Array<[string, string]> = [
    ['/', '/'],
    ['/a/b', '/a/b'],
    ['/a.b/c.json', '/a.b/c.json'],
    ['/a/.hidden', '/a/.hidden'],
    ['/a/...', '/a/...'],
    ['/a/./b', '/a/b'],
    ['/a/../b', '/b'],
    ['/a/b/..', '/a/'],
    ['/a/.', '/a/'],
    ['/a/..', '/'],
    ['/public/../admin', '/admin'],
    ['/a/b/../../c', '/c'],
    // Escaped unreserved characters are those characters (RFC 3986 6.2.2.2).
    ['/public/%2e%2e/admin', '/admin'],
    ['/public/%2E%2E/admin', '/admin'],
    ['/public/.%2e/admin', '/admin'],
    ['/a/%2e/b', '/a/b'],
    ['/file%2ejson', '/file.json'],
    ['/%41%7a%7E', '/Az~'],
    // Other escapes stay escaped, in upper-case hex.
    ['/a%20b/c', '/a%20b/c'],
    ['/a%3fb', '/a%3Fb'],
    ['/caf%c3%a9', '/caf%C3%A9'],
    ['/100%25', '/100%25'],
    // Doubled slashes merge (nginx's merge_slashes).
    ['//a//b', '/a/b'],
    ['/a/b/', '/a/b/'],
  ];
  for (const [raw, out] of cases) test(`${raw} → ${out}`, () => assert.equal(norm(raw), out));
});

describe('normalizeRequestPath: always refused', () => {
  const cases: Array<[string, RegExp]> = [
    ['/..', /climbs above the root/],
    ['/../a', /climbs above the root/],
    ['/a/../..', /climbs above the root/],
    ['/%2e%2e/etc', /climbs above the root/],
    ['/a/%zz', /invalid percent-encoding/],
    ['/a/%4', /invalid percent-encoding/],
    ['/a/%', /invalid percent-encoding/],
    ['/a/%g0', /invalid percent-encoding/],
    ['/public/%252e%252e%252finternal/x', /percent-encoded twice/],
    ['/public/%252f', /percent-encoded twice/],
    ['/public/%25%32%65', /percent-encoded twice/],
    ['/a/%00', /control character/],
    ['/a/%0d%0aX-Evil:%201', /control character/],
    ['/a/%7f', /control character/],
    ['/public/..\\internal/x', /backslash/],
    ['/public\\..\\internal', /backslash/],
    ['/public/caf\u00e9', /must be percent-encoded/],
    ['/public/%c0%ae%c0%ae/internal', /not valid UTF-8/],
    ['/public/%c0%af', /not valid UTF-8/],
    ['/public/%e0%80%ae', /not valid UTF-8/],
    ['/public/%f0%80%80%ae', /not valid UTF-8/],
    ['/public/%c3', /not valid UTF-8/],
    ['/public/%ff', /not valid UTF-8/],
    ['/public/%ef%bc%8e%ef%bc%8e/internal', /full-width/],
    ['/public/%ef%bc%8f', /full-width/],
    ['/public/%ef%bc%bc', /full-width/],
    ['/public/%e2%80%a4%e2%80%a4/internal', /full-width/],
    ['/public/%ef%b9%92', /full-width/],
    ['/public/..;/internal/x', /dot segment with path parameters/],
    ['/public/..;x=1/internal', /dot segment with path parameters/],
    ['/public/.;/internal', /dot segment with path parameters/],
    ['/public/%2e%2e;/internal', /dot segment with path parameters/],
    ['/public/..%3b/internal', /dot segment with path parameters/],
    ['/public/.%3Bx/internal', /dot segment with path parameters/],
    ['/public/..%20/internal', /trailing blanks/],
    ['/public/..%09/internal', /trailing blanks|control character/],
  ];
  for (const [raw, why] of cases) {
    test(`${raw} is refused`, () => {
      const r = normalizeRequestPath(raw);
      assert.ok('refused' in r, `${raw} became ${JSON.stringify(r)}`);
      assert.match(r.refused, why);
    });
  }
});

describe('escaped separators and parameters: flagged, then decided by the route', () => {
  test('flags', () => {
    assert.deepEqual(normalizeRequestPath('/public/..%2finternal/x'), { path: '/public/..%2Finternal/x', escapedSlash: true, parameters: false });
    assert.deepEqual(normalizeRequestPath('/public/%2e%2e%2finternal'), { path: '/public/..%2Finternal', escapedSlash: true, parameters: false });
    assert.deepEqual(normalizeRequestPath('/a/b%5cc'), { path: '/a/b%5Cc', escapedSlash: true, parameters: false });
    assert.deepEqual(normalizeRequestPath('/a;jsessionid=1/b'), { path: '/a;jsessionid=1/b', escapedSlash: false, parameters: true });
  });

  const route = (escapedSlashes: 'reject' | 'keep' | 'decode', pathParameters: 'reject' | 'keep' = 'reject') => ({ name: 'files', escapedSlashes, pathParameters });
  const n = (p: string) => normalizeRequestPath(p) as NormalPath;
  const cases: Array<[string, ReturnType<typeof route>, boolean, string | RegExp]> = [
    ['/files/a%2Fb', route('reject'), true, /escaped separator/],
    ['/files/a%2Fb', route('keep'), true, '/files/a%2Fb'],
    ['/files/a%2Fb', route('decode'), true, '/files/a/b'],
    ['/files/a%5Cb', route('decode'), true, '/files/a/b'],
    // Decoding that leaves the route (or the root) is refused: its policy would guard another path.
    ['/files/a/..%2F..%2Finternal', route('decode'), false, /no longer route files/],
    ['/files/..%2F..%2F..%2Fx', route('decode'), false, /climbs above the root/],
    ['/files/a;v=1', route('keep'), true, /path parameters/],
    ['/files/a;v=1', route('keep', 'keep'), true, '/files/a;v=1'],
  ];
  for (const [raw, r, same, want] of cases) {
    test(`${raw} with escapedSlashes ${r.escapedSlashes}, pathParameters ${r.pathParameters}`, () => {
      const d = applyRoutePathPolicy(n(raw), r, () => same);
      if (typeof want === 'string') assert.deepEqual(d, { path: want });
      else {
        assert.ok('refused' in d, JSON.stringify(d));
        assert.match(d.refused, want);
      }
    });
  }
});

describe('normalizeHost', () => {
  const cases: Array<[string | undefined, string | null]> = [
    [undefined, ''],
    ['api.example.com', 'api.example.com'],
    ['API.Example.COM', 'api.example.com'],
    ['api.example.com:8080', 'api.example.com'],
    ['admin.example.', 'admin.example'],
    ['ADMIN.EXAMPLE.:443', 'admin.example'],
    ['127.0.0.1:9901', '127.0.0.1'],
    ['[::1]:8080', '[::1]'],
    ['[::1]', '[::1]'],
    ['localhost', 'localhost'],
    ['a..b', null],
    ['a b', null],
    ['evil.com/x', null],
    ['user@evil.com', null],
    ['host:abc', null],
    ['host:', null],
    ['.', null],
    ['[::1', null],
    ['[::1]x', null],
  ];
  for (const [h, out] of cases) test(`${String(h)} → ${String(out)}`, () => assert.equal(normalizeHost(h), out));
});
