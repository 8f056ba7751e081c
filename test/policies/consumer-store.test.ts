/**
 * One conformance suite for every ConsumerStore (the embedded SQLite file and the fleet's
 * PostgreSQL), then what only the fleet's store does: changes reaching another node within a
 * second, and serving the last copy while the database is down.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, migrate, type Sql } from '../../src/fleet/db.js';
import { PgConsumerStore } from '../../src/policies/consumers/pg-store.js';
import { SqliteConsumerStore } from '../../src/policies/consumers/sqlite-store.js';
import { StoreWriteError, type ConsumerStore } from '../../src/policies/consumers/store.js';
import { postgresMissing, startPostgres, type PostgresServer } from '../helpers/postgres.js';

interface Backend {
  /** A store; a second call gives another handle on the same data (another process, another node). */
  open(): Promise<ConsumerStore>;
  close(): Promise<void>;
}

const until = async (what: string, ok: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

function conformance(name: string, make: () => Promise<Backend>, skip: string | false = false): void {
  describe(`ConsumerStore conformance: ${name}`, { skip }, () => {
    let backend: Backend;
    let store: ConsumerStore;
    before(async () => {
      backend = await make();
      store = await backend.open();
    });
    after(async () => {
      await store?.close();
      await backend?.close();
    });

    it('starts empty', () => {
      assert.deepEqual(store.load(), { consumers: [], credentials: [], subscriptions: [] });
    });

    it('keeps consumers once each', async () => {
      await store.addConsumer('partner', 1000);
      await store.addConsumer('partner', 2000);
      await store.addConsumer('other', 3000);
      assert.deepEqual(store.load().consumers.sort(), ['other', 'partner']);
    });

    it('puts, replaces and deletes credentials (key hashes and HMAC secrets)', async () => {
      await store.putCredential({ id: 'key_1', consumer: 'partner', kind: 'key', keyHash: 'a'.repeat(64), secret: null, created: 10 });
      await store.putCredential({ id: 'hmac_1', consumer: 'partner', kind: 'hmac', keyHash: null, secret: 's3cret\ttab', created: 11 });
      await store.putCredential({ id: 'key_1', consumer: 'partner', kind: 'key', keyHash: 'b'.repeat(64), secret: null, created: 12 });
      const creds = store.load().credentials.sort((a, b) => a.id.localeCompare(b.id));
      assert.deepEqual(creds, [
        { id: 'hmac_1', consumer: 'partner', kind: 'hmac', keyHash: null, secret: 's3cret\ttab', created: 11 },
        { id: 'key_1', consumer: 'partner', kind: 'key', keyHash: 'b'.repeat(64), secret: null, created: 12 },
      ]);
      await store.deleteCredential('hmac_1');
      await store.deleteCredential('no-such-id');
      assert.deepEqual(store.load().credentials.map((c) => c.id), ['key_1']);
    });

    it('requests, approves and revokes subscriptions', async () => {
      await store.putSubscription({ consumer: 'partner', route: 'orders', status: 'pending', requested: 100, decided: null });
      assert.deepEqual(store.load().subscriptions, [{ consumer: 'partner', route: 'orders', status: 'pending', requested: 100, decided: null }]);
      await store.putSubscription({ consumer: 'partner', route: 'orders', status: 'approved', requested: 100, decided: 200 });
      assert.deepEqual(store.load().subscriptions, [{ consumer: 'partner', route: 'orders', status: 'approved', requested: 100, decided: 200 }]);
      await store.putSubscription({ consumer: 'other', route: 'orders', status: 'pending', requested: 300, decided: null });
      await store.deleteSubscription('partner', 'orders');
      assert.deepEqual(store.load().subscriptions.map((s) => s.consumer), ['other']);
    });

    it('another handle on the same store reads what was written', async () => {
      const second = await backend.open();
      try {
        const s = second.load();
        assert.deepEqual(s.consumers.sort(), ['other', 'partner']);
        assert.deepEqual(s.credentials.map((c) => c.id), ['key_1']);
        assert.deepEqual(s.subscriptions.map((x) => `${x.consumer}/${x.route}/${x.status}`), ['other/orders/pending']);
      } finally {
        await second.close();
      }
    });

    it('tells onChange after each write made through it', async () => {
      let n = 0;
      store.onChange = () => n++;
      await store.addConsumer('third', 5);
      await store.deleteCredential('key_1');
      store.onChange = null;
      assert.equal(n, 2);
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'causeway-consumers-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
conformance('SQLite file', async () => {
  const file = join(dir, `c${++files}.db`);
  const opened: SqliteConsumerStore[] = [];
  return {
    open: async () => {
      const s = new SqliteConsumerStore(file);
      opened.push(s);
      return s;
    },
    close: async () => opened.forEach((s) => s.close()),
  };
});

const missing = postgresMissing();

/** A fresh database on a real server, and stores on their own connection pools (one per node). */
async function pgBackend(pg: PostgresServer, database: string): Promise<Backend & { pools: Sql[] }> {
  const admin = connect(pg.url, { max: 1 });
  await admin.unsafe(`CREATE DATABASE ${database}`);
  await admin.end();
  const url = pg.url.replace(/\/causeway$/, `/${database}`);
  const pools: Sql[] = [];
  return {
    pools,
    async open() {
      const sql = connect(url, { max: 2, connectTimeout: 2 });
      pools.push(sql);
      await migrate(sql);
      return PgConsumerStore.open(sql, { checkMs: 500 });
    },
    async close() {
      await Promise.all(pools.map((p) => p.end({ timeout: 1 })));
    },
  };
}

describe('PostgreSQL consumer store', { skip: missing ?? false }, () => {
  let pg: PostgresServer;
  before(async () => {
    pg = await startPostgres();
  });
  after(() => pg?.destroy());

  conformance('PostgreSQL', () => pgBackend(pg, 'conformance'));

  describe('a fleet of stores', () => {
    let backend: Backend;
    let a: PgConsumerStore;
    let b: PgConsumerStore;
    before(async () => {
      backend = await pgBackend(pg, 'fleet');
      a = (await backend.open()) as PgConsumerStore;
      b = (await backend.open()) as PgConsumerStore;
    });
    after(async () => {
      await a?.close();
      await b?.close();
      await backend?.close();
    });

    it('a change made on one node reaches another within a second (NOTIFY), and tells its watchers', async () => {
      let told = 0;
      b.watch(() => told++);
      const t0 = Date.now();
      await a.putCredential({ id: 'key_n', consumer: 'x', kind: 'key', keyHash: 'c'.repeat(64), secret: null, created: 1 });
      await until('the other node to see the key', () => b.load().credentials.some((c) => c.id === 'key_n'), 1000);
      assert.ok(Date.now() - t0 < 1000);
      assert.ok(told >= 1);
    });

    it('while the database is down: the last copy keeps serving, writes fail with StoreWriteError; after it is back both nodes converge', async () => {
      pg.stop();
      try {
        assert.ok(b.load().credentials.some((c) => c.id === 'key_n'), 'the copy is still served');
        await assert.rejects(a.putCredential({ id: 'key_down', consumer: 'x', kind: 'key', keyHash: 'd'.repeat(64), secret: null, created: 2 }), (err: Error) => {
          assert.ok(err instanceof StoreWriteError);
          assert.match(err.message, /fleet database/);
          return true;
        });
        assert.ok(!a.load().credentials.some((c) => c.id === 'key_down'));
      } finally {
        pg.start();
      }
      // The pools reconnect on their next query; the listener re-subscribes and re-reads.
      let wrote = false;
      for (let i = 0; i < 50 && !wrote; i++) {
        try {
          await a.deleteCredential('key_n');
          wrote = true;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      assert.ok(wrote, 'writes work again once the database is back');
      await until('the other node to see the revocation', () => !b.load().credentials.some((c) => c.id === 'key_n'), 6000);
    });
  });
});
