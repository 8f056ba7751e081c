/**
 * Token buckets shared by every gateway through Redis: one Lua script reads, refills and takes
 * a token atomically, with Redis's own clock (TIME) so gateways with drifting clocks agree.
 * Commands never queue while Redis is away (no offline queue, a short command timeout): the
 * caller falls back at once, as `redis.whenDown` says.
 */
import { Redis } from 'ioredis';
import type { Decision } from './bucket.js';

const TAKE = `
local capacity = tonumber(ARGV[1])
local per = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = capacity / per
local v = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(v[1])
local at = tonumber(v[2])
if tokens == nil then tokens = capacity; at = now end
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(per * 2))
return {allowed, tostring(tokens)}
`;

type WithTake = Redis & { causewayTake(key: string, capacity: number, per: number): Promise<[number, string]> };

export class RedisBuckets {
  readonly client: WithTake;

  constructor(url: string, timeout: number, onChange: (up: boolean, reason: string) => void) {
    this.client = new Redis(url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: timeout,
      connectTimeout: Math.max(timeout, 1000),
      // Keep trying in the background; calls meanwhile take the whenDown path.
      retryStrategy: (n: number) => Math.min(50 * n, 1000),
    }) as WithTake;
    this.client.defineCommand('causewayTake', { numberOfKeys: 1, lua: TAKE });
    this.client.on('ready', () => onChange(true, 'connected'));
    this.client.on('error', (err: Error) => onChange(false, err.message));
    this.client.on('close', () => onChange(false, 'connection closed'));
  }

  async take(key: string, capacity: number, per: number): Promise<Decision> {
    const [allowed, left] = await this.client.causewayTake(`causeway:rl:${key}`, capacity, per);
    const tokens = Number(left);
    const rate = capacity / per;
    return {
      allowed: allowed === 1,
      remaining: Math.floor(tokens),
      retryAfterMs: allowed === 1 ? 0 : Math.ceil((1 - tokens) / rate),
      resetMs: Math.ceil((capacity - tokens) / rate),
    };
  }

  close(): void {
    this.client.disconnect();
  }
}
