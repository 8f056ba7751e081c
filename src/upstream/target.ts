/** One backend address of an upstream, parsed once from its URL. */
import { isIP } from 'node:net';

export interface Target {
  /** `host:port`, the name targets go by in logs and the admin API. */
  readonly id: string;
  readonly url: string;
  readonly origin: string;
  readonly hostname: string;
  readonly port: number;
  readonly tls: boolean;
  /** HTTP/2 to the backend: `h2c://` (cleartext, prior knowledge) or `h2://` (TLS, ALPN h2). */
  readonly h2: boolean;
  /** Path prefix of the target URL ("" for none), prepended to every forwarded path. */
  readonly basePath: string;
  readonly weight: number;
  /** The Host header sent upstream unless the route preserves the client's. */
  readonly hostHeader: string;
  /** The host is an IP literal: no DNS step. */
  readonly literal: boolean;
}

export function parseTarget(url: string, weight = 1): Target {
  const u = new URL(url);
  const tls = u.protocol === 'https:' || u.protocol === 'h2:';
  const h2 = u.protocol === 'h2:' || u.protocol === 'h2c:';
  // A non-special scheme (h2, h2c) leaves URL's default port empty: 443 and 80 as their http kin.
  const port = u.port ? Number(u.port) : tls ? 443 : 80;
  const hostname = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const basePath = u.pathname === '/' || u.pathname === '' ? '' : u.pathname.replace(/\/$/, '');
  return {
    id: `${u.hostname}:${port}`,
    url,
    // undici and URL users see h2/h2c targets under their http(s) origin.
    origin: h2 ? `${tls ? 'https:' : 'http:'}//${u.host}` : `${u.protocol}//${u.host}`,
    hostname,
    port,
    tls,
    h2,
    basePath,
    weight,
    hostHeader: u.host,
    literal: isIP(hostname) !== 0,
  };
}
