/** Alert rules with their state, and the full gateway event log under them. */
import { api } from './api.js';
import { badge, clock, h, table } from './dom.js';
import type { Page } from './page.js';
import type { GatewayEvent } from './types.js';

export function alerts(): Page {
  let alertBox: HTMLElement, eventBox: HTMLElement;
  return {
    title: 'Alerts',
    mount(el) {
      alertBox = h('div', { id: 'alerts' });
      eventBox = h('div', { id: 'events' });
      el.append(h('section', {}, h('h2', {}, 'Alerts'), alertBox), h('section', {}, h('h2', {}, 'Event log'), eventBox));
    },
    async refresh() {
      const [a, ev] = await Promise.all([
        api<{ alerts: Array<{ name: string; state: string; since: number | null; summary: string }> }>('/api/alerts'),
        api<{ events: GatewayEvent[] }>('/api/events?limit=200'),
      ]);
      if (!a.alerts.length) alertBox.replaceChildren(h('p', { class: 'muted' }, 'No alert rules configured: add them under alerts: in the config (error rate, a failure code, latency, a sudden change).'));
      else
        alertBox.replaceChildren(
          table(
            ['alert', 'state', 'since', 'now'],
            a.alerts.map((x) =>
              h('tr', { 'data-alert': x.name, 'data-state': x.state }, h('td', {}, x.name), h('td', {}, badge(x.state, x.state === 'firing' ? 'bad' : x.state === 'pending' ? 'warn' : 'good')), h('td', {}, x.since ? clock(x.since) : '–'), h('td', {}, x.summary)),
            ),
          ),
        );
      eventBox.replaceChildren(
        ev.events.length
          ? table(['time', 'event', 'upstream', 'target', 'why'], ev.events.map((e) => h('tr', { 'data-type': e.type }, h('td', {}, clock(e.at)), h('td', {}, e.type), h('td', {}, e.upstream ?? ''), h('td', {}, e.target ?? ''), h('td', {}, e.reason))))
          : h('p', { class: 'muted' }, 'No events yet.'),
      );
    },
  };
}
