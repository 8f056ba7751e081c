/** HTTP/2 and TLS client helpers for the edge tests: whole responses, the certificate served, the protocol agreed. */
import http2, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import https from 'node:https';
import tls from 'node:tls';

export interface H2Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface TlsClientOptions {
  ca?: Buffer | undefined;
  servername?: string | undefined;
  cert?: Buffer | undefined;
  key?: Buffer | undefined;
}

/** One request on a new HTTP/2 connection (h2 over TLS for https://, h2c prior knowledge for http://). */
export async function h2request(url: string, opts: { method?: string; path?: string; headers?: OutgoingHttpHeaders; body?: string | Buffer; tls?: TlsClientOptions } = {}): Promise<H2Reply> {
  const session = h2connect(url, opts.tls);
  try {
    return await h2on(session, opts);
  } finally {
    session.close();
  }
}

export function h2connect(url: string, t: TlsClientOptions = {}): http2.ClientHttp2Session {
  const session = http2.connect(url, { ca: t.ca, servername: t.servername, cert: t.cert, key: t.key });
  session.on('error', () => undefined);
  return session;
}

/** One request on an open session. */
export function h2on(session: http2.ClientHttp2Session, opts: { method?: string; path?: string; headers?: OutgoingHttpHeaders; body?: string | Buffer } = {}): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': opts.method ?? 'GET', ':path': opts.path ?? '/', ...opts.headers }, { endStream: opts.body === undefined });
    let status = 0;
    let headers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on('response', (h) => {
      status = Number(h[':status']);
      headers = h;
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ status, headers, body: Buffer.concat(chunks).toString('utf8') }));
    req.on('error', reject);
    if (opts.body !== undefined) req.end(opts.body);
  });
}

/** An HTTPS HTTP/1.1 request. */
export function httpsRequest(url: string, opts: { headers?: Record<string, string>; tls?: TlsClientOptions } = {}): Promise<H2Reply & { alpn: string | false | null }> {
  return new Promise((resolve, reject) => {
    const t = opts.tls ?? {};
    const req = https.request(url, { headers: opts.headers, ca: t.ca, servername: t.servername, cert: t.cert, key: t.key, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), alpn: (res.socket as tls.TLSSocket).alpnProtocol ?? null }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A TLS handshake only: the certificate's subject CN and the protocol agreed, or the error. */
export function handshake(port: number, opts: TlsClientOptions & { alpn?: string[]; maxVersion?: tls.SecureVersion } = {}): Promise<{ cn: string | undefined; alpn: string | false; error?: undefined } | { error: NodeJS.ErrnoException }> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: opts.ca, servername: opts.servername, cert: opts.cert, key: opts.key, ALPNProtocols: opts.alpn ?? ['h2', 'http/1.1'], maxVersion: opts.maxVersion, rejectUnauthorized: !!opts.ca, checkServerIdentity: () => undefined });
    s.once('secureConnect', () => {
      const cn = s.getPeerCertificate().subject?.CN;
      const alpn = s.alpnProtocol;
      s.destroy();
      resolve({ cn: Array.isArray(cn) ? cn[0] : cn, alpn: alpn ?? false });
    });
    s.once('error', (error: NodeJS.ErrnoException) => resolve({ error }));
  });
}
