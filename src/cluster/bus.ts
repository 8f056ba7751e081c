/**
 * The cluster's message bus: typed messages over the IPC channels node:cluster opens between
 * the primary and each worker. Workers never talk to each other directly: the primary relays.
 *
 *   worker:  const bus = new WorkerBus(slot);  bus.send('others', 'transition', t);
 *            const reply = await bus.request('primary', 'store', ops, 1000);
 *            bus.on('transition', (t, from) => gateway.applyTransition(t));
 *   primary: const bus = new PrimaryBus();  bus.attach(slot, clusterWorker);  bus.on('init', …);
 *
 * Addresses: a worker number (1..N; a restarted worker keeps its number), `primary`, `lead`
 * (worker 1), `others` (every worker but the sender), `all`. A message to an address with no
 * live worker is dropped. A request gets exactly one reply — the handler's return value, or its
 * error — or fails after its timeout; the channel is ordered, so a reply never overtakes an
 * earlier message from the same sender. The channel uses node's `advanced` serialization
 * (structured clone), so `undefined`, Infinity, Maps and Buffers arrive as they were sent.
 */
import type { Config } from '../config/schema.js';
import type { ReloadSummary } from '../gateway.js';
import type { GatewayEvent } from '../observe/events.js';
import type { Transition, UpstreamStats } from '../upstream/upstream.js';
import type { Decision } from '../policies/rate-limit/bucket.js';

/** One rate-limit take or nonce check a worker asks the primary for (shared-stores.ts). */
export type StoreOp = ['take', string, number, number] | ['nonce', string, number];
export type StoreResult = Decision | boolean;

/** 0 is the primary. */
export type Address = number | 'primary' | 'lead' | 'others' | 'all';

export const PRIMARY = 0;
export const LEAD = 1;

/** What crosses the channel. `causeway` tells our messages from node's and prom-client's own. */
export interface Envelope {
  causeway: 1;
  type: string;
  from: number;
  to: number | 'lead' | 'others' | 'all';
  /** Set on a request: the reply carries it back in `re`. */
  id?: number;
  re?: number;
  error?: string;
  body?: unknown;
}

/** What a worker gets when it asks to start. */
export interface InitReply {
  config: Config;
  file: string;
  /** The latest shared upstream state (ejections, health, breakers), to start from. */
  state: Transition[];
  /** Recent events of every worker (for a restarted lead's event ring). */
  events: GatewayEvent[];
}

export interface ReadyBody {
  pid: number;
  /** `host:port` of the data plane. */
  address: string;
  /** Base URL of the admin API (the lead only). */
  admin: string | null;
}

/** A Prometheus registry as `registry.getMetricsAsJSON()` gives it. */
export type MetricsJson = unknown[];

/** Every message type: its body, and for requests, its reply. */
export interface Messages {
  /** worker → primary, on start: the config and the shared state to start from. */
  init: { body: { pid: number }; reply: InitReply };
  /** worker → primary: listening. */
  ready: { body: ReadyBody; reply: void };
  /** worker → primary: could not start (the primary gives up if this happens at startup). */
  fatal: { body: { message: string }; reply: void };
  /** worker → others (via the primary, which remembers the latest per key): a change of upstream state. */
  transition: { body: Transition; reply: void };
  /** worker → primary → lead: a gateway event for the lead's event ring. */
  event: { body: GatewayEvent; reply: void };
  /** worker → primary: rate-limit and nonce operations on the primary's shared stores. */
  store: { body: StoreOp[]; reply: StoreResult[] };
  /** lead → primary: every worker's metrics. */
  metrics: { body: null; reply: MetricsJson[] };
  /** primary → worker: this worker's metrics. */
  'metrics.local': { body: null; reply: MetricsJson };
  /** lead → primary: every worker's upstream stats. */
  upstreams: { body: null; reply: UpstreamStats[][] };
  /** primary → worker: this worker's upstream stats. */
  'upstreams.local': { body: null; reply: UpstreamStats[] };
  /** primary → worker: apply this config (SIGHUP, or another worker's admin reload). */
  reload: { body: { config: Config }; reply: ReloadSummary };
  /** lead → primary: the admin API reloaded this config; the others should too. */
  reloaded: { body: { config: Config }; reply: void };
  /** primary → lead: a SIGHUP found the file invalid (the lead records the event). */
  'reload.failed': { body: { file: string; problems: number }; reply: void };
  /** lead → others: the admin API changed consumers, credentials or subscriptions. */
  consumers: { body: null; reply: void };
  /** primary → worker: stop gracefully (drain in-flight calls) and exit. */
  stop: { body: null; reply: void };
}

export type MessageType = keyof Messages;
export type Body<K extends MessageType> = Messages[K]['body'];
export type Reply<K extends MessageType> = Messages[K]['reply'];
export type Handler<K extends MessageType> = (body: Body<K>, from: number) => Reply<K> | Promise<Reply<K>>;

function isEnvelope(m: unknown): m is Envelope {
  return typeof m === 'object' && m !== null && (m as Envelope).causeway === 1;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

/** What both ends share: handlers, requests and their replies. */
abstract class Endpoint {
  private readonly handlers = new Map<string, Handler<MessageType>>();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(readonly self: number) {}

  /** Hands an envelope to the channel (or, in the primary, to the relay). */
  protected abstract post(e: Envelope): void;

  on<K extends MessageType>(type: K, handler: Handler<K>): void {
    this.handlers.set(type, handler as unknown as Handler<MessageType>);
  }

  send<K extends MessageType>(to: Address, type: K, body: Body<K>): void {
    this.post({ causeway: 1, type, from: this.self, to: to === 'primary' ? PRIMARY : to, body });
  }

  /** Sends a request to one worker or the primary; rejects after `timeoutMs` without a reply. */
  request<K extends MessageType>(to: number | 'primary' | 'lead', type: K, body: Body<K>, timeoutMs = 5000): Promise<Reply<K>> {
    const id = this.nextId++;
    return new Promise<Reply<K>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no reply to ${type} from ${to === PRIMARY ? 'the primary' : `worker ${String(to)}`} within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.post({ causeway: 1, type, from: this.self, to: to === 'primary' ? PRIMARY : to, id, body });
    });
  }

  /** Handles an envelope addressed to this end. */
  protected receive(e: Envelope): void {
    if (e.re !== undefined) {
      const p = this.pending.get(e.re);
      if (!p) return; // timed out already
      this.pending.delete(e.re);
      clearTimeout(p.timer);
      if (e.error !== undefined) p.reject(new Error(e.error));
      else p.resolve(e.body);
      return;
    }
    const handler = this.handlers.get(e.type);
    if (e.id === undefined) {
      if (handler) void Promise.resolve().then(() => handler(e.body as never, e.from)).catch(() => undefined);
      return;
    }
    const reply = (body: unknown, error?: string) => this.post({ causeway: 1, type: e.type, from: this.self, to: e.from, re: e.id, body, ...(error === undefined ? {} : { error }) });
    if (!handler) {
      reply(undefined, `no handler for ${e.type} in ${this.self === PRIMARY ? 'the primary' : `worker ${this.self}`}`);
      return;
    }
    let out: unknown;
    try {
      out = handler(e.body as never, e.from);
    } catch (err) {
      reply(undefined, (err as Error).message);
      return;
    }
    if (out instanceof Promise) out.then((v) => reply(v), (err: Error) => reply(undefined, err.message));
    else reply(out);
  }

  /** Fails every request still waiting (the channel closed). */
  protected failPending(why: string): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new Error(why));
      this.pending.delete(id);
    }
  }
}

/** The channel as a worker sees it: `process.send` and `process.on('message')`. */
export interface ParentChannel {
  send?: ((message: unknown, sendHandle?: undefined, options?: undefined, callback?: (err: Error | null) => void) => boolean) | undefined;
  connected?: boolean;
  on(event: 'message', listener: (m: unknown) => void): unknown;
  on(event: 'disconnect', listener: () => void): unknown;
  off(event: 'message', listener: (m: unknown) => void): unknown;
}

export class WorkerBus extends Endpoint {
  private readonly onMessage = (m: unknown) => {
    if (isEnvelope(m)) this.receive(m);
  };

  constructor(
    self: number,
    private readonly channel: ParentChannel = process as unknown as ParentChannel,
  ) {
    super(self);
    channel.on('message', this.onMessage);
    channel.on('disconnect', () => this.failPending('the cluster primary is gone'));
  }

  protected post(e: Envelope): void {
    if (!this.channel.send || this.channel.connected === false) return;
    // With a callback, a closed channel is reported here instead of as an 'error' event.
    this.channel.send(e, undefined, undefined, () => undefined);
  }

  close(): void {
    this.channel.off('message', this.onMessage);
    this.failPending('the bus is closed');
  }
}

/** A worker as the primary sees it: a cluster Worker, or a forked ChildProcess in tests. */
export interface WorkerChannel {
  send(message: unknown, sendHandle?: undefined, options?: undefined, callback?: (err: Error | null) => void): boolean;
  on(event: 'message', listener: (m: unknown) => void): unknown;
  off(event: 'message', listener: (m: unknown) => void): unknown;
}

export class PrimaryBus extends Endpoint {
  private readonly peers = new Map<number, { channel: WorkerChannel; listener: (m: unknown) => void }>();
  /** Told of every message a worker sends, before it is relayed (the primary's state mirror). */
  observe: ((e: Envelope) => void) | null = null;

  constructor() {
    super(PRIMARY);
  }

  /** Connects worker `slot` (replacing a previous one with that number). */
  attach(slot: number, channel: WorkerChannel): void {
    this.detach(slot);
    const listener = (m: unknown) => {
      if (!isEnvelope(m)) return;
      // A worker speaks only for itself.
      m.from = slot;
      this.observe?.(m);
      this.post(m);
    };
    channel.on('message', listener);
    this.peers.set(slot, { channel, listener });
  }

  detach(slot: number): void {
    const p = this.peers.get(slot);
    if (!p) return;
    p.channel.off('message', p.listener);
    this.peers.delete(slot);
  }

  /** Worker numbers connected now, in order. */
  get slots(): number[] {
    return [...this.peers.keys()].sort((a, b) => a - b);
  }

  /** Delivers to the primary's own handlers, or relays to the addressed workers. */
  protected post(e: Envelope): void {
    const to = e.to;
    if (to === PRIMARY) return this.receive(e);
    const targets = to === 'all' ? this.slots : to === 'others' ? this.slots.filter((s) => s !== e.from) : [to === 'lead' ? LEAD : to];
    for (const slot of targets) {
      if (slot === e.from && to === 'lead') continue;
      this.peers.get(slot)?.channel.send(e, undefined, undefined, () => undefined);
    }
  }
}
