/**
 * `auth: [key, hmac, jwt]` — who is calling. Any one of the listed methods suffices. Every key
 * or HMAC failure is the same UNAUTHORIZED, whatever was wrong (unknown key, bad signature,
 * stale date, replayed nonce): telling a client which part failed would help someone guessing.
 * A bearer token is different: it is verifiable by anyone holding the issuer's public keys, so
 * its refusal says why (RFC 6750 error_description; jwt/index.ts), and `scopes:` are checked
 * against it. Key and HMAC credentials are removed before the request goes upstream (a bearer
 * token passes: the backend may want it); the backend gets `X-Causeway-Consumer`.
 */
import type { IncomingMessage } from 'node:http';
import type { Exchange, Next } from '../../proxy/exchange.js';
import type { ConsumerRegistry } from '../consumers/registry.js';
import { BEARER_CHALLENGE, bearerToken, insufficientScope, scopeProblem, type JwtIssuers } from '../jwt/index.js';
import { policy } from '../policy.js';
import { bodyDigest, parseSignatureHeader, sign, signatureMatches, stringToSign } from './hmac.js';
import type { NonceStore } from './nonces.js';
import { readBody, replayRequest } from './replay.js';

export interface AuthOptions {
  methods: ReadonlyArray<'key' | 'hmac' | 'jwt'>;
  /** The gateway's trusted issuers (needed with `jwt`). */
  jwt?: JwtIssuers | null | undefined;
  /** Scopes a token must carry (routes[].scopes). */
  scopes?: readonly string[] | undefined;
  consumers: ConsumerRegistry;
  nonces: NonceStore;
  /** How far a signed request's date may be from the gateway clock, ms. */
  clockSkew: number;
  now?: () => number;
}

export type AuthResult =
  | { consumer: string }
  | {
      code: 'UNAUTHORIZED' | 'REQUEST_TOO_LARGE' | 'FORBIDDEN' | 'AUTH_PROVIDER_UNAVAILABLE';
      /** Words for the client (token problems, missing scopes); none for key and HMAC failures. */
      detail?: string;
      /** The WWW-Authenticate value, when not the route's plain challenge. */
      challenge?: string;
    };

const DENIED: AuthResult = { code: 'UNAUTHORIZED' };
const KEY_CHALLENGE = 'Signature realm="causeway", APIKey realm="causeway"';
/** Headers only the gateway may set on an authenticated route. */
const STRIP = new Set(['x-api-key', 'x-causeway-consumer']);

export interface Auth {
  authenticate(p: Exchange): AuthResult | Promise<AuthResult>;
  /** WWW-Authenticate for a request without acceptable credentials: a challenge per method. */
  readonly challenge: string;
}

export const authPolicy = policy('auth', (methods, ctx) => {
  const a = auth({ methods, consumers: ctx.consumers, nonces: ctx.nonces, clockSkew: ctx.config.auth.clockSkew, jwt: ctx.jwt, scopes: ctx.route.scopes });
  const plain = { 'www-authenticate': a.challenge };
  const settle = (x: Exchange, r: AuthResult, next: Next, waited: boolean): void => {
    if ('code' in r) {
      const headers = r.challenge ? { 'www-authenticate': r.challenge } : r.code === 'UNAUTHORIZED' ? plain : undefined;
      x.fail(r.code, { phase: 'request', context: { route: x.route!.name, limit: x.route!.maxBodySize, detail: r.detail }, headers });
      return;
    }
    if (!waited || !x.left()) next(x);
  };
  return (x, next) => {
    const r = a.authenticate(x);
    if (r instanceof Promise) return r.then((v) => settle(x, v, next, true));
    settle(x, r, next, false);
  };
});

export function auth(opts: AuthOptions): Auth {
  const useKey = opts.methods.includes('key');
  const useHmac = opts.methods.includes('hmac');
  const jwt = opts.methods.includes('jwt') ? opts.jwt : null;
  const now = opts.now ?? Date.now;

  function byKey(p: Exchange): string | undefined {
    const header = p.req.headers['x-api-key'];
    if (typeof header === 'string') return opts.consumers.consumerForKey(header);
    const q = queryKey(p.rawQuery);
    return q === undefined ? undefined : opts.consumers.consumerForKey(q);
  }

  async function byHmac(p: Exchange): Promise<AuthResult> {
    const params = parseSignatureHeader(p.req.headers.authorization);
    if (!params) return DENIED;
    const key = opts.consumers.hmacKey(params.keyId);
    const date = p.req.headers['x-date'] ?? p.req.headers.date;
    if (!key || typeof date !== 'string') return DENIED;
    const t = Date.parse(date);
    if (!Number.isFinite(t) || Math.abs(now() - t) > opts.clockSkew) return DENIED;
    let digest = EMPTY_DIGEST;
    const h = p.req.headers;
    if (h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0')) {
      const body = await readBody(p.req, p.route!.maxBodySize);
      if (!body) return { code: 'REQUEST_TOO_LARGE' };
      digest = bodyDigest(body);
      p.req = replayRequest(p.req, body);
    }
    const expected = sign(key.secret, stringToSign(p.method, p.rawPath, p.rawQuery, date, params.nonce, digest));
    if (!signatureMatches(params.signature, expected)) return DENIED;
    // Only a valid signature uses up its nonce, so forged requests cannot fill the cache.
    const fresh = opts.nonces.remember(`${key.id}\0${params.nonce}`, t + opts.clockSkew);
    if (!(typeof fresh === 'boolean' ? fresh : await fresh)) return DENIED;
    return { consumer: key.consumer };
  }

  async function byJwt(p: Exchange, token: string): Promise<AuthResult> {
    const r = await jwt!.verify(token);
    if ('code' in r) return r;
    const missing = scopeProblem(opts.scopes, r.scopes);
    if (missing) return { code: 'FORBIDDEN', detail: missing, challenge: insufficientScope(opts.scopes!) };
    hideCredentials(p.req, r.consumer);
    p.consumer = r.consumer;
    return { consumer: r.consumer };
  }

  function accept(p: Exchange, consumer: string): AuthResult {
    // Scopes come with a token; a key or a signature carries none.
    if (opts.scopes) return { code: 'FORBIDDEN', detail: `the route requires the scope${opts.scopes.length > 1 ? 's' : ''} ${opts.scopes.join(', ')}, which only a bearer token carries` };
    p.consumer = consumer;
    hideCredentials(p.req, consumer);
    if (p.rawQuery.includes('api_key=')) p.upstreamPath = withoutQueryKey(p.upstreamPath);
    return { consumer };
  }

  return {
    challenge: [jwt ? BEARER_CHALLENGE : '', useKey || useHmac ? KEY_CHALLENGE : ''].filter(Boolean).join(', '),
    authenticate(p) {
      if (jwt) {
        const token = bearerToken(p.req.headers.authorization);
        if (token !== null) return byJwt(p, token);
      }
      if (useKey) {
        const c = byKey(p);
        if (c !== undefined) return accept(p, c);
      }
      if (!useHmac) return DENIED;
      return byHmac(p).then((r) => ('consumer' in r ? accept(p, r.consumer) : r));
    },
  };
}

const EMPTY_DIGEST = bodyDigest('');

function queryKey(query: string): string | undefined {
  if (!query.includes('api_key=')) return undefined;
  for (const part of query.split('&')) {
    if (!part.startsWith('api_key=')) continue;
    try {
      return decodeURIComponent(part.slice(8));
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function withoutQueryKey(upstreamPath: string): string {
  const q = upstreamPath.indexOf('?');
  const kept = upstreamPath
    .slice(q + 1)
    .split('&')
    .filter((part) => !part.startsWith('api_key='));
  return upstreamPath.slice(0, q) + (kept.length ? `?${kept.join('&')}` : '');
}

/** Drops the client's credentials from what goes upstream and names the consumer instead. */
function hideCredentials(req: IncomingMessage, consumer: string): void {
  const raw = req.rawHeaders;
  const kept: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    // A bearer token may be meant for the backend; only our own Signature scheme is removed.
    if (STRIP.has(name) || (name === 'authorization' && /^Signature\s/i.test(raw[i + 1]!))) continue;
    kept.push(raw[i]!, raw[i + 1]!);
  }
  kept.push('X-Causeway-Consumer', consumer);
  req.rawHeaders = kept;
}
