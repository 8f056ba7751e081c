/** Starts a real gateway on an ephemeral loopback port from YAML, and collects its call records. */
import { parseConfig } from '../../src/config/load.js';
import { Gateway, type GatewayOptions } from '../../src/gateway.js';
import type { CallRecord } from '../../src/observe/call-record.js';
import { after, before } from 'node:test';
import pino from 'pino';
import { echo, startBackend, type Backend } from './wire.js';

export interface TestGateway {
  gateway: Gateway;
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  records: CallRecord[];
  /** Resolves with the record of a request id once the call has finished. */
  record(requestId: string, timeoutMs?: number): Promise<CallRecord>;
  close(): Promise<void>;
}

export async function startGateway(yaml: string, opts: Omit<GatewayOptions, 'sinks' | 'logger'> = {}): Promise<TestGateway> {
  const config = parseConfig(yaml, 'test.yaml', {});
  // Every listener binds a free port (the first one's is the `url` below).
  for (const l of config.listen) l.port = 0;
  // A test that does not configure the call log gets one in memory, never ./data in the repo.
  if (!/^storage:/m.test(yaml)) config.storage.path = ':memory:';
  const records: CallRecord[] = [];
  const gateway = new Gateway(config, { ...opts, logger: pino({ level: 'silent' }), sinks: [{ record: (r) => records.push(r) }] });
  const addr = await gateway.listen(0, '127.0.0.1');
  const url = `http://127.0.0.1:${addr.port}`;
  return {
    gateway,
    url,
    port: addr.port,
    records,
    async record(requestId, timeoutMs = 5000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const r = records.find((x) => x.requestId === requestId);
        if (r) return r;
        if (Date.now() > end) throw new Error(`no call record for ${requestId}`);
        await new Promise((res) => setTimeout(res, 10));
      }
    },
    close: () => gateway.stop(2000),
  };
}

/**
 * For a describe block: an echo backend (test/helpers/wire.ts) and a gateway in front of it, made
 * from `yaml(backendUrl)` before the block's tests and closed after them. Read the fields inside tests.
 */
export function echoGateway(yaml: (backendUrl: string) => string): { backend: Backend; gw: TestGateway } {
  const f = {} as { backend: Backend; gw: TestGateway };
  before(async () => {
    f.backend = await startBackend(echo);
    f.gw = await startGateway(yaml(f.backend.url));
  });
  after(async () => {
    await f.gw?.close();
    await f.backend?.close();
  });
  return f;
}
