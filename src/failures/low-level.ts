/**
 * Every low-level error the path to a backend can raise, as data: what the OS, the resolver,
 * undici, its HTTP parser (llhttp) or OpenSSL said, what it means, who has to act, and the
 * failure code it becomes in each phase. classify() reads this table; the table test
 * (test/failures/low-level.test.ts) is generated from it and from Node's own lists (the libuv
 * errno map, os.constants.errno, the dns error constants, undici's error codes, llhttp's error
 * enum), so an error Node can raise and this file does not name fails the build.
 * docs/errors.md ("What the OS said → what Causeway says") is checked against it.
 */
import type { FailureCode, Side } from './registry.js';

/** Where an exchange was when it failed, in order. */
export type Phase = 'pool' | 'dns' | 'connect' | 'tls' | 'send' | 'ttfb' | 'body';

/** Which layer names the error. */
export type Origin = 'errno' | 'dns' | 'undici' | 'llhttp' | 'openssl' | 'x509' | 'node' | 'http2';

export interface ErrorClass {
  id: string;
  /** Who has to act on every error of the class (may be finer than the code's own side). */
  side: Side;
  /** What every error of the class means, in words. */
  means: string;
  /** What to do about it, specific to the class. */
  remedy: string;
  /** The failure code in each phase; `default` in the phases not named. */
  codes: { default: FailureCode } & Partial<Record<Phase, FailureCode>>;
  /** An RFC 9209 type finer than the code's own. */
  proxyStatus?: string;
  origin: Origin;
  /** Each error of the class and what it says on its own. */
  errors: Readonly<Record<string, string>>;
  /** Open-ended families taken by prefix (OpenSSL reasons and alerts, node's ERR_TLS_CERT_*). */
  prefixes?: readonly string[];
}

const SOCKET_BUG = 'not an error a TCP socket operation returns: seeing it means a gateway bug or a broken host';

/** Errors named by errno (libuv), in any phase but DNS resolution. */
const ERRNO: ErrorClass[] = [
  {
    id: 'refused',
    side: 'backend',
    means: 'the SYN was answered with RST: nothing listens on the port, or a firewall rejects with a reset — refused or filtered, the evidence cannot tell which',
    remedy: 'Start the backend process and bind it to the configured address and port; if it runs, look for a firewall REJECT rule in front of it.',
    codes: { default: 'UPSTREAM_CONNECTION_REFUSED' },
    origin: 'errno',
    errors: { ECONNREFUSED: 'connection refused' },
  },
  {
    id: 'unreachable',
    side: 'network',
    means: 'the network said no: no route to the host or its network, the host does not answer neighbour discovery, or the link is down',
    remedy: 'Check the route from the gateway host (`ip route get <address>`), that the host is up, and ICMP-rejecting firewalls on the way.',
    codes: { default: 'UPSTREAM_HOST_UNREACHABLE' },
    origin: 'errno',
    errors: {
      EHOSTUNREACH: 'no route to host (or an ICMP host-unreachable / admin-prohibited from a firewall)',
      ENETUNREACH: 'network is unreachable: no route to the network',
      ENETDOWN: 'the network interface is down',
      EHOSTDOWN: 'the host is down',
      ENONET: 'the machine is not on the network',
    },
  },
  {
    id: 'forbidden-locally',
    side: 'network',
    means: 'the gateway host refused to send: a firewall rule (iptables/nftables OUTPUT) or a security policy forbids the connection',
    remedy: 'Look at the firewall and security policy of the gateway host (`iptables -L OUTPUT`, SELinux/AppArmor) for a rule that blocks the target address and port.',
    codes: { default: 'UPSTREAM_HOST_UNREACHABLE' },
    origin: 'errno',
    errors: { EPERM: 'operation not permitted', EACCES: 'permission denied' },
  },
  {
    id: 'connect-timeout',
    side: 'network',
    means: 'the kernel gave up: SYNs (or, on an open connection, data) went unanswered — a firewall dropping packets, a dead host, or a broken return route',
    remedy: 'Check security groups and firewalls for dropped (not rejected) packets to the target port, and that the host is up.',
    codes: { default: 'UPSTREAM_HOST_UNREACHABLE', dns: 'UPSTREAM_DNS_FAILURE', connect: 'UPSTREAM_CONNECT_TIMEOUT', tls: 'UPSTREAM_CONNECT_TIMEOUT' },
    origin: 'errno',
    errors: { ETIMEDOUT: 'connection timed out', ETIME: 'timer expired' },
  },
  {
    id: 'reset',
    side: 'backend',
    means: 'the backend (or a middlebox) reset the connection: a crashed worker, a full accept queue, an idle timeout on a load balancer, a firewall killing the flow',
    remedy: 'Check the backend for crashes and its accept backlog, and any load balancer or NAT between the gateway and the backend for idle timeouts.',
    codes: { default: 'UPSTREAM_CONNECTION_RESET', tls: 'UPSTREAM_TLS_ERROR' },
    proxyStatus: undefined,
    origin: 'errno',
    errors: {
      ECONNRESET: 'connection reset by peer (RST)',
      ENETRESET: 'connection dropped by the network on reset',
      ECONNABORTED: 'connection aborted',
      EPIPE: 'broken pipe: the backend closed its side while the gateway was still writing',
      ESHUTDOWN: 'cannot send after the transport endpoint was shut down',
      ENOTCONN: 'the socket is no longer connected',
    },
  },
  {
    id: 'closed',
    side: 'backend',
    means: 'the backend closed the connection (FIN) before the response was complete',
    remedy: 'Check the backend logs for crashes or its own timeouts; keep `pool.idleTimeout` below the backend keep-alive timeout.',
    codes: { default: 'UPSTREAM_CONNECTION_CLOSED', connect: 'UPSTREAM_CONNECTION_RESET', tls: 'UPSTREAM_TLS_ERROR' },
    origin: 'errno',
    errors: { EOF: 'end of file' },
  },
  {
    id: 'plaintext-or-garbage',
    side: 'backend',
    means: 'the peer sent bytes that are not the expected protocol',
    remedy: 'Check that the target port serves the protocol the URL scheme names.',
    codes: { default: 'UPSTREAM_INVALID_RESPONSE', tls: 'UPSTREAM_PROTOCOL_MISMATCH', connect: 'UPSTREAM_PROTOCOL_MISMATCH' },
    origin: 'errno',
    errors: { EPROTO: 'protocol error', EBADMSG: 'bad message', EILSEQ: 'illegal byte sequence' },
  },
  {
    id: 'out-of-descriptors',
    side: 'gateway',
    means: 'the gateway process or host is out of file descriptors: every socket needs one',
    remedy: 'Raise the gateway\'s open-file limit (`ulimit -n`, systemd LimitNOFILE; fs.file-max for ENFILE) and look for connection leaks or too many calls in flight.',
    codes: { default: 'GATEWAY_RESOURCE_EXHAUSTED' },
    origin: 'errno',
    errors: { EMFILE: 'too many open files in the gateway process', ENFILE: 'too many open files on the gateway host' },
  },
  {
    id: 'out-of-ports',
    side: 'gateway',
    means: 'the gateway host has no local port or address left for a new connection to this destination',
    remedy: 'Reuse connections (a larger `pool.idleTimeout`, fewer new connections), widen net.ipv4.ip_local_port_range, or add source addresses.',
    codes: { default: 'GATEWAY_RESOURCE_EXHAUSTED' },
    origin: 'errno',
    errors: {
      EADDRNOTAVAIL: 'cannot assign the requested address: no free local port (or the target address is not usable from here)',
      EADDRINUSE: 'address in use: every local port to this destination is taken',
      EAGAIN: 'resource temporarily unavailable: no free local port',
      EWOULDBLOCK: 'operation would block: no free local port',
    },
  },
  {
    id: 'out-of-memory',
    side: 'gateway',
    means: 'the gateway host is out of kernel or process memory for sockets and buffers',
    remedy: 'Check the gateway host memory and socket buffer limits (net.core.*mem, net.ipv4.tcp_mem) and the number of calls in flight.',
    codes: { default: 'GATEWAY_RESOURCE_EXHAUSTED' },
    origin: 'errno',
    errors: { ENOBUFS: 'no buffer space available', ENOMEM: 'out of memory', ENOSR: 'out of stream resources' },
  },
  {
    id: 'out-of-disk',
    side: 'gateway',
    means: 'the gateway host cannot write to disk (the call log, a cache file): full, over quota or read-only',
    remedy: 'Free disk space where `storage.path` lives, lower `storage.retention`, or move the call log to a larger volume.',
    codes: { default: 'GATEWAY_RESOURCE_EXHAUSTED' },
    origin: 'errno',
    errors: { ENOSPC: 'no space left on device', EDQUOT: 'disk quota exceeded', EROFS: 'read-only file system', EFBIG: 'file too large' },
  },
  {
    id: 'unsupported-here',
    side: 'gateway',
    means: 'the gateway host does not support the socket the connection needs (an address family that is disabled, such as IPv6, or a missing protocol)',
    remedy: 'Enable the address family on the gateway host, or give the target an address of a family the host supports.',
    codes: { default: 'GATEWAY_INTERNAL_ERROR' },
    origin: 'errno',
    errors: {
      EAFNOSUPPORT: 'address family not supported',
      EPROTONOSUPPORT: 'protocol not supported',
      ESOCKTNOSUPPORT: 'socket type not supported',
      EPROTOTYPE: 'wrong protocol type for socket',
      ENOPROTOOPT: 'protocol option not available',
      EOPNOTSUPP: 'operation not supported on socket',
      ENOTSUP: 'operation not supported',
      EMSGSIZE: 'message too long',
      ENODEV: 'no such device',
      ENXIO: 'no such device or address',
    },
  },
  {
    id: 'gateway-bug',
    side: 'gateway',
    means: SOCKET_BUG,
    remedy: 'Report the error with the output of `causeway explain` for the call; it is not caused by the backend or the network.',
    codes: { default: 'GATEWAY_INTERNAL_ERROR' },
    origin: 'errno',
    errors: Object.fromEntries(
      (
        'E2BIG EALREADY EBADF EBUSY ECANCELED ECHARSET ECHILD EDEADLK EDESTADDRREQ EDOM EEXIST EFAULT EFTYPE EIDRM EINPROGRESS EINTR EINVAL EIO ' +
        'EISCONN EISDIR ELOOP EMLINK EMULTIHOP ENAMETOOLONG ENOENT ENOEXEC ENOLCK ENOLINK ENOMSG ENOSTR ENOSYS ENOTDIR ENOTEMPTY ENOTSOCK ' +
        'ENOTTY EOVERFLOW ERANGE EREMOTEIO ESPIPE ESRCH ESTALE ETXTBSY EUNATCH EXDEV UNKNOWN'
      )
        .split(' ')
        .map((e) => [e, 'unexpected on a socket']),
    ),
  },
];

/** Errors the resolver names (dns.lookup via getaddrinfo: EAI_*; dns.resolve via c-ares: the dns module constants). */
const DNS: ErrorClass[] = [
  {
    id: 'dns-no-such-name',
    side: 'network',
    means: 'the resolver answered that the name has no address: a typo in the target URL, a record that was removed, or a search domain that does not apply here',
    remedy: 'Check the host name in the target URL and its DNS record (`getent hosts <name>` on the gateway host).',
    codes: { default: 'UPSTREAM_DNS_FAILURE' },
    origin: 'dns',
    errors: {
      ENOTFOUND: 'domain name not found',
      EAI_NONAME: 'name or service not known',
      EAI_NODATA: 'no address associated with the name',
      EAI_ADDRFAMILY: 'no address of the requested family',
      ENODATA: 'the DNS server returned an answer with no data',
      ENONAME: 'the name has no address',
      EBADNAME: 'the host name is not a valid DNS name',
    },
  },
  {
    id: 'dns-resolver-failed',
    side: 'network',
    means: 'the resolver could not give an answer: the DNS server failed, refused, timed out or sent garbage — the name itself may be fine',
    remedy: 'Check the resolvers of the gateway host (/etc/resolv.conf) and that they answer (`dig <name>`); a temporary failure often passes on retry.',
    codes: { default: 'UPSTREAM_DNS_FAILURE' },
    origin: 'dns',
    errors: {
      EAI_AGAIN: 'temporary failure in name resolution',
      EAI_FAIL: 'non-recoverable failure in name resolution',
      ESERVFAIL: 'the DNS server returned a general failure',
      EREFUSED: 'the DNS server refused the query',
      ETIMEOUT: 'the DNS query timed out',
      ECONNREFUSED: 'could not contact the DNS servers',
      EFORMERR: 'the DNS server says the query was malformed',
      ENOTIMP: 'the DNS server does not implement the operation',
      EBADRESP: 'the DNS reply was malformed',
      EOF: 'end of file from the DNS server',
      EFILE: 'the resolver could not read its configuration (/etc/resolv.conf, /etc/hosts)',
      EAI_SERVICE: 'the service is not known to the resolver',
      EAI_PROTOCOL: 'the resolved protocol is unknown',
      EAI_SOCKTYPE: 'the socket type is not supported by the resolver',
      EAI_FAMILY: 'the address family is not supported by the resolver',
    },
  },
  {
    id: 'dns-out-of-memory',
    side: 'gateway',
    means: 'the resolver on the gateway host ran out of memory or buffer space',
    remedy: 'Check the gateway host memory.',
    codes: { default: 'GATEWAY_RESOURCE_EXHAUSTED' },
    origin: 'dns',
    errors: { EAI_MEMORY: 'out of memory', ENOMEM: 'out of memory', EAI_OVERFLOW: 'argument buffer overflow' },
  },
  {
    id: 'dns-gateway-bug',
    side: 'gateway',
    means: 'the gateway called the resolver wrongly or tore it down mid-query',
    remedy: 'Report the error with the output of `causeway explain` for the call.',
    codes: { default: 'GATEWAY_INTERNAL_ERROR' },
    origin: 'dns',
    errors: {
      EAI_BADFLAGS: 'invalid flags',
      EAI_BADHINTS: 'invalid hints',
      EAI_CANCELED: 'request cancelled',
      EBADQUERY: 'misformatted query',
      EBADFAMILY: 'unsupported address family',
      EBADSTR: 'misformatted string',
      EBADFLAGS: 'illegal flags',
      EBADHINTS: 'illegal hints flags',
      ENOTINITIALIZED: 'the resolver was not initialised',
      ELOADIPHLPAPI: 'Windows only: could not load iphlpapi.dll',
      EADDRGETNETWORKPARAMS: 'Windows only: GetNetworkParams not found',
      EDESTRUCTION: 'the resolver was destroyed during the query',
      ECANCELLED: 'the query was cancelled',
    },
  },
];

/** undici's own codes (lib/core/errors.js) and the codes of its HTTP/1.1 parser (llhttp). */
const HTTP: ErrorClass[] = [
  {
    id: 'undici-closed',
    side: 'backend',
    means: 'the backend closed the connection (FIN) before the response was complete',
    remedy: 'Check the backend logs for crashes, restarts or its own request timeouts; keep `pool.idleTimeout` below the backend keep-alive timeout.',
    codes: { default: 'UPSTREAM_CONNECTION_CLOSED', connect: 'UPSTREAM_CONNECTION_RESET', tls: 'UPSTREAM_TLS_ERROR' },
    origin: 'undici',
    errors: {
      UND_ERR_SOCKET: 'other side closed',
      UND_ERR_CLOSED: 'the connection closed',
      ERR_STREAM_PREMATURE_CLOSE: 'premature close (node stream)',
      HPE_CLOSED_CONNECTION: 'data after the connection was to be closed',
      HPE_INVALID_EOF_STATE: 'the connection ended in the middle of a message',
    },
  },
  {
    id: 'length-mismatch',
    side: 'backend',
    means: 'the response did not match its framing: fewer body bytes than Content-Length announced before the backend closed, or a head undici refused after reading Content-Length',
    remedy: 'Find out why the backend stops mid-body (a crash, a timeout of its own, a proxy buffer limit), or fix the framing headers it sends.',
    codes: { default: 'UPSTREAM_INVALID_RESPONSE', body: 'UPSTREAM_CONNECTION_CLOSED' },
    origin: 'undici',
    errors: { UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'response body length does not match Content-Length' },
  },
  {
    id: 'headers-too-large',
    side: 'backend',
    means: 'the response head is larger than the gateway accepts: the backend sent too big a header',
    remedy: 'Make the backend send smaller response headers (a huge Set-Cookie, a growing debug header).',
    codes: { default: 'UPSTREAM_HEADERS_TOO_LARGE' },
    origin: 'undici',
    errors: { UND_ERR_HEADERS_OVERFLOW: 'headers overflow' },
  },
  {
    id: 'undici-timeouts',
    side: 'backend',
    means: "undici's own timer fired before the backend answered",
    remedy: 'The backend is slower than the limit: see the code.',
    codes: { default: 'UPSTREAM_RESPONSE_TIMEOUT', dns: 'UPSTREAM_DNS_FAILURE', connect: 'UPSTREAM_CONNECT_TIMEOUT', tls: 'UPSTREAM_CONNECT_TIMEOUT' },
    origin: 'undici',
    errors: { UND_ERR_HEADERS_TIMEOUT: 'headers timeout', UND_ERR_CONNECT_TIMEOUT: 'connect timeout' },
  },
  {
    id: 'undici-body-timeout',
    side: 'backend',
    means: "undici's body timer fired: the body stalled",
    remedy: 'The backend stopped sending the body: see the code.',
    codes: { default: 'UPSTREAM_BODY_TIMEOUT' },
    origin: 'undici',
    errors: { UND_ERR_BODY_TIMEOUT: 'body timeout' },
  },
  {
    id: 'malformed',
    side: 'backend',
    means: 'the bytes from the backend are not valid HTTP/1.1: a bad status line, header or chunk — or another protocol on the port',
    remedy: 'Check that the target port is the HTTP port of the service, and fix the response framing in the backend.',
    codes: { default: 'UPSTREAM_INVALID_RESPONSE' },
    origin: 'llhttp',
    errors: {
      UND_ERR_INFO: 'an invalid informational (1xx) or upgrade response',
      HPE_INVALID_RESPONSE: 'the response head could not be parsed',
      HPE_STRICT: 'strict-mode parse failure',
      HPE_CR_EXPECTED: 'CR expected',
      HPE_LF_EXPECTED: 'LF expected',
      HPE_UNEXPECTED_CONTENT_LENGTH: 'Content-Length where none may be (or together with Transfer-Encoding)',
      HPE_UNEXPECTED_SPACE: 'unexpected whitespace',
      HPE_INVALID_METHOD: 'invalid method',
      HPE_INVALID_URL: 'invalid URL',
      HPE_INVALID_CONSTANT: 'not an HTTP response (the status line does not start with HTTP/)',
      HPE_INVALID_VERSION: 'invalid HTTP version',
      HPE_INVALID_HEADER_TOKEN: 'invalid character in a header',
      HPE_INVALID_CONTENT_LENGTH: 'invalid Content-Length',
      HPE_INVALID_CHUNK_SIZE: 'invalid chunk size line in a chunked body',
      HPE_INVALID_STATUS: 'invalid status code',
      HPE_INVALID_TRANSFER_ENCODING: 'invalid Transfer-Encoding',
    },
  },
  {
    id: 'client-body',
    side: 'client',
    means: "the client's request body did not match the length it announced",
    remedy: 'Fix the client: send exactly Content-Length bytes.',
    codes: { default: 'BAD_REQUEST' },
    origin: 'undici',
    errors: { UND_ERR_REQ_CONTENT_LENGTH_MISMATCH: 'request body length does not match Content-Length' },
  },
  {
    id: 'undici-gateway-bug',
    side: 'gateway',
    means: 'undici reported an error of the way the gateway uses it, not of the backend',
    remedy: 'Report the error with the output of `causeway explain` for the call.',
    codes: { default: 'GATEWAY_INTERNAL_ERROR' },
    origin: 'undici',
    errors: Object.fromEntries(
      [
        'UND_ERR_ABORT', 'UND_ERR_ABORTED', 'UND_ERR_DESTROYED', 'UND_ERR_INVALID_ARG', 'UND_ERR_INVALID_RETURN_VALUE', 'UND_ERR_NOT_SUPPORTED',
        'UND_ERR_BPL_MISSING_UPSTREAM', 'UND_ERR_MAX_ORIGINS_REACHED', 'UND_ERR_PRX_TLS', 'UND_ERR_REQ_RETRY', 'UND_ERR_RESPONSE',
        'UND_ERR_RES_EXCEEDED_MAX_SIZE', 'UND_ERR_WS_MESSAGE_SIZE_EXCEEDED',
        'HPE_OK', 'HPE_INTERNAL', 'HPE_USER', 'HPE_PAUSED', 'HPE_PAUSED_UPGRADE', 'HPE_PAUSED_H2_UPGRADE',
      ].map((e) => [e, 'not raised by the way the gateway calls backends']),
    ),
    prefixes: ['HPE_CB_'],
  },
];

/** TLS: node's and OpenSSL's codes, and the X509_V_ERR verification results node names. */
const TLS: ErrorClass[] = [
  {
    id: 'tls-plaintext-peer',
    side: 'gateway',
    means: 'the port answered the TLS ClientHello with plain HTTP: the URL says https, the backend port speaks http',
    remedy: 'Make the scheme of the target URL match what the port speaks.',
    codes: { default: 'UPSTREAM_PROTOCOL_MISMATCH' },
    origin: 'openssl',
    errors: {
      ERR_SSL_WRONG_VERSION_NUMBER: 'wrong version number (a plaintext reply)',
      ERR_SSL_PACKET_LENGTH_TOO_LONG: 'packet length too long (a plaintext reply)',
      ERR_SSL_HTTP_REQUEST: 'the peer sent an HTTP request',
      ERR_SSL_RECORD_LAYER_FAILURE: 'record layer failure (a non-TLS reply)',
    },
  },
  {
    id: 'tls-untrusted',
    side: 'backend',
    means: "the backend's certificate chain does not lead to a CA the gateway trusts (self-signed, private CA, missing intermediate)",
    remedy: 'Serve the full chain from the backend, or set `upstreams.<name>.tls.ca` to the CA that signed it.',
    codes: { default: 'UPSTREAM_TLS_ERROR' },
    proxyStatus: 'tls_certificate_error',
    origin: 'x509',
    errors: {
      DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed certificate',
      SELF_SIGNED_CERT_IN_CHAIN: 'self-signed certificate in the chain',
      UNABLE_TO_GET_ISSUER_CERT: 'unable to get the issuer certificate',
      UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'unable to get the local issuer certificate',
      UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unable to verify the first certificate (missing intermediate)',
      CERT_UNTRUSTED: 'certificate not trusted',
      INVALID_CA: 'invalid CA certificate',
      CERT_CHAIN_TOO_LONG: 'certificate chain too long',
      PATH_LENGTH_EXCEEDED: 'path length constraint exceeded',
      INVALID_PURPOSE: 'unsupported certificate purpose',
      CERT_REJECTED: 'certificate rejected',
    },
  },
  {
    id: 'tls-expired',
    side: 'backend',
    means: "the backend's certificate (or one in its chain) is outside its validity dates — or the gateway host's clock is wrong",
    remedy: "Renew the backend certificate; if it is valid, check the gateway host's clock (NTP).",
    codes: { default: 'UPSTREAM_TLS_ERROR' },
    proxyStatus: 'tls_certificate_error',
    origin: 'x509',
    errors: {
      CERT_HAS_EXPIRED: 'certificate has expired',
      CERT_NOT_YET_VALID: 'certificate is not yet valid',
      ERROR_IN_CERT_NOT_BEFORE_FIELD: "format error in the certificate's notBefore field",
      ERROR_IN_CERT_NOT_AFTER_FIELD: "format error in the certificate's notAfter field",
    },
  },
  {
    id: 'tls-wrong-name',
    side: 'backend',
    means: "the backend's certificate is for another name than the one the gateway connects to",
    remedy: 'Install a certificate whose subjectAltName covers the target host name, or set `upstreams.<name>.tls.servername` to the name the certificate carries.',
    codes: { default: 'UPSTREAM_TLS_ERROR' },
    proxyStatus: 'tls_certificate_error',
    origin: 'node',
    errors: { ERR_TLS_CERT_ALTNAME_INVALID: "the host name is not in the certificate's altnames", HOSTNAME_MISMATCH: 'host name mismatch', ERR_TLS_CERT_ALTNAME_FORMAT: 'invalid subjectAltName format' },
    prefixes: ['ERR_TLS_CERT_'],
  },
  {
    id: 'tls-bad-certificate',
    side: 'backend',
    means: "the backend's certificate (or its CRL) is broken, revoked or cannot be checked",
    remedy: 'Reissue the backend certificate; check the CRL the CA publishes.',
    codes: { default: 'UPSTREAM_TLS_ERROR' },
    proxyStatus: 'tls_certificate_error',
    origin: 'x509',
    errors: {
      CERT_REVOKED: 'certificate revoked',
      CERT_SIGNATURE_FAILURE: 'certificate signature failure',
      UNABLE_TO_DECRYPT_CERT_SIGNATURE: "unable to decrypt the certificate's signature",
      UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY: "unable to decode the issuer's public key",
      UNABLE_TO_GET_CRL: 'unable to get the certificate CRL',
      UNABLE_TO_DECRYPT_CRL_SIGNATURE: "unable to decrypt the CRL's signature",
      CRL_SIGNATURE_FAILURE: 'CRL signature failure',
      CRL_NOT_YET_VALID: 'CRL is not yet valid',
      CRL_HAS_EXPIRED: 'CRL has expired',
      ERROR_IN_CRL_LAST_UPDATE_FIELD: "format error in the CRL's lastUpdate field",
      ERROR_IN_CRL_NEXT_UPDATE_FIELD: "format error in the CRL's nextUpdate field",
      OUT_OF_MEM: 'out of memory while verifying',
      ERR_SSL_CA_MD_TOO_WEAK: 'the CA signature digest is too weak',
      ERR_SSL_EE_KEY_TOO_SMALL: "the backend certificate's key is too small",
    },
    prefixes: ['CERT_', 'UNABLE_TO_'],
  },
  {
    id: 'tls-client-certificate',
    side: 'gateway',
    means: 'the backend asked for a client certificate (mutual TLS) and the gateway sent none, or one it does not accept',
    remedy: 'Configure the client certificate the backend expects for the gateway, or turn off client-certificate verification on the backend.',
    codes: { default: 'UPSTREAM_TLS_ERROR' },
    proxyStatus: 'tls_certificate_error',
    origin: 'openssl',
    errors: {
      ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: 'alert: certificate required',
      ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: 'alert: bad certificate',
      ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: 'alert: unknown CA',
      ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN: 'alert: certificate unknown',
      ERR_SSL_TLSV1_ALERT_ACCESS_DENIED: 'alert: access denied',
    },
  },
  {
    id: 'tls-no-common-ground',
    side: 'backend',
    means: 'the gateway and the backend share no TLS version or cipher suite',
    remedy: "Enable TLS 1.2 or 1.3 and modern cipher suites on the backend (the gateway does not offer older ones).",
    codes: { default: 'UPSTREAM_TLS_ERROR' },
    origin: 'openssl',
    errors: {
      ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION: 'alert: protocol version',
      ERR_SSL_UNSUPPORTED_PROTOCOL: 'unsupported protocol',
      ERR_SSL_NO_PROTOCOLS_AVAILABLE: 'no protocols available',
      ERR_SSL_VERSION_TOO_LOW: 'version too low',
      ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE: 'alert: handshake failure',
      ERR_SSL_NO_SHARED_CIPHER: 'no shared cipher',
      ERR_SSL_NO_CIPHERS_AVAILABLE: 'no ciphers available',
      ERR_TLS_INVALID_PROTOCOL_VERSION: 'invalid protocol version',
      ERR_TLS_DH_PARAM_SIZE: 'Diffie-Hellman parameter too small',
    },
  },
  {
    id: 'tls-handshake-failed',
    side: 'backend',
    means: 'the TLS handshake failed for another reason OpenSSL names (an alert from the backend, a bad record)',
    remedy: 'Test the handshake by hand (`openssl s_client -connect host:port -servername name`) and fix the backend TLS configuration.',
    codes: { default: 'UPSTREAM_TLS_ERROR' },
    origin: 'openssl',
    errors: { ERR_TLS_RENEGOTIATION_DISABLED: 'the backend tried to renegotiate', ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC: 'bad record MAC' },
    prefixes: ['ERR_SSL_', 'ERR_TLS_'],
  },
  {
    id: 'tls-timeout',
    side: 'network',
    means: 'the TLS handshake did not finish in time',
    remedy: 'See UPSTREAM_CONNECT_TIMEOUT: packets are dropped on the way, or the backend is too busy to handshake.',
    codes: { default: 'UPSTREAM_CONNECT_TIMEOUT' },
    origin: 'node',
    errors: { ERR_TLS_HANDSHAKE_TIMEOUT: 'TLS handshake timeout' },
  },
];

/** HTTP/2 (gRPC) targets, named by src/upstream/h2-pool.ts: the handshake, GOAWAY, RST_STREAM codes. */
const H2: ErrorClass[] = [
  {
    id: 'h2-not-spoken',
    side: 'backend',
    means: 'the target is configured as HTTP/2 but does not speak it: an h2c port answered the connection preface as something else, or a TLS one did not agree to ALPN h2',
    remedy: 'Point the upstream at the backend\'s HTTP/2 (gRPC) port, enable HTTP/2 (and ALPN h2 over TLS) on the backend, or configure the upstream as HTTP/1.1.',
    codes: { default: 'UPSTREAM_PROTOCOL_MISMATCH' },
    origin: 'http2',
    errors: {
      CAUSEWAY_NOT_H2: 'the answer to the HTTP/2 preface was not HTTP/2',
      CAUSEWAY_NO_ALPN_H2: 'the TLS handshake did not select ALPN h2',
      ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL: 'alert: no application protocol (the backend offers no h2)',
    },
  },
  {
    id: 'h2-closed',
    side: 'backend',
    means: 'the backend ended the HTTP/2 session (GOAWAY, session closed) or refused the stream before processing it',
    remedy: 'Look at the backend for restarts, connection age limits or max-concurrent-streams; the request was not processed and is safe to retry.',
    codes: { default: 'UPSTREAM_CONNECTION_CLOSED', connect: 'UPSTREAM_CONNECTION_REFUSED' },
    origin: 'http2',
    errors: {
      H2_GOAWAY: 'the backend sent GOAWAY',
      H2_SESSION_CLOSED: 'the HTTP/2 session closed',
      H2_RST_REFUSED_STREAM: 'RST_STREAM REFUSED_STREAM: the stream was not processed',
    },
  },
  {
    id: 'h2-framing',
    side: 'backend',
    means: 'the HTTP/2 exchange was malformed: a protocol, frame size, header compression or flow control fault',
    remedy: 'Capture the exchange (nghttp -v or the backend\'s HTTP/2 debug log) and fix the backend\'s HTTP/2 implementation or the proxy in front of it.',
    codes: { default: 'UPSTREAM_INVALID_RESPONSE' },
    origin: 'http2',
    errors: {
      H2_PROTOCOL_ERROR: 'HTTP/2 protocol error on the session',
      H2_RST_PROTOCOL_ERROR: 'RST_STREAM PROTOCOL_ERROR',
      H2_RST_FRAME_SIZE_ERROR: 'RST_STREAM FRAME_SIZE_ERROR',
      H2_RST_COMPRESSION_ERROR: 'RST_STREAM COMPRESSION_ERROR',
      H2_RST_FLOW_CONTROL_ERROR: 'RST_STREAM FLOW_CONTROL_ERROR',
    },
  },
  {
    id: 'h2-reset',
    side: 'backend',
    means: 'the backend reset the HTTP/2 stream (RST_STREAM) while handling it',
    remedy: 'Look at the backend\'s logs for the request: it gave up on the stream (an internal error, a cancel, overload).',
    codes: { default: 'UPSTREAM_CONNECTION_RESET' },
    origin: 'http2',
    errors: {
      H2_RST_INTERNAL_ERROR: 'RST_STREAM INTERNAL_ERROR',
      H2_RST_SETTINGS_TIMEOUT: 'RST_STREAM SETTINGS_TIMEOUT',
      H2_RST_STREAM_CLOSED: 'RST_STREAM STREAM_CLOSED',
      H2_RST_CANCEL: 'RST_STREAM CANCEL',
      H2_RST_CONNECT_ERROR: 'RST_STREAM CONNECT_ERROR',
      H2_RST_ENHANCE_YOUR_CALM: 'RST_STREAM ENHANCE_YOUR_CALM',
      H2_RST_INADEQUATE_SECURITY: 'RST_STREAM INADEQUATE_SECURITY',
      H2_RST_HTTP_1_1_REQUIRED: 'RST_STREAM HTTP_1_1_REQUIRED',
    },
    prefixes: ['H2_RST_'],
  },
];

export const ERROR_CLASSES: readonly ErrorClass[] = [...ERRNO, ...DNS, ...HTTP, ...TLS, ...H2];

/** One error name, where it can be looked up: the resolver's names first in the dns phase. */
function index(classes: readonly ErrorClass[]): Map<string, ErrorClass> {
  const m = new Map<string, ErrorClass>();
  for (const c of classes) for (const e of Object.keys(c.errors)) if (!m.has(e)) m.set(e, c);
  return m;
}
const IN_DNS = index([...DNS, ...ERRNO, ...HTTP, ...H2, ...TLS]);
const ELSEWHERE = index([...ERRNO, ...HTTP, ...H2, ...TLS, ...DNS]);
/** Longest prefixes first, so ERR_TLS_CERT_ wins over ERR_TLS_. */
const PREFIXES = ERROR_CLASSES.flatMap((c) => (c.prefixes ?? []).map((p) => [p, c] as const)).sort((a, b) => b[0].length - a[0].length);

/** The class of a low-level error seen in `phase`; undefined for a name none of the lists holds. */
export function errorClass(error: string, phase: Phase): ErrorClass | undefined {
  const exact = (phase === 'dns' ? IN_DNS : ELSEWHERE).get(error);
  if (exact) return exact;
  return PREFIXES.find(([p]) => error.startsWith(p))?.[1];
}

export interface LowLevelMeaning {
  error: string;
  side: Side;
  /** "ECONNREFUSED: connection refused — the SYN was answered with RST: ..." */
  says: string;
  remedy: string;
}

/** What a low-level error means in `phase`, in words; undefined for a name none of the lists holds. */
export function lowLevelMeaning(error: string, phase: Phase): LowLevelMeaning | undefined {
  const c = errorClass(error, phase);
  if (!c) return undefined;
  const own = c.errors[error];
  return { error, side: c.side, says: `${error}: ${own ? `${own} — ` : ''}${c.means}`, remedy: c.remedy };
}

const PHASE_ORDER: readonly Phase[] = ['dns', 'connect', 'tls', 'send', 'ttfb', 'body'];

/** The codes a class becomes, as "CODE (phases)" parts: the default last, as "otherwise". */
function codesInWords(c: ErrorClass): string {
  const byCode = new Map<FailureCode, Phase[]>();
  for (const p of PHASE_ORDER) {
    const code = c.codes[p];
    if (code && code !== c.codes.default) byCode.set(code, [...(byCode.get(code) ?? []), p]);
  }
  const parts = [...byCode].map(([code, phases]) => `\`${code}\` in ${phases.join(', ')}`);
  return parts.length ? `${parts.join('; ')}; otherwise \`${c.codes.default}\`` : `\`${c.codes.default}\``;
}

/**
 * The table of docs/errors.md "What the OS said → what Causeway says", made from the data
 * (`npm run errors-table` writes it; test/failures/low-level.test.ts checks the file holds it).
 */
export function lowLevelTable(): string {
  const rows = ERROR_CLASSES.map((c) => {
    const names = Object.keys(c.errors).map((e) => `\`${e}\``);
    if (c.prefixes) names.push(...c.prefixes.map((p) => `\`${p}…\``));
    return `| ${c.origin} | ${names.join(' ')} | ${codesInWords(c)} | ${c.side} | ${c.means.replace(/\|/g, '\\|')}. ${c.remedy.replace(/\|/g, '\\|')} |`;
  });
  return ['| from | what was said | Causeway says | side | what it means, what to do |', '|---|---|---|---|---|', ...rows].join('\n');
}
