/**
 * Calls: the call log, filterable; a row opens the call's explanation — the attempts as a
 * timeline with one bar per attempt split into its phases (dns, connect, tls, send, ttfb, body).
 */
import { api, ApiError } from './api.js';
import { badge, clock, colorFor, h, msFine, table } from './dom.js';
import type { Page } from './page.js';
import type { Attempt, Call, Explanation } from './types.js';

const PHASES = ['dns', 'connect', 'tls', 'send', 'ttfb', 'body'] as const;
const PHASE_COLORS: Record<string, string> = { dns: '#8f2d56', connect: '#30638e', tls: '#6a4c93', send: '#00798c', ttfb: '#edae49', body: '#66a182' };
const FILTERS = ['route', 'upstream', 'code', 'status', 'node'] as const;

export function calls(navigate: (hash: string) => void): Page {
  let list: HTMLElement, detail: HTMLElement, form: HTMLFormElement, layout: HTMLElement;
  let filter = new URLSearchParams();
  let openId: string | null = null;
  return {
    title: 'Calls',
    mount(el, arg) {
      const [id, query] = splitArg(arg);
      filter = new URLSearchParams(query);
      openId = id || null;
      form = h(
        'form',
        { class: 'filters', id: 'call-filters' },
        ...FILTERS.map((f) => h('label', {}, f, h('input', { name: f, value: filter.get(f) ?? '', placeholder: f === 'code' ? 'UPSTREAM_RESPONSE_TIMEOUT' : f === 'status' ? '502' : '' }))),
        h('button', { type: 'submit' }, 'Filter'),
        h('button', { type: 'button', onclick: () => navigate('#calls') }, 'Clear'),
      );
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        const q = new URLSearchParams();
        for (const f of FILTERS) {
          const v = (form.elements.namedItem(f) as HTMLInputElement).value.trim();
          if (v) q.set(f, v);
        }
        navigate(`#calls${q.size ? `?${q}` : ''}`);
      });
      list = h('div', { id: 'call-list' });
      detail = h('div', { id: 'call-detail' });
      // The list takes the whole width; an open call splits it, side by side where there is room.
      layout = h('div', { class: `calls-layout${openId ? ' open' : ''}` }, h('section', { class: 'call-list' }, list), detail);
      el.append(form, layout);
      if (openId) void showDetail(detail, openId);
    },
    async refresh() {
      const q = new URLSearchParams(filter);
      q.set('limit', '100');
      const { calls: rows } = await api<{ calls: Call[] }>(`/api/calls?${q}`);
      list.replaceChildren(
        rows.length
          ? table(
              ['time', 'method', 'path', 'route', 'status', 'code', 'attempts', 'duration'],
              rows.map((c) =>
                h(
                  'tr',
                  {
                    class: `clickable${c.requestId === openId ? ' selected' : ''}`,
                    'data-request-id': c.requestId,
                    onclick: () => navigate(`#calls/${c.requestId}${filter.size ? `?${filter}` : ''}`),
                  },
                  h('td', { class: 'nowrap' }, clock(c.time)),
                  h('td', {}, c.method),
                  h('td', {}, h('code', {}, c.path)),
                  h('td', {}, c.route ?? '–'),
                  h('td', { class: 'num' }, badge(String(c.status), c.status >= 500 ? 'bad' : c.status >= 400 ? 'warn' : 'good')),
                  h('td', {}, c.code ? h('span', { class: 'code', style: `border-color:${colorFor(c.code)}` }, c.code) : ''),
                  h('td', { class: 'num' }, c.attempts.length),
                  h('td', { class: 'num' }, msFine(c.durationMs)),
                ),
              ),
              { id: 'calls-table' },
            )
          : h('p', { class: 'muted' }, 'No calls match. Send some traffic through the gateway (the demo banner lists curl commands).'),
      );
    },
  };
}

function splitArg(arg: string): [string, string] {
  const q = arg.indexOf('?');
  return q === -1 ? [arg, ''] : [arg.slice(0, q), arg.slice(q + 1)];
}

async function showDetail(box: HTMLElement, id: string): Promise<void> {
  box.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
  try {
    const { call, explanation } = await api<{ call: Call; explanation: Explanation | null }>(`/api/calls/${encodeURIComponent(id)}`);
    box.replaceChildren(renderCall(call, explanation));
  } catch (err) {
    box.replaceChildren(h('p', { class: 'error' }, err instanceof ApiError ? err.message : String(err)));
  }
}

function renderCall(c: Call, explanation: Explanation | null): HTMLElement {
  return h(
    'section',
    { class: 'call', id: 'call-timeline' },
    h('h2', {}, `${c.method} ${c.path} → ${c.status}`, explanation?.grpc?.status ? ` grpc-status ${explanation.grpc.status}` : '', ' ', c.code ? h('span', { class: 'code', style: `border-color:${colorFor(c.code)}` }, c.code) : badge('passed through', 'good')),
    h('p', { class: 'muted' }, `request ${c.requestId} · ${new Date(c.time).toLocaleDateString()} ${clock(c.time)} · route ${c.route ?? '–'} · upstream ${c.upstream ?? '–'} · ${c.attempts.length} attempt(s) · ${msFine(c.durationMs)}`),
    renderExplanation(explanation),
    h('h3', {}, 'Timeline'),
    timeline(c, explanation),
    h('div', { class: 'legend' }, ...PHASES.map((p) => h('span', { class: 'nowrap' }, h('span', { class: 'swatch', style: `background:${PHASE_COLORS[p]}` }), p)), h('span', { class: 'nowrap' }, h('span', { class: 'swatch gap-swatch' }), 'between attempts')),
  );
}

/** The explanation (the content of `causeway explain`): what happened, why, what to change, how often. */
function renderExplanation(e: Explanation | null): HTMLElement {
  if (!e) return h('p', { class: 'muted' }, 'No explanation for this call.');
  const c = e.classification;
  return h(
    'div',
    { class: 'explanation', id: 'explanation' },
    h('p', { class: `headline ${e.verdict}` }, e.headline),
    c
      ? h(
          'dl',
          {},
          h('dt', {}, 'failure'),
          h('dd', {}, `${c.code} (${c.status}) — ${c.title}`),
          h('dt', {}, 'cause'),
          h('dd', {}, ...withCode(c.cause)),
          h('dt', {}, 'remedy'),
          h('dd', { class: 'remedy' }, ...withCode(c.remedy)),
          e.context ? h('dt', {}, 'around it') : null,
          e.context ? h('dd', {}, e.context.sentence) : null,
        )
      : null,
  );
}

/** Text with `backticked` parts as code elements (the registry writes config keys that way). */
export function withCode(text: string): Node[] {
  return text.split(/`([^`]+)`/).map((part, i) => (i % 2 ? h('code', {}, part) : document.createTextNode(part)));
}

/**
 * One row per attempt on the call's own time scale: each bar starts where the attempt started,
 * so the gaps between attempts (waiting for a connection, backoff before a retry) show as gaps.
 */
function timeline(c: Call, e: Explanation | null): HTMLElement {
  let end = 0;
  const starts = c.attempts.map((a) => {
    const start = a.startMs ?? end;
    end = start + a.durationMs;
    return start;
  });
  const scale = Math.max(1, c.durationMs, end);
  const rows = c.attempts.map((a: Attempt, i) => {
    const bar = h('div', { class: 'phases' });
    if (starts[i]! > 0) bar.append(h('div', { class: 'gap', title: `${i ? 'between attempts (backoff, connection wait)' : 'before the attempt (routing, connection wait)'}: ${msFine(starts[i]! - (i ? starts[i - 1]! + c.attempts[i - 1]!.durationMs : 0))}`, style: `width:${(100 * starts[i]!) / scale}%` }));
    for (const p of PHASES) {
      const v = a.timings[p];
      if (v > 0) bar.append(h('div', { class: 'phase', title: `${p}: ${msFine(v)}`, style: `width:${Math.max(0.3, (100 * v) / scale)}%;background:${PHASE_COLORS[p]}` }));
    }
    const failed = typeof a.outcome === 'string';
    const phases = PHASES.filter((p) => a.timings[p] > 0).map((p) => h('span', { class: 'nowrap' }, `${p} ${msFine(a.timings[p])}`));
    const note: Array<Node | string> = phases.length ? phases.flatMap((x, j) => (j ? [' · ', x] : [x])) : ['no phase reached'];
    // A gRPC attempt: the backend's status and the messages each way (the explanation names the status).
    const g = e?.timeline?.[i]?.grpc;
    const grpc = g ? [' ', badge(`grpc ${g.status ?? 'none'}`, g.status === 'OK' ? 'good' : 'bad'), ` · ${g.sent} sent, ${g.received} received`] : [];
    return h(
      'div',
      { class: 'attempt', 'data-attempt': String(i + 1) },
      h('div', { class: 'attempt-label' }, `#${i + 1} ${a.target}`, h('br'), badge(String(a.outcome), failed ? 'bad' : Number(a.outcome) >= 500 ? 'warn' : 'good'), ...grpc, a.phase ? ` in ${a.phase}` : '', a.reused ? ' · reused conn' : ''),
      h(
        'div',
        { class: 'attempt-bar' },
        bar,
        h('div', { class: 'attempt-note' }, ...note, ' — ', h('span', { class: 'nowrap' }, msFine(a.durationMs)), a.startMs ? h('span', { class: 'nowrap' }, ` (started at +${msFine(a.startMs)})`) : '', a.error ? ` — ${a.error}` : '', a.retry ? ` — retried: ${a.retry}` : ''),
      ),
    );
  });
  return h('div', { class: 'timeline' }, ...(rows.length ? rows : [h('p', { class: 'muted' }, 'No attempt reached a backend (the gateway answered by itself).')]));
}
