/** Upstreams: every target live — rotation state (health, ejection), in-flight, pool use, latency, breaker. */
import { api } from './api.js';
import { badge, h, ms, table } from './dom.js';
import type { Page } from './page.js';
import type { TargetStats, UpstreamStats } from './types.js';

/** Fields shown in their own columns; anything else a target reports is listed under "more". */
const SHOWN = new Set(['id', 'url', 'weight', 'state', 'healthy', 'activeHealth', 'observed', 'ejected', 'ejectedForMs', 'ejections', 'inflight', 'ewmaMs', 'requests', 'failures', 'pool']);

interface Observed {
  calls: number;
  failures: number;
  failureRate: number;
  lastCode: string | null;
}

/** "14/20 recent calls failed (70%), last UPSTREAM_CONNECTION_REFUSED", as the gateway observed them. */
function observedText(t: TargetStats): string | null {
  const o = t['observed'] as Observed | undefined;
  if (!o || !o.calls) return null;
  return `${o.failures}/${o.calls} recent calls failed (${Math.round(o.failureRate * 100)}%)${o.lastCode ? `, last ${o.lastCode}` : ''}`;
}

export function upstreams(): Page {
  let root: HTMLElement;
  return {
    title: 'Upstreams',
    mount(el) {
      root = h('div', { id: 'upstreams' });
      el.append(root);
    },
    async refresh() {
      const { upstreams: list } = await api<{ upstreams: UpstreamStats[] }>('/api/upstreams');
      // What is wrong comes first: targets out of rotation and breakers not closed, then every upstream.
      const out = list.flatMap((u) => u.targets.filter((t) => targetState(t).kind === 'bad').map((t) => `${u.name} → ${t.id} ${targetState(t).text}`));
      const open = list.filter((u) => (u['breaker'] as { state?: string } | null)?.state && (u['breaker'] as { state: string }).state !== 'closed').map((u) => `${u.name}: breaker ${(u['breaker'] as { state: string }).state}`);
      const trouble = [...out, ...open];
      root.replaceChildren(
        h('section', { id: 'upstream-summary' }, trouble.length ? h('ul', { class: 'trouble' }, ...trouble.map((x) => h('li', {}, x))) : h('p', { class: 'ok' }, `All ${list.reduce((n, u) => n + u.targets.length, 0)} targets in rotation; no breaker open.`)),
        ...list.map(card),
      );
    },
  };
}

function targetState(t: TargetStats): { text: string; kind: string } {
  const state = typeof t.state === 'string' ? t.state : t.ejected === true ? 'ejected' : t.healthy === false ? 'unhealthy' : 'up';
  if (state === 'ejected') return { text: `ejected${typeof t.ejectedForMs === 'number' && t.ejectedForMs > 0 ? ` (${Math.ceil(t.ejectedForMs / 1000)} s left)` : ''}`, kind: 'bad' };
  if (state === 'unhealthy') return { text: 'unhealthy (active check)', kind: 'bad' };
  if (state === 'failing') return { text: `failing: ${observedText(t) ?? 'recent calls fail'}`, kind: 'bad' };
  return { text: state, kind: state === 'up' ? 'good' : 'warn' };
}

function card(u: UpstreamStats): HTMLElement {
  const breaker = u['breaker'] as { state: string; requests?: number; failures?: number; rejected?: number } | null | undefined;
  const health = u['healthChecks'] as { path: string; interval: number } | null | undefined;
  // Failing targets are still in rotation: only ejection and active checks take one out.
  const down = u.targets.filter((t) => /^(ejected|unhealthy)/.test(targetState(t).text)).length;
  return h(
    'section',
    { class: 'upstream', 'data-upstream': u.name },
    h(
      'h2',
      {},
      u.name,
      ' ',
      badge(`${u.targets.length - down}/${u.targets.length} in rotation`, down === 0 ? 'good' : down === u.targets.length ? 'bad' : 'warn'),
      ' ',
      breaker ? badge(`breaker ${breaker.state}`, breaker.state === 'closed' ? 'good' : breaker.state === 'open' ? 'bad' : 'warn') : badge('no breaker', 'muted'),
    ),
    h('p', { class: 'muted' }, `balance ${u.balance} · ${u.activeRequests} requests in flight · ${health ? `health checks GET ${health.path} every ${ms(health.interval)}` : 'no active health checks'}${breaker ? ` · breaker window: ${breaker.failures ?? 0}/${breaker.requests ?? 0} failed, ${breaker.rejected ?? 0} rejected` : ''}`),
    table(
      ['target', 'state', 'active check', 'recent calls', 'in flight', 'pool in use', 'queued', 'connected', 'EWMA latency', 'requests', 'failures', 'ejections', 'more'],
      u.targets.map((t) => {
        const s = targetState(t);
        const more = Object.entries(t).filter(([k]) => !SHOWN.has(k));
        return h(
          'tr',
          { 'data-target': t.id, 'data-state': s.text.split(' ')[0]! },
          h('td', {}, h('code', {}, t.url)),
          h('td', {}, badge(s.text, s.kind)),
          h('td', {}, typeof t['activeHealth'] === 'string' ? (t['activeHealth'] as string).replace('not-configured', 'none') : '–'),
          h('td', { class: 'small' }, observedText(t) ?? '–'),
          h('td', { class: 'num' }, t.inflight),
          h('td', { class: 'num' }, `${t.pool.inUse}/${t.pool.maxConnections}`),
          h('td', { class: 'num' }, t.pool.queued),
          h('td', { class: 'num' }, t.pool.connected),
          h('td', { class: 'num' }, t.ewmaMs ? ms(t.ewmaMs) : '–'),
          h('td', { class: 'num' }, t.requests ?? '–'),
          h('td', { class: 'num' }, t.failures ?? '–'),
          h('td', { class: 'num' }, typeof t['ejections'] === 'number' ? (t['ejections'] as number) : '–'),
          h('td', { class: 'muted small' }, more.map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(' · ')),
        );
      }),
    ),
  );
}
