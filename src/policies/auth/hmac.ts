/**
 * HMAC request signing with key pairs (an id the gateway knows, and a shared secret).
 *
 *   Authorization: Signature keyId="app1", nonce="<unique per request>", signature="<base64>"
 *   Date: Tue, 04 Jun 2024 10:00:00 GMT          (or X-Date, for clients that cannot set Date)
 *
 * signature = base64(HMAC-SHA256(secret, stringToSign)), where stringToSign is six lines:
 *   METHOD \n path \n query \n date \n nonce \n base64(SHA-256(body))
 * path and query exactly as sent on the request line (query without "?", empty when none);
 * the body digest of an empty body is that of the empty string. docs/policies.md works one through.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export interface SignatureParams {
  keyId: string;
  nonce: string;
  signature: string;
}

const PARAM_RE = /([A-Za-z]+)="([^"]*)"/g;

/** The parameters of an `Authorization: Signature ...` header, or null when it is not one. */
export function parseSignatureHeader(value: string | undefined): SignatureParams | null {
  if (!value || !/^Signature\s/i.test(value)) return null;
  const out: Record<string, string> = {};
  for (const m of value.slice(10).matchAll(PARAM_RE)) out[m[1]!] = m[2]!;
  const { keyId, nonce, signature } = out;
  if (!keyId || !nonce || !signature || nonce.length > 128) return null;
  return { keyId, nonce, signature };
}

export function bodyDigest(body: Buffer | string): string {
  return createHash('sha256').update(body).digest('base64');
}

export function stringToSign(method: string, path: string, query: string, date: string, nonce: string, digest: string): string {
  return `${method}\n${path}\n${query}\n${date}\n${nonce}\n${digest}`;
}

export function sign(secret: string | Buffer, text: string): string {
  return createHmac('sha256', secret).update(text).digest('base64');
}

/** Constant-time comparison of a received signature with the expected one. */
export function signatureMatches(received: string, expected: string): boolean {
  const a = Buffer.from(received, 'base64');
  const b = Buffer.from(expected, 'base64');
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Headers a client sends for a signed request: what tests, examples and the docs use.
 * `target` is the request target as it goes on the wire (`/path?query`).
 */
export function signedHeaders(opts: { keyId: string; secret: string; method: string; target: string; body?: Buffer | string; date?: Date; nonce: string }): Record<string, string> {
  const q = opts.target.indexOf('?');
  const path = q === -1 ? opts.target : opts.target.slice(0, q);
  const query = q === -1 ? '' : opts.target.slice(q + 1);
  const date = (opts.date ?? new Date()).toUTCString();
  const signature = sign(opts.secret, stringToSign(opts.method, path, query, date, opts.nonce, bodyDigest(opts.body ?? '')));
  return { date, authorization: `Signature keyId="${opts.keyId}", nonce="${opts.nonce}", signature="${signature}"` };
}
