/** A few DOM helpers: build elements without a framework, format numbers and times. */
type Child = Node | string | number | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | boolean | ((e: Event) => void)> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (v === true) el.setAttribute(k, '');
    else if (v !== false) el.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

export function table(headers: string[], rows: Node[], attrs: Record<string, string> = {}): HTMLTableElement {
  return h('table', attrs, h('thead', {}, h('tr', {}, ...headers.map((x) => h('th', {}, x)))), h('tbody', {}, ...rows));
}

/** A duration; the number and its unit never break apart (a no-break space between them). */
export function ms(v: number | null | undefined): string {
  if (v === null || v === undefined) return '–';
  return v >= 10_000 ? `${(v / 1000).toFixed(1)}\u00a0s` : `${Math.round(v)}\u00a0ms`;
}

/** A phase's duration, with the precision it has: 0.04 ms, 2.7 ms, 315 ms. */
export function msFine(v: number): string {
  if (v >= 10) return ms(v);
  return `${v < 1 ? v.toFixed(2) : v.toFixed(1)}\u00a0ms`;
}

/** Times of day everywhere in the dashboard (header, tables, chart axes): the browser's locale decides 12 or 24 hours. */
const TIME = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const TIME_HM = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

export function clock(t: number): string {
  return TIME.format(t);
}

/** A chart axis label: seconds only where the ticks are less than a minute apart. */
export function axisTime(t: number, stepMs: number): string {
  return (stepMs < 60_000 ? TIME : TIME_HM).format(t);
}

export function pct(part: number, whole: number): string {
  return whole ? `${((100 * part) / whole).toFixed(1)}%` : '0%';
}

/** A fixed colour per failure code, so a code looks the same on every chart and never shares one with a common neighbour. */
const CODE_COLORS: Record<string, string> = {
  UPSTREAM_CONNECTION_REFUSED: '#d62728',
  UPSTREAM_CONNECT_TIMEOUT: '#8c1c13',
  UPSTREAM_DNS_FAILURE: '#6a4c93',
  UPSTREAM_CONNECTION_CLOSED: '#ff7f0e',
  UPSTREAM_CONNECTION_RESET: '#b35806',
  UPSTREAM_TLS_ERROR: '#9467bd',
  UPSTREAM_PROTOCOL_MISMATCH: '#c5b0d5',
  UPSTREAM_SEND_TIMEOUT: '#17becf',
  UPSTREAM_RESPONSE_TIMEOUT: '#1f77b4',
  UPSTREAM_BODY_TIMEOUT: '#aec7e8',
  UPSTREAM_INVALID_RESPONSE: '#e377c2',
  UPSTREAM_POOL_EXHAUSTED: '#bcbd22',
  NO_HEALTHY_TARGET: '#7f7f7f',
  CIRCUIT_OPEN: '#2f4858',
  GATEWAY_TIMEOUT: '#0b3c5d',
  RATE_LIMITED: '#8c564b',
  UNAUTHORIZED: '#c49c94',
  FORBIDDEN: '#a0522d',
  ROUTE_NOT_FOUND: '#98df8a',
  REQUEST_TOO_LARGE: '#2ca02c',
  BAD_REQUEST: '#dbdb8d',
  CLIENT_CLOSED_REQUEST: '#c7c7c7',
};
const PALETTE = ['#d1495b', '#edae49', '#00798c', '#30638e', '#8f2d56', '#66a182', '#f26419', '#6a4c93', '#2f4858', '#c1666b', '#4f772d', '#b5838d'];
export function colorFor(name: string): string {
  if (CODE_COLORS[name]) return CODE_COLORS[name];
  let x = 0;
  for (let i = 0; i < name.length; i++) x = (x * 31 + name.charCodeAt(i)) >>> 0;
  return PALETTE[x % PALETTE.length]!;
}

export function badge(text: string, kind: string): HTMLElement {
  return h('span', { class: `badge ${kind}` }, text);
}
