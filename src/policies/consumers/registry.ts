/**
 * Consumers and their credentials, as the data plane looks them up (maps in memory, no I/O per
 * request) and as the admin API changes them. Credentials from the config are fixed; those made
 * through the admin API are persisted by the ConsumerStore and can be rotated and revoked; each
 * change is written to the store first and applied here only once the store took it (a fleet
 * database that is down fails the change and leaves everything as it was).
 * API keys are hashed with SHA-256 as soon as they are read and never kept or logged in clear.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { ConsumerConfig } from '../../config/schema.js';
import type { ConsumerStore, StoredCredential, StoredSubscription } from './store.js';

const sha256hex = (s: string): string => createHash('sha256').update(s).digest('hex');

export interface HmacKey {
  id: string;
  consumer: string;
  secret: Buffer;
}

/** A credential as the admin API shows it: never the key or secret itself. */
export interface CredentialView {
  id: string;
  kind: 'key' | 'hmac';
  source: 'config' | 'api';
  created: number | null;
}

export interface ConsumerView {
  name: string;
  source: 'config' | 'api';
  credentials: CredentialView[];
  subscriptions: Array<{ route: string; status: 'pending' | 'approved'; source: 'config' | 'api' }>;
}

interface Credential extends CredentialView {
  consumer: string;
  keyHash?: string;
  secret?: Buffer;
}

export type SubscriptionStatus = 'approved' | 'pending' | null;

export class ConsumerRegistry {
  private readonly consumers = new Map<string, 'config' | 'api'>();
  private readonly credentials = new Map<string, Credential>();
  private readonly byKeyHash = new Map<string, string>();
  private readonly hmacById = new Map<string, HmacKey>();
  /** `consumer\0route` → subscription. */
  private readonly subs = new Map<string, StoredSubscription & { source: 'config' | 'api' }>();

  constructor(
    config: readonly ConsumerConfig[],
    private readonly store: ConsumerStore,
  ) {
    for (const c of config) {
      this.consumers.set(c.name, 'config');
      c.keys.forEach((key, i) => this.index({ id: `${c.name}.key${i + 1}`, kind: 'key', source: 'config', created: null, consumer: c.name, keyHash: sha256hex(key) }));
      for (const h of c.hmac) this.index({ id: h.id, kind: 'hmac', source: 'config', created: null, consumer: c.name, secret: Buffer.from(h.secret) });
      for (const route of c.subscriptions) this.subs.set(`${c.name}\0${route}`, { consumer: c.name, route, status: 'approved', requested: 0, decided: 0, source: 'config' });
    }
    const saved = store.load();
    for (const name of saved.consumers) if (!this.consumers.has(name)) this.consumers.set(name, 'api');
    for (const s of saved.credentials) this.index(fromStored(s));
    for (const s of saved.subscriptions) if (!this.subs.has(`${s.consumer}\0${s.route}`)) this.subs.set(`${s.consumer}\0${s.route}`, { ...s, source: 'api' });
  }

  private index(c: Credential): void {
    this.credentials.set(c.id, c);
    if (c.keyHash) this.byKeyHash.set(c.keyHash, c.consumer);
    if (c.secret) this.hmacById.set(c.id, { id: c.id, consumer: c.consumer, secret: c.secret });
  }

  private unindex(c: Credential): void {
    this.credentials.delete(c.id);
    if (c.keyHash) this.byKeyHash.delete(c.keyHash);
    this.hmacById.delete(c.id);
  }

  /** The consumer an API key belongs to. */
  consumerForKey(key: string): string | undefined {
    return this.byKeyHash.get(sha256hex(key));
  }

  hmacKey(id: string): HmacKey | undefined {
    return this.hmacById.get(id);
  }

  subscription(consumer: string, route: string): SubscriptionStatus {
    return this.subs.get(`${consumer}\0${route}`)?.status ?? null;
  }

  has(consumer: string): boolean {
    return this.consumers.has(consumer);
  }

  list(): ConsumerView[] {
    return [...this.consumers].map(([name, source]) => this.view(name, source));
  }

  get(name: string): ConsumerView | undefined {
    const source = this.consumers.get(name);
    return source ? this.view(name, source) : undefined;
  }

  private view(name: string, source: 'config' | 'api'): ConsumerView {
    const credentials: CredentialView[] = [];
    for (const c of this.credentials.values()) if (c.consumer === name) credentials.push({ id: c.id, kind: c.kind, source: c.source, created: c.created });
    const subscriptions: ConsumerView['subscriptions'] = [];
    for (const s of this.subs.values()) if (s.consumer === name) subscriptions.push({ route: s.route, status: s.status, source: s.source });
    return { name, source, credentials, subscriptions };
  }

  // ── changes made through the admin API (persisted) ─────────────────────────

  async createConsumer(name: string): Promise<boolean> {
    if (this.consumers.has(name)) return false;
    await this.store.addConsumer(name, Date.now());
    this.consumers.set(name, 'api');
    return true;
  }

  /** Issues a new credential; the key or secret is returned this once and never again. */
  async issue(consumer: string, kind: 'key' | 'hmac', id = `${kind === 'key' ? 'key' : 'hmac'}_${randomBytes(6).toString('hex')}`): Promise<{ id: string; key?: string; secret?: string }> {
    const value = `cw_${randomBytes(24).toString('base64url')}`;
    const stored: StoredCredential = { id, consumer, kind, keyHash: kind === 'key' ? sha256hex(value) : null, secret: kind === 'hmac' ? value : null, created: Date.now() };
    await this.store.putCredential(stored);
    const prev = this.credentials.get(id);
    if (prev) this.unindex(prev);
    this.index(fromStored(stored));
    return kind === 'key' ? { id, key: value } : { id, secret: value };
  }

  credential(id: string): (CredentialView & { consumer: string }) | undefined {
    const c = this.credentials.get(id);
    return c && { id: c.id, kind: c.kind, source: c.source, created: c.created, consumer: c.consumer };
  }

  /** Replaces a credential's key or secret under the same id; the old one stops working at once. */
  rotate(id: string): Promise<{ id: string; key?: string; secret?: string }> {
    const c = this.credentials.get(id)!;
    return this.issue(c.consumer, c.kind, id);
  }

  async revoke(id: string): Promise<void> {
    const c = this.credentials.get(id);
    if (!c) return;
    await this.store.deleteCredential(id);
    this.unindex(c);
  }

  /** A consumer asks for a route: pending until approved (an approved one stays approved). */
  async requestSubscription(consumer: string, route: string): Promise<StoredSubscription> {
    const key = `${consumer}\0${route}`;
    const existing = this.subs.get(key);
    if (existing) return existing;
    const s = { consumer, route, status: 'pending' as const, requested: Date.now(), decided: null, source: 'api' as const };
    await this.store.putSubscription(s);
    this.subs.set(key, s);
    return s;
  }

  async approveSubscription(consumer: string, route: string): Promise<StoredSubscription | undefined> {
    const s = this.subs.get(`${consumer}\0${route}`);
    if (!s) return undefined;
    const next = { ...s, status: 'approved' as const, decided: Date.now() };
    if (s.source === 'api') await this.store.putSubscription(next);
    this.subs.set(`${consumer}\0${route}`, next);
    return next;
  }

  async revokeSubscription(consumer: string, route: string): Promise<boolean> {
    const s = this.subs.get(`${consumer}\0${route}`);
    if (!s || s.source === 'config') return false;
    await this.store.deleteSubscription(consumer, route);
    this.subs.delete(`${consumer}\0${route}`);
    return true;
  }
}

function fromStored(s: StoredCredential): Credential {
  const c: Credential = { id: s.id, kind: s.kind, source: 'api', created: s.created, consumer: s.consumer };
  if (s.keyHash) c.keyHash = s.keyHash;
  if (s.secret) c.secret = Buffer.from(s.secret);
  return c;
}
