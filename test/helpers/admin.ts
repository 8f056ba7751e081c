/** A real gateway (call log in memory) and its admin listener, both on loopback port 0. */
import pino from 'pino';
import { AdminServer, baseUrl } from '../../src/admin/server.js';
import { parseConfig } from '../../src/config/load.js';
import { Gateway } from '../../src/gateway.js';
import { send, sleep, type Reply, type SendOptions } from './wire.js';

export interface AdminFixture {
  gateway: Gateway;
  admin: AdminServer;
  /** The data plane: `http://127.0.0.1:<port>` */
  url: string;
  /** The admin listener: `http://127.0.0.1:<port>` */
  adminUrl: string;
  /** A request to the admin listener (with the token when there is one). */
  call(path: string, opts?: SendOptions): Promise<Reply>;
  /** Waits until the call log holds at least `n` calls (it writes in batches). */
  logged(n: number): Promise<void>;
  close(): Promise<void>;
}

/** `store: false` turns the call log off; otherwise it lives in memory whatever the YAML says. */
export async function startAdmin(yaml: string, opts: { token?: string; store?: boolean; configFile?: string } = {}): Promise<AdminFixture> {
  const config = parseConfig(yaml, opts.configFile ?? 'test.yaml', {});
  config.storage.path = ':memory:';
  config.storage.enabled = opts.store !== false;
  const gateway = new Gateway(config, { logger: pino({ level: 'silent' }) });
  const admin = new AdminServer({ gateway, configFile: opts.configFile }, { host: '127.0.0.1', port: 0, token: opts.token });
  const addr = await gateway.listen(0, '127.0.0.1');
  const adminAddr = await admin.listen(0, '127.0.0.1');
  const adminUrl = baseUrl(adminAddr);
  return {
    gateway,
    admin,
    url: baseUrl(addr),
    adminUrl,
    call: (path, o = {}) => send(adminUrl + path, { ...o, headers: { ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}), ...o.headers } }),
    async logged(n) {
      for (let i = 0; i < 200; i++) {
        await gateway.store!.flush();
        if ((await gateway.store!.query({ limit: 1000 })).length >= n) return;
        await sleep(25);
      }
      throw new Error(`the call log never reached ${n} calls`);
    },
    async close() {
      await admin.close();
      await gateway.stop(2000);
    },
  };
}
