/** Overview: requests/s, gateway errors stacked by failure code, latency percentiles, top failing routes, traffic splits, recent events. */
import { api } from './api.js';
import { TimeChart } from './charts.js';
import { clock, colorFor, h, ms, pct, table } from './dom.js';
import type { Page } from './page.js';
import type { GatewayEvent, Stats } from './types.js';

export function overview(range: () => number): Page {
  let charts: TimeChart[] = [];
  let traffic: TimeChart, errors: TimeChart, latency: TimeChart;
  let kpis: HTMLElement, breakdown: HTMLElement, routes: HTMLElement, events: HTMLElement, splits: HTMLElement;
  return {
    title: 'Overview',
    mount(el) {
      const box = () => h('div', { class: 'chart' });
      const [b1, b2, b3] = [box(), box(), box()];
      kpis = h('div', { class: 'kpis' });
      breakdown = h('div', { id: 'error-breakdown' });
      routes = h('div', { id: 'top-routes' });
      events = h('div', { id: 'recent-events' });
      splits = h('div', { id: 'splits' });
      el.append(
        kpis,
        h('div', { class: 'grid2' }, h('section', {}, h('h2', {}, 'Requests per second'), b1), h('section', {}, h('h2', {}, 'Gateway errors per second, by failure code'), b2)),
        h('div', { class: 'grid2' }, h('section', {}, h('h2', {}, 'Latency percentiles'), b3), h('section', {}, h('h2', {}, 'Errors by failure code'), breakdown)),
        h('div', { class: 'grid2' }, h('section', {}, h('h2', {}, 'Top failing routes'), routes), h('section', {}, h('h2', {}, 'Recent events'), events)),
        h('section', {}, h('h2', {}, 'Traffic splits: each side of a route, side by side'), splits),
      );
      traffic = new TimeChart(b1, 'req/s');
      errors = new TimeChart(b2, 'errors/s', true);
      latency = new TimeChart(b3, 'ms');
      charts = [traffic, errors, latency];
    },
    async refresh() {
      const span = range();
      // Buckets on round times (a multiple of their size since the epoch): a refresh adds a bucket
      // at the right instead of shifting every bucket's edges, so the charts hold still.
      const bucket = BUCKETS.find((b) => span / b <= 120) ?? BUCKETS[BUCKETS.length - 1]!;
      const since = Math.floor((Date.now() - span) / bucket) * bucket;
      const [s, ev] = await Promise.all([api<Stats>(`/api/stats?since=${since}&bucket=${bucket}`), api<{ events: GatewayEvent[] }>('/api/events?limit=8')]);
      const secs = s.bucket / 1000;
      const xs = s.buckets.map((b) => b.t / 1000);
      traffic.update(xs, [{ label: 'requests', color: '#30638e', fill: true }, { label: 'errors', color: '#d1495b' }], [s.buckets.map((b) => b.requests / secs), s.buckets.map((b) => b.errors / secs)]);
      // Only the codes that happened in the range: the legend lists what the chart shows.
      const codes = Object.keys(s.totals.byCode)
        .filter((c) => s.totals.byCode[c]! > 0)
        .sort();
      if (codes.length) errors.update(xs, codes.map((c) => ({ label: c, color: colorFor(c) })), codes.map((c) => s.buckets.map((b) => (b.byCode[c] ?? 0) / secs)));
      else errors.update(xs, [{ label: 'no errors', color: '#66a182' }], [s.buckets.map(() => 0)]);
      latency.update(xs, [{ label: 'p50', color: '#66a182' }, { label: 'p95', color: '#edae49' }, { label: 'p99', color: '#d1495b' }], [s.buckets.map((b) => b.p50), s.buckets.map((b) => b.p95), s.buckets.map((b) => b.p99)]);

      const t = s.totals;
      const rangeSecs = (s.until - s.since) / 1000;
      kpis.replaceChildren(
        kpi('Requests/s', (t.requests / rangeSecs).toFixed(2), `${t.requests} in ${Math.round(rangeSecs / 60)} min`),
        kpi('Error rate', pct(t.errors, t.requests), `${t.errors} gateway errors`, t.errors ? 'bad' : 'good'),
        kpi('p50', ms(t.p50)),
        kpi('p95', ms(t.p95)),
        kpi('p99', ms(t.p99)),
      );
      const byCode = Object.entries(t.byCode).sort((a, b) => b[1] - a[1]);
      breakdown.replaceChildren(
        byCode.length
          ? table(
              ['code', 'calls', 'share of errors', ''],
              byCode.map(([code, n]) =>
                h('tr', { 'data-code': code }, h('td', { class: 'nowrap' }, h('span', { class: 'swatch', style: `background:${colorFor(code)}` }), h('a', { href: `#calls?code=${code}` }, code)), h('td', { class: 'num' }, n), h('td', { class: 'num' }, pct(n, t.errors)), h('td', { class: 'barcell' }, h('div', { class: 'bar', style: `width:${Math.round((100 * n) / byCode[0]![1])}%;background:${colorFor(code)}` }))),
              ),
            )
          : h('p', { class: 'muted' }, 'No gateway-generated errors in this range.'),
      );
      routes.replaceChildren(
        s.topFailingRoutes.length
          ? table(['route', 'errors', 'requests', 'error rate'], s.topFailingRoutes.map((r) => h('tr', {}, h('td', {}, h('a', { href: `#calls?route=${encodeURIComponent(r.route)}` }, r.route)), h('td', { class: 'num' }, r.errors), h('td', { class: 'num' }, r.requests), h('td', { class: 'num' }, pct(r.errors, r.requests)))))
          : h('p', { class: 'muted' }, 'No failing routes in this range.'),
      );
      splits.replaceChildren(splitTable(s.upstreamsByRoute ?? []));
      events.replaceChildren(
        ev.events.length
          ? table(['time', 'event', 'where', 'why'], ev.events.map((e) => h('tr', {}, h('td', {}, clock(e.at)), h('td', {}, e.type), h('td', {}, [e.upstream, e.target].filter(Boolean).join(' / ')), h('td', {}, e.reason))))
          : h('p', { class: 'muted' }, 'No events yet: ejections, health changes, breaker trips and reloads appear here.'),
      );
    },
    resize() {
      for (const c of charts) c.resize();
    },
    unmount() {
      for (const c of charts) c.destroy();
    },
  };
}

/** Routes served by more than one upstream in the range (a split), one row per side. */
function splitTable(rows: NonNullable<Stats['upstreamsByRoute']>): HTMLElement {
  const byRoute = new Map<string, typeof rows>();
  for (const r of rows) byRoute.set(r.route, [...(byRoute.get(r.route) ?? []), r]);
  const split = [...byRoute.values()].filter((sides) => sides.length > 1);
  if (!split.length) return h('p', { class: 'muted' }, 'No route was served by more than one upstream in this range (routes[].split sends a share to a second upstream).');
  return table(
    ['route', 'upstream', 'requests', 'share', 'error rate', 'p99'],
    split.flatMap((sides) => {
      const total = sides.reduce((n, x) => n + x.requests, 0);
      const worst = Math.max(...sides.map((x) => x.errors / Math.max(1, x.requests)));
      return sides.map((x) =>
        h(
          'tr',
          { 'data-route': x.route, 'data-upstream': x.upstream, class: x.errors && x.errors / x.requests === worst ? 'bad' : '' },
          h('td', {}, h('a', { href: `#calls?route=${encodeURIComponent(x.route)}` }, x.route)),
          h('td', {}, h('a', { href: `#calls?route=${encodeURIComponent(x.route)}&upstream=${encodeURIComponent(x.upstream)}` }, x.upstream)),
          h('td', { class: 'num' }, x.requests),
          h('td', { class: 'num' }, pct(x.requests, total)),
          h('td', { class: 'num' }, pct(x.errors, x.requests)),
          h('td', { class: 'num' }, ms(x.p99)),
        ),
      );
    }),
  );
}

/** Bucket sizes, ms: round ones, so bucket edges fall on round times. */
const BUCKETS = [1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000];

function kpi(label: string, value: string, note = '', kind = ''): HTMLElement {
  return h('div', { class: `kpi ${kind}` }, h('div', { class: 'kpi-label' }, label), h('div', { class: 'kpi-value' }, value), h('div', { class: 'kpi-note' }, note));
}
