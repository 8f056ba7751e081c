/**
 * A least-recently-used map bounded by bytes, for stored responses (the response cache, the stale
 * fallback). A key holds a list of values (a URL's Vary variants); reading a key moves it to the
 * young end, and inserting evicts from the old end until the total fits `maxBytes`.
 */
export interface Sized {
  size: number;
}

export class ByteLru<V extends Sized> {
  private readonly map = new Map<string, V[]>();
  bytes = 0;
  evictions = 0;

  constructor(private readonly maxBytes: number) {}

  get(key: string): V[] | undefined {
    const v = this.map.get(key);
    if (v) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  /** Adds `value` under `key`, replacing a variant `same` says is the same. */
  put(key: string, value: V, same: (a: V) => boolean): void {
    if (value.size > this.maxBytes) return;
    const list = this.map.get(key) ?? [];
    const i = list.findIndex(same);
    if (i !== -1) {
      this.bytes -= list[i]!.size;
      list.splice(i, 1);
    }
    list.push(value);
    this.bytes += value.size;
    this.map.delete(key);
    this.map.set(key, list);
    while (this.bytes > this.maxBytes) {
      const oldest = this.map.keys().next().value!;
      this.delete(oldest);
      this.evictions++;
    }
  }

  delete(key: string): void {
    const list = this.map.get(key);
    if (!list) return;
    for (const v of list) this.bytes -= v.size;
    this.map.delete(key);
  }

  get size(): number {
    return this.map.size;
  }
}
