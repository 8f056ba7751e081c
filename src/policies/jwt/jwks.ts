/**
 * An issuer's keys from its JWKS URL: fetched once, refetched in the background after
 * `cacheFor`, and refetched at once when a token names a key id not in the set (a rotation),
 * at most once per `minRefreshInterval`. Keys are kept while the issuer is unreachable; only a
 * gateway that never got them (or a kid never seen) cannot verify, and says why
 * (AUTH_PROVIDER_UNAVAILABLE). Every fetch that fails is an event naming the cause.
 */
import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { request } from 'undici';
import type { EventLog } from '../../observe/events.js';

export interface JwksOptions {
  /** Longest wait for the whole document, ms. */
  timeout: number;
  /** Age after which the keys are refetched in the background, ms. */
  cacheFor: number;
  /** At most one refetch for an unknown kid per this long, ms. */
  minRefreshInterval: number;
}

/** A failed fetch is retried no sooner than this, so a dead provider costs calls no wait. */
const RETRY_AFTER_FAILURE = 1000;
/** A JWKS is a few kilobytes; a provider answering megabytes is broken. */
const MAX_JWKS_BYTES = 1024 * 1024;

/** The keys could not be fetched: the caller answers AUTH_PROVIDER_UNAVAILABLE with `reason`. */
export class ProviderUnavailable extends Error {
  readonly code = 'CAUSEWAY_AUTH_PROVIDER_UNAVAILABLE';
}

export class JwksSource {
  private keys: JWTVerifyGetKey | null = null;
  private fetchedAt = 0;
  private lastAttempt = -Infinity;
  private inflight: Promise<void> | null = null;
  /** Why the last fetch failed (null after a success). */
  private lastError: string | null = null;

  constructor(
    readonly url: string,
    readonly issuer: string,
    private readonly opts: JwksOptions,
    private readonly events?: EventLog,
    private readonly now: () => number = Date.now,
  ) {}

  /** The key for a token's protected header: the `getKey` of jose's jwtVerify. */
  readonly getKey = async (header: Parameters<JWTVerifyGetKey>[0], token: Parameters<JWTVerifyGetKey>[1]) => {
    const t = this.now();
    if (!this.keys) {
      if (t - this.lastAttempt >= RETRY_AFTER_FAILURE || this.inflight) await this.refresh();
      if (!this.keys) throw new ProviderUnavailable(this.lastError ?? 'the keys have not been fetched yet');
    } else if (t - this.fetchedAt >= this.opts.cacheFor && t - this.lastAttempt >= RETRY_AFTER_FAILURE) {
      // In the background: this call goes on with the keys there are.
      void this.refresh();
    }
    try {
      return await this.keys(header, token);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_JWKS_NO_MATCHING_KEY') throw err;
      if (this.inflight === null && this.now() - this.lastAttempt < this.opts.minRefreshInterval) {
        // Refetched a moment ago: a kid still unknown is not the issuer's, unless it could not be asked.
        if (this.lastError) throw new ProviderUnavailable(this.lastError);
        throw err;
      }
      // A key id the set does not have: the issuer may have rotated its keys.
      const before = this.keys;
      await this.refresh();
      if (this.keys === before && this.lastError) throw new ProviderUnavailable(this.lastError);
      return await this.keys(header, token);
    }
  };

  /** Fetches the document once for everyone waiting; a failure keeps the keys there are. */
  private refresh(): Promise<void> {
    this.inflight ??= this.fetch().finally(() => (this.inflight = null));
    return this.inflight;
  }

  private async fetch(): Promise<void> {
    this.lastAttempt = this.now();
    try {
      const json = await fetchJwks(this.url, this.opts.timeout);
      this.keys = createLocalJWKSet(json);
      this.fetchedAt = this.now();
      if (this.lastError) this.events?.publish({ type: 'jwks.recovered', reason: `the keys of ${this.issuer} were fetched again`, issuer: this.issuer, url: this.url });
      this.lastError = null;
    } catch (err) {
      const reason = `the keys of issuer ${this.issuer} could not be fetched: ${(err as Error).message}`;
      this.lastError = reason;
      this.events?.publish({ type: 'jwks.failed', reason: `${reason} (GET ${this.url})${this.keys ? '; the keys fetched before stay in use' : ''}`, issuer: this.issuer, url: this.url });
    }
  }
}

/** GETs a JWKS document; throws with a plain-words message on any failure. */
export async function fetchJwks(url: string, timeout: number): Promise<JSONWebKeySet> {
  const signal = AbortSignal.timeout(timeout);
  let text: string;
  let status: number;
  try {
    const res = await request(url, { signal, headersTimeout: timeout, bodyTimeout: timeout, headers: { accept: 'application/json' } });
    status = res.statusCode;
    if (status !== 200) {
      await res.body.dump();
      throw Object.assign(new Error(`the provider answered HTTP ${status}`), { code: 'CAUSEWAY_JWKS_STATUS' });
    }
    const declared = Number(res.headers['content-length'] ?? 0);
    if (declared > MAX_JWKS_BYTES) {
      res.body.destroy();
      throw Object.assign(new Error(`the document is ${declared} bytes, over the ${MAX_JWKS_BYTES} byte limit`), { code: 'CAUSEWAY_JWKS_SIZE' });
    }
    text = await res.body.text();
  } catch (err) {
    throw new Error(fetchFailure(err as Error & { code?: string }, timeout), { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error('the answer is not JSON');
  }
  const keys = (json as { keys?: unknown }).keys;
  if (!Array.isArray(keys)) throw new Error('the answer is not a JWKS (no "keys" array)');
  return json as JSONWebKeySet;
}

/** Words for the ways a JWKS fetch fails. */
export function fetchFailure(err: Error & { code?: unknown }, timeout: number): string {
  // A DOMException (the abort signal's TimeoutError) has a numeric code; its name says what it is.
  const code = typeof err.code === 'string' ? err.code : err.name;
  if (code.startsWith('CAUSEWAY_JWKS_')) return err.message;
  switch (code) {
    case 'TimeoutError':
    case 'AbortError':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_ABORTED':
      return `no complete answer within ${timeout} ms`;
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return 'the connection was closed before a full answer';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'the host name does not resolve';
    default:
      return typeof err.code === 'string' ? err.code : err.message;
  }
}
