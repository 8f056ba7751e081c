/**
 * What was wrong with a token, in words a client can act on: jose's errors mapped to the
 * `error_description` of an RFC 6750 challenge and the UNAUTHORIZED message. Pure functions,
 * tested as a table (test/policies/jwt/problems.test.ts).
 */
import type { JWTPayload } from 'jose';

/** The parts of a jose error the description depends on. */
export interface JoseFailure {
  code?: string;
  claim?: string;
  reason?: string;
  payload?: JWTPayload;
}

export interface TokenContext {
  issuer: string;
  audience: readonly string[];
  algorithms: readonly string[];
  alg: string | undefined;
  kid: string | undefined;
}

const when = (seconds: unknown) => (typeof seconds === 'number' ? new Date(seconds * 1000).toISOString() : '?');
/** A claim as words: strings bare, lists joined (no quotes: the text also goes into a quoted auth-param). */
const shown = (v: unknown) => (Array.isArray(v) ? v.map(String).join(', ') : v === undefined ? 'none' : String(v));

/** One sentence on why a token was refused. */
export function describeTokenFailure(err: JoseFailure, t: TokenContext): string {
  const p = err.payload ?? {};
  switch (err.code) {
    case 'ERR_JWT_EXPIRED':
      return `the token expired at ${when(p.exp)}`;
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (err.reason === 'missing') return `the token has no ${err.claim ?? '?'} claim`;
      switch (err.claim) {
        case 'nbf':
          return `the token is not valid before ${when(p.nbf)}`;
        case 'iat':
          return 'the token was issued in the future';
        case 'aud':
          return `the token audience ${shown(p.aud)} is not accepted (expected ${t.audience.join(' or ')})`;
        case 'iss':
          return `the token issuer ${shown(p.iss)} is not trusted`;
        default:
          return `the token claim ${err.claim ?? '?'} is not valid`;
      }
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return `the token algorithm ${t.alg ?? '?'} is not accepted for issuer ${t.issuer} (accepted: ${t.algorithms.join(', ')})`;
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'the token signature does not verify';
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return `no key of issuer ${t.issuer} matches the token${t.kid ? ` (kid ${t.kid})` : ''}`;
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return `several keys of issuer ${t.issuer} match the token and it names none (no kid)`;
    case 'ERR_JOSE_NOT_SUPPORTED':
      return `the token algorithm ${t.alg ?? '?'} is not supported`;
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return 'the token is malformed';
    default:
      return 'the token could not be verified';
  }
}

/**
 * The scopes a token grants: `scope` as a space-separated string (RFC 8693, OAuth 2.0), or
 * `scp` as an array or a string (Azure AD, Okta).
 */
export function tokenScopes(payload: JWTPayload): Set<string> {
  const out = new Set<string>();
  const add = (v: unknown) => {
    const list: unknown[] = typeof v === 'string' ? v.split(' ') : Array.isArray(v) ? v : [];
    for (const s of list) if (typeof s === 'string' && s) out.add(s);
  };
  add(payload['scope']);
  add(payload['scp']);
  return out;
}

/** Scopes of `required` the token does not have, in order. */
export function missingScopes(required: readonly string[], granted: ReadonlySet<string>): string[] {
  return required.filter((s) => !granted.has(s));
}

/** A value for a quoted-string auth-param (RFC 9110 11.2): printable ASCII without `"` and `\`. */
export function authParam(text: string): string {
  return text.replace(/["\\]/g, "'").replace(/[^\x20-\x7e]/g, '');
}
