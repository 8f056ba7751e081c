/**
 * Every metric on /metrics against promtool's lint rules (`promtool check metrics`, the rules of
 * client_golang's promlint), applied to the exposition a real gateway serves: counters end in
 * _total and nothing else does, HELP on every family, snake_case names and labels, base units
 * without abbreviations, no type in a name, the histogram/summary suffixes and labels reserved.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as B from '../helpers/backends.js';
import { startAdmin, type AdminFixture } from '../helpers/admin.js';

interface Family {
  name: string;
  type: string;
  help: string | undefined;
  samples: Array<{ name: string; labels: string[] }>;
}

/** The families of a Prometheus text exposition (format 0.0.4). */
export function parseExposition(text: string): Family[] {
  const families = new Map<string, Family>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { name, type: 'untyped', help: undefined, samples: [] }));
    return f;
  };
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta) {
      if (meta[1] === 'HELP') family(meta[2]!).help = meta[3];
      else family(meta[2]!).type = meta[3]!;
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+/.exec(line);
    assert.ok(m, `not an exposition line: ${line}`);
    const name = m[1]!;
    const labels = [...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"/g)].map((l) => l[1]!);
    const owner = [...families.values()].find((f) => name === f.name || (['histogram', 'summary'].includes(f.type) && [`${f.name}_bucket`, `${f.name}_sum`, `${f.name}_count`].includes(name)));
    (owner ?? family(name)).samples.push({ name, labels });
  }
  return [...families.values()];
}

const NON_BASE_UNITS: Record<string, string> = {
  amps: 'amperes', kelvins: 'kelvin', kilometers: 'meters', millimeters: 'meters', centimeters: 'meters', kilograms: 'grams', milligrams: 'grams',
  kilobytes: 'bytes', kibibytes: 'bytes', megabytes: 'bytes', mebibytes: 'bytes', gigabytes: 'bytes', gibibytes: 'bytes', bits: 'bytes',
  nanoseconds: 'seconds', microseconds: 'seconds', milliseconds: 'seconds', minutes: 'seconds', hours: 'seconds', days: 'seconds', weeks: 'seconds', celsius: 'kelvin', fahrenheit: 'kelvin',
};
/** promlint's abbreviated units (a whole name part: `_min_` is a minimum, not minutes). */
const ABBREVIATIONS = ['s', 'ms', 'us', 'ns', 'sec', 'b', 'kb', 'mb', 'gb', 'tb', 'pb', 'm', 'h', 'd'];

/** promlint's problems for one family. */
export function lintFamily(f: Family): string[] {
  const out: string[] = [];
  const parts = f.name.split('_');
  if (!f.help) out.push('no help text');
  if (f.type === 'counter' && !f.name.endsWith('_total')) out.push('counter metrics should have "_total" suffix');
  if (f.type !== 'counter' && f.name.endsWith('_total')) out.push('non-counter metrics should not have "_total" suffix');
  for (const p of parts) if (NON_BASE_UNITS[p]) out.push(`use base unit "${NON_BASE_UNITS[p]}" instead of "${p}"`);
  for (const p of parts) if (ABBREVIATIONS.includes(p)) out.push(`metric names should not contain abbreviated units ("${p}")`);
  for (const t of ['counter', 'gauge', 'histogram', 'summary', 'untyped']) if (parts.includes(t)) out.push(`metric name should not include type '${t}'`);
  if (f.name.includes(':')) out.push("metric names should not contain ':'");
  if (/[A-Z]/.test(f.name)) out.push("metric names should be written in 'snake_case' not 'camelCase'");
  if (f.type !== 'histogram' && f.type !== 'summary') {
    for (const suffix of ['_bucket', '_count', '_sum']) if (f.name.endsWith(suffix)) out.push(`non-histogram and non-summary metrics should not have "${suffix}" suffix`);
  }
  for (const s of f.samples) {
    for (const l of s.labels) {
      if (/[A-Z]/.test(l)) out.push(`label names should be written in 'snake_case' not 'camelCase' (${l})`);
      if (l === 'le' && f.type !== 'histogram') out.push('non-histogram metrics should not have "le" label');
      if (l === 'quantile' && f.type !== 'summary') out.push('non-summary metrics should not have "quantile" label');
    }
  }
  return [...new Set(out)];
}

describe('/metrics passes promtool\'s lint rules', () => {
  let down: B.TestBackend;
  let good: B.TestBackend;
  let fx: AdminFixture;
  before(async () => {
    down = await B.refusing();
    good = await B.ok();
    fx = await startAdmin(`
log: { access: false }
upstreams:
  good: { targets: [{ url: "${good.url}" }], circuitBreaker: { minRequests: 5, failureRate: 50%, window: 10s, openFor: 15s } }
  down: { targets: [{ url: "${down.url}" }, { url: "${good.url}" }], circuitBreaker: { minRequests: 2, failureRate: 50%, window: 10s, openFor: 15s }, healthCheck: { passive: { consecutiveFailures: 1, ejectFor: 30s } } }
routes:
  - { name: good, match: { path: /good/* }, upstream: good }
  - { name: down, match: { path: /down/* }, upstream: down }
`);
    for (let i = 0; i < 4; i++) {
      await fetch(`${fx.url}/good/x`).then((r) => r.arrayBuffer());
      await fetch(`${fx.url}/down/x`).then((r) => r.arrayBuffer());
    }
    await fetch(`${fx.url}/nowhere`).then((r) => r.arrayBuffer());
  });
  after(async () => {
    await fx.close();
    await down.close();
    await good.close();
  });

  it('every family, ours and prom-client\'s', async () => {
    const r = await fx.call('/metrics');
    assert.equal(r.status, 200);
    const families = parseExposition(r.body.toString());
    assert.ok(families.length > 30, `${families.length} families`);
    assert.ok(families.some((f) => f.name === 'causeway_requests_total' && f.samples.length > 0), 'the calls were counted');
    const problems = families.flatMap((f) => lintFamily(f).map((p) => `${f.name}: ${p}`));
    assert.deepEqual(problems, []);
  });

  it('the counts the upstreams keep are counters', async () => {
    const families = parseExposition((await fx.call('/metrics')).body.toString());
    for (const name of ['causeway_pool_exhausted_total', 'causeway_breaker_rejected_total', 'causeway_events_total']) assert.equal(families.find((f) => f.name === name)?.type, 'counter', name);
  });

  it('the rules catch what they should (a rule that never fires checks nothing)', () => {
    const f = (name: string, type: string, help?: string, labels: string[] = []): Family => ({ name, type, help, samples: [{ name, labels }] });
    assert.deepEqual(lintFamily(f('x_total', 'gauge', 'h')), ['non-counter metrics should not have "_total" suffix']);
    assert.deepEqual(lintFamily(f('x_calls', 'counter', 'h')), ['counter metrics should have "_total" suffix']);
    assert.deepEqual(lintFamily(f('x_latency_milliseconds', 'gauge', 'h')), ['use base unit "seconds" instead of "milliseconds"']);
    assert.deepEqual(lintFamily(f('x_latency_ms', 'gauge', 'h')), ['metric names should not contain abbreviated units ("ms")']);
    assert.deepEqual(lintFamily(f('x_gauge', 'gauge', 'h')), ["metric name should not include type 'gauge'"]);
    assert.deepEqual(lintFamily(f('x', 'gauge')), ['no help text']);
    assert.deepEqual(lintFamily(f('x', 'gauge', 'h', ['upstreamName'])), ["label names should be written in 'snake_case' not 'camelCase' (upstreamName)"]);
    assert.deepEqual(lintFamily(f('x', 'gauge', 'h', ['le'])), ['non-histogram metrics should not have "le" label']);
    assert.deepEqual(lintFamily(f('x_count', 'gauge', 'h')), ['non-histogram and non-summary metrics should not have "_count" suffix']);
  });
});
