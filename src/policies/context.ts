/** What each policy sees of a call before it reaches the backend. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ResponseHeaderEditor } from '../proxy/call.js';
import type { RouteRuntime } from '../proxy/runtime.js';

export interface PolicyRequest {
  /** The client request; HMAC auth replaces it with a replay of the body it had to read. */
  req: IncomingMessage;
  res: ServerResponse;
  route: RouteRuntime;
  requestId: string;
  method: string;
  /** Path and query exactly as on the request line (what HMAC signatures cover). */
  rawPath: string;
  rawQuery: string;
  /** Path and query sent upstream; key auth removes `api_key` from it. */
  upstreamPath: string;
  /** The client address: the peer, or the nearest untrusted X-Forwarded-For hop behind trusted proxies. */
  clientIp: string;
  consumer: string | null;
  startedAt: number;
  /** CORS and response rewrites for this call (routes with `cors` or `headers.response`), applied to whatever answers it. */
  responseEditor: ResponseHeaderEditor | null;
}
