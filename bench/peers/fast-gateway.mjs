// Peer: fast-gateway (restana + fast-proxy-lite), default options, one catch-all route.
// Usage: node bench/peers/fast-gateway.mjs UPSTREAM_URL [PORT]. Prints its port.
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const gateway = require('fast-gateway');
const [, , upstream, port = '0'] = process.argv;
const server = gateway({ routes: [{ prefix: '', prefixRewrite: '', target: upstream }] });
const s = await server.start(Number(port), '127.0.0.1');
console.log((s.address?.() ?? server.getServer().address()).port);
