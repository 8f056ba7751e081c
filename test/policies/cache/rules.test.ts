/** The RFC 9111 rules of the response cache (src/policies/cache/rules.ts) as tables. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  byteRange,
  deltaSeconds,
  freshnessLifetime,
  governingDirectives,
  headerMap,
  initialAge,
  notModified,
  parseCacheControl,
  parseHttpDate,
  parseTargeted,
  staleAllowance,
  strippedFields,
  unstorable,
  varyNames,
  varyValue,
} from '../../../src/policies/cache/rules.js';

const T = Date.UTC(1994, 10, 6, 8, 49, 37);
const NOW = Date.UTC(2026, 0, 1);

describe('HTTP-date (RFC 9110 5.6.7)', () => {
  const TABLE: Array<[string, number | undefined]> = [
    ['Sun, 06 Nov 1994 08:49:37 GMT', T],
    ['Sunday, 06-Nov-94 08:49:37 GMT', T],
    ['Sun Nov  6 08:49:37 1994', T],
    ['Sun Nov 16 08:49:37 1994', Date.UTC(1994, 10, 16, 8, 49, 37)],
    // Two-digit years: more than 50 years ahead means the previous century.
    ['Thursday, 01-Jan-70 00:00:00 GMT', Date.UTC(2070, 0, 1)],
    ['Saturday, 01-Jan-77 00:00:00 GMT', Date.UTC(1977, 0, 1)],
    ['Sun, 06 Nov 1994 08:49:37 GMT ', T],
    // Anything else is not a date.
    ['0', undefined],
    ['-1', undefined],
    ['', undefined],
    ['Sun, 06 Nov 1994 08:49:37 UTC', undefined],
    ['Sun, 06 Nov 1994 08:49:37 +0000', undefined],
    ['sun, 06 nov 1994 08:49:37 GMT', undefined],
    ['Sun, 6 Nov 1994 08:49:37 GMT', undefined],
    ['Sun, 31 Nov 1994 08:49:37 GMT', undefined],
    ['Sun, 06 Nov 1994 24:00:00 GMT', undefined],
    ['1994-11-06T08:49:37Z', undefined],
    ['Sun Nov 6 08:49:37 1994', undefined],
    ['784111777', undefined],
  ];
  for (const [text, expected] of TABLE) test(`${JSON.stringify(text)} → ${expected === undefined ? 'invalid' : new Date(expected).toISOString()}`, () => assert.equal(parseHttpDate(text, NOW), expected));
});

describe('Cache-Control parsing', () => {
  test('lists, repeated lines, quoted values with commas, case, first occurrence wins', () => {
    const d = parseCacheControl(['Max-Age=60, no-cache="Set-Cookie, Link"', 'public, max-age=5']);
    assert.equal(d.get('max-age'), '60');
    assert.equal(d.get('no-cache'), 'Set-Cookie, Link');
    assert.equal(d.get('public'), true);
    assert.deepEqual([...strippedFields(d)], ['set-cookie', 'link']);
  });

  const DELTA: Array<[string, number | undefined]> = [
    ['max-age=60', 60],
    ['max-age="60"', 60],
    ['max-age=0', 0],
    ['max-age=-1', 0],
    ['max-age=abc', 0],
    ['max-age', 0],
    ['max-age=99999999999', 2147483648],
    ['public', undefined],
  ];
  for (const [v, expected] of DELTA) test(`${v} → max-age ${expected}`, () => assert.equal(deltaSeconds(parseCacheControl(v), 'max-age'), expected));

  test('combined header lines read as one list', () => {
    assert.equal(headerMap(['Cache-Control', 'public', 'cache-control', 'max-age=60']).get('cache-control'), 'public, max-age=60');
  });
});

describe('targeted fields (RFC 9213)', () => {
  const TABLE: Array<[Array<[string, string]>, string | undefined, boolean]> = [
    [[['cache-control', 'max-age=10'], ['cdn-cache-control', 'max-age=60']], '60', true],
    [[['cache-control', 'max-age=10'], ['cdn-cache-control', 'max-age=60'], ['causeway-cache-control', 'max-age=600']], '600', true],
    [[['cache-control', 'max-age=10'], ['causeway-cache-control', 'Max-Age=600']], '10', false],
    [[['cache-control', 'max-age=10'], ['cdn-cache-control', 'max-age=60,,']], '10', false],
    [[['cache-control', 'no-store'], ['cdn-cache-control', 'max-age=60']], '60', true],
    [[['cache-control', 'max-age=10']], '10', false],
  ];
  for (const [headers, maxAge, targeted] of TABLE) {
    test(`${headers.map(([n, v]) => `${n}: ${v}`).join(' | ')} → max-age ${maxAge}${targeted ? ' (targeted)' : ''}`, () => {
      const g = governingDirectives(new Map(headers));
      assert.equal(g.cc.get('max-age'), maxAge);
      assert.equal(g.targeted, targeted);
    });
  }
  test('a targeted no-store keeps it out whatever Cache-Control says', () => {
    const g = governingDirectives(new Map([['cache-control', 'max-age=60'], ['causeway-cache-control', 'no-store']]));
    assert.equal(unstorable({ status: 200, headers: new Map() }, g.cc, new Map(), false), 'no-store');
  });
  test('dictionary syntax: quoted strings, lower-case keys only', () => {
    assert.deepEqual([...parseTargeted('max-age=60, private="a, b"')!], [['max-age', '60'], ['private', 'a, b']]);
    assert.equal(parseTargeted('MAX-AGE=1'), null);
  });
});

describe('storable (RFC 9111 3, 3.5)', () => {
  const h = (o: Record<string, string> = {}) => new Map(Object.entries(o));
  const TABLE: Array<[string, number, Record<string, string>, string, string, boolean, string | null]> = [
    ['plain 200', 200, {}, '', '', false, null],
    ['no-store', 200, {}, 'no-store', '', false, 'no-store'],
    ['request no-store', 200, {}, '', 'no-store', false, 'no-store'],
    ['private', 200, {}, 'private', '', false, 'private'],
    ['qualified private is stored without the field', 200, {}, 'private="x-user"', '', false, null],
    ['Vary: *', 200, { vary: '*' }, '', '', false, 'Vary: *'],
    ['Vary: * inside a list', 200, { vary: 'Accept, *' }, '', '', false, 'Vary: *'],
    ['Set-Cookie', 200, { 'set-cookie': 'a=1' }, 'max-age=60', '', false, 'Set-Cookie'],
    ['Authorization without permission', 200, {}, 'max-age=60', '', true, 'Authorization'],
    ['Authorization with public', 200, {}, 'public', '', true, null],
    ['Authorization with s-maxage', 200, {}, 's-maxage=60', '', true, null],
    ['Authorization with must-revalidate', 200, {}, 'must-revalidate', '', true, null],
    ['404 heuristically cacheable', 404, {}, '', '', false, null],
    ['500 without freshness', 500, {}, '', '', false, 'status 500'],
    ['500 with max-age', 500, {}, 'max-age=5', '', false, null],
    ['302 with Expires', 302, { expires: 'Sun, 06 Nov 1994 08:49:37 GMT' }, '', '', false, null],
    ['206 never (no range combining)', 206, {}, 'max-age=60', '', false, 'status 206'],
    ['304 never', 304, {}, 'max-age=60', '', false, 'status 304'],
  ];
  for (const [name, status, headers, cc, reqCc, auth, expected] of TABLE) {
    test(`${name} → ${expected ?? 'stored'}`, () => assert.equal(unstorable({ status, headers: h(headers) }, parseCacheControl(cc), parseCacheControl(reqCc), auth), expected));
  }
});

describe('freshness lifetime (RFC 9111 4.2)', () => {
  const ttl = { heuristic: 'ttl' as const, ttl: 10_000 };
  const lm = { heuristic: 'last-modified' as const, ttl: 3_600_000 };
  const none = { heuristic: 'none' as const, ttl: 10_000 };
  const date = 'Sun, 06 Nov 1994 08:49:37 GMT';
  const TABLE: Array<[string, string, Record<string, string>, number, Parameters<typeof freshnessLifetime>[3], boolean, number]> = [
    ['s-maxage beats max-age', 'max-age=5, s-maxage=7', {}, 200, ttl, false, 7000],
    ['max-age beats Expires', 'max-age=5', { date, expires: 'Sun, 06 Nov 1994 09:49:37 GMT' }, 200, ttl, false, 5000],
    ['Expires − Date', '', { date, expires: 'Sun, 06 Nov 1994 09:49:37 GMT' }, 200, ttl, false, 3_600_000],
    ['Expires in an obsolete format', '', { date, expires: 'Sunday, 06-Nov-94 09:49:37 GMT' }, 200, ttl, false, 3_600_000],
    ['Expires: 0 is already expired', '', { date, expires: '0' }, 200, ttl, false, 0],
    ['an invalid Expires is already expired', '', { expires: 'tomorrow' }, 200, ttl, false, 0],
    ['Expires before Date', '', { date, expires: 'Sun, 06 Nov 1994 07:49:37 GMT' }, 200, ttl, false, 0],
    ['a targeted field ignores Expires', '', { date, expires: 'Sun, 06 Nov 1994 09:49:37 GMT' }, 200, none, true, 0],
    ['heuristic ttl', '', {}, 200, ttl, false, 10_000],
    ['heuristic none: no freshness invented', '', { date, 'last-modified': 'Sun, 06 Nov 1994 07:49:37 GMT' }, 200, none, false, 0],
    ['heuristic last-modified: 10% of Date − Last-Modified', '', { date, 'last-modified': 'Sun, 06 Nov 1994 07:49:37 GMT' }, 200, lm, false, 360_000],
    ['heuristic last-modified, at most ttl', '', { date, 'last-modified': 'Sun, 06 Nov 1984 08:49:37 GMT' }, 200, lm, false, 3_600_000],
    ['heuristic last-modified without Last-Modified', '', { date }, 200, lm, false, 0],
    ['no heuristic for a status that is not heuristically cacheable', '', {}, 302, ttl, false, 0],
    ['public allows a heuristic for any status', 'public', {}, 302, ttl, false, 10_000],
  ];
  for (const [name, cc, headers, status, policy, targeted, expected] of TABLE) {
    test(`${name} → ${expected} ms`, () => assert.equal(freshnessLifetime(parseCacheControl(cc), new Map(Object.entries(headers)), status, policy, targeted, T), expected));
  }
});

describe('age (RFC 9111 4.2.3, 5.1)', () => {
  const at = T + 10_000;
  const TABLE: Array<[string, Record<string, string>, number, number]> = [
    ['no Age, no Date', {}, at, 0],
    ['Age as given', { age: '30' }, at, 30],
    ['Age as a list: the first member', { age: '30, 60' }, at, 30],
    ['an invalid Age is ignored', { age: 'soon' }, at, 0],
    ['a negative Age is ignored', { age: '-5' }, at, 0],
    ['apparent age from Date', { date: 'Sun, 06 Nov 1994 08:49:37 GMT' }, at, 10],
    ['the larger of apparent age and Age + response delay', { date: 'Sun, 06 Nov 1994 08:49:37 GMT', age: '3' }, at, 10],
    ['response delay added to Age', { age: '3' }, at + 5000, 8],
  ];
  for (const [name, headers, responseTime, expected] of TABLE) test(`${name} → ${expected} s`, () => assert.equal(initialAge(new Map(Object.entries(headers)), at, responseTime), expected));
});

describe('Vary (RFC 9111 4.1)', () => {
  test('names lower-cased, * found inside lists', () => {
    assert.deepEqual(varyNames('Accept-Language, ACCEPT'), ['accept-language', 'accept']);
    assert.ok(varyNames('accept, *').includes('*'));
    assert.deepEqual(varyNames(undefined), []);
  });
  test('values normalised: whitespace and combined lines; absent is not empty', () => {
    assert.equal(varyValue('gzip,  br'), varyValue('gzip, br'));
    assert.equal(varyValue(['gzip', 'br']), varyValue('gzip, br'));
    assert.notEqual(varyValue(undefined), varyValue(''));
  });
});

describe('stale allowance (RFC 9111 4.2.4, RFC 5861)', () => {
  const TABLE: Array<[string, boolean, number, number]> = [
    ['stale-while-revalidate=30, stale-if-error=60', false, 30_000, 60_000],
    ['must-revalidate, stale-if-error=60', true, 0, 0],
    ['proxy-revalidate, stale-while-revalidate=60', true, 0, 0],
    ['s-maxage=10, stale-while-revalidate=60', true, 0, 0],
    ['max-age=10', false, 0, 0],
  ];
  for (const [cc, must, swr, sie] of TABLE) test(`${cc}`, () => assert.deepEqual(staleAllowance(parseCacheControl(cc)), { mustRevalidate: must, whileRevalidate: swr, ifError: sie }));
});

describe('conditional requests against a stored response (RFC 9110 13)', () => {
  const TABLE: Array<[Record<string, string>, string | undefined, string | undefined, boolean]> = [
    [{ 'if-none-match': '"a"' }, '"a"', undefined, true],
    [{ 'if-none-match': 'W/"a"' }, '"a"', undefined, true],
    [{ 'if-none-match': '"b", "a"' }, '"a"', undefined, true],
    [{ 'if-none-match': '*' }, '"a"', undefined, true],
    [{ 'if-none-match': '"b"' }, '"a"', undefined, false],
    [{ 'if-none-match': '"b"', 'if-modified-since': 'Sun, 06 Nov 1994 08:49:37 GMT' }, '"a"', 'Sun, 06 Nov 1994 08:49:37 GMT', false],
    [{ 'if-modified-since': 'Sun, 06 Nov 1994 08:49:37 GMT' }, undefined, 'Sun, 06 Nov 1994 08:49:37 GMT', true],
    [{ 'if-modified-since': 'Sunday, 06-Nov-94 08:49:37 GMT' }, undefined, 'Sun, 06 Nov 1994 08:49:37 GMT', true],
    [{ 'if-modified-since': 'Sat, 05 Nov 1994 08:49:37 GMT' }, undefined, 'Sun, 06 Nov 1994 08:49:37 GMT', false],
    [{ 'if-modified-since': 'yesterday' }, undefined, 'Sun, 06 Nov 1994 08:49:37 GMT', false],
  ];
  for (const [req, etag, lm, expected] of TABLE) test(`${JSON.stringify(req)} vs ${etag ?? lm} → ${expected ? '304' : 'full'}`, () => assert.equal(notModified(req, etag, lm), expected));
});

describe('Range from a stored response (RFC 9110 14)', () => {
  const lm = 'Sun, 06 Nov 1994 08:49:37 GMT';
  const TABLE: Array<[string | undefined, string | undefined, [number, number] | null]> = [
    [undefined, undefined, null],
    ['bytes=0-9', undefined, [0, 9]],
    ['bytes=10-', undefined, [10, 99]],
    ['bytes=-10', undefined, [90, 99]],
    ['bytes=-1000', undefined, [0, 99]],
    ['bytes=90-1000', undefined, [90, 99]],
    ['bytes=100-', undefined, null],
    ['bytes=5-1', undefined, null],
    ['bytes=0-1,5-6', undefined, null],
    ['items=0-1', undefined, null],
    ['bytes=-0', undefined, null],
    ['bytes=0-9', '"v1"', [0, 9]],
    ['bytes=0-9', '"v2"', null],
    ['bytes=0-9', 'W/"v1"', null],
    ['bytes=0-9', lm, [0, 9]],
    ['bytes=0-9', 'Sat, 05 Nov 1994 08:49:37 GMT', null],
  ];
  for (const [range, ifRange, expected] of TABLE) test(`${range}${ifRange ? ` If-Range ${ifRange}` : ''} → ${JSON.stringify(expected)}`, () => assert.deepEqual(byteRange(range, ifRange, 100, '"v1"', lm), expected));
  test('a weak stored validator never satisfies If-Range', () => assert.equal(byteRange('bytes=0-1', 'W/"v1"', 100, 'W/"v1"', undefined), null));
});
