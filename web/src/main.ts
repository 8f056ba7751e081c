/** The dashboard shell: tabs by URL hash, a polling loop for the page shown, and the token prompt. */
import './style.css';
import { alerts } from './alerts.js';
import { ApiError, setToken, whenUnauthorized } from './api.js';
import { calls } from './calls.js';
import { config } from './config.js';
import { fleet } from './fleet.js';
import { clock, h } from './dom.js';
import { overview } from './overview.js';
import type { Page } from './page.js';
import { upstreams } from './upstreams.js';

const POLL_MS = 2000;
const RANGES: Record<string, number> = { '5 min': 5 * 60_000, '15 min': 15 * 60_000, '1 h': 60 * 60_000 };
let range = RANGES['5 min']!;

const navigate = (hash: string) => {
  location.hash = hash;
};
const pages: Record<string, () => Page> = {
  overview: () => overview(() => range),
  upstreams,
  calls: () => calls(navigate),
  config,
  alerts,
  fleet,
};

const nav = document.getElementById('nav')!;
const status = document.getElementById('status')!;
const main = document.getElementById('page')!;
const auth = document.getElementById('auth')!;
let current: Page | null = null;
let timer: number | undefined;
let generation = 0;

function route(): void {
  const hash = location.hash.slice(1) || 'overview';
  const m = /^([a-z]+)(?:\/(.*)|(\?.*))?$/.exec(hash);
  const name = m && pages[m[1]!] ? m[1]! : 'overview';
  const arg = (m?.[2] ?? '') + (m?.[3] ?? '');
  current?.unmount?.();
  current = pages[name]!();
  main.replaceChildren();
  main.dataset['page'] = name;
  nav.replaceChildren(...Object.keys(pages).map((p) => h('a', { href: `#${p}`, class: p === name ? 'active' : '' }, p[0]!.toUpperCase() + p.slice(1))));
  document.title = `${current.title} · Causeway`;
  current.mount(main, arg);
  void tick();
}

async function tick(): Promise<void> {
  clearTimeout(timer);
  const mine = ++generation;
  const page = current!;
  try {
    await page.refresh();
    if (mine !== generation) return;
    status.replaceChildren(h('span', { class: 'live' }, '● live'), ` updated ${clock(Date.now())}`);
  } catch (err) {
    if (mine !== generation) return;
    const text = err instanceof ApiError ? err.message : `admin API unreachable (${(err as Error).message})`;
    status.replaceChildren(h('span', { class: 'down' }, '● '), text);
    if (err instanceof ApiError && err.status === 503) {
      main.querySelector('.notice')?.remove();
      main.prepend(h('p', { class: 'notice' }, text));
    }
  }
  if (mine === generation) timer = window.setTimeout(() => void tick(), POLL_MS);
}

const select = h('select', { id: 'range', title: 'time range of the charts' }, ...Object.keys(RANGES).map((k) => h('option', { value: k, selected: RANGES[k] === range }, `last ${k}`)));
select.addEventListener('change', () => {
  range = RANGES[select.value]!;
  void tick();
});
document.querySelector('header')!.append(select);

whenUnauthorized(() => {
  auth.hidden = false;
});
document.getElementById('auth-form')!.addEventListener('submit', (e) => {
  e.preventDefault();
  setToken((document.getElementById('auth-token') as HTMLInputElement).value.trim());
  auth.hidden = true;
  void tick();
});

window.addEventListener('hashchange', route);
window.addEventListener('resize', () => current?.resize?.());
route();
