/**
 * Identifiers made on the hot path: random hex from a pooled block of random bytes (one system
 * call per ~4 KB, not per id), and request ids as UUIDv7 (RFC 9562): the first 48 bits are the
 * time in ms, so ids sort by time, and the call log's request-id index grows at its end instead
 * of at random places (a random UUID index costs the call log about half its write time).
 */
import { randomFillSync } from 'node:crypto';

const pool = Buffer.alloc(4096);
let at = pool.length;

function take(bytes: number): number {
  if (at + bytes > pool.length) {
    randomFillSync(pool);
    at = 0;
  }
  const start = at;
  at += bytes;
  return start;
}

/** `bytes` random bytes as lowercase hex. */
export function randomHex(bytes: number): string {
  const start = take(bytes);
  return pool.toString('hex', start, start + bytes);
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

let lastMs = 0;
let counter = 0;

/**
 * A UUIDv7: 48-bit Unix time in ms, version 7, a 12-bit counter (RFC 9562 6.2 method 1: seeded
 * at random each ms, incremented within it, so ids made in one process are strictly increasing),
 * the variant, and 62 random bits.
 */
export function uuidv7(now: number = Date.now()): string {
  let ms = now;
  if (ms > lastMs) {
    lastMs = ms;
    counter = pool[take(1)]! << 2; // a random start in the lower half leaves room to count up
  } else {
    ms = lastMs;
    if (++counter > 0xfff) {
      // 4096 ids in one ms: borrow the next ms (ids stay ordered).
      ms = ++lastMs;
      counter = 0;
    }
  }
  const hi = Math.floor(ms / 0x10000); // top 32 bits
  const lo = ms % 0x10000; // low 16 bits
  const r = take(8);
  const p = pool;
  return (
    HEX[(hi >>> 24) & 0xff]! + HEX[(hi >>> 16) & 0xff]! + HEX[(hi >>> 8) & 0xff]! + HEX[hi & 0xff]! +
    '-' + HEX[lo >>> 8]! + HEX[lo & 0xff]! +
    '-' + HEX[0x70 | (counter >>> 8)]! + HEX[counter & 0xff]! +
    '-' + HEX[0x80 | (p[r]! & 0x3f)]! + HEX[p[r + 1]!]! +
    '-' + HEX[p[r + 2]!]! + HEX[p[r + 3]!]! + HEX[p[r + 4]!]! + HEX[p[r + 5]!]! + HEX[p[r + 6]!]! + HEX[p[r + 7]!]!
  );
}
