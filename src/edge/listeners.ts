/**
 * The listeners of a gateway (`listen:`, one or a list): a net or tls server per entry, each
 * handing its connections to one of two protocol servers shared by all listeners — the
 * node:http server (HTTP/1.x, the request handler and the Upgrade path) or the node:http2
 * server (http2.ts). Which one is decided per connection:
 *
 *   tls listener    ALPN: h2 → http2; http/1.1 or none → http   (http2: false offers http/1.1 only)
 *   plain listener  h2c: true → the first bytes: the HTTP/2 preface → http2, anything else → http
 *                   h2c: false → http
 *
 * TLS: certificates chosen by SNI (tls.ts), optional client certificates (mTLS), a failed
 * handshake logged and counted as the client's, and certificates reloaded in place (SIGHUP,
 * config reload, file changes) without touching open connections.
 */
import fs from 'node:fs';
import type http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { Logger } from 'pino';
import type { ListenerConfig } from '../config/schema.js';
import { CertSet, type CertInfo } from './tls.js';

/** The client connection preface of HTTP/2 (RFC 9113 3.4). */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** What the listeners report to metrics. */
export interface EdgeObserver {
  /** A client's TLS handshake failed (`reason`: the error code, a client-side failure). */
  tlsHandshakeFailed(listener: string, reason: string): void;
}

export interface EdgeOptions {
  logger: Logger;
  /** Receives every HTTP/1.x connection. */
  h1: http.Server;
  /** Takes every HTTP/2 connection. */
  h2: (socket: Duplex) => void;
  /** How long a plain h2c listener waits for the first bytes of a connection. */
  sniffTimeout: number;
  observer?: EdgeObserver;
}

/** One listening socket and its TLS material. */
export class Listener {
  readonly server: net.Server;
  /** Current certificates (null without tls). */
  certs: CertSet | null = null;
  private watchers: fs.FSWatcher[] = [];

  constructor(
    readonly config: ListenerConfig,
    private readonly opts: EdgeOptions,
  ) {
    const t = config.tls;
    if (!t) {
      // No Nagle: HTTP/2 writes small frames (a gRPC reply is HEADERS, DATA, trailers), and Nagle
      // holding one back for the client's delayed ACK cost every h2c call about 40 ms.
      this.server = net.createServer({ noDelay: true }, config.h2c ? (socket) => this.sniff(socket) : (socket) => opts.h1.emit('connection', socket));
      return;
    }
    const certs = (this.certs = new CertSet(t));
    const server = tls.createServer({
      ...certs.defaultOptions,
      ALPNProtocols: config.http2 ? ['h2', 'http/1.1'] : ['http/1.1'],
      SNICallback: (name, cb) => cb(null, this.certs!.select(name)),
      requestCert: !!t.clientCa,
      rejectUnauthorized: !!t.clientCa && t.clientAuth === 'required',
      handshakeTimeout: opts.sniffTimeout,
    });
    server.on('secureConnection', (socket: tls.TLSSocket) => {
      if (socket.alpnProtocol === 'h2') opts.h2(socket);
      else opts.h1.emit('connection', socket);
    });
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
      const reason = err.code ?? 'ERR_TLS_HANDSHAKE';
      opts.observer?.tlsHandshakeFailed(this.name, reason);
      opts.logger.warn({ kind: 'tls', side: 'client', listener: this.name, client: socket.remoteAddress, code: reason, reason: err.message }, 'TLS handshake with a client failed (a client-side failure, no backend involved)');
    });
    this.server = server;
  }

  /** `host:port` as configured (the port once bound when it was 0). */
  get name(): string {
    const a = this.server.address() as AddressInfo | null;
    return `${this.config.host}:${a ? a.port : this.config.port}`;
  }

  /** Reads the certificate files again and swaps them in; open connections keep theirs. Throws CertError. */
  reloadCertificates(config: ListenerConfig = this.config): void {
    if (!config.tls || !(this.server instanceof tls.Server)) return;
    const next = new CertSet(config.tls);
    this.server.setSecureContext(next.defaultOptions);
    this.certs = next;
  }

  /** Calls `onChange` (debounced) when a certificate or key file of this listener changes on disk. */
  watch(onChange: () => void, debounceMs = 500): void {
    const t = this.config.tls;
    if (!t) return;
    const files = [t.cert, t.key, ...t.certificates.flatMap((c) => [c.cert, c.key]), ...(t.clientCa ? [t.clientCa] : [])].map((f) => path.resolve(f));
    let timer: NodeJS.Timeout | null = null;
    const fire = () => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        onChange();
      }, debounceMs);
      timer.unref();
    };
    // Directories, not files: renames (certbot, Kubernetes secret volumes) replace the file a
    // file watch would follow.
    const byDir = new Map<string, Set<string>>();
    for (const f of files) (byDir.get(path.dirname(f)) ?? byDir.set(path.dirname(f), new Set()).get(path.dirname(f))!).add(path.basename(f));
    for (const [dir, names] of byDir) {
      try {
        const w = fs.watch(dir, { persistent: false }, (_event, name) => {
          if (!name || names.has(name.toString()) || name.toString().startsWith('..')) fire();
        });
        w.on('error', () => w.close());
        this.watchers.push(w);
      } catch (err) {
        this.opts.logger.warn({ kind: 'tls', listener: this.name, dir, err: (err as Error).message }, 'cannot watch certificate files for changes; reload with SIGHUP');
      }
    }
  }

  listen(port = this.config.port, host = this.config.host): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.removeListener('error', onError);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** Stops accepting; resolves once every connection this listener accepted has closed. */
  close(): Promise<void> {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
  }

  /**
   * h2c with prior knowledge next to HTTP/1.1 on one port: the first bytes say which. Bytes read
   * to decide are put back for the protocol server that takes the connection.
   */
  private sniff(socket: net.Socket): void {
    let seen: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), this.opts.sniffTimeout);
    const done = (h2: boolean) => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      socket.pause();
      if (h2) {
        // node's HTTP/2 session reads its socket's handle directly and would never see bytes
        // put back on the JS side: it gets a stream that replays them instead.
        this.opts.h2(new Replay(socket, seen));
        return;
      }
      socket.unshift(seen);
      this.opts.h1.emit('connection', socket);
      socket.resume();
    };
    const onData = (chunk: Buffer) => {
      seen = seen.length ? Buffer.concat([seen, chunk]) : chunk;
      const n = Math.min(seen.length, PREFACE.length);
      if (seen.compare(PREFACE, 0, n, 0, n) !== 0) done(false);
      else if (n === PREFACE.length) done(true);
    };
    const onClose = () => clearTimeout(timer);
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.on('error', () => socket.destroy());
  }
}

/** A socket whose first bytes were read to sniff the protocol, replayed ahead of the rest. */
export class Replay extends Duplex {
  constructor(
    /** The client connection (its address, for the request stages: http2.ts). */
    readonly socket: net.Socket,
    head: Buffer,
  ) {
    super();
    this.push(head);
    socket.on('data', (c: Buffer) => {
      if (!this.push(c)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('close', () => this.destroy());
    socket.on('error', (err) => this.destroy(err));
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.socket.write(chunk, cb);
  }

  override _final(cb: () => void): void {
    this.socket.end(cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.socket.destroy();
    cb(err);
  }
}

/** Every listener of a gateway. */
export class Edge {
  readonly listeners: Listener[];

  constructor(
    configs: ListenerConfig[],
    private readonly opts: EdgeOptions,
  ) {
    this.listeners = configs.map((c) => new Listener(c, opts));
  }

  /** Binds every listener; `first` overrides the first one's port and host (tests bind port 0). */
  async listen(first?: { port?: number | undefined; host?: string | undefined }): Promise<AddressInfo[]> {
    const out: AddressInfo[] = [];
    for (const [i, l] of this.listeners.entries()) {
      out.push(i === 0 && first ? await l.listen(first.port ?? l.config.port, first.host ?? l.config.host) : await l.listen());
    }
    return out;
  }

  /**
   * Reloads every TLS listener's certificates from `configs` (same listeners, by position). All
   * or nothing per listener: one that fails keeps serving its current certificates.
   */
  reloadCertificates(configs?: ListenerConfig[]): { listener: string; error: string }[] {
    const errors: { listener: string; error: string }[] = [];
    this.listeners.forEach((l, i) => {
      const next = configs?.[i];
      if (next && (next.host !== l.config.host || next.port !== l.config.port || !!next.tls !== !!l.config.tls)) return;
      try {
        l.reloadCertificates(next ?? l.config);
      } catch (err) {
        errors.push({ listener: l.name, error: (err as Error).message });
      }
    });
    for (const e of errors) this.opts.logger.error({ kind: 'tls', ...e }, 'certificate reload failed; the listener keeps its current certificates');
    return errors;
  }

  /** Watches every TLS listener's files; a change reloads that listener's certificates. */
  watchCertificates(): void {
    for (const l of this.listeners) {
      l.watch(() => {
        try {
          l.reloadCertificates();
          this.opts.logger.info({ kind: 'tls', listener: l.name, certificates: l.certs?.certs.map((c) => c.file) }, 'certificates changed on disk: reloaded');
        } catch (err) {
          this.opts.logger.error({ kind: 'tls', listener: l.name, error: (err as Error).message }, 'certificates changed on disk but cannot be loaded; the listener keeps its current certificates');
        }
      });
    }
  }

  /** Every certificate in use, with its listener. */
  certificates(): { listener: string; cert: CertInfo }[] {
    return this.listeners.flatMap((l) => (l.certs ? l.certs.certs.map((cert) => ({ listener: l.name, cert })) : []));
  }

  /** Stops accepting on every listener; resolves once all their connections have closed. */
  close(): Promise<void> {
    return Promise.all(this.listeners.map((l) => l.close())).then(() => undefined);
  }
}
