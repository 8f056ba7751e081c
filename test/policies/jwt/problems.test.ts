/**
 * What a refused token is told, and how a JWKS fetch failure is worded, as tables over every
 * jose error code and every way a fetch fails; and the config rules that keep algorithm
 * confusion and unsigned tokens out.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../../src/config/load.js';
import { fetchFailure } from '../../../src/policies/jwt/jwks.js';
import { authParam, describeTokenFailure, missingScopes, tokenScopes, type JoseFailure } from '../../../src/policies/jwt/problems.js';
import { bearerToken, scopeProblem } from '../../../src/policies/jwt/index.js';

const t = { issuer: 'https://id.test/', audience: ['orders-api', 'admin-api'], algorithms: ['RS256', 'ES256'], alg: 'HS256', kid: 'k1' };

describe('jwt: token failures in words (table over jose error codes)', () => {
  const rows: Array<[JoseFailure, string]> = [
    [{ code: 'ERR_JWT_EXPIRED', payload: { exp: 1_700_000_000 } }, 'the token expired at 2023-11-14T22:13:20.000Z'],
    [{ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'nbf', reason: 'check_failed', payload: { nbf: 1_700_000_000 } }, 'the token is not valid before 2023-11-14T22:13:20.000Z'],
    [{ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'iat', reason: 'check_failed' }, 'the token was issued in the future'],
    [{ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'aud', reason: 'check_failed', payload: { aud: ['x', 'y'] } }, 'the token audience x, y is not accepted (expected orders-api or admin-api)'],
    [{ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'aud', reason: 'missing', payload: {} }, 'the token has no aud claim'],
    [{ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'iss', reason: 'check_failed', payload: { iss: 'https://evil/' } }, 'the token issuer https://evil/ is not trusted'],
    [{ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'exp', reason: 'invalid' }, 'the token claim exp is not valid'],
    [{ code: 'ERR_JOSE_ALG_NOT_ALLOWED' }, 'the token algorithm HS256 is not accepted for issuer https://id.test/ (accepted: RS256, ES256)'],
    [{ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' }, 'the token signature does not verify'],
    [{ code: 'ERR_JWKS_NO_MATCHING_KEY' }, 'no key of issuer https://id.test/ matches the token (kid k1)'],
    [{ code: 'ERR_JWKS_MULTIPLE_MATCHING_KEYS' }, 'several keys of issuer https://id.test/ match the token and it names none (no kid)'],
    [{ code: 'ERR_JOSE_NOT_SUPPORTED' }, 'the token algorithm HS256 is not supported'],
    [{ code: 'ERR_JWS_INVALID' }, 'the token is malformed'],
    [{ code: 'ERR_JWT_INVALID' }, 'the token is malformed'],
    [{ code: 'ERR_SOMETHING_NEW' }, 'the token could not be verified'],
    [{}, 'the token could not be verified'],
  ];
  for (const [err, words] of rows) test(`${err.code ?? '(no code)'} ${err.claim ?? ''}`, () => assert.equal(describeTokenFailure(err, t), words));
});

describe('jwt: JWKS fetch failures in words (table)', () => {
  const e = (code: string | number | undefined, name = 'Error', message = 'm') => Object.assign(new Error(message), { code, name });
  const rows: Array<[Error, string]> = [
    [e(23, 'TimeoutError'), 'no complete answer within 2000 ms'],
    [e(undefined, 'AbortError'), 'no complete answer within 2000 ms'],
    [e('UND_ERR_HEADERS_TIMEOUT'), 'no complete answer within 2000 ms'],
    [e('UND_ERR_BODY_TIMEOUT'), 'no complete answer within 2000 ms'],
    [e('UND_ERR_CONNECT_TIMEOUT'), 'no complete answer within 2000 ms'],
    [e('UND_ERR_ABORTED'), 'no complete answer within 2000 ms'],
    [e('ECONNREFUSED'), 'connection refused'],
    [e('ECONNRESET'), 'the connection was closed before a full answer'],
    [e('UND_ERR_SOCKET'), 'the connection was closed before a full answer'],
    [e('UND_ERR_CLOSED'), 'the connection was closed before a full answer'],
    [e('ENOTFOUND'), 'the host name does not resolve'],
    [e('EAI_AGAIN'), 'the host name does not resolve'],
    [e('CAUSEWAY_JWKS_STATUS', 'Error', 'the provider answered HTTP 503'), 'the provider answered HTTP 503'],
    [e('EHOSTUNREACH'), 'EHOSTUNREACH'],
    [e(undefined, 'Error', 'something odd'), 'something odd'],
  ];
  for (const [err, words] of rows) test(`${String((err as { code?: unknown }).code ?? err.name)}`, () => assert.equal(fetchFailure(err, 2000), words));
});

describe('jwt: scopes, bearer tokens, auth-params', () => {
  test('scope (space-separated) and scp (array or string) both count', () => {
    assert.deepEqual([...tokenScopes({ scope: 'a b  c' })], ['a', 'b', 'c']);
    assert.deepEqual([...tokenScopes({ scp: ['a', 'b', 3] })], ['a', 'b']);
    assert.deepEqual([...tokenScopes({ scp: 'x y', scope: 'z' })], ['z', 'x', 'y']);
    assert.deepEqual([...tokenScopes({ scope: 42 })], []);
    assert.deepEqual(missingScopes(['a', 'd'], new Set(['a', 'b'])), ['d']);
    assert.equal(scopeProblem(undefined, new Set()), null);
    assert.equal(scopeProblem(['a', 'b'], new Set()), 'the token lacks the scopes a, b');
  });
  test('bearerToken reads the Bearer scheme only, case-insensitively', () => {
    assert.equal(bearerToken('Bearer abc.def.ghi'), 'abc.def.ghi');
    assert.equal(bearerToken('bearer   abc'), 'abc');
    assert.equal(bearerToken('Basic dXNlcjpwYXNz'), null);
    assert.equal(bearerToken('Bearer'), null);
    assert.equal(bearerToken(undefined), null);
  });
  test('an auth-param value never carries a quote, a backslash or a control character', () => {
    assert.equal(authParam('a "b" \\c\r\nd\u00e9'), "a 'b' 'cd");
  });
});

describe('jwt: config', () => {
  const up = 'upstreams: { b: { targets: [{ url: "http://127.0.0.1:1" }] } }\n';
  const issuer = (extra: string) => `${up}jwt: { issuers: [{ issuer: "https://id/", audience: a, ${extra} }] }\n`;
  const rows: Array<[string, string, RegExp]> = [
    ['HS256 beside a JWKS (algorithm confusion)', issuer('jwksUrl: "http://127.0.0.1:1/j", algorithms: [RS256, HS256]'), /jwt\.issuers\[0\]\.algorithms: HS256 is an HMAC algorithm and this issuer has public keys/],
    ['HS256 beside PEM keys', issuer('keys: [{ pem: x }], algorithms: [HS256]'), /algorithm confusion/],
    ['RS256 with a secret', issuer('secret: "0123456789abcdef0123456789abcdef", algorithms: [RS256]'), /an issuer with a secret signs with HMAC only/],
    ['none', issuer('jwksUrl: "http://127.0.0.1:1/j", algorithms: [none]'), /jwt\.issuers\[0\]\.algorithms\[0\]: "none" is not one of RS256, /],
    ['no key source', issuer('algorithms: [RS256]'), /an issuer needs exactly one key source: jwksUrl, keys or secret/],
    ['two key sources', issuer('jwksUrl: "http://127.0.0.1:1/j", keys: [{ pem: x }], algorithms: [RS256]'), /exactly one key source/],
    ['a short secret', issuer('secret: short, algorithms: [HS256]'), /at least 32 characters/],
    ['auth: [jwt] without issuers', `${up}routes: [{ name: r, match: { path: / }, upstream: b, auth: [jwt] }]`, /routes\[0\]\.auth: auth: \[jwt\] needs issuers to trust/],
    ['scopes without jwt', `${up}consumers: [{ name: c }]\nroutes: [{ name: r, match: { path: / }, upstream: b, auth: [key], scopes: [x] }]`, /routes\[0\]\.scopes: scopes are read from a JWT/],
    ['split to an unknown upstream', `${up}routes: [{ name: r, match: { path: / }, upstream: b, split: { upstream: bb, percent: 5 } }]`, /routes\[0\]\.split\.upstream: no upstream named "bb" — did you mean "b"\?/],
    ['split to the route\'s own upstream', `${up}routes: [{ name: r, match: { path: / }, upstream: b, split: { upstream: b, percent: 5 } }]`, /the split goes to b, the route's own upstream/],
    ['split with nothing to send', `${up}routes: [{ name: r, match: { path: / }, upstream: b, split: { upstream: b } }]`, /a split needs percent above 0, or match/],
  ];
  for (const [what, yaml, error] of rows) test(what, () => assert.throws(() => parseConfig(yaml, 'c.yaml', {}), error));
});
