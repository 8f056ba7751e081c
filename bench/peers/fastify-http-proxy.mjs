// Peer: fastify + @fastify/http-proxy (reply-from over undici), default options, logger off.
// Usage: node bench/peers/fastify-http-proxy.mjs UPSTREAM_URL [PORT]. Prints its port.
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const fastify = require('fastify')({ logger: false });
fastify.register(require('@fastify/http-proxy'), { upstream: process.argv[2] });
await fastify.listen({ port: Number(process.argv[3] ?? 0), host: '127.0.0.1' });
console.log(fastify.server.address().port);
