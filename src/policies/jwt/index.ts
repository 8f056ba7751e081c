/**
 * `auth: [jwt]` — bearer tokens (RFC 6750) from the issuers in `jwt.issuers`, verified with jose:
 * the issuer is chosen by the token's `iss`, then signature (only the issuer's algorithms, never
 * `none`), `aud`, `exp` and `nbf` with the issuer's clock skew. The consumer is the issuer's
 * `consumerClaim` (default `sub`); `scopes:` on a route are checked against `scope`/`scp`.
 * Token problems are 401 UNAUTHORIZED with a precise `error_description`; an issuer whose keys
 * cannot be fetched is AUTH_PROVIDER_UNAVAILABLE (503), a failure of the gateway's dependency.
 */
import { decodeJwt, decodeProtectedHeader, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type ProtectedHeaderParameters } from 'jose';
import type { JwtConfig, JwtIssuerConfig } from '../../config/schema.js';
import type { EventLog } from '../../observe/events.js';
import { JwksSource } from './jwks.js';
import { staticKeys } from './keys.js';
import { authParam, describeTokenFailure, missingScopes, tokenScopes, type JoseFailure } from './problems.js';

type Verified = { consumer: string; scopes: Set<string>; issuer: string };
type Refusal = { code: 'UNAUTHORIZED'; detail: string; challenge: string } | { code: 'AUTH_PROVIDER_UNAVAILABLE'; detail: string };
export type JwtResult = Verified | Refusal;

interface Issuer {
  cfg: JwtIssuerConfig;
  audience: string[];
  getKey: JWTVerifyGetKey;
}

export const BEARER_CHALLENGE = 'Bearer realm="causeway"';

/**
 * A verified token is remembered this long (never past its `exp`), so a client sending the same
 * token call after call pays for the signature check once: the check is most of the policy's cost
 * (bench/policies.mjs). A key the issuer withdraws stops verifying new tokens at once, and tokens
 * already verified with it within this window.
 */
export const VERDICT_TTL = 30_000;
/** Tokens remembered at most; the oldest go first. */
const VERDICT_MAX = 10_000;

/** The RFC 6750 challenge for a refused token. */
export function invalidToken(description: string): string {
  return `${BEARER_CHALLENGE}, error="invalid_token", error_description="${authParam(description)}"`;
}

/** The RFC 6750 challenge (with 403) for a token without the route's scopes. */
export function insufficientScope(required: readonly string[]): string {
  return `${BEARER_CHALLENGE}, error="insufficient_scope", scope="${authParam(required.join(' '))}"`;
}

/** The token of `Authorization: Bearer <token>`, or null when the header is another scheme or absent. */
export function bearerToken(authorization: string | undefined): string | null {
  if (!authorization || authorization.length < 8 || authorization.slice(0, 7).toLowerCase() !== 'bearer ') return null;
  return authorization.slice(7).trim();
}

/** The trusted issuers of a gateway, with their key sources (JWKS caches live as long as this). */
export class JwtIssuers {
  private readonly byIss = new Map<string, Issuer>();
  /** Tokens verified lately (the whole token is the key, so nothing unverified can match). */
  private readonly verified = new Map<string, { result: Verified; until: number }>();

  constructor(
    readonly config: JwtConfig,
    events?: EventLog,
    private readonly now: () => number = Date.now,
  ) {
    for (const cfg of config.issuers) {
      const jwks = cfg.jwksUrl ? new JwksSource(cfg.jwksUrl, cfg.issuer, config.jwks, events, now) : null;
      this.byIss.set(cfg.issuer, {
        cfg,
        audience: typeof cfg.audience === 'string' ? [cfg.audience] : cfg.audience,
        getKey: jwks ? jwks.getKey : staticKeys(cfg),
      });
    }
  }

  /** Verifies a bearer token; never throws. */
  async verify(token: string): Promise<JwtResult> {
    const known = this.verified.get(token);
    if (known) {
      if (known.until > this.now()) return known.result;
      this.verified.delete(token);
    }
    const r = await this.check(token);
    if (!('verified' in r)) return r;
    this.remember(token, r.verified, r.exp);
    return r.verified;
  }

  private remember(token: string, result: Verified, exp: number | undefined): void {
    if (this.verified.size >= VERDICT_MAX) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(token, { result, until: Math.min(exp === undefined ? Infinity : exp * 1000, this.now() + VERDICT_TTL) });
  }

  private async check(token: string): Promise<{ verified: Verified; exp: number | undefined } | Refusal> {
    let header: ProtectedHeaderParameters;
    let claims: JWTPayload;
    try {
      header = decodeProtectedHeader(token);
      claims = decodeJwt(token);
    } catch {
      return refused('the token is malformed');
    }
    if (typeof claims.iss !== 'string') return refused('the token names no issuer (iss)');
    const issuer = this.byIss.get(claims.iss);
    if (!issuer) return refused(`the token issuer ${claims.iss} is not trusted`);
    const cfg = issuer.cfg;
    try {
      const { payload } = await jwtVerify(token, issuer.getKey, {
        issuer: cfg.issuer,
        audience: issuer.audience,
        algorithms: cfg.algorithms,
        clockTolerance: cfg.clockSkew / 1000,
        currentDate: new Date(this.now()),
      });
      const consumer = payload[cfg.consumerClaim];
      if (typeof consumer !== 'string' && typeof consumer !== 'number') return refused(`the token has no ${cfg.consumerClaim} claim (it names the consumer)`);
      return { verified: { consumer: String(consumer), scopes: tokenScopes(payload), issuer: cfg.issuer }, exp: payload.exp };
    } catch (err) {
      if ((err as { code?: string }).code === 'CAUSEWAY_AUTH_PROVIDER_UNAVAILABLE') return { code: 'AUTH_PROVIDER_UNAVAILABLE', detail: (err as Error).message };
      const detail = describeTokenFailure(err as JoseFailure, { issuer: cfg.issuer, audience: issuer.audience, algorithms: cfg.algorithms, alg: header.alg, kid: header.kid });
      return refused(detail);
    }
  }
}

function refused(detail: string): Refusal {
  return { code: 'UNAUTHORIZED', detail, challenge: invalidToken(detail) };
}

/** null when the token grants every scope the route requires; otherwise the FORBIDDEN detail. */
export function scopeProblem(required: readonly string[] | undefined, granted: ReadonlySet<string>): string | null {
  if (!required) return null;
  const missing = missingScopes(required, granted);
  return missing.length ? `the token lacks the scope${missing.length > 1 ? 's' : ''} ${missing.join(', ')}` : null;
}
